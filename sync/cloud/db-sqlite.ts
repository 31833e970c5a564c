/**
 * The cloud database on SQLite (better-sqlite3; the embedded default for a
 * single small district): WAL, synchronous=FULL, busy_timeout 5 s.
 *
 * better-sqlite3 is synchronous and has one connection, but the interface
 * (sync/cloud/db.ts) is async: a transaction's callback awaits between its
 * statements, and any other statement run on the connection meanwhile would
 * silently join (or be rolled back with) that transaction. So every
 * operation goes through one queue: a transaction holds it from BEGIN
 * IMMEDIATE to COMMIT, and statements outside a transaction wait their turn.
 * Since each statement is synchronous, a transaction holds the queue only for
 * the time of its own SQL.
 */
import Database from 'better-sqlite3';
import type { CloudDb, DialectSql, Queryable, SqlValue } from './db.js';

const SQLITE_SQL: DialectSql = {
  inJsonArray: (column) => `${column} IN (SELECT value FROM json_each(?))`,
  forUpdate: '',
};

/** A FIFO lock: one holder at a time, in arrival order. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export class SqliteCloudDb implements CloudDb {
  readonly dialect = 'sqlite' as const;
  readonly sql = SQLITE_SQL;
  private readonly db: Database.Database;
  private readonly queue = new Queue();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly direct: Queryable;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    const stmt = (sql: string) => {
      let s = this.statements.get(sql);
      if (!s) {
        s = this.db.prepare(sql);
        this.statements.set(sql, s);
      }
      return s;
    };
    // Runs on the connection as it is (inside the transaction that holds the queue, if any).
    this.direct = {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => stmt(sql).all(...params) as T[],
      get: async <T>(sql: string, params: readonly SqlValue[] = []) => stmt(sql).get(...params) as T | undefined,
      run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: stmt(sql).run(...params).changes }),
      exec: async (sql: string) => void this.db.exec(sql),
    };
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.queue.run(() => this.direct.all<T>(sql, params));
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.queue.run(() => this.direct.get<T>(sql, params));
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.queue.run(() => this.direct.run(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.queue.run(() => this.direct.exec(sql));
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      // IMMEDIATE: the write lock is taken at BEGIN, so a second process on the same file waits here (busy_timeout), not at its first write.
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.direct);
        this.db.exec('COMMIT');
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw e;
      }
    });
  }

  close(): Promise<void> {
    return this.queue.run(() => {
      this.statements.clear();
      if (this.db.open) this.db.close();
    });
  }
}
