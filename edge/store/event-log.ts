/**
 * The event log (outbox): one row per fact, appended in the same transaction
 * as the domain row it describes, drained by sync in `seq` order. `seq` is an
 * AUTOINCREMENT key, so it is monotonic and never reused even after old rows
 * are deleted by retention. Rows are never updated (a trigger refuses it).
 */
import type Database from 'better-sqlite3';

/** Streams known today; later issues add more (the column is free text, checked by STREAM_PATTERN). */
export const KNOWN_STREAMS = ['card', 'sensor', 'behaviour', 'audit', 'device', 'attendance', 'lesson', 'alert'] as const;
export type KnownStream = (typeof KNOWN_STREAMS)[number];
/** A known stream, or a new one that matches STREAM_PATTERN. */
export type EventStream = KnownStream | (string & {});
export const STREAM_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

export interface AppendEvent {
  stream: EventStream;
  type: string;
  /** The domain row's id (stored as text). */
  entityId?: string | number;
  /** Serialised to JSON text. */
  payload: unknown;
  /** Wall-clock ms of the fact (may be unsynced: see clockSynced). */
  ts: number;
}

export interface EventRow {
  seq: number;
  roomId: string;
  stream: string;
  type: string;
  entityId: string | null;
  /** JSON text, exactly as stored (sync forwards it without re-serialising). */
  payload: string;
  ts: number;
  clockSynced: boolean;
  bootId: string;
}

interface RawEventRow {
  seq: number;
  room_id: string;
  stream: string;
  type: string;
  entity_id: string | null;
  payload: string;
  ts: number;
  clock_synced: number;
  boot_id: string;
}

export class EventLog {
  private readonly insert: Database.Statement<[string, string, string, string | null, string, number, number, string]>;
  private readonly selectAfter: Database.Statement<[number, number], RawEventRow>;
  private readonly selectLastSeq: Database.Statement<[], { seq: number }>;

  constructor(
    db: Database.Database,
    private readonly ctx: {
      roomId: string;
      bootId: string;
      clockSynced: () => boolean;
      /** The outbox policy (edge/store/outbox.ts): false keeps the event out of the log. */
      admit?: (e: AppendEvent, payloadText: string) => boolean;
    },
  ) {
    this.insert = db.prepare(
      'INSERT INTO event_log (room_id, stream, type, entity_id, payload, ts, clock_synced, boot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.selectAfter = db.prepare(
      'SELECT seq, room_id, stream, type, entity_id, payload, ts, clock_synced, boot_id FROM event_log WHERE seq > ? ORDER BY seq LIMIT ?',
    );
    // sqlite_sequence holds the highest seq ever committed, even if those rows were deleted since.
    this.selectLastSeq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'");
  }

  /** Appends one event on the current transaction; returns its seq, or 0 when the outbox policy left it out. Throws on invalid input. */
  append(e: AppendEvent): number {
    if (typeof e.stream !== 'string' || !STREAM_PATTERN.test(e.stream)) {
      throw new TypeError(`event_log: invalid stream ${JSON.stringify(e.stream)}`);
    }
    if (typeof e.type !== 'string' || e.type.length === 0 || e.type.length > 64) {
      throw new TypeError(`event_log: invalid type ${JSON.stringify(e.type)} (stream ${e.stream})`);
    }
    if (!Number.isSafeInteger(e.ts) || e.ts < 0) {
      throw new TypeError(`event_log: invalid ts ${String(e.ts)} (stream ${e.stream}, type ${e.type})`);
    }
    const entityId = e.entityId === undefined ? null : String(e.entityId);
    const payload = JSON.stringify(e.payload) ?? 'null';
    if (this.ctx.admit && !this.ctx.admit(e, payload)) return 0;
    const result = this.insert.run(
      this.ctx.roomId,
      e.stream,
      e.type,
      entityId,
      payload,
      e.ts,
      this.ctx.clockSynced() ? 1 : 0,
      this.ctx.bootId,
    );
    return Number(result.lastInsertRowid);
  }

  /** Committed events with seq > `seq`, in seq order, at most `limit`. */
  after(seq: number, limit: number): EventRow[] {
    return this.selectAfter.all(seq, limit).map(toEventRow);
  }

  /** The highest seq ever committed (0 for an empty log). */
  lastSeq(): number {
    return this.selectLastSeq.get()?.seq ?? 0;
  }
}

function toEventRow(r: RawEventRow): EventRow {
  return {
    seq: r.seq,
    roomId: r.room_id,
    stream: r.stream,
    type: r.type,
    entityId: r.entity_id,
    payload: r.payload,
    ts: r.ts,
    clockSynced: r.clock_synced === 1,
    bootId: r.boot_id,
  };
}
