/**
 * The baseline's storage: batched better-sqlite3 inserts of raw payloads,
 * with the same pragmas (WAL, synchronous=FULL) and the same flush policy as
 * the service's group commit (edge/store/group-commit.ts): a batch runs
 * `flushIntervalMs` after the first queued row or at once when `maxBatch`
 * rows wait; callbacks run after COMMIT. No validation, no domain tables, no
 * event-log columns, no savepoints: the floor the service is compared with.
 */
import Database from 'better-sqlite3';

type Done = (err: Error | null) => void;

export class BatchWriter {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement<[string, Buffer, number]>;
  private readonly commitBatch: (rows: Array<{ topic: string; payload: Buffer; done: Done }>) => void;
  private queue: Array<{ topic: string; payload: Buffer; done: Done }> = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private immediate: ReturnType<typeof setImmediate> | null = null;
  commits = 0;
  rows = 0;

  constructor(
    file: string,
    private readonly opts: { flushIntervalMs: number; maxBatch: number },
  ) {
    this.db = new Database(file);
    const mode = this.db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`baseline store ${file}: journal_mode is ${String(mode)}, not wal`);
    this.db.pragma('synchronous = FULL');
    this.db.exec('CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL, ts INTEGER NOT NULL)');
    this.insert = this.db.prepare('INSERT INTO events (topic, payload, ts) VALUES (?, ?, ?)');
    this.commitBatch = this.db.transaction((rows: Array<{ topic: string; payload: Buffer }>) => {
      const now = Date.now();
      for (const r of rows) this.insert.run(r.topic, r.payload, now);
    });
  }

  add(topic: string, payload: Buffer, done: Done): void {
    this.queue.push({ topic, payload, done });
    if (this.queue.length >= this.opts.maxBatch) {
      if (this.immediate === null) {
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = null;
        this.immediate = setImmediate(() => this.run());
      }
    } else if (this.timer === null && this.immediate === null) {
      this.timer = setTimeout(() => this.run(), this.opts.flushIntervalMs);
    }
  }

  private run(): void {
    this.timer = null;
    this.immediate = null;
    this.flushOne();
    if (this.queue.length >= this.opts.maxBatch) this.immediate = setImmediate(() => this.run());
    else if (this.queue.length > 0) this.timer = setTimeout(() => this.run(), this.opts.flushIntervalMs);
  }

  private flushOne(): void {
    const batch = this.queue.splice(0, this.opts.maxBatch);
    if (batch.length === 0) return;
    try {
      this.commitBatch(batch);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      for (const r of batch) r.done(err);
      return;
    }
    this.commits++;
    this.rows += batch.length;
    for (const r of batch) r.done(null);
  }

  /** Commits what is queued and closes the file. */
  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    while (this.queue.length > 0) this.flushOne();
    this.db.close();
  }
}
