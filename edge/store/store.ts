/**
 * The store: one SQLite file per room (better-sqlite3), opened with durable
 * pragmas, migrated, integrity-checked, written through group commit, with
 * the event log appended in the same transaction as each domain row.
 * See docs/store.md.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import type { Metrics } from '../metrics.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { fileSizes, openDatabase } from './db.js';
import { StoreError, errorMessage } from './errors.js';
import { EventLog, type AppendEvent, type EventRow } from './event-log.js';
import { GroupCommit, type EnqueueOptions, type GroupCommitCounters } from './group-commit.js';
import { migrate } from './migrations.js';
import type { OutboxPolicy, OutboxStats } from './outbox.js';
import {
  DomainRepos,
  auditInput,
  behaviourInput,
  cardTapInput,
  readingInput,
  type AuditInput,
  type BehaviourInput,
  type CardTapInput,
  type ReadingInput,
  type Recorded,
} from './repos.js';

export const DEFAULT_FLUSH_INTERVAL_MS = 4;
export const DEFAULT_MAX_BATCH = 256;
export const MAX_EVENTS_PER_READ = 10_000;
const RERUNNABLE: EnqueueOptions = { rerunnable: true };

export interface StoreOptions {
  /** File path, or ':memory:' for tests (no durability, no integrity check). */
  path: string;
  roomId: string;
  logger: Logger;
  clock: Clock;
  flushIntervalMs?: number;
  maxBatch?: number;
  /** Whether the wall clock is NTP-synchronised now; stamped on each event (default: false). */
  clockSynced?: () => boolean;
  /** Optional: counts committed events per stream and tracks the last seq. */
  metrics?: Pick<Metrics, 'eventsCommitted' | 'eventLogLastSeq' | 'storeBytes'> & Partial<Pick<Metrics, 'outboxDropped' | 'outboxFill'>>;
  /** The bounded outbox's per-stream policy (edge/store/outbox.ts); none: every event is logged. */
  outbox?: OutboxPolicy;
}

export interface Tx {
  db: Database.Database;
  /** Appends an event-log row in this write's transaction; returns its seq (0: left out by the outbox policy). */
  appendEvent(e: AppendEvent): number;
}

export interface StoreStats extends GroupCommitCounters {
  fileBytes: number;
  walBytes: number;
  /** Writes queued and not yet committed. */
  pending: number;
  lastSeq: number;
}

export interface Store {
  readonly db: Database.Database;
  readonly bootId: string;
  /** Random id of this store file, created with it; a store recreated after corruption has a new one. */
  readonly storeId: string;
  readonly recovered: { movedTo: string; reason: string } | null;
  /**
   * Queue write work into the next group transaction; resolves with fn's result after COMMIT.
   * `rerunnable`: fn touches nothing but the transaction (see GroupCommit), so it may share
   * a savepoint with its batch-mates and be run again if one of them fails.
   */
  write<T>(fn: (tx: Tx) => T, options?: EnqueueOptions): Promise<T>;
  recordCardTap(t: CardTapInput): Promise<Recorded>;
  recordReading(r: ReadingInput): Promise<Recorded>;
  recordBehaviour(b: BehaviourInput): Promise<Recorded>;
  recordAudit(a: AuditInput): Promise<Recorded>;
  /** Committed events with seq > `seq`, in seq order (for sync and tests). */
  eventsAfter(seq: number, limit: number): EventRow[];
  /** Highest seq ever committed (0 when none). */
  lastSeq(): number;
  /** The outbox's size, fill and drop counters (null without a policy). */
  outbox(): OutboxStats | null;
  /** Appends the `outbox/dropped` report when one is due (something dropped, outbox back below 50 %). */
  reportDropped(): Promise<boolean>;
  stats(): StoreStats;
  flush(): Promise<void>;
  close(): Promise<void>;
}

function readMeta(db: Database.Database, key: string): string | undefined {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key);
  return row?.value;
}

