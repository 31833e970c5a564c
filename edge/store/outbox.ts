/**
 * The bounded outbox (docs/sync.md, "Outbox cap"). The outbox is the part of
 * the event log the cloud has not acknowledged (seq > meta 'sync.ackedSeq').
 * During a long outage it grows; this policy decides, per stream, at append
 * time (inside the write's transaction), whether an event enters the log:
 *
 * - never dropped: every stream but the droppable ones (attendance, audit,
 *   lesson, receipt, card, behaviour, dataset, outbox and any new stream);
 * - droppable (`sensor`, telemetry-like): downsampled as the outbox fills —
 *   below 50 % every reading, from 50 % one per device/metric per 5 min (by
 *   the reading's ts), from 80 % one per 30 min, from 95 % none.
 *
 * Deciding at append time keeps seq contiguous, so the ack rule and
 * exactly-once delivery are unchanged (dropping rows already in the log
 * would leave gaps the cloud's contiguous mark could never pass). The domain
 * row (sensor_readings) is still written: only its copy to the district is
 * thinned. What was not logged is counted per stream (meta 'outbox.dropped',
 * committed with the domain row) and reported as one event
 * (`outbox/dropped`) once the outbox is back below 50 %, i.e. when the link
 * has returned and drained; that event itself is never dropped.
 *
 * Fill = max(events / maxEvents, payload bytes / maxBytes). Alerts go up when
 * the fill crosses 50 % (warning), 80 % and 100 % (critical).
 */
import type Database from 'better-sqlite3';
import type { AppendEvent } from './event-log.js';

export const DROPPED_KEY = 'outbox.dropped';
const ACKED_KEY = 'sync.ackedSeq';

export interface OutboxLimits {
  maxEvents: number;
  /** Bytes of the events' JSON payloads. */
  maxBytes: number;
}

/**
 * A busy room's week at full resolution: 12 sensor metrics polled every 30 s (242 k readings) plus
 * 45 lessons of 45 students (~9 k attendance, card, behaviour, lesson and receipt events): ~251 k
 * events, ~19 MB of payload JSON. Both caps are about twice that (docs/sync.md, "Outbox cap").
 */
export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = { maxEvents: 500_000, maxBytes: 64 * 1024 * 1024 };

/** Streams that may be thinned; every other stream is never dropped. */
export const DROPPABLE_STREAMS: ReadonlySet<string> = new Set(['sensor']);

/** Minimum spacing between two logged events of one key (device/metric), by fill level. */
export const DOWNSAMPLE_STEPS: ReadonlyArray<{ fill: number; everyMs: number }> = [
  { fill: 0.95, everyMs: Number.POSITIVE_INFINITY },
  { fill: 0.8, everyMs: 30 * 60_000 },
  { fill: 0.5, everyMs: 5 * 60_000 },
];

export const ALERT_LEVELS = [0.5, 0.8, 1] as const;

export interface DroppedCount {
  count: number;
  firstTs: number;
  lastTs: number;
}

export interface OutboxStats {
  events: number;
  bytes: number;
  fill: number;
  /** Highest alert level crossed (0, 0.5, 0.8 or 1). */
  level: number;
  dropped: Record<string, DroppedCount>;
  limits: OutboxLimits;
}

export interface OutboxPolicyOptions {
  limits: OutboxLimits;
  /** Called (outside the transaction) when the fill crosses an alert level upwards, or falls back below 50 %. */
  onLevel?: (level: number, stats: OutboxStats) => void;
}

function keyOf(e: AppendEvent): string {
  const p = e.payload as { device?: unknown; metric?: unknown } | null;
  if (p && typeof p === 'object' && typeof p.device === 'string' && typeof p.metric === 'string') return `${e.stream}:${p.device}/${p.metric}`;
  return `${e.stream}:${e.entityId ?? ''}`;
}

export class OutboxPolicy {
  private db: Database.Database | null = null;
  private q: {
    acked: Database.Statement<[string], { value: string }>;
    lastSeq: Database.Statement<[], { seq: number }>;
    bytesIn: Database.Statement<[number, number], { b: number | null }>;
    dropped: Database.Statement<[string], { value: string }>;
    putDropped: Database.Statement<[string, string]>;
  } | null = null;
  private ackedSeen = 0;
  private bytes = 0;
  private level = 0;
  private levelDue = false;
  private readonly lastLogged = new Map<string, number>();
  private dropped: Record<string, DroppedCount> = {};

