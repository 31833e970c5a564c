/**
 * Lesson completeness receipts, cloud side (docs/sync.md, "Completeness
 * receipts"). Receipt events (stream `receipt`) are copied into the
 * `receipts` table when their batch commits. A receipt is checked once the
 * room's contiguous mark reaches its seq (every seq below it is then held):
 * the cloud reads its own events in the receipt's seq range (a primary-key
 * range scan), keeps those whose payload names the lesson, and compares
 * counts per stream/type and the digest of their seqs. The verdict is stored
 * with the receipt and returned for publishing on `down/receipts`;
 * `published_at` is set once the broker took it, and verdicts not yet
 * published are offered again at the room's next batch.
 *
 * All of this runs inside the batch's commit transaction (CloudStore.commitBatch).
 */
import type Database from 'better-sqlite3';
import type { Batch } from '../protocol.js';
import { PROTOCOL_VERSION } from '../protocol.js';
import {
  RECEIPT_STREAM,
  compareReceipt,
  receiptPayloadSchema,
  summariseTied,
  type ReceiptDifference,
  type ReceiptOutcome,
  type TiedRecord,
} from '../receipt-protocol.js';

export const RECEIPTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS receipts (
  room_id      TEXT    NOT NULL,
  store_id     TEXT    NOT NULL,
  lesson_id    TEXT    NOT NULL,
  revision     INTEGER NOT NULL,
  receipt_seq  INTEGER NOT NULL,
  first_seq    INTEGER,
  last_seq     INTEGER,
  count        INTEGER NOT NULL,
  counts       TEXT    NOT NULL,
  digest       TEXT    NOT NULL,
  -- reserved for the recording's segment hashes
  segments     TEXT,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'complete', 'incomplete')),
  differences  TEXT,
  received_at  INTEGER NOT NULL,
  verified_at  INTEGER,
  published_at INTEGER,
  PRIMARY KEY (room_id, store_id, lesson_id, revision)
) STRICT;
CREATE INDEX IF NOT EXISTS receipts_pending ON receipts (room_id, store_id, state, receipt_seq);
`;

interface RawReceipt {
  room_id: string;
  store_id: string;
  lesson_id: string;
  revision: number;
  receipt_seq: number;
  first_seq: number | null;
  last_seq: number | null;
  counts: string;
  digest: string;
  state: 'pending' | 'complete' | 'incomplete';
  differences: string | null;
  verified_at: number | null;
}

export interface CloudReceiptRow {
  roomId: string;
  storeId: string;
  lessonId: string;
  revision: number;
  receiptSeq: number;
  count: number;
  state: 'pending' | 'complete' | 'incomplete';
  differences: ReceiptDifference[] | null;
}

export class CloudReceipts {
  private readonly insert: Database.Statement;
  private readonly pending: Database.Statement<[string, string, number], RawReceipt>;
  private readonly tiedInRange: Database.Statement<[string, string, number, number, string], TiedRecord>;
  private readonly setVerdict: Database.Statement;
  private readonly unpublished: Database.Statement<[string, string], RawReceipt>;
  private readonly setPublished: Database.Statement;
  /** Receipt events whose payload failed validation (kept as events; counted here). */
  invalid = 0;

  constructor(private readonly db: Database.Database) {
    db.exec(RECEIPTS_SCHEMA);
    this.insert = db.prepare(
      `INSERT OR IGNORE INTO receipts (room_id, store_id, lesson_id, revision, receipt_seq, first_seq, last_seq, count, counts, digest, segments, state, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    );
    this.pending = db.prepare(
      "SELECT * FROM receipts WHERE room_id = ? AND store_id = ? AND state = 'pending' AND receipt_seq <= ? ORDER BY receipt_seq",
    );
    this.tiedInRange = db.prepare(
      `SELECT seq, stream, type FROM events
       WHERE room_id = ? AND store_id = ? AND seq BETWEEN ? AND ? AND stream <> '${RECEIPT_STREAM}' AND json_extract(payload, '$.lessonId') = ?
       ORDER BY seq`,
    );
    this.setVerdict = db.prepare(
      'UPDATE receipts SET state = ?, differences = ?, verified_at = ? WHERE room_id = ? AND store_id = ? AND lesson_id = ? AND revision = ?',
    );
    this.unpublished = db.prepare(
      "SELECT * FROM receipts WHERE room_id = ? AND store_id = ? AND state <> 'pending' AND published_at IS NULL ORDER BY receipt_seq",
    );
    this.setPublished = db.prepare(
      'UPDATE receipts SET published_at = ? WHERE room_id = ? AND store_id = ? AND lesson_id = ? AND revision = ? AND published_at IS NULL',
    );
  }

  /** In the commit transaction: copies the batch's receipt events. */
  collect(b: Batch, receivedAt: number): void {
    for (const e of b.events) {
      if (e.stream !== RECEIPT_STREAM) continue;
      const p = receiptPayloadSchema.safeParse(e.payload);
      if (!p.success) {
        this.invalid++;
        continue;
      }
      const r = p.data;
      this.insert.run(
        b.roomId,
        b.storeId,
        r.lessonId,
        r.revision,
        e.seq,
        r.firstSeq,
        r.lastSeq,
        r.count,
        JSON.stringify(r.counts),
        r.digest,
        r.segments === null ? null : JSON.stringify(r.segments),
        receivedAt,
      );
    }
  }

  /**
   * In the commit transaction, after the contiguous mark moved to `ackedSeq`:
   * checks the receipts it now covers, and returns every verdict of the room
   * not yet published (these and older ones whose publishing was lost).
   */
  verify(roomId: string, storeId: string, ackedSeq: number, now: number): ReceiptOutcome[] {
    for (const r of this.pending.all(roomId, storeId, ackedSeq)) {
      const cloud = summariseTied(
        r.first_seq === null ? [] : this.tiedInRange.iterate(roomId, storeId, r.first_seq, r.receipt_seq - 1, r.lesson_id),
      );
      // Only the receipt's range is read (cheap); a record of the lesson the cloud holds below
      // firstSeq is outside what a receipt can check (documented in docs/sync.md).
      const differences = compareReceipt({ counts: JSON.parse(r.counts) as Record<string, number>, digest: r.digest }, cloud);
      this.setVerdict.run(differences.length ? 'incomplete' : 'complete', differences.length ? JSON.stringify(differences) : null, now, roomId, storeId, r.lesson_id, r.revision);
    }
    return this.unpublished.all(roomId, storeId).map((r) => ({
      v: PROTOCOL_VERSION,
      roomId,
      storeId,
      lessonId: r.lesson_id,
      revision: r.revision,
      receiptSeq: r.receipt_seq,
      outcome: r.state === 'complete' ? 'complete' : 'incomplete',
      differences: r.differences === null ? [] : (JSON.parse(r.differences) as ReceiptDifference[]).slice(0, 100),
      ts: now,
    }));
  }

  markPublished(o: Pick<ReceiptOutcome, 'roomId' | 'storeId' | 'lessonId' | 'revision'>, now: number): void {
    this.setPublished.run(now, o.roomId, o.storeId, o.lessonId, o.revision);
  }

  /** For tests and the technician API: a room's receipts. */
  list(roomId: string): CloudReceiptRow[] {
    return this.db
      .prepare<[string], RawReceipt & { count: number }>('SELECT * FROM receipts WHERE room_id = ? ORDER BY store_id, receipt_seq')
      .all(roomId)
      .map((r) => ({
        roomId: r.room_id,
        storeId: r.store_id,
        lessonId: r.lesson_id,
        revision: r.revision,
        receiptSeq: r.receipt_seq,
        count: r.count,
        state: r.state,
        differences: r.differences === null ? null : (JSON.parse(r.differences) as ReceiptDifference[]),
      }));
  }
}
