/**
 * The reference cloud's persistence interface (docs/sync.md, "The cloud's
 * database"): one async API over two backends, SQLite (embedded, the
 * default: sync/cloud/db-sqlite.ts) and PostgreSQL (sync/cloud/db-postgres.ts).
 *
 * SQL is written once with `?` placeholders (the PostgreSQL backend numbers
 * them `$1..$n`) in the subset both dialects accept (`INSERT ... ON CONFLICT
 * DO NOTHING / DO UPDATE ... excluded.x`, `UNION`, `CASE`); the few places
 * that differ ask `db.sql` for a fragment. Integers come back as JS numbers
 * on both (PostgreSQL's BIGINT is parsed, and refused beyond 2^53).
 *
 * Transactions: `transaction(fn)` runs `fn` on one connection between BEGIN
 * and COMMIT and resolves only after the COMMIT returned, so a caller that
 * acknowledges after `await transaction(...)` acknowledges a committed fact.
 * Any error rolls back and is rethrown.
 */

/** Values bound to `?` placeholders (booleans are stored as 0/1 by the callers). */
export type SqlValue = string | number | null;

export interface Queryable {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** `changes`: rows inserted, updated or deleted. */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /** Several statements without parameters (schema migrations). */
  exec(sql: string): Promise<void>;
}

export type Dialect = 'sqlite' | 'postgres';

/** SQL fragments that differ between the dialects. */
export interface DialectSql {
  /** `column IN (the elements of a JSON array of strings bound as one ? parameter)`. */
  inJsonArray(column: string): string;
  /** Appended to a SELECT that reads a row the transaction will update (PostgreSQL row lock; SQLite locks the whole database at BEGIN IMMEDIATE). */
  forUpdate: string;
}

export interface CloudDb extends Queryable {
  readonly dialect: Dialect;
  readonly sql: DialectSql;
  /** Runs fn in one transaction on one connection; resolves after the COMMIT. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