/** First open: records room and identity. Later opens: refuses a store of another room. */
function initMeta(
  db: Database.Database,
  opts: { file: string; roomId: string; now: number; recovered: { movedTo: string; reason: string } | null },
): string {
  const storedRoom = readMeta(db, 'room_id');
  if (storedRoom !== undefined && storedRoom !== opts.roomId) {
    throw new StoreError(
      'room-mismatch',
      `store ${opts.file} belongs to room "${storedRoom}" but the configuration names room "${opts.roomId}"; ` +
        'fix room.id, or move the store aside once its events are synced',
    );
  }
  const existing = readMeta(db, 'store_id');
  if (storedRoom !== undefined && existing !== undefined) return existing;
  const storeId = randomUUID();
  const put = db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)');
  db.transaction(() => {
    put.run('room_id', opts.roomId);
    put.run('store_id', storeId);
    put.run('created_at', String(opts.now));
    if (opts.recovered) {
      put.run('recovered_from', opts.recovered.movedTo);
      put.run('recovered_reason', opts.recovered.reason);
    }
  }).immediate();
  return storeId;
}

function invalid(what: string, error: z.ZodError): StoreError {
  const detail = error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return new StoreError('invalid-input', `${what}: invalid input: ${detail}`);
}

class SqliteStore implements Store {
  private readonly log: EventLog;
  private readonly repos: DomainRepos;
  private readonly gc: GroupCommit;
  private closing: Promise<void> | null = null;

  constructor(
    readonly db: Database.Database,
    readonly bootId: string,
    readonly storeId: string,
    readonly recovered: { movedTo: string; reason: string } | null,
    private readonly opts: StoreOptions,
    private readonly logger: Logger,
  ) {
    const outbox = opts.outbox;
    outbox?.attach(db);
    this.log = new EventLog(db, {
      roomId: opts.roomId,
      bootId,
      clockSynced: opts.clockSynced ?? (() => false),
      admit: outbox ? (e, text) => outbox.admit(e, text) : undefined,
    });
    this.repos = new DomainRepos(db);
    this.gc = new GroupCommit({
      db,
      logger,
      file: opts.path,
      flushIntervalMs: opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
      maxBatch: opts.maxBatch ?? DEFAULT_MAX_BATCH,
      monotonic: () => opts.clock.monotonic(),
      ...(outbox ? { afterCommit: () => outbox.afterCommit() } : {}),
    });
    opts.metrics?.eventLogLastSeq.set(this.log.lastSeq());
  }

  write<T>(fn: (tx: Tx) => T, options?: EnqueueOptions): Promise<T> {
    const appended: Array<{ stream: string; seq: number }> = [];
    let active = false;
    const tx: Tx = {
      db: this.db,
      appendEvent: (e) => {
        if (!active) throw new StoreError('write-failed', 'Tx.appendEvent called outside its write function');
        const seq = this.log.append(e);
        appended.push({ stream: e.stream, seq });
        return seq;
      },
    };
    const committed = this.gc.enqueue(() => {
      appended.length = 0; // a rerun starts afresh
      active = true;
      try {
        return fn(tx);
      } finally {
        active = false;
      }
    }, options);
    const metrics = this.opts.metrics;
    if (!metrics) return committed;
    return committed.then((value) => {
      for (const a of appended) {
        if (a.seq === 0) {
          metrics.outboxDropped?.inc({ stream: a.stream });
          continue;
        }
        metrics.eventsCommitted.inc({ stream: a.stream });
        metrics.eventLogLastSeq.set(a.seq);
      }
      return value;
    });
  }

