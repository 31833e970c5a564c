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
 * All of this runs inside the batch's commit transaction (CloudStore.commitBatch),
 * on the transaction's connection (`tx`).
 */
import type { CloudDb, Queryable } from './db.js';
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

function lessonOf(payload: string): unknown {
  try {
    return (JSON.parse(payload) as { lessonId?: unknown } | null)?.lessonId;
  } catch {
    return undefined;
  }
}

export class CloudReceipts {
  /** Receipt events whose payload failed validation (kept as events; counted here). */
  invalid = 0;

  constructor(private readonly db: CloudDb) {}

  /** In the commit transaction: copies the batch's receipt events. */
  async collect(tx: Queryable, b: Batch, receivedAt: number): Promise<void> {
    for (const e of b.events) {
      if (e.stream !== RECEIPT_STREAM) continue;
      const p = receiptPayloadSchema.safeParse(e.payload);
      if (!p.success) {
        this.invalid++;
        continue;
      }
      const r = p.data;
      await tx.run(
        `INSERT INTO receipts (room_id, store_id, lesson_id, revision, receipt_seq, first_seq, last_seq, count, counts, digest, segments, state, received_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING`,
        [b.roomId, b.storeId, r.lessonId, r.revision, e.seq, r.firstSeq, r.lastSeq, r.count, JSON.stringify(r.counts), r.digest, r.segments === null ? null : JSON.stringify(r.segments), receivedAt],
      );
    }
  }

  /**
   * In the commit transaction, after the contiguous mark moved to `ackedSeq`:
   * checks the receipts it now covers, and returns every verdict of the room
   * not yet published (these and older ones whose publishing was lost).
   */
  async verify(tx: Queryable, roomId: string, storeId: string, ackedSeq: number, now: number): Promise<ReceiptOutcome[]> {
    const pending = await tx.all<RawReceipt>(
      "SELECT * FROM receipts WHERE room_id = ? AND store_id = ? AND state = 'pending' AND receipt_seq <= ? ORDER BY receipt_seq",
      [roomId, storeId, ackedSeq],
    );
    for (const r of pending) {
      const inRange =
        r.first_seq === null
          ? []
          : await tx.all<TiedRecord & { payload: string }>(
              `SELECT seq, stream, type, payload FROM events
               WHERE room_id = ? AND store_id = ? AND seq BETWEEN ? AND ? AND stream <> '${RECEIPT_STREAM}'
               ORDER BY seq`,
              [roomId, storeId, r.first_seq, r.receipt_seq - 1],
            );
      // The lesson's records are picked here, not in SQL: PostgreSQL's JSON operators fail on a document holding
      // the escape \u0000 (valid JSON an edge may send), and a failing check would block the room's every commit.
      const cloud = summariseTied(inRange.filter((e) => e.payload.includes(r.lesson_id) && lessonOf(e.payload) === r.lesson_id));
      // Only the receipt's range is read (cheap); a record of the lesson the cloud holds below
      // firstSeq is outside what a receipt can check (documented in docs/sync.md).
      const differences = compareReceipt({ counts: JSON.parse(r.counts) as Record<string, number>, digest: r.digest }, cloud);
      await tx.run('UPDATE receipts SET state = ?, differences = ?, verified_at = ? WHERE room_id = ? AND store_id = ? AND lesson_id = ? AND revision = ?', [
        differences.length ? 'incomplete' : 'complete',
        differences.length ? JSON.stringify(differences) : null,
        now,
        roomId,
        storeId,
        r.lesson_id,
        r.revision,
      ]);
    }
    const unpublished = await tx.all<RawReceipt>(
      "SELECT * FROM receipts WHERE room_id = ? AND store_id = ? AND state <> 'pending' AND published_at IS NULL ORDER BY receipt_seq",
      [roomId, storeId],
    );
    return unpublished.map((r) => ({
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

  async markPublished(o: Pick<ReceiptOutcome, 'roomId' | 'storeId' | 'lessonId' | 'revision'>, now: number): Promise<void> {
    await this.db.run('UPDATE receipts SET published_at = ? WHERE room_id = ? AND store_id = ? AND lesson_id = ? AND revision = ? AND published_at IS NULL', [
      now,
      o.roomId,
      o.storeId,
      o.lessonId,
      o.revision,
    ]);
  }

  /** For tests and the technician API: a room's receipts. */
  async list(roomId: string): Promise<CloudReceiptRow[]> {
    const rows = await this.db.all<RawReceipt & { count: number }>('SELECT * FROM receipts WHERE room_id = ? ORDER BY store_id, receipt_seq', [roomId]);
    return rows.map((r) => ({
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
