/**
 * The cloud store's ingest semantics on both database backends (SQLite and
 * Debian's PostgreSQL in a throwaway cluster): dedup on (room, store, seq),
 * the contiguous mark, one transaction per batch (a failing batch leaves
 * nothing), concurrent commits of the same room (the last commit's ack
 * covers everything), verbatim JSON payloads, versioned migrations; and the
 * `database` config section (no password in the file).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { databaseConfigSchema, describeDatabase, openCloudDb, postgresPoolConfig, type PostgresConfig } from '../../../sync/cloud/db-config.js';
import { numberPlaceholders } from '../../../sync/cloud/db-postgres.js';
import { MIGRATIONS, migrate, schemaVersion } from '../../../sync/cloud/schema.js';
import { CloudStore } from '../../../sync/cloud/store.js';
import type { Batch } from '../../../sync/protocol.js';
import { BACKENDS, useCloudDb } from '../../helpers/cloud-db.js';

const T = 1_760_000_000_000;

function batch(room: string, seqs: number[], over: { payload?: (seq: number) => unknown; stream?: string; type?: string; store?: string } = {}): Batch {
  return {
    v: 1,
    roomId: room,
    storeId: over.store ?? 'store-a',
    batchId: `b-${seqs[0]}-${seqs.at(-1)}`,
    firstSeq: seqs[0]!,
    lastSeq: seqs.at(-1)!,
    events: seqs.map((seq) => ({
      seq,
      stream: over.stream ?? 'sensor',
      type: over.type ?? 'reading',
      entityId: String(seq),
      payload: over.payload ? over.payload(seq) : { i: seq },
      ts: T + seq,
      clockSynced: false,
      bootId: 'boot-1',
    })),
    sentAt: T,
  };
}
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(BACKENDS)('cloud store (%s)', (backend) => {
  const db = useCloudDb(backend);
  let dir: string;
  let cloud: CloudStore;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ce-cloudstore-'));
    cloud = await db.open(dir);
  });
  afterEach(async () => {
    await cloud.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deduplicates on (room, store, seq) and acknowledges only the contiguous prefix', async () => {
    expect(await cloud.commitBatch(batch('r1', range(1, 10)), T)).toMatchObject({ inserted: 10, duplicates: 0, ackedSeq: 10 });
    // A later batch overtook an earlier one: held, but not acknowledged past the gap.
    expect(await cloud.commitBatch(batch('r1', range(21, 30)), T)).toMatchObject({ inserted: 10, ackedSeq: 10 });
    // A resend: nothing new.
    expect(await cloud.commitBatch(batch('r1', range(1, 10)), T)).toMatchObject({ inserted: 0, duplicates: 10, ackedSeq: 10 });
    // The gap filled: the mark jumps over what was held.
    expect(await cloud.commitBatch(batch('r1', range(11, 20)), T)).toMatchObject({ inserted: 10, ackedSeq: 30 });
    // Another store of the same room (a replaced edge store) has its own mark.
    expect(await cloud.commitBatch(batch('r1', range(1, 3), { store: 'store-b' }), T)).toMatchObject({ ackedSeq: 3 });
    const rows = await cloud.events('r1');
    expect(rows.filter((r) => r.storeId === 'store-a').map((r) => r.seq)).toEqual(range(1, 30));
    expect(rows.filter((r) => r.storeId === 'store-b').map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(await cloud.ackedSeq('r1', 'store-a')).toBe(30);
    // Integers come back as numbers (PostgreSQL's BIGINT included).
    expect(rows[0]).toMatchObject({ seq: 1, ts: T + 1, receivedAt: T, clockSynced: false });
    expect(typeof rows[0]!.ts).toBe('number');
  });

  it('walks the mark across more than one page of seqs', async () => {
    // 2 500 events held above a gap at seq 1, then seq 1 arrives.
    for (let from = 2; from <= 2501; from += 500) await cloud.commitBatch(batch('r1', range(from, Math.min(from + 499, 2501))), T);
    expect(await cloud.ackedSeq('r1', 'store-a')).toBe(0);
    expect((await cloud.commitBatch(batch('r1', [1]), T)).ackedSeq).toBe(2501);
  });

  it('a batch that fails mid-way leaves nothing: no event, no room row, no mark', async () => {
    const bad = batch('r1', [1, 2]);
    bad.events[1]!.ts = Number.NaN; // NOT NULL / not an integer: the second insert fails after the first succeeded
    await expect(cloud.commitBatch(bad, T)).rejects.toThrow();
    expect(await cloud.events('r1')).toEqual([]);
    expect(await cloud.db.all('SELECT * FROM rooms')).toEqual([]);
    expect(await cloud.commitBatch(batch('r1', [1, 2]), T)).toMatchObject({ inserted: 2, ackedSeq: 2 });
  });

  it('concurrent commits of one room\'s batches, out of order and each sent twice: every event once, and the last ack covers all', async () => {
    const batches = [];
    for (let from = 1; from <= 400; from += 8) batches.push(batch('r1', range(from, from + 7)), batch('r2', range(from, from + 7)));
    const sends = [...batches, ...batches].sort(() => Math.random() - 0.5);
    const results = await Promise.all(sends.map((b) => cloud.commitBatch(b, T)));
    for (const room of ['r1', 'r2']) {
      expect((await cloud.events(room)).map((r) => r.seq)).toEqual(range(1, 400));
      expect(await cloud.ackedSeq(room, 'store-a')).toBe(400);
    }
    expect(results.reduce((n, r) => n + r.inserted, 0)).toBe(800);
    expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(800);
    // Serialised per room: whichever commit came last saw every other one, so some ack of each room says 400
    // (without that, the edge would wait for its ack timeout and resend).
    const sendsOf = (room: string) => results.filter((_, i) => sends[i]!.roomId === room).map((r) => r.ackedSeq);
    expect(Math.max(...sendsOf('r1'))).toBe(400);
    expect(Math.max(...sendsOf('r2'))).toBe(400);
  });

  it('two batches that fill one gap, committed at the same moment: one of the two acks covers both (20 rooms)', async () => {
    // The race the room lock prevents: each transaction inserting its own batch while the other's is not yet
    // committed, both computing the mark from a snapshot without the other's rows, so neither reaches 24.
    const rooms = Array.from({ length: 20 }, (_, i) => `gap-${i}`);
    for (const room of rooms) await cloud.commitBatch(batch(room, range(17, 24)), T);
    const outcomes = await Promise.all(rooms.map((room) => Promise.all([cloud.commitBatch(batch(room, range(1, 8)), T), cloud.commitBatch(batch(room, range(9, 16)), T)])));
    for (const [i, [a, b]] of outcomes.entries()) {
      expect(Math.max(a.ackedSeq, b.ackedSeq), rooms[i]).toBe(24);
      expect(await cloud.ackedSeq(rooms[i]!, 'store-a')).toBe(24);
    }
  });

  it('keeps JSON payloads verbatim (NUL escapes, CJK, nesting) and the receipt check reads them', async () => {
    const payload = (seq: number) => ({ lessonId: 'L1', note: `a\u0000b-${seq}`, name: '初二(3)班', nested: { list: [1, 2.5, null] } });
    await cloud.commitBatch(batch('r1', range(1, 3), { payload, stream: 'card', type: 'tap' }), T);
    const rows = await cloud.events('r1');
    expect(rows.map((r) => r.payload)).toEqual(range(1, 3).map((s) => JSON.stringify(payload(s))));
    const { summariseTied } = await import('../../../sync/receipt-protocol.js');
    const tied = summariseTied(rows.map((r) => ({ seq: r.seq, stream: r.stream, type: r.type })));
    const receipt = batch('r1', [4], {
      stream: 'receipt',
      type: 'lesson',
      payload: () => ({ lessonId: 'L1', revision: 1, count: 3, counts: tied.counts, firstSeq: 1, lastSeq: 3, digest: tied.digest, segments: null }),
    });
    const r = await cloud.commitBatch(receipt, T);
    expect(r.receipts).toEqual([expect.objectContaining({ lessonId: 'L1', outcome: 'complete' })]);
  });

  it('room status and telemetry: latest wins, one row each', async () => {
    await cloud.recordStatus({ v: 1, roomId: 'r1', state: 'online', ts: T }, T);
    await cloud.recordStatus({ v: 1, roomId: 'r1', state: 'offline' }, T + 1);
    await cloud.recordTelemetry({ v: 1, roomId: 'r1', deviceId: 'panel', state: { online: true }, ts: T }, T);
    const rows = await cloud.roomStatus('r1');
    expect(rows.map((r) => [r.key, JSON.parse(r.payload).state, r.ts])).toEqual([
      ['device:panel', { online: true }, T],
      ['status', 'offline', null],
    ]);
  });

  it('schema migrations: versioned, applied once, each whole or not at all; a newer database is refused', async () => {
    expect(await schemaVersion(cloud.db)).toBe(MIGRATIONS.at(-1)!.version);
    expect(await migrate(cloud.db)).toEqual([]);
    const known = MIGRATIONS.at(-1)!.version;
    const next = { version: known + 1, name: 'test: a column', sqlite: 'ALTER TABLE rooms ADD COLUMN note TEXT', postgres: 'ALTER TABLE rooms ADD COLUMN note TEXT' };
    const broken = { version: known + 2, name: 'test: half a migration', sqlite: 'CREATE TABLE half (x INTEGER); SELECT no_such_function();', postgres: 'CREATE TABLE half (x INTEGER); SELECT no_such_function();' };
    await expect(migrate(cloud.db, () => T, [...MIGRATIONS, next, broken])).rejects.toThrow(/no_such_function/);
    expect(await schemaVersion(cloud.db)).toBe(known + 1);
    expect(await cloud.db.all('SELECT note FROM rooms')).toEqual([]);
    // The broken migration rolled back as a whole: no table `half`.
    await expect(cloud.db.all('SELECT * FROM half')).rejects.toThrow();
    // This code knows only its own versions: a database at a newer one is not written to.
    const config = await db.fresh(dir);
    const other = await CloudStore.open(config);
    await other.db.run('INSERT INTO schema_version (version, name, applied_at) VALUES (99, ?, 0)', ['from the future']);
    await other.close();
    await expect(CloudStore.open(config)).rejects.toThrow(new RegExp(`schema version 99, newer than this cloud knows \\(${known}\\)`));
  });
});

describe('cloud database (SQLite only)', () => {
  it('adopts a database made by the cloud before schema versions, keeping its rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ce-cloudstore-'));
    try {
      const file = join(dir, 'old.db');
      const raw = openCloudDb({ kind: 'sqlite', file });
      await raw.exec(MIGRATIONS[0]!.sqlite); // what the old CloudStore created (CREATE ... IF NOT EXISTS, no schema_version)
      await raw.run("INSERT INTO rooms (room_id, store_id, acked_seq, first_seen, last_seen) VALUES ('r1', 's', 7, 0, 0)");
      await raw.close();
      const cloud = await CloudStore.open(file);
      expect(await cloud.ackedSeq('r1', 's')).toBe(7);
      // Adopted as version 1 unchanged, then brought up to date.
      expect(await cloud.db.all('SELECT version FROM schema_version ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      await cloud.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('database config', () => {
  const pgBase = { kind: 'postgres', host: 'db.district.lan', user: 'cloud', database: 'district' };
  const problems = (v: unknown) => {
    const r = databaseConfigSchema.safeParse(v);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('the old form (a path) is SQLite; the new forms are checked field by field', () => {
    expect(databaseConfigSchema.parse('/var/lib/c.db')).toEqual({ kind: 'sqlite', file: '/var/lib/c.db' });
    expect(databaseConfigSchema.parse({ kind: 'sqlite', file: 'c.db' })).toEqual({ kind: 'sqlite', file: 'c.db' });
    expect(databaseConfigSchema.parse({ ...pgBase, passwordFile: '/etc/x' })).toMatchObject({ kind: 'postgres', poolSize: 10 });
    expect(problems({ kind: 'postgres', url: 'postgres://cloud:hunter2@db/district' })).toEqual([
      'url: must not contain a password (no secrets in the config file): use passwordFile or passwordEnv',
    ]);
    expect(problems({ kind: 'postgres', url: 'postgres://cloud@db/district?password=x' })).toEqual(['url: must not contain a password parameter: use passwordFile or passwordEnv']);
    expect(problems({ kind: 'postgres', user: 'cloud' })).toEqual(['host: give url, or host (with port, user, database)']);
    expect(problems({ ...pgBase, url: 'postgres://db/x' })).toEqual(['host: give either url or host/port/user/database, not both', 'user: give either url or host/port/user/database, not both', 'database: give either url or host/port/user/database, not both']);
    expect(problems({ ...pgBase, passwordFile: 'a', passwordEnv: 'B' })).toEqual(['passwordEnv: give passwordFile or passwordEnv, not both']);
    expect(problems({ ...pgBase, password: 'x' })[0]).toMatch(/password|Unrecognized/);
    expect(problems({ kind: 'mysql', file: 'x' }).length).toBeGreaterThan(0);
  });

  it('reads the password from its file or variable at start; TLS verified by default except on the loopback; logs never show it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ce-dbconf-'));
    try {
      const pw = join(dir, 'pw');
      writeFileSync(pw, 's3cret\n');
      const remote = databaseConfigSchema.parse({ ...pgBase, passwordFile: pw }) as PostgresConfig;
      expect(postgresPoolConfig(remote)).toMatchObject({ host: 'db.district.lan', port: 5432, password: 's3cret', ssl: { rejectUnauthorized: true } });
      const local = databaseConfigSchema.parse({ kind: 'postgres', url: 'postgres://cloud@127.0.0.1:5433/district', passwordEnv: 'CLOUD_DB_PW' }) as PostgresConfig;
      expect(postgresPoolConfig(local, { CLOUD_DB_PW: 'x' })).toMatchObject({ host: '127.0.0.1', port: 5433, user: 'cloud', database: 'district', password: 'x', ssl: false });
      expect(() => postgresPoolConfig(local, {})).toThrow('database.passwordEnv: the environment variable CLOUD_DB_PW is not set');
      const missing = databaseConfigSchema.parse({ ...pgBase, passwordFile: join(dir, 'nope') }) as PostgresConfig;
      expect(() => postgresPoolConfig(missing)).toThrow(/database.passwordFile: cannot read/);
      expect(JSON.stringify(describeDatabase(remote))).not.toContain('s3cret');
      expect(describeDatabase(remote)).toEqual({ kind: 'postgres', host: 'db.district.lan', port: 5432, user: 'cloud', database: 'district', ssl: 'verify-full' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('numbers ? placeholders for PostgreSQL, not inside quotes', () => {
    expect(numberPlaceholders("SELECT * FROM t WHERE a = ? AND b = '?' AND \"c?\" = ? LIMIT ?")).toBe("SELECT * FROM t WHERE a = $1 AND b = '?' AND \"c?\" = $2 LIMIT $3");
  });
});
