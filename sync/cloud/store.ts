/**
 * The reference district cloud's ingest store (better-sqlite3, WAL,
 * synchronous=FULL). Events are keyed on (room_id, store_id, seq): a resent
 * batch is deduplicated by INSERT OR IGNORE, and after each commit the
 * highest contiguous seq per (room, store) is what the worker acknowledges.
 */
import Database from 'better-sqlite3';
import type { Batch, Status, Telemetry } from '../protocol.js';
import type { ReceiptOutcome } from '../receipt-protocol.js';
import { CloudReceipts } from './receipts.js';
import { CloudClock, type SkewChange } from './clock.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  room_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  stream TEXT NOT NULL,
  type TEXT NOT NULL,
  entity_id TEXT,
  payload TEXT NOT NULL,
  ts INTEGER NOT NULL,
  clock_synced INTEGER NOT NULL,
  boot_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (room_id, store_id, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms (
  room_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  acked_seq INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (room_id, store_id)
) STRICT;
CREATE TABLE IF NOT EXISTS room_status (
  room_id TEXT NOT NULL,
  -- 'status' for the room's online/offline, 'device:{deviceId}' for a device's telemetry
  key TEXT NOT NULL,
  payload TEXT NOT NULL,
  ts INTEGER,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (room_id, key)
) STRICT;
-- Configuration pushes and their results (sync/cloud/config-push.ts): outcome NULL until the room reports.
CREATE TABLE IF NOT EXISTS config_pushes (
  room_id   TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  issued_by TEXT    NOT NULL,
  issued_at INTEGER NOT NULL,
  config    TEXT    NOT NULL,
  outcome   TEXT,
  result    TEXT,
  result_at INTEGER,
  PRIMARY KEY (room_id, version)
) STRICT;
-- Technicians' remote commands (sync/cloud/commands.ts): one row per command id, its result when it comes back.
CREATE TABLE IF NOT EXISTS commands (
  id          TEXT PRIMARY KEY,
  room_id     TEXT NOT NULL,
  technician  TEXT NOT NULL,
  role        TEXT NOT NULL,
  command     TEXT NOT NULL,
  args        TEXT NOT NULL,
  issued_at   INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  -- pending until a result; 'expired' with error no-answer when none came within the TTL
  status      TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'expired', 'rejected')),
  result      TEXT,
  error       TEXT,
  started_at  INTEGER,
  finished_at INTEGER,
  updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS commands_pending ON commands (status, expires_at);
