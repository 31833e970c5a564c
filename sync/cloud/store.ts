/**
 * The reference district cloud's ingest store, on SQLite or PostgreSQL
 * (sync/cloud/db.ts). Events are keyed on (room_id, store_id, seq): a resent
 * batch is deduplicated by INSERT ... ON CONFLICT DO NOTHING, and after each
 * commit the highest contiguous seq per (room, store) is what the worker
 * acknowledges.
 *
 * Concurrency (docs/sync.md, "Concurrent workers"): a batch's transaction
 * first upserts its (room, store) row in `rooms`, which on PostgreSQL locks
 * that row until the commit (on SQLite, BEGIN IMMEDIATE locks the database).
 * Every write of a room's batch (events, the contiguous mark, receipts,
 * clock offsets) therefore happens under the room's lock, and a second
 * batch of the same room, committed by another worker, waits and then reads
 * the first one's committed rows: the mark never skips a seq and never
 * misses one that is committed.
 */
import type { Batch, Status, Telemetry } from '../protocol.js';
import type { ReceiptOutcome } from '../receipt-protocol.js';
import { CloudReceipts } from './receipts.js';
import { CloudClock, type SkewChange } from './clock.js';
import type { CloudDb, Queryable } from './db.js';
import { openCloudDb, type DatabaseConfig } from './db-config.js';
import { migrate } from './schema.js';

export interface CommitResult {
  /** Rows new to the table (the rest were duplicates). */
  inserted: number;
  duplicates: number;
  /** Highest contiguous seq held for (roomId, storeId) after this commit. */
  ackedSeq: number;
  /** Lesson receipt verdicts to publish on `down/receipts` (sync/cloud/receipts.ts). */
  receipts: ReceiptOutcome[];
  /** The room's clock-skew flag changed with this batch (sync/cloud/clock.ts). */
  skew: SkewChange | null;
}

export interface CloudEventRow {
  roomId: string;
  storeId: string;
  seq: number;
  stream: string;
  type: string;
  entityId: string | null;
  payload: string;
  ts: number;
  clockSynced: boolean;
  bootId: string;
  receivedAt: number;
}

/** Seqs read per step while walking the contiguous mark forward. */
const WALK_PAGE = 1000;
/** Events per INSERT statement (11 parameters each: far below SQLite's 32 766 and PostgreSQL's 65 535). */
const INSERT_CHUNK = 200;

export interface CloudStoreOptions {
  skewThresholdMs?: number | undefined;
  /** A PostgreSQL pool error (an idle connection lost); default: ignored (the pool replaces it). */
  onPoolError?: (err: Error) => void;
}

export class CloudStore {
  readonly receipts: CloudReceipts;
  readonly clock: CloudClock;

  /** Opens the database (a SQLite file path, or the config's `database` section) and applies pending migrations. */
  static async open(database: DatabaseConfig | string, opts: CloudStoreOptions = {}): Promise<CloudStore> {
    const db = openCloudDb(typeof database === 'string' ? { kind: 'sqlite', file: database } : database, opts.onPoolError);
    return CloudStore.on(db, opts);
  }

  /** Over an opened database (tests build a PostgreSQL one directly); applies pending migrations. */
  static async on(db: CloudDb, opts: CloudStoreOptions = {}): Promise<CloudStore> {
    try {
      await migrate(db);
    } catch (e) {
      await db.close().catch(() => undefined);
      throw e;
    }
    return new CloudStore(db, opts);
  }

  private constructor(
    readonly db: CloudDb,
    opts: CloudStoreOptions,
  ) {
    this.receipts = new CloudReceipts(db);
    this.clock = new CloudClock(db, opts.skewThresholdMs);
  }