  private record<I, R>(
    what: string,
    schema: z.ZodType<I>,
    input: unknown,
    run: (append: Tx['appendEvent'], v: I) => R,
    options?: EnqueueOptions,
  ): Promise<R> {
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      const err = invalid(what, parsed.error);
      this.logger.warn({ err: err.message }, 'store record rejected');
      return Promise.reject(err);
    }
    return this.write((tx) => run(tx.appendEvent, parsed.data), options).catch((err: unknown) => {
      if (err instanceof StoreError) throw err;
      throw new StoreError('write-failed', `${what} failed and was rolled back: ${errorMessage(err)}`, { cause: err });
    });
  }

  recordCardTap(t: CardTapInput): Promise<Recorded> {
    // Rerunnable: two inserts (the first a no-op for a known dedup key). Sensor readings are not (the outbox's thinning
    // remembers the last logged reading per device in memory, which a second run would see).
    return this.record('recordCardTap', cardTapInput, t, (append, v) => this.repos.cardTap(append, v), RERUNNABLE);
  }

  recordReading(r: ReadingInput): Promise<Recorded> {
    return this.record('recordReading', readingInput, r, (append, v) => this.repos.reading(append, v));
  }

  recordBehaviour(b: BehaviourInput): Promise<Recorded> {
    return this.record('recordBehaviour', behaviourInput, b, (append, v) => this.repos.behaviour(append, v), RERUNNABLE);
  }

  recordAudit(a: AuditInput): Promise<Recorded> {
    return this.record('recordAudit', auditInput, a, (append, v) => this.repos.audit(append, v));
  }

  eventsAfter(seq: number, limit: number): EventRow[] {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`eventsAfter: seq must be an integer >= 0, got ${seq}`);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_EVENTS_PER_READ) {
      throw new RangeError(`eventsAfter: limit must be an integer in 1..${MAX_EVENTS_PER_READ}, got ${limit}`);
    }
    return this.log.after(seq, limit);
  }

  lastSeq(): number {
    return this.log.lastSeq();
  }

  outbox(): OutboxStats | null {
    const s = this.opts.outbox?.stats() ?? null;
    if (s) this.opts.metrics?.outboxFill?.set(s.fill);
    return s;
  }

  reportDropped(): Promise<boolean> {
    const policy = this.opts.outbox;
    if (!policy) return Promise.resolve(false);
    const now = this.opts.clock.now();
    return this.write((tx) => {
      const report = policy.dueReport();
      if (!report) return false;
      tx.appendEvent({ stream: 'outbox', type: 'dropped', payload: report, ts: now });
      policy.reported();
      this.logger.warn({ dropped: report.dropped }, 'outbox drop report logged for the district');
      return true;
    });
  }

  stats(): StoreStats {
    const sizes = fileSizes(this.opts.path);
    this.opts.metrics?.storeBytes.set(sizes.fileBytes + sizes.walBytes);
    return { ...sizes, pending: this.gc.pending, lastSeq: this.log.lastSeq(), ...this.gc.stats() };
  }

  flush(): Promise<void> {
    return this.gc.flush();
  }

  close(): Promise<void> {
    this.closing ??= this.gc.close().then(() => {
      this.db.close();
      this.logger.info({ file: this.opts.path, ...this.gc.stats() }, 'store closed');
    });
    return this.closing;
  }
}

/**
 * Opens (creating if needed), integrity-checks and migrates the store. Synchronous.
 * A corrupt file is moved aside, logged at error level and reported in `recovered`.
 * Throws StoreError on what cannot be recovered (newer schema, other room, I/O).
 */
export function openStore(opts: StoreOptions): Store {
  if (typeof opts.roomId !== 'string' || opts.roomId.length === 0) {
    throw new StoreError('open-failed', `store ${opts.path}: roomId must be a non-empty string`);
  }
  const logger = opts.logger.child({ ns: 'edge:store' });
  const now = (): number => opts.clock.now();
  const { db, recovered } = openDatabase({ file: opts.path, logger, now });
  let storeId: string;
  try {
    migrate(db, { file: opts.path, logger, now });
    storeId = initMeta(db, { file: opts.path, roomId: opts.roomId, now: now(), recovered });
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError('open-failed', `store ${opts.path}: cannot initialise: ${errorMessage(err)}`, { cause: err });
  }
  const store = new SqliteStore(db, randomUUID(), storeId, recovered, opts, logger);
  logger.info(
    { file: opts.path, bootId: store.bootId, storeId, lastSeq: store.lastSeq(), recovered: recovered !== null },
    'store opened',
  );
  return store;
}
