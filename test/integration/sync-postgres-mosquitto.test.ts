/**
 * The district link end to end with the cloud on PostgreSQL: Debian's
 * mosquitto (TLS client certificates, ACL), Debian's PostgreSQL (a throwaway
 * cluster, SCRAM password from a passwordFile), the reference cloud with two
 * ingest workers on the shared subscription, and edge uplinks on real edge
 * stores. Both workers commit batches of the same rooms concurrently, one of
 * them is killed mid-stream and restarted (its session holds its share of
 * the batches, as in sync-mosquitto.test.ts); every event must be in
 * PostgreSQL exactly once and every edge's mark must reach its last seq. Also `classroom-edge cloud
 * start` from a YAML config naming PostgreSQL.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CloudConfig } from '../../edge/config/schema.js';
import { ACKED_SEQ_KEY } from '../../edge/privacy/retention.js';
import { openStore, type Store } from '../../edge/store/index.js';
import { systemClock } from '../../edge/util/clock.js';
import { createLogger, silentLogger } from '../../edge/util/logger.js';
import { cloudConfigSchema, startCloud, type RunningCloud } from '../../sync/cloud/cli.js';
import type { DatabaseConfig } from '../../sync/cloud/db-config.js';
import { MIGRATIONS } from '../../sync/cloud/schema.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { Uplink } from '../../sync/uplink.js';
import { IngestWorker } from '../../sync/cloud/worker.js';
import { useCloudDb } from '../helpers/cloud-db.js';
import { CLI, requireBuilt } from '../helpers/cli.js';
import { startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';

const logger = process.env.CE_DEBUG ? createLogger({ level: 'warn', destination: process.stderr }) : silentLogger();
const pg = useCloudDb('postgres');

let broker: DistrictBroker;
let dir: string;
const stores: Store[] = [];
const uplinks: Uplink[] = [];
const extraWorkers: IngestWorker[] = [];
let cloud: RunningCloud | null = null;

beforeAll(async () => {
  broker = await startDistrictBroker({ rooms: ['r1', 'r2'], workers: ['cloud-worker-1'] });
  dir = mkdtempSync(join(tmpdir(), 'ce-sync-pg-'));
}, 60_000);

afterEach(async () => {
  await Promise.all(uplinks.splice(0).map((u) => u.stop()));
  await Promise.all(extraWorkers.splice(0).map((w) => w.stop()));
  await cloud?.stop();
  cloud = null;
  for (const s of stores.splice(0)) await s.close();
});

afterAll(async () => {
  await broker?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function edgeStore(roomId: string): Store {
  const s = openStore({ path: join(dir, `${roomId}-${Date.now()}.db`), roomId, logger, clock: systemClock, flushIntervalMs: 0 });
  stores.push(s);
  return s;
}

function startUplink(roomId: string, store: Store, over: Partial<CloudConfig> = {}): Uplink {
  const cert = broker.rooms[roomId]!;
  const config: CloudConfig = {
    url: broker.url,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    caFile: broker.caFile,
    batch: { maxEvents: 10, lingerMs: 10 },
    ackTimeoutMs: 2000,
    maxInFlight: 8,
    ...over,
  } as CloudConfig;
  const u = new Uplink({ roomId, store, config, logger, clock: systemClock, reconnect: { minMs: 100, maxMs: 500 } });
  u.start();
  uplinks.push(u);
  return u;
}

async function commitEvents(store: Store, n: number, from = 0): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      store.write((tx) => tx.appendEvent({ stream: 'sensor', type: 'sensor/reading', entityId: from + i, payload: { i: from + i, value: 21.5, note: '教室' }, ts: Date.now() })),
    ),
  );
}

function metaAcked(store: Store): number {
  const row = store.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(ACKED_SEQ_KEY);
  return row ? Number(row.value) : 0;
}

async function settleAcked(store: Store, n: number, ms = 40_000): Promise<void> {
  await waitFor(() => metaAcked(store) === n, ms, `sync.ackedSeq to reach ${n} (is ${metaAcked(store)}); broker log:\n${broker.log()}`);
}

async function expectExactlyOnce(view: CloudStore, roomId: string, store: Store, n: number): Promise<void> {
  const rows = await view.events(roomId);
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(new Set(rows.map((r) => r.storeId))).toEqual(new Set([store.storeId]));
  const local = store.eventsAfter(0, 10_000);
  expect(rows.map((r) => r.payload)).toEqual(local.map((e) => JSON.stringify(JSON.parse(e.payload))));
  expect(await view.ackedSeq(roomId, store.storeId)).toBe(n);
}

function brokerSection(): { url: string; certFile: string; keyFile: string; caFile: string } {
  const cert = broker.workers['cloud-worker-1']!;
  return { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile };
}

describe('district sync into PostgreSQL (two ingest workers, mosquitto)', () => {
  it('two workers share the batches of two rooms; one is killed mid-stream and restarted; every event is in PostgreSQL once', async () => {
    const database = await pg.fresh(dir);
    cloud = await startCloud(cloudConfigSchema.parse({ broker: brokerSection(), database, workers: 2 }), logger);
    const [w1, w2] = cloud.workers;
    const s1 = edgeStore('r1');
    const s2 = edgeStore('r2');
    startUplink('r1', s1);
    startUplink('r2', s2);
    await Promise.all([commitEvents(s1, 1500), commitEvents(s2, 1000)]);
    await waitFor(() => w1!.stats().batches > 20 && w2!.stats().batches > 20, 30_000, 'both workers to commit batches');
    // A crash of worker 1 mid-stream; it comes back under the same client id and its session's batches are delivered.
    await w1!.stop({ force: true });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const back = new IngestWorker({ broker: brokerSection(), clientId: 'cloud-worker-1', store: cloud.store, logger, reconnect: { minMs: 100, maxMs: 500 } });
    await back.start();
    extraWorkers.push(back);
    await Promise.all([settleAcked(s1, 1500), settleAcked(s2, 1000)]);
    const drainMs = Date.now() - t0;
    await expectExactlyOnce(cloud.store, 'r1', s1, 1500);
    await expectExactlyOnce(cloud.store, 'r2', s2, 1000);
    const stats = [w1!.stats(), w2!.stats(), back.stats()];
    // Duplicates are expected (resends after the crash), rejections are not; every row was inserted by exactly one commit.
    expect(stats.map((s) => s.rejected)).toEqual([{}, {}, {}]);
    expect(stats.reduce((n, s) => n + s.inserted, 0)).toBe(2500);
    console.log(
      `[measured] 2500 events, batches of 10, 2 workers on PostgreSQL: batches ${stats.map((s) => s.batches).join('+')}, duplicates ${stats.reduce((n, s) => n + s.duplicates, 0)}; ` +
        `drain after the restart ${drainMs} ms`,
    );
  }, 90_000);

  it('classroom-edge cloud start on PostgreSQL: password from a file, never printed; a password in the URL or a wrong one is refused', async () => {
    requireBuilt();
    const database = (await pg.fresh(dir)) as Extract<DatabaseConfig, { kind: 'postgres' }>;
    const password = readFileSync(database.passwordFile!, 'utf8').trim();
    const b = brokerSection();
    const yamlBroker = `broker:\n  url: ${b.url}\n  certFile: ${JSON.stringify(b.certFile)}\n  keyFile: ${JSON.stringify(b.keyFile)}\n  caFile: ${JSON.stringify(b.caFile)}\n`;

    const bad = join(dir, 'bad-pg.yaml');
    writeFileSync(bad, `${yamlBroker}database: { kind: postgres, url: "postgres://${database.user}:${password}@127.0.0.1:${database.port}/${database.database}" }\n`);
    const r = spawnSync(process.execPath, [CLI, 'cloud', 'start', '--config', bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('database.url: must not contain a password');

    // A wrong password: refused at start with the server's reason, naming the database but not the password.
    const wrongPw = join(dir, 'wrong.secret');
    writeFileSync(wrongPw, 'not-the-password-42\n', { mode: 0o600 });
    const wrong = join(dir, 'wrong-pg.yaml');
    writeFileSync(
      wrong,
      `${yamlBroker}database: { kind: postgres, host: 127.0.0.1, port: ${database.port}, user: ${database.user}, database: ${database.database}, passwordFile: ${JSON.stringify(wrongPw)} }\n`,
    );
    const w = spawnSync(process.execPath, [CLI, 'cloud', 'start', '--config', wrong], { encoding: 'utf8' });
    expect(w.status).toBe(1);
    expect(w.stderr).toContain(`refusing to start: database (postgres ${database.user}@127.0.0.1:${database.port}/${database.database}): password authentication failed`);
    expect(w.stderr + w.stdout).not.toContain('not-the-password-42');

    const good = join(dir, 'cloud-pg.yaml');
    writeFileSync(
      good,
      `${yamlBroker}database:\n  kind: postgres\n  host: 127.0.0.1\n  port: ${database.port}\n  user: ${database.user}\n  database: ${database.database}\n  passwordFile: ${JSON.stringify(database.passwordFile)}\nworkers: 2\n`,
    );
    const child = spawn(process.execPath, [CLI, 'cloud', 'start', '--config', good], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('district cloud ingest started'), 20_000, `the cloud CLI to start; output:\n${out}`);
      expect(out).toContain('"kind":"postgres"');
      const store = edgeStore('r2');
      startUplink('r2', store);
      await commitEvents(store, 42);
      await settleAcked(store, 42);
      const view = await CloudStore.open(database);
      try {
        await expectExactlyOnce(view, 'r2', store, 42);
        expect(await view.db.all('SELECT version FROM schema_version ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      } finally {
        await view.close();
      }
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).not.toContain(password);
  }, 60_000);
});