  /** Commits a batch (duplicates ignored) and returns the new contiguous high-water mark. One transaction; resolves after the commit. */
  commitBatch(b: Batch, receivedAt: number): Promise<CommitResult> {
    return this.db.transaction(async (tx): Promise<CommitResult> => {
      // First: the room's row, created or touched. This takes the room's lock (see the header) before anything else is written.
      await tx.run(
        `INSERT INTO rooms (room_id, store_id, acked_seq, first_seen, last_seen) VALUES (?, ?, 0, ?, ?)
         ON CONFLICT (room_id, store_id) DO UPDATE SET last_seen = excluded.last_seen`,
        [b.roomId, b.storeId, receivedAt, receivedAt],
      );
      const start = (await tx.get<{ acked_seq: number }>(`SELECT acked_seq FROM rooms WHERE room_id = ? AND store_id = ?${this.db.sql.forUpdate}`, [b.roomId, b.storeId]))?.acked_seq ?? 0;
      // Multi-row INSERTs (a round trip per chunk, not per event, on PostgreSQL); `changes` counts only the new rows.
      let inserted = 0;
      for (let i = 0; i < b.events.length; i += INSERT_CHUNK) {
        const chunk = b.events.slice(i, i + INSERT_CHUNK);
        const params = chunk.flatMap((e) => [b.roomId, b.storeId, e.seq, e.stream, e.type, e.entityId, JSON.stringify(e.payload) ?? 'null', e.ts, e.clockSynced ? 1 : 0, e.bootId, receivedAt]);
        const r = await tx.run(
          `INSERT INTO events (room_id, store_id, seq, stream, type, entity_id, payload, ts, clock_synced, boot_id, received_at)
           VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING`,
          params,
        );
        inserted += r.changes;
      }
      const ackedSeq = await this.advance(tx, b.roomId, b.storeId, start);
      await this.receipts.collect(tx, b, receivedAt);
      const receipts = await this.receipts.verify(tx, b.roomId, b.storeId, ackedSeq, receivedAt);
      const skew = await this.clock.observe(tx, b, receivedAt);
      return { inserted, duplicates: b.events.length - inserted, ackedSeq, receipts, skew };
    });
  }

  /** Walks forward from the stored mark while the next seq is present (a page of seqs at a time). */
  private async advance(tx: Queryable, roomId: string, storeId: string, start: number): Promise<number> {
    let acked = start;
    for (;;) {
      const page = await tx.all<{ seq: number }>('SELECT seq FROM events WHERE room_id = ? AND store_id = ? AND seq > ? ORDER BY seq LIMIT ?', [roomId, storeId, acked, WALK_PAGE]);
      let gap = false;
      for (const row of page) {
        if (row.seq !== acked + 1) {
          gap = true;
          break;
        }
        acked = row.seq;
      }
      if (gap || page.length < WALK_PAGE) break;
    }
    if (acked !== start) await tx.run('UPDATE rooms SET acked_seq = ? WHERE room_id = ? AND store_id = ?', [acked, roomId, storeId]);
    return acked;
  }

  async ackedSeq(roomId: string, storeId: string): Promise<number> {
    return (await this.db.get<{ acked_seq: number }>('SELECT acked_seq FROM rooms WHERE room_id = ? AND store_id = ?', [roomId, storeId]))?.acked_seq ?? 0;
  }

  async recordStatus(s: Status, receivedAt: number): Promise<void> {
    await this.upsertStatus(s.roomId, 'status', JSON.stringify(s), s.ts ?? null, receivedAt);
  }

  async recordTelemetry(t: Telemetry, receivedAt: number): Promise<void> {
    await this.upsertStatus(t.roomId, `device:${t.deviceId}`, JSON.stringify(t), t.ts, receivedAt);
  }

  private async upsertStatus(roomId: string, key: string, payload: string, ts: number | null, receivedAt: number): Promise<void> {
    await this.db.run(
      `INSERT INTO room_status (room_id, key, payload, ts, received_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (room_id, key) DO UPDATE SET payload = excluded.payload, ts = excluded.ts, received_at = excluded.received_at`,
      [roomId, key, payload, ts, receivedAt],
    );
  }

  /** A device the room removed: its telemetry row goes (true when there was one). */
  async forgetDevice(roomId: string, deviceId: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM room_status WHERE room_id = ? AND key = ?', [roomId, `device:${deviceId}`])).changes > 0;
  }

  /** For tests and the technician API: a room's events in (store, seq) order. */
  async events(roomId: string): Promise<CloudEventRow[]> {
    const rows = await this.db.all<Record<string, unknown>>('SELECT * FROM events WHERE room_id = ? ORDER BY store_id, seq', [roomId]);
    return rows.map((r) => ({
      roomId: r.room_id as string,
      storeId: r.store_id as string,
      seq: r.seq as number,
      stream: r.stream as string,
      type: r.type as string,
      entityId: r.entity_id as string | null,
      payload: r.payload as string,
      ts: r.ts as number,
      clockSynced: r.clock_synced === 1,
      bootId: r.boot_id as string,
      receivedAt: r.received_at as number,
    }));
  }

  roomStatus(roomId: string): Promise<Array<{ key: string; payload: string; ts: number | null }>> {
    return this.db.all<{ key: string; payload: string; ts: number | null }>('SELECT key, payload, ts FROM room_status WHERE room_id = ? ORDER BY key', [roomId]);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
