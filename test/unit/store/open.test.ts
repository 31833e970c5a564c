import fs from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../edge/util/logger.js';
import { openStore, StoreError, MIGRATIONS, type Store } from '../../../edge/store/index.js';
import { migrate, schemaVersion, type Migration } from '../../../edge/store/migrations.js';
import { capturingLogger, fixedClock, T0, tempDir, type TempDir } from './helpers.js';

let tmp: TempDir;
const open: Store[] = [];

function openAt(file: string, extra: { roomId?: string; logger?: ReturnType<typeof silentLogger> } = {}): Store {
  const s = openStore({ path: file, roomId: extra.roomId ?? 'r203', logger: extra.logger ?? silentLogger(), clock: fixedClock() });
  open.push(s);
  return s;
}

/** A valid store with some rows, closed. */
async function populatedStore(file: string, rows = 2000): Promise<void> {
  const s = openStore({ path: file, roomId: 'r203', logger: silentLogger(), clock: fixedClock() });
  await Promise.all(
    Array.from({ length: rows }, (_, i) =>
      s.recordReading({ device: 'air', metric: 'co2', value: 400 + i, unit: 'ppm', ts: T0 + i }),
    ),
  );
  await s.close();
}

beforeEach(() => {
  tmp = tempDir();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  tmp.remove();
});

