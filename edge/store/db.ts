/**
 * Opening the SQLite file: durability pragmas, integrity check, and moving a
 * corrupt store aside LOUDLY (renamed with its -wal/-shm, logged at error
 * level, reported to the caller so the service raises an alert) before a
 * fresh store is created. Never silently.
 *
 * Pragmas (see docs/store.md):
 * - journal_mode=WAL: readers do not block the writer;
 * - synchronous=FULL: in WAL mode every COMMIT is fsynced, so a committed
 *   transaction survives a power cut, not only a process crash;
 * - foreign_keys=ON, busy_timeout: other connections (tools, a second reader)
 *   wait instead of failing at once.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../util/logger.js';
import { StoreError, errorMessage, isCorruptionError } from './errors.js';

export const BUSY_TIMEOUT_MS = 5000;
/** Truncate the WAL back to this size after a checkpoint, so it does not stay large after a burst. */
export const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

export interface OpenedDatabase {
  db: Database.Database;
  recovered: { movedTo: string; reason: string } | null;
}

const SIDE_FILES = ['-wal', '-shm'] as const;

export function isMemoryPath(file: string): boolean {
  return file === ':memory:';
}

/** Applies the connection pragmas; throws if WAL cannot be enabled on a file store. */
export function applyPragmas(db: Database.Database, file: string): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (!isMemoryPath(file) && mode !== 'wal') {
    throw new StoreError('open-failed', `store ${file}: journal_mode is ${String(mode)}, WAL could not be enabled`);
  }
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  // Group commit runs writes inside SAVEPOINTs (group-commit.ts), so SQLite copies each page a
  // write touches first into the savepoint's sub-journal: with temp_store=FILE that is a pwrite() to a
  // temp file per page, ~8 per event. The sub-journal only serves ROLLBACK TO inside the open
  // transaction and never crash recovery (the WAL does that), so keeping it in memory changes no
  // durability; it holds at most one batch's touched pages and is freed at COMMIT.
  db.pragma('temp_store = MEMORY');
}

/** `PRAGMA quick_check`: null when the file is sound, otherwise the first problems reported. */
export function quickCheck(db: Database.Database): string | null {
  const rows = db.pragma('quick_check') as unknown[];
  const problems = rows
    .map((r) => (typeof r === 'object' && r !== null ? Object.values(r)[0] : r))
    .map((v) => String(v))
    .filter((v) => v !== 'ok');
  return problems.length === 0 ? null : problems.slice(0, 5).join('; ');
}

/** Compact UTC timestamp for file names: 20250102T030405Z. */
export function fileTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Renames the store and its -wal/-shm to `<name>.corrupt-<timestamp>[-n]`; returns the new main path. */
export function moveAside(file: string, nowMs: number): string {
  const base = `${file}.corrupt-${fileTimestamp(nowMs)}`;
  let target = base;
  for (let n = 1; [target, ...SIDE_FILES.map((s) => target + s)].some((p) => fs.existsSync(p)); n++) {
    target = `${base}-${n}`;
  }
  fs.renameSync(file, target);
  for (const suffix of SIDE_FILES) {
    if (fs.existsSync(file + suffix)) fs.renameSync(file + suffix, target + suffix);
  }
  return target;
}

function tryClose(db: Database.Database | undefined): void {
  try {
    db?.close();
  } catch {
    // closing a damaged handle may fail; nothing more to do with it
  }
}

type Checked =
  | { db: Database.Database; corrupt: null }
  /** `handle` is still open: it is closed only after the files were moved (see below). */
  | { db: null; corrupt: string; handle: Database.Database | undefined };

/** Opens, sets pragmas and checks integrity. Returns the problem if the file is corrupt. */
function openChecked(file: string): Checked {
  let db: Database.Database | undefined;
  try {
    db = new Database(file);
    applyPragmas(db, file);
    const problem = isMemoryPath(file) ? null : quickCheck(db);
    if (problem === null) return { db, corrupt: null };
    return { db: null, corrupt: `quick_check: ${problem}`, handle: db };
  } catch (err) {
    if (isCorruptionError(err)) return { db: null, corrupt: errorMessage(err), handle: db };
    tryClose(db);
    if (err instanceof StoreError) throw err;
    throw new StoreError('open-failed', `store ${file}: cannot open: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Opens the store file. A corrupt file is moved aside and a fresh one created;
 * anything else that prevents opening throws StoreError('open-failed').
 */
export function openDatabase(opts: { file: string; logger: Logger; now: () => number }): OpenedDatabase {
  const { file, logger } = opts;
  if (!isMemoryPath(file)) {
    try {
      fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    } catch (err) {
      throw new StoreError('open-failed', `store ${file}: cannot create its directory: ${errorMessage(err)}`, { cause: err });
    }
  }
  const first = openChecked(file);
  if (first.db) return { db: first.db, recovered: null };

  const reason = first.corrupt;
  let movedTo: string;
  try {
    // Rename BEFORE closing the handle: when the last connection closes, SQLite
    // checkpoints and deletes "<file>-wal" by name, which would destroy the WAL,
    // possibly the only copy of the newest commits. After the rename that name is gone.
    movedTo = moveAside(file, opts.now());
  } catch (err) {
    throw new StoreError(
      'open-failed',
      `store ${file} is corrupt (${reason}) and could not be moved aside: ${errorMessage(err)}`,
      { cause: err },
    );
  } finally {
    tryClose(first.handle);
  }
  logger.error(
    { file, movedTo, reason, alert: 'store-corrupt' },
    'STORE CORRUPT: the database was moved aside and a fresh, empty store is being created; unsynced data may be in the moved file',
  );
  const second = openChecked(file);
  if (!second.db) {
    tryClose(second.handle);
    throw new StoreError('open-failed', `store ${file}: fresh store is corrupt right after creation: ${second.corrupt}`);
  }
  return { db: second.db, recovered: { movedTo, reason } };
}

/** Sizes of the database file and its WAL in bytes (0 when absent or in memory). */
export function fileSizes(file: string): { fileBytes: number; walBytes: number } {
  if (isMemoryPath(file)) return { fileBytes: 0, walBytes: 0 };
  const size = (p: string): number => {
    try {
      return fs.statSync(p).size;
    } catch {
      return 0;
    }
  };
  return { fileBytes: size(file), walBytes: size(`${file}-wal`) };
}
