/**
 * Group commit: write work is queued and run in one transaction every
 * `flushIntervalMs` or as soon as `maxBatch` items wait, whichever comes
 * first, so a burst costs one fsync per batch instead of one per event.
 *
 * - Each item runs inside its own SAVEPOINT: an item that throws is rolled
 *   back alone and its promise rejected; its batch-mates still commit.
 *   Items enqueued as `rerunnable` (their function has no effect outside the
 *   transaction, so running it again is harmless) share one SAVEPOINT per run
 *   of consecutive such items: two statements per run instead of two per item
 *   (at saturation a third of an event's store time). If one of them throws,
 *   the shared savepoint is rolled back and that run's items are run again,
 *   each in its own savepoint, so the outcome is the same as above.
 * - Promises resolve only AFTER the COMMIT returned (synchronous=FULL: the
 *   data is on disk), so a caller may acknowledge (QoS 1 PUBACK) then.
 * - If the COMMIT fails (disk full, I/O error), or SQLite aborts the whole
 *   transaction mid-batch, every item of the batch that ran is rejected and
 *   the connection is rolled back so the next batch can proceed.
 * - better-sqlite3 is synchronous and this runs on the main thread: a batch
 *   never runs re-entrantly (writes queued from inside a write go to the next
 *   batch; flush() called from inside a write waits for the running drain).
 */
import type Database from 'better-sqlite3';
import type { Logger } from '../util/logger.js';
import { StoreError, errorMessage } from './errors.js';

export interface GroupCommitOptions {
  db: Database.Database;
  logger: Logger;
  /** Used in error messages. */
  file: string;
  flushIntervalMs: number;
  maxBatch: number;
  monotonic: () => number;
  /** A COMMIT slower than this is logged at warn level (a failing disk shows here first). */
  slowCommitMs?: number;
  /** Called after each successful COMMIT, before the writes' promises settle (outside the transaction). */
  afterCommit?: () => void;
}

export interface GroupCommitCounters {
  /** Group transactions committed. */
  commits: number;
  /** Group transactions that failed as a whole (commit error or transaction aborted by SQLite). */
  failedBatches: number;
  /** Items committed. */
  committedItems: number;
  /** Items rolled back alone (their function threw). */
  failedItems: number;
}

interface Item {
  /** Runs the write work; returns the thunk that resolves the caller's promise after COMMIT. */
  run: () => () => void;
  reject: (err: unknown) => void;
  /** May run more than once (see the module comment): shares a savepoint with its neighbours. */
  rerunnable: boolean;
}

export interface EnqueueOptions {
  /**
   * The work has no effect outside its transaction (no I/O, no state that a
   * second run would see), so it may be run again after a batch-mate failed.
   */
  rerunnable?: boolean;
}

function isThenable(v: unknown): boolean {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
  );
}