describe('openStore: creation and migrations', () => {
  it('creates a fresh store at the latest schema version with the durability pragmas', () => {
    const file = tmp.file('sub/dir/edge.db');
    const s = openAt(file);
    expect(fs.existsSync(file)).toBe(true);
    expect(schemaVersion(s.db)).toBe(MIGRATIONS.length);
    expect(s.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(s.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(s.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(s.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    const tables = s.db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .all()
      .map((r) => r.name);
    expect(tables).toEqual(
      expect.arrayContaining(['audit_log', 'behaviour_events', 'card_taps', 'event_log', 'meta', 'schema_migrations', 'sensor_readings']),
    );
    const history = s.db.prepare('SELECT version, name, applied_at FROM schema_migrations').all();
    expect(history).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name, applied_at: T0 })));
    const meta = Object.fromEntries(
      s.db.prepare<[], { key: string; value: string }>('SELECT key, value FROM meta').all().map((r) => [r.key, r.value]),
    );
    expect(meta).toMatchObject({ room_id: 'r203', created_at: String(T0), store_id: s.storeId });
    expect(s.recovered).toBeNull();
    expect(s.bootId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reopens an existing store without migrating again, keeps data and store id, new boot id', async () => {
    const file = tmp.file('edge.db');
    const first = openStore({ path: file, roomId: 'r203', logger: silentLogger(), clock: fixedClock() });
    await first.recordCardTap({ reader: 'reader', uid: '0A1B2C3D4E', ts: T0 });
    const { storeId, bootId } = first;
    await first.close();
    const again = openAt(file);
    expect(again.storeId).toBe(storeId);
    expect(again.bootId).not.toBe(bootId);
    expect(again.lastSeq()).toBe(1);
    expect(again.db.prepare('SELECT count(*) AS n FROM schema_migrations').get()).toEqual({ n: MIGRATIONS.length });
  });

  it('refuses a store written by a newer schema version, with a clear message, and leaves it in place', () => {
    const file = tmp.file('edge.db');
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    let caught: unknown;
    try {
      openAt(file);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    expect((caught as StoreError).code).toBe('newer-schema');
    expect((caught as StoreError).message).toMatch(new RegExp(`schema version 99.*knows only up to version ${MIGRATIONS.length}.*Upgrade classroom-edge`));
    expect(fs.readdirSync(tmp.dir).filter((f) => f.includes('corrupt'))).toEqual([]);
    const check = new Database(file, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(99);
    check.close();
  });

  it('refuses a store that belongs to another room', async () => {
    const file = tmp.file('edge.db');
    await openAt(file, { roomId: 'r101' }).close();
    expect(() => openAt(file, { roomId: 'r203' })).toThrow(/belongs to room "r101".*names room "r203"/);
  });

  it('rolls back a failing migration completely and names it', () => {
    const file = tmp.file('m.db');
    const db = new Database(file);
    const migrations: Migration[] = [
      MIGRATIONS[0]!,
      { version: 2, name: 'broken', up: 'CREATE TABLE extra (x INTEGER); INSERT INTO no_such_table VALUES (1);' },
    ];
    const opts = { file, logger: silentLogger(), now: () => T0, migrations };
    expect(() => migrate(db, opts)).toThrow(/migration 2 \(broken\) failed and was rolled back/);
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE name = 'extra'").get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT max(version) AS v FROM schema_migrations').get()).toEqual({ v: 1 });
    db.close();
  });

  it('applies pending migrations in order on an older store', () => {
    const file = tmp.file('m.db');
    const db = new Database(file);
    migrate(db, { file, logger: silentLogger(), now: () => T0, migrations: MIGRATIONS });
    const n = MIGRATIONS.length;
    const next: Migration[] = [
      ...MIGRATIONS,
      { version: n + 1, name: 'add-notes', up: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;' },
      { version: n + 2, name: 'seed', up: (d) => void d.prepare("INSERT INTO notes (body) VALUES ('hello')").run() },
    ];
    expect(migrate(db, { file, logger: silentLogger(), now: () => T0 + 1, migrations: next })).toEqual([n + 1, n + 2]);
    expect(schemaVersion(db)).toBe(n + 2);
    expect(db.prepare('SELECT body FROM notes').all()).toEqual([{ body: 'hello' }]);
    expect(migrate(db, { file, logger: silentLogger(), now: () => T0 + 2, migrations: next })).toEqual([]);
    db.close();
  });
});

describe('openStore: corrupt files are moved aside loudly', () => {
  const cases: Array<[string, (file: string) => void]> = [
    ['garbage over the header', (file) => overwrite(file, 0, Buffer.alloc(100, 0x41))],
    ['garbage over data pages', (file) => overwrite(file, 4096 * 3, Buffer.alloc(3 * 4096, 0x5a))],
    ['a truncated file', (file) => fs.truncateSync(file, Math.floor(fs.statSync(file).size / 2))],
    ['a text file', (file) => fs.writeFileSync(file, 'this is not a database\n'.repeat(100))],
  ];

  it.each(cases)('recovers from %s', async (_label, damage) => {
    const file = tmp.file('edge.db');
    await populatedStore(file);
    damage(file);
    const { logger, lines } = capturingLogger();
    const s = openAt(file, { logger });
    expect(s.recovered).not.toBeNull();
    const movedTo = s.recovered!.movedTo;
    expect(movedTo).toBe(`${file}.corrupt-20250303T080000Z`);
    expect(fs.existsSync(movedTo)).toBe(true);
    expect(s.recovered!.reason).toMatch(/malformed|not a database|quick_check/);
    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ file, movedTo, alert: 'store-corrupt' });
    expect(errors[0]!.msg).toMatch(/STORE CORRUPT/);
    // The fresh store works and remembers where the old one went.
    expect(s.lastSeq()).toBe(0);
    await expect(s.recordCardTap({ reader: 'reader', uid: 'AB', ts: T0 })).resolves.toEqual({ seq: 1, id: 1 });
    expect(s.db.prepare("SELECT value FROM meta WHERE key = 'recovered_from'").get()).toEqual({ value: movedTo });
  });

  it('moves the -wal and -shm files together with the database and never overwrites an earlier copy', async () => {
    const file = tmp.file('edge.db');
    for (let round = 0; round < 2; round++) {
      fs.writeFileSync(file, 'garbage '.repeat(1000));
      fs.writeFileSync(`${file}-wal`, 'wal garbage');
      fs.writeFileSync(`${file}-shm`, 'shm garbage');
      const s = openAt(file);
      expect(s.recovered).not.toBeNull();
      await s.close();
      open.splice(open.indexOf(s), 1);
    }
    const moved = fs.readdirSync(tmp.dir).filter((f) => f.includes('.corrupt-')).sort();
    expect(moved).toEqual([
      'edge.db.corrupt-20250303T080000Z',
      'edge.db.corrupt-20250303T080000Z-1',
      'edge.db.corrupt-20250303T080000Z-1-shm',
      'edge.db.corrupt-20250303T080000Z-1-wal',
      'edge.db.corrupt-20250303T080000Z-shm',
      'edge.db.corrupt-20250303T080000Z-wal',
    ]);
    expect(fs.readFileSync(tmp.file('edge.db.corrupt-20250303T080000Z-wal'), 'utf8')).toBe('wal garbage');
  });

  it('keeps the WAL of a corrupt store byte for byte (it may hold the only copy of the newest commits)', async () => {
    const file = tmp.file('edge.db');
    const live = openStore({ path: file, roomId: 'r203', logger: silentLogger(), clock: fixedClock() });
    live.db.pragma('wal_autocheckpoint = 0');
    await Promise.all(Array.from({ length: 500 }, (_, i) => live.recordCardTap({ reader: 'r', uid: `U${i}`, ts: T0 })));
    live.db.pragma('wal_checkpoint(TRUNCATE)');
    await Promise.all(Array.from({ length: 50 }, (_, i) => live.recordCardTap({ reader: 'r', uid: `W${i}`, ts: T0 })));
    // Snapshot the files as a power cut would leave them (WAL not checkpointed), then damage the main file.
    const crash = tmp.file('crash.db');
    fs.copyFileSync(file, crash);
    fs.copyFileSync(`${file}-wal`, `${crash}-wal`);
    await live.close();
    const walBytes = fs.readFileSync(`${crash}-wal`);
    expect(walBytes.length).toBeGreaterThan(4096);
    overwrite(crash, 4096, Buffer.alloc(4 * 4096, 0x5a));
    const s = openAt(crash);
    expect(s.recovered).not.toBeNull();
    expect(fs.readFileSync(`${s.recovered!.movedTo}-wal`).equals(walBytes)).toBe(true);
  });

  it('does not touch a sound store', async () => {
    const file = tmp.file('edge.db');
    await populatedStore(file, 10);
    const { logger, lines } = capturingLogger();
    const s = openAt(file, { logger });
    expect(s.recovered).toBeNull();
    expect(s.lastSeq()).toBe(10);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('throws a StoreError, not a recovery, when the directory cannot be written', () => {
    const blocker = tmp.file('not-a-dir');
    fs.writeFileSync(blocker, 'x');
    expect(() => openAt(`${blocker}/edge.db`)).toThrow(StoreError);
  });
});

function overwrite(file: string, offset: number, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    fs.closeSync(fd);
  }
}