  constructor(private readonly opts: OutboxPolicyOptions) {
    const { maxEvents, maxBytes } = opts.limits;
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1) throw new RangeError(`outbox.maxEvents must be an integer >= 1, got ${maxEvents}`);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`outbox.maxBytes must be an integer >= 1, got ${maxBytes}`);
  }

  /** Called by the store once it is open and migrated. */
  attach(db: Database.Database): void {
    this.db = db;
    this.q = {
      acked: db.prepare('SELECT value FROM meta WHERE key = ?'),
      lastSeq: db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'"),
      bytesIn: db.prepare('SELECT SUM(length(CAST(payload AS BLOB))) AS b FROM event_log WHERE seq > ? AND seq <= ?'),
      dropped: db.prepare('SELECT value FROM meta WHERE key = ?'),
      putDropped: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
    const raw = this.q.dropped.get(DROPPED_KEY)?.value;
    this.dropped = raw ? (JSON.parse(raw) as Record<string, DroppedCount>) : {};
    this.recount();
  }

  /** Recomputes the payload bytes of the outbox from the log (at open, and after the outbox emptied). */
  recount(): void {
    const q = this.need();
    this.ackedSeen = this.readAcked();
    this.bytes = q.bytesIn.get(this.ackedSeen, Number.MAX_SAFE_INTEGER)?.b ?? 0;
  }

  /**
   * Inside the write's transaction, before the insert: whether the event
   * enters the log. A refused event is counted (committed with the write).
   */
  admit(e: AppendEvent, payloadText: string): boolean {
    if (!DROPPABLE_STREAMS.has(e.stream)) {
      // Always admitted: count its bytes; the alert levels are checked once per commit
      // (afterCommit), not with three queries per event. A write rolled back after this, or
      // replayed after a batch-mate failed (group-commit.ts), leaves its bytes counted (once
      // more) until the next recount: an estimate, on the safe side.
      this.bytes += Buffer.byteLength(payloadText);
      this.levelDue = true;
      return true;
    }
    this.sync();
    const before = this.fill();
    let ok = true;
    const step = DOWNSAMPLE_STEPS.find((s) => before >= s.fill);
    if (step) {
      const key = keyOf(e);
      const last = this.lastLogged.get(key);
      ok = step.everyMs !== Number.POSITIVE_INFINITY && (last === undefined || Math.abs(e.ts - last) >= step.everyMs);
    }
    if (ok) this.lastLogged.set(keyOf(e), e.ts);
    if (!ok) {
      const d = (this.dropped[e.stream] ??= { count: 0, firstTs: e.ts, lastTs: e.ts });
      d.count++;
      d.lastTs = e.ts;
      this.need().putDropped.run(DROPPED_KEY, JSON.stringify(this.dropped));
      return false;
    }
    this.bytes += Buffer.byteLength(payloadText);
    this.checkLevel();
    return true;
  }

  /** After each group commit: checks the alert levels if events were admitted since the last check. */
  afterCommit(): void {
    if (!this.levelDue) return;
    this.levelDue = false;
    this.sync();
    this.checkLevel();
  }

  /**
   * The drop report, when one is due (something dropped, outbox below 50 %):
   * the payload of an `outbox/dropped` event; the caller appends it and calls
   * `reported()` in the same transaction.
   */
  dueReport(): { dropped: Record<string, DroppedCount> } | null {
    this.sync();
    if (Object.keys(this.dropped).length === 0 || this.fill() >= 0.5) return null;
    return { dropped: structuredClone(this.dropped) };
  }

  reported(): void {
    this.dropped = {};
    this.need().putDropped.run(DROPPED_KEY, '{}');
  }

  stats(): OutboxStats {
    this.sync();
    return { events: this.events(), bytes: this.bytes, fill: this.fill(), level: this.level, dropped: structuredClone(this.dropped), limits: { ...this.opts.limits } };
  }

  /** Follows the acknowledged mark: what the cloud acknowledged leaves the outbox. */
  private sync(): void {
    const acked = this.readAcked();
    if (acked > this.ackedSeen) {
      const q = this.need();
      if (acked >= (q.lastSeq.get()?.seq ?? 0)) this.bytes = 0;
      else this.bytes = Math.max(0, this.bytes - (q.bytesIn.get(this.ackedSeen, acked)?.b ?? 0));
      this.ackedSeen = acked;
      this.checkLevel();
    }
  }

  private events(): number {
    return Math.max(0, (this.need().lastSeq.get()?.seq ?? 0) - this.ackedSeen);
  }

  private fill(): number {
    const { maxEvents, maxBytes } = this.opts.limits;
    return Math.max(this.events() / maxEvents, this.bytes / maxBytes);
  }

  private checkLevel(): void {
    const fill = this.fill();
    const crossed = ALERT_LEVELS.filter((l) => fill >= l).at(-1) ?? 0;
    if (crossed > this.level || (crossed === 0 && this.level > 0)) {
      this.level = crossed;
      const stats = { events: this.events(), bytes: this.bytes, fill, level: crossed, dropped: structuredClone(this.dropped), limits: { ...this.opts.limits } };
      queueMicrotask(() => this.opts.onLevel?.(crossed, stats));
    }
  }

  private readAcked(): number {
    const n = Number(this.need().acked.get(ACKED_KEY)?.value ?? 0);
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }

  private need(): NonNullable<OutboxPolicy['q']> {
    if (!this.q) throw new Error('OutboxPolicy used before the store attached it');
    return this.q;
  }
}
