/**
 * The cloud database on PostgreSQL (node-postgres, a connection pool), for a
 * district with many rooms or several cloud processes.
 *
 * - `?` placeholders are numbered `$1..$n` (outside quoted literals).
 * - BIGINT (ms timestamps, seqs) is parsed to a JS number; a value beyond
 *   2^53 is an error rather than a silently rounded number.
 * - `transaction(fn)` takes one pooled connection for BEGIN .. COMMIT
 *   (READ COMMITTED). A deadlock or serialization failure (40P01, 40001) is
 *   retried from the start, up to 3 times; the cloud's transactions are
 *   written so that this cannot happen in normal operation (docs/sync.md,
 *   "Concurrent workers"), so a retry is a safety net, not the design.
 * - A connection that failed mid-transaction is discarded, not returned to
 *   the pool.
 */
import pg from 'pg';
import type { CloudDb, DialectSql, Queryable, SqlValue } from './db.js';

const POSTGRES_SQL: DialectSql = {
  inJsonArray: (column) => `${column} IN (SELECT json_array_elements_text(?::json))`,
  forUpdate: ' FOR UPDATE',
};

const INT8_OID = 20;
const RETRYABLE = new Set(['40P01', '40001']);

/** `?` → `$n`, leaving quoted literals and identifiers alone. */
export function numberPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') out += `$${++n}`;
    else out += ch;
  }
  return out;
}

const parseInt8 = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`BIGINT ${v} is beyond JavaScript's safe integers`);
  return n;
};

export class PostgresCloudDb implements CloudDb {
  readonly dialect = 'postgres' as const;
  readonly sql = POSTGRES_SQL;
  private readonly pool: pg.Pool;
  private readonly texts = new Map<string, string>();

  constructor(config: pg.PoolConfig, onError: (err: Error) => void) {
    this.pool = new pg.Pool({
      max: 10,
      ...config,
      types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
    });
    // An idle connection that dies (server restart) must not crash the process; the pool replaces it.
    this.pool.on('error', onError);
  }

  private text(sql: string): string {
    let t = this.texts.get(sql);
    if (t === undefined) {
      t = numberPlaceholders(sql);
      this.texts.set(sql, t);
    }
    return t;
  }

  private on(client: pg.Pool | pg.PoolClient): Queryable {
    return {
      all: async <T>(sql: string, params: readonly SqlValue[] = []) => (await client.query(this.text(sql), params as SqlValue[])).rows as T[],
      get: async <T>(sql: string, params: readonly SqlValue[] = []) => (await client.query(this.text(sql), params as SqlValue[])).rows[0] as T | undefined,
      run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: (await client.query(this.text(sql), params as SqlValue[])).rowCount ?? 0 }),
      exec: async (sql: string) => void (await client.query(sql)),
    };
  }

  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    return this.on(this.pool).all<T>(sql, params);
  }

  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    return this.on(this.pool).get<T>(sql, params);
  }

  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    return this.on(this.pool).run(sql, params);
  }

  exec(sql: string): Promise<void> {
    return this.on(this.pool).exec(sql);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(this.on(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr as Error;
        }
        const code = (e as { code?: unknown }).code;
        if (typeof code === 'string' && RETRYABLE.has(code) && attempt < 3) continue;
        throw e;
      } finally {
        client.release(broken);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