-- The cloud's audit of technicians' actions: every command issued or refused, every result.
CREATE TABLE IF NOT EXISTS cloud_audit (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  ts          INTEGER NOT NULL,
  technician  TEXT NOT NULL,
  role        TEXT NOT NULL,
  room_id     TEXT NOT NULL,
  action      TEXT NOT NULL,
  command_id  TEXT,
  outcome     TEXT NOT NULL,
  detail      TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS cloud_audit_ts ON cloud_audit (ts);
-- Finds a command's result that came up through the event log (stream 'command', entity_id = command id).
CREATE INDEX IF NOT EXISTS events_entity ON events (room_id, stream, entity_id);
`;

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

export class CloudStore {
  readonly db: Database.Database;
  private readonly insertEvent: Database.Statement;
  private readonly upsertRoom: Database.Statement;
  private readonly selectAcked: Database.Statement<[string, string], { acked_seq: number }>;
  private readonly selectAfter: Database.Statement<[string, string, number], { seq: number }>;
  private readonly updateAcked: Database.Statement;
  private readonly upsertStatus: Database.Statement;
  readonly receipts: CloudReceipts;
  readonly clock: CloudClock;

  constructor(file: string, opts: { skewThresholdMs?: number } = {}) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.receipts = new CloudReceipts(this.db);
    this.clock = new CloudClock(this.db, opts.skewThresholdMs);
    this.insertEvent = this.db.prepare(
      `INSERT OR IGNORE INTO events (room_id, store_id, seq, stream, type, entity_id, payload, ts, clock_synced, boot_id, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.upsertRoom = this.db.prepare(
      `INSERT INTO rooms (room_id, store_id, acked_seq, first_seen, last_seen) VALUES (?, ?, 0, ?, ?)
       ON CONFLICT(room_id, store_id) DO UPDATE SET last_seen = excluded.last_seen`,
    );
    this.selectAcked = this.db.prepare('SELECT acked_seq FROM rooms WHERE room_id = ? AND store_id = ?');
    this.selectAfter = this.db.prepare('SELECT seq FROM events WHERE room_id = ? AND store_id = ? AND seq > ? ORDER BY seq');
    this.updateAcked = this.db.prepare('UPDATE rooms SET acked_seq = ? WHERE room_id = ? AND store_id = ?');
    this.upsertStatus = this.db.prepare(
      `INSERT INTO room_status (room_id, key, payload, ts, received_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(room_id, key) DO UPDATE SET payload = excluded.payload, ts = excluded.ts, received_at = excluded.received_at`,
    );
  }

  /** Commits a batch (duplicates ignored) and returns the new contiguous high-water mark. One transaction. */
  commitBatch(b: Batch, receivedAt: number): CommitResult {
    return this.db
      .transaction((): CommitResult => {
        let inserted = 0;
        for (const e of b.events) {
          inserted += this.insertEvent.run(
            b.roomId,
            b.storeId,
            e.seq,
            e.stream,
            e.type,
            e.entityId,
            JSON.stringify(e.payload) ?? 'null',
            e.ts,
            e.clockSynced ? 1 : 0,
            e.bootId,
            receivedAt,
          ).changes;
        }
        this.upsertRoom.run(b.roomId, b.storeId, receivedAt, receivedAt);
        const ackedSeq = this.advance(b.roomId, b.storeId);
        this.receipts.collect(b, receivedAt);
        const receipts = this.receipts.verify(b.roomId, b.storeId, ackedSeq, receivedAt);
        const skew = this.clock.observe(b, receivedAt);
        return { inserted, duplicates: b.events.length - inserted, ackedSeq, receipts, skew };
      })
      .immediate();
  }

  /** Walks forward from the stored mark while the next seq is present. */
  private advance(roomId: string, storeId: string): number {
    const start = this.selectAcked.get(roomId, storeId)?.acked_seq ?? 0;
    let acked = start;
    for (const row of this.selectAfter.iterate(roomId, storeId, start)) {
      if (row.seq !== acked + 1) break;
      acked = row.seq;
    }
    if (acked !== start) this.updateAcked.run(acked, roomId, storeId);
    return acked;
  }

  ackedSeq(roomId: string, storeId: string): number {
    return this.selectAcked.get(roomId, storeId)?.acked_seq ?? 0;
  }

  recordStatus(s: Status, receivedAt: number): void {
    this.upsertStatus.run(s.roomId, 'status', JSON.stringify(s), s.ts ?? null, receivedAt);
  }

  recordTelemetry(t: Telemetry, receivedAt: number): void {
    this.upsertStatus.run(t.roomId, `device:${t.deviceId}`, JSON.stringify(t), t.ts, receivedAt);
  }

  /** A device the room removed: its telemetry row goes (true when there was one). */
  forgetDevice(roomId: string, deviceId: string): boolean {
    return this.db.prepare('DELETE FROM room_status WHERE room_id = ? AND key = ?').run(roomId, `device:${deviceId}`).changes > 0;
  }

  /** For tests and the technician API: a room's events in (store, seq) order. */
  events(roomId: string): CloudEventRow[] {
    return this.db
      .prepare<[string], Record<string, unknown>>('SELECT * FROM events WHERE room_id = ? ORDER BY store_id, seq')
      .all(roomId)
      .map((r) => ({
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

  roomStatus(roomId: string): Array<{ key: string; payload: string; ts: number | null }> {
    return this.db.prepare<[string], { key: string; payload: string; ts: number | null }>('SELECT key, payload, ts FROM room_status WHERE room_id = ? ORDER BY key').all(roomId);
  }

  close(): void {
    this.db.close();
  }
}
