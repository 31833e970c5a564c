/**
 * Errors of the store. Each names the store file or the operation that failed,
 * so a log line or an alert says what went wrong and where.
 */
export type StoreErrorCode =
  | 'open-failed' // the file cannot be opened or initialised (permissions, I/O, not recoverable)
  | 'newer-schema' // the file was written by newer software; refusing to touch it
  | 'room-mismatch' // the file belongs to another room
  | 'migration-failed' // a migration threw; its transaction was rolled back
  | 'invalid-input' // a record failed validation before it was queued
  | 'write-failed' // a write threw inside its transaction; only that write was rolled back
  | 'commit-failed' // the group transaction could not be committed; nothing of the batch was written
  | 'async-write' // a write function returned a promise (write work must be synchronous)
  | 'closed'; // the store is closed or closing

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** SQLite result codes as better-sqlite3 reports them on `err.code` (e.g. `SQLITE_CORRUPT_INDEX`). */
export function sqliteCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** True for the codes that mean "this file is damaged or is not a database". */
export function isCorruptionError(err: unknown): boolean {
  const code = sqliteCode(err);
  return code !== undefined && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