export class GroupCommit {
  private queue: Item[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  private running = false;
  private closed = false;
  private drainWaiters: Array<() => void> = [];
  private readonly stmt: Record<
    'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo' | 'chunk' | 'chunkRelease' | 'chunkRollbackTo',
    Database.Statement
  >;
  private readonly counters: GroupCommitCounters = { commits: 0, failedBatches: 0, committedItems: 0, failedItems: 0 };

  constructor(private readonly opts: GroupCommitOptions) {
    if (!Number.isFinite(opts.flushIntervalMs) || opts.flushIntervalMs < 0) {
      throw new RangeError(`flushIntervalMs must be >= 0, got ${opts.flushIntervalMs}`);
    }
    if (!Number.isSafeInteger(opts.maxBatch) || opts.maxBatch < 1) {
      throw new RangeError(`maxBatch must be an integer >= 1, got ${opts.maxBatch}`);
    }
    const { db } = opts;
    this.stmt = {
      // IMMEDIATE: take the write lock at BEGIN, so a busy file fails before any item runs.
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT group_item'),
      release: db.prepare('RELEASE group_item'),
      rollbackTo: db.prepare('ROLLBACK TO group_item'),
      chunk: db.prepare('SAVEPOINT group_chunk'),
      chunkRelease: db.prepare('RELEASE group_chunk'),
      chunkRollbackTo: db.prepare('ROLLBACK TO group_chunk'),
    };
  }

  get pending(): number {
    return this.queue.length;
  }

  stats(): GroupCommitCounters {
    return { ...this.counters };
  }

  /** Queues synchronous write work; resolves with its result after the batch committed. */
  enqueue<T>(work: () => T, options: EnqueueOptions = {}): Promise<T> {
    if (this.closed) {
      return Promise.reject(new StoreError('closed', `store ${this.opts.file} is closed; write refused`));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        run: () => {
          const value = work();
          if (isThenable(value)) {
            throw new StoreError('async-write', 'a store write function returned a promise; write work must be synchronous');
          }
          return () => resolve(value);
        },
        reject,
        rerunnable: options.rerunnable === true,
      });
      this.schedule();
    });
  }

  /** Commits everything queued so far. Never runs a batch re-entrantly. */
  flush(): Promise<void> {
    if (this.running) {
      // Called from inside a write: the running drain resolves us when the queue is empty.
      return new Promise((resolve) => this.drainWaiters.push(resolve));
    }
    this.clearSchedule();
    while (this.queue.length > 0) this.runBatch();
    this.notifyDrained();
    return Promise.resolve();
  }

  /** Refuses new writes, then commits what is queued. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    this.clearSchedule();
  }

  private schedule(): void {
    if (this.running) return; // the running batch reschedules when it ends
    // flushIntervalMs 0: commit at the end of this event-loop turn (setTimeout(0) would wait >= 1 ms).
    if (this.queue.length >= this.opts.maxBatch || this.opts.flushIntervalMs === 0) {
      if (this.immediate === null) {
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = null;
        this.immediate = setImmediate(() => this.onScheduled());
      }
    } else if (this.timer === null && this.immediate === null && this.queue.length > 0) {
      this.timer = setTimeout(() => this.onScheduled(), this.opts.flushIntervalMs);
    }
  }

  private clearSchedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private onScheduled(): void {
    this.clearSchedule();
    this.runBatch();
    if (this.queue.length === 0) this.notifyDrained();
    else this.schedule();
  }

  private notifyDrained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private rollbackQuietly(): void {
    if (!this.opts.db.inTransaction) return;
    try {
      this.stmt.rollback.run();
    } catch (err) {
      this.opts.logger.error({ err: errorMessage(err), file: this.opts.file }, 'store rollback failed');
    }
  }

  /** One transaction over at most maxBatch items. */
  private runBatch(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    try {
      this.runTransaction(batch);
    } finally {
      this.running = false;
    }
  }

  private runTransaction(batch: Item[]): void {
    const { logger, file } = this.opts;
    const started = this.opts.monotonic();
    try {
      this.stmt.begin.run();
    } catch (err) {
      this.failBatch(batch, [], err, `store ${file}: cannot begin a group transaction of ${batch.length} writes`);
      return;
    }
    const done: Array<() => void> = [];
    const failed: Array<{ item: Item; err: unknown }> = [];
    // Items [chunkStart, i) ran inside the open shared savepoint `group_chunk` (-1: none open).
    let chunkStart = -1;
    let chunkDone = 0;
    const closeChunk = (): void => {
      if (chunkStart < 0) return;
      this.stmt.chunkRelease.run();
      chunkStart = -1;
    };
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      if (item.rerunnable) {
        if (chunkStart < 0) {
          try {
            this.stmt.chunk.run();
          } catch (err) {
            this.abortBatch(batch, i, failed, err, false);
            return;
          }
          chunkStart = i;
          chunkDone = done.length;
        }
        try {
          done.push(item.run());
          continue;
        } catch (err) {
          if (!this.opts.db.inTransaction) {
            this.abortBatch(batch, i, failed, err);
            return;
          }
          // Undo the run so far, then replay it one savepoint per item (below); the item that
          // failed runs again there and, failing again, is rolled back alone.
          const from = chunkStart;
          try {
            this.stmt.chunkRollbackTo.run();
            this.stmt.chunkRelease.run();
          } catch (rollbackErr) {
            logger.error({ err: errorMessage(rollbackErr), file }, 'store savepoint rollback failed');
            this.abortBatch(batch, i, failed, err);
            return;
          }
          chunkStart = -1;
          done.length = chunkDone;
          for (let j = from; j <= i; j++) {
            if (!this.runAlone(batch, j, done, failed)) return;
          }
          continue;
        }
      }
      try {
        closeChunk();
      } catch (err) {
        this.abortBatch(batch, i, failed, err, false);
        return;
      }
      if (!this.runAlone(batch, i, done, failed)) return;
    }
    try {
      closeChunk();
    } catch (err) {
      this.abortBatch(batch, batch.length, failed, err, false);
      return;
    }
    try {
      this.stmt.commit.run();
    } catch (err) {
      this.failBatch(batch, failed, err, `store ${file}: COMMIT of a group of ${done.length} writes failed`);
      return;
    }
    const ms = this.opts.monotonic() - started;
    this.counters.commits++;
    this.counters.committedItems += done.length;
    this.counters.failedItems += failed.length;
    if (ms > (this.opts.slowCommitMs ?? 500)) {
      logger.warn({ file, ms: Math.round(ms), items: done.length }, 'slow store commit');
    }
    try {
      this.opts.afterCommit?.();
    } catch (err) {
      logger.error({ err: errorMessage(err), file }, 'after-commit hook failed');
    }
    for (const settle of done) settle();
    for (const f of failed) f.item.reject(f.err);
  }

  /**
   * Runs batch[i] in its own savepoint. Returns false when SQLite aborted the
   * whole transaction (the batch has then been failed and the rest requeued).
   */
  private runAlone(batch: Item[], i: number, done: Array<() => void>, failed: Array<{ item: Item; err: unknown }>): boolean {
    const { logger, file } = this.opts;
    const item = batch[i]!;
    try {
      this.stmt.savepoint.run();
      const settle = item.run();
      this.stmt.release.run();
      done.push(settle);
      return true;
    } catch (err) {
      if (this.opts.db.inTransaction) {
        try {
          this.stmt.rollbackTo.run();
          this.stmt.release.run();
          failed.push({ item, err });
          logger.warn({ err: errorMessage(err), file }, 'store write failed; only that write was rolled back');
          return true;
        } catch (rollbackErr) {
          logger.error({ err: errorMessage(rollbackErr), file }, 'store savepoint rollback failed');
        }
      }
      this.abortBatch(batch, i, failed, err);
      return false;
    }
  }

  /**
   * SQLite rolled back the whole transaction (SQLITE_FULL, SQLITE_IOERR, ...) while
   * batch[i] ran: nothing of this batch is written. batch[i] is rejected with the
   * error, the items before it are failed, the items after it go back to the head
   * of the queue.
   */
  private abortBatch(batch: Item[], i: number, failed: Array<{ item: Item; err: unknown }>, err: unknown, itemRan = true): void {
    const item = batch[i];
    if (item && itemRan) {
      item.reject(err);
      this.counters.failedItems++;
      this.queue.unshift(...batch.slice(i + 1));
    } else {
      this.queue.unshift(...batch.slice(i));
    }
    const what =
      item && itemRan
        ? `store ${this.opts.file}: the group transaction was aborted by SQLite while running write ${i + 1} of ${batch.length}`
        : `store ${this.opts.file}: a savepoint of the group transaction failed after ${i} of ${batch.length} writes`;
    this.failBatch(batch.slice(0, i), failed, err, what);
  }

  /**
   * Nothing of the batch was written: rolls back, rejects the items that had run
   * (with a StoreError naming the cause) and the ones that failed alone (with their own error).
   */
  private failBatch(ran: Item[], failed: Array<{ item: Item; err: unknown }>, cause: unknown, what: string): void {
    this.rollbackQuietly();
    this.counters.failedBatches++;
    this.counters.failedItems += ran.length;
    const error = new StoreError('commit-failed', `${what}: ${errorMessage(cause)}`, { cause });
    this.opts.logger.error({ err: errorMessage(cause), file: this.opts.file, writes: ran.length - failed.length }, error.message);
    const failedSet = new Set(failed.map((f) => f.item));
    for (const item of ran) if (!failedSet.has(item)) item.reject(error);
    for (const f of failed) f.item.reject(f.err);
  }
}
