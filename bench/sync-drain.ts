/**
 * Sync backlog drain benchmark (issue 5): a week of a busy room's events,
 * generated into a real edge store (test/helpers/week.ts, BUSY_WEEK), drained
 * by the edge's Uplink (sync/uplink.ts, in this process) through Debian's
 * mosquitto (TLS, client certificates, the room ACL) to the reference cloud
 * run through its CLI in its own process (`classroom-edge cloud start`, one
 * ingest worker, SQLite WAL + synchronous=FULL). Timed from uplink.start()
 * to the acknowledgement of the log's last seq; afterwards the cloud's table
 * must hold exactly the edge's events (count, seq 1..last, one store id).
 *
 * Baseline, in the same run: the same rows, read from the edge store and cut
 * into the same batches the Uplink sends, committed straight into a fresh
 * cloud database with the cloud store's own insert path
 * (CloudStore.commitBatch: the worker's transaction), no MQTT, no encoding.
 *
 * One run per batch setting (cloud.batch.maxEvents, cloud.maxInFlight): the
 * default and a larger one, to show the knob.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import type { CloudConfig } from '../edge/config/schema.js';
import { ACKED_SEQ_KEY } from '../edge/privacy/retention.js';
import { openStore, type Store } from '../edge/store/index.js';
import { silentLogger } from '../edge/util/logger.js';
import { CloudStore } from '../sync/cloud/store.js';
import { linkOptions } from '../sync/link-options.js';
import { PROTOCOL_VERSION, districtTopics, type Batch } from '../sync/protocol.js';
import { LessonReceipts } from '../sync/receipts.js';
import { Uplink } from '../sync/uplink.js';
import { startDistrictBroker, type DistrictBroker } from '../test/helpers/mosquitto.js';
import { waitFor } from '../test/helpers/peers.js';
import { BUSY_WEEK, generateWeek, type WeekShape } from '../test/helpers/week.js';
import { cpuSecondsOf, extraBrokerConf, mosquittoPid, startCloudProcess, writeCloudConfig } from './lib/district.js';
import { machineBusyFraction } from './lib/proc.js';

const CLI = fileURLToPath(new URL('../edge/cli.js', import.meta.url));
const ROOM = 'bench-r1';
const WORKER = 'cloud-worker-1';

export interface DrainSetting {
  maxEvents: number;
  maxInFlight: number;
  lingerMs: number;
}

export interface DrainRun {
  setting: DrainSetting;
  link: {
    seconds: number;
    eventsPerSec: number;
    batchesSent: number;
    batchesResent: number;
    /** What the cloud's table holds afterwards (checked against the edge's log). */
    cloudRows: number;
    cloudSeqRange: [number, number];
    cloudStoreIds: number;
    /** CPU over the drain in % of one core: cloud process, mosquitto, this process (edge store + Uplink). */
    cpuPct: { cloud: number; broker: number | null; edge: number };
  };
  baseline: { seconds: number; eventsPerSec: number; batches: number; rows: number };
}

export interface SyncDrainReport {
  machine: { cpus: number; cpuModel: string; node: string; kernel: string; date: string; busyBeforeRun: number };
  brokerConf: string | null;
  week: { shape: Omit<WeekShape, 'monday'>; generated: Record<string, number>; events: number; payloadBytes: number; generateSeconds: number };
  runs: DrainRun[];
}

export const DEFAULT_DRAIN_SETTINGS: DrainSetting[] = [
  { maxEvents: 500, maxInFlight: 4, lingerMs: 200 }, // the edge's defaults (edge/config/schema.ts)
  { maxEvents: 2000, maxInFlight: 8, lingerMs: 200 },
];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const logger = silentLogger();

/** The batches the Uplink would send for the whole log (same cut, same fields). */
function batchesOf(store: Store, maxEvents: number): Batch[] {
  const out: Batch[] = [];
  for (let cursor = 0; ; ) {
    const rows = store.eventsAfter(cursor, maxEvents);
    if (rows.length === 0) return out;
    out.push({
      v: PROTOCOL_VERSION,
      roomId: ROOM,
      storeId: store.storeId,
      batchId: `b${out.length}`,
      firstSeq: rows[0]!.seq,
      lastSeq: rows[rows.length - 1]!.seq,
      events: rows.map((r) => ({
        seq: r.seq,
        stream: r.stream,
        type: r.type,
        entityId: r.entityId,
        payload: JSON.parse(r.payload) as unknown,
        ts: r.ts,
        clockSynced: r.clockSynced,
        bootId: r.bootId,
      })),
      sentAt: Date.now(),
      clockSynced: false,
      bootId: store.bootId,
    });
    cursor = rows[rows.length - 1]!.seq;
  }
}

function cloudRows(file: string, storeId: string): { rows: number; min: number; max: number; stores: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const r = db
      .prepare<[string], { rows: number; min: number | null; max: number | null }>('SELECT COUNT(*) AS rows, MIN(seq) AS min, MAX(seq) AS max FROM events WHERE room_id = ?')
      .get(ROOM)!;
    const stores = db.prepare<[], { n: number }>('SELECT COUNT(DISTINCT store_id) AS n FROM events').get()!.n;
    const own = db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM events WHERE store_id = ?').get(storeId)!.n;
    if (own !== r.rows) throw new Error(`cloud: ${r.rows} rows of the room but ${own} of the edge's store ${storeId}`);
    return { rows: r.rows, min: r.min ?? 0, max: r.max ?? 0, stores };
  } finally {
    db.close();
  }
}

/** Waits until the cloud has recorded a status message of the room: its subscriptions are in place. */
async function probeCloud(broker: DistrictBroker, database: string): Promise<void> {
  const cert = broker.rooms[ROOM]!;
  const probe = await mqtt.connectAsync(broker.url, linkOptions({ url: broker.url, ...cert, caFile: broker.caFile }, { clientId: 'bench-probe', clean: true, reconnectPeriod: 0 }));
  try {
    const db = new Database(database, { readonly: true, fileMustExist: true });
    try {
      const seen = db.prepare<[string], { n: number }>("SELECT COUNT(*) AS n FROM room_status WHERE room_id = ? AND key = 'status'");
      await waitFor(
        async () => {
          await probe.publishAsync(districtTopics(ROOM).status, JSON.stringify({ v: PROTOCOL_VERSION, roomId: ROOM, state: 'offline', ts: Date.now() }), { qos: 1 });
          await sleep(50);
          return seen.get(ROOM)!.n > 0;
        },
        10_000,
        'the cloud to record a probe status (its subscriptions in place)',
      );
    } finally {
      db.close();
    }
  } finally {
    await probe.endAsync();
  }
}

async function drainOnce(broker: DistrictBroker, store: Store, dir: string, s: DrainSetting, index: number): Promise<DrainRun['link']> {
  // A fresh cloud and broker each run (no session or row left from the previous one); the edge forgets its mark.
  await broker.kill();
  await broker.start();
  await store.write((tx) => void tx.db.prepare('DELETE FROM meta WHERE key = ?').run(ACKED_SEQ_KEY));
  const database = join(dir, `cloud-${index}.db`);
  const configFile = join(dir, `cloud-${index}.yaml`);
  writeCloudConfig(configFile, { broker, workerCert: broker.workers[WORKER]!, database, workers: 1, clientIdPrefix: 'cloud-worker' });
  const cloud = await startCloudProcess(CLI, configFile);
  try {
    await probeCloud(broker, database);
    const cert = broker.rooms[ROOM]!;
    const config: CloudConfig = { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile, batch: { maxEvents: s.maxEvents, lingerMs: s.lingerMs }, ackTimeoutMs: 10_000, maxInFlight: s.maxInFlight };
    const uplink = new Uplink({ roomId: ROOM, store, config, logger, clock: { now: () => Date.now(), monotonic: () => performance.now() } });
    const last = store.lastSeq();
    const bpid = mosquittoPid(broker);
    const cpu0 = { cloud: cpuSecondsOf(cloud.pid), broker: bpid ? cpuSecondsOf(bpid) : 0, edge: process.cpuUsage() };
    const t0 = performance.now();
    uplink.start();
    let measured: { seconds: number; stats: ReturnType<Uplink['stats']>; edgeCpuS: number; cloudCpuS: number; brokerCpuS: number | null };
    try {
      await waitFor(() => uplink.stats().ackedSeq >= last, 600_000, `the cloud to acknowledge seq ${last} (acked ${uplink.stats().ackedSeq}); cloud output:\n${cloud.output().slice(-3000)}`);
      const edge = process.cpuUsage(cpu0.edge);
      measured = {
        seconds: (performance.now() - t0) / 1000,
        stats: uplink.stats(),
        edgeCpuS: (edge.user + edge.system) / 1e6,
        cloudCpuS: cpuSecondsOf(cloud.pid) - cpu0.cloud,
        brokerCpuS: bpid ? cpuSecondsOf(bpid) - cpu0.broker : null,
      };
    } finally {
      await uplink.stop();
    }
    await cloud.stop();
    const held = cloudRows(database, store.storeId);
    if (held.rows !== last || held.min !== 1 || held.max !== last || held.stores !== 1) {
      throw new Error(`the cloud holds ${held.rows} rows, seq ${held.min}..${held.max}, ${held.stores} store(s); the edge's log is seq 1..${last} of one store`);
    }
    const { seconds, stats } = measured;
    const pct = (cpuS: number) => (cpuS / seconds) * 100;
    return {
      seconds,
      eventsPerSec: last / seconds,
      batchesSent: stats.batchesSent,
      batchesResent: stats.batchesResent,
      cloudRows: held.rows,
      cloudSeqRange: [held.min, held.max],
      cloudStoreIds: held.stores,
      cpuPct: { cloud: pct(measured.cloudCpuS), broker: measured.brokerCpuS === null ? null : pct(measured.brokerCpuS), edge: pct(measured.edgeCpuS) },
    };
  } finally {
    if (cloud.child.exitCode === null && cloud.child.signalCode === null) cloud.child.kill('SIGKILL');
  }
}

async function baselineOnce(store: Store, dir: string, s: DrainSetting, index: number): Promise<DrainRun['baseline']> {
  const batches = batchesOf(store, s.maxEvents);
  const file = join(dir, `baseline-${index}.db`);
  const cloud = await CloudStore.open(file);
  let acked = 0;
  const t0 = performance.now();
  for (const b of batches) acked = (await cloud.commitBatch(b, Date.now())).ackedSeq;
  const seconds = (performance.now() - t0) / 1000;
  await cloud.close();
  const last = store.lastSeq();
  const held = cloudRows(file, store.storeId);
  if (acked !== last || held.rows !== last) throw new Error(`baseline: ${held.rows} rows, acked ${acked}, expected ${last}`);
  return { seconds, eventsPerSec: last / seconds, batches: batches.length, rows: held.rows };
}

export async function runSyncDrainBench(opts: { settings?: DrainSetting[]; shape?: WeekShape; log?: (line: string) => void } = {}): Promise<SyncDrainReport> {
  const settings = opts.settings ?? DEFAULT_DRAIN_SETTINGS;
  const shape = opts.shape ?? BUSY_WEEK;
  const log = opts.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const busyBeforeRun = await machineBusyFraction(1000);
  const machine = { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, kernel: release(), date: new Date().toISOString(), busyBeforeRun };
  const dir = mkdtempSync(join(tmpdir(), 'ce-bench-drain-'));
  let broker: DistrictBroker | undefined;
  let store: Store | undefined;
  try {
    broker = await startDistrictBroker({ rooms: [ROOM], workers: [WORKER] });
    const brokerConf = extraBrokerConf(broker);
    if (brokerConf) log(`mosquitto: extra settings ${brokerConf}`);
    let now = shape.monday;
    const clock = { now: () => now, monotonic: () => performance.now() };
    store = openStore({ path: join(dir, 'edge.db'), roomId: ROOM, logger, clock });
    const receipts = new LessonReceipts({ roomId: ROOM, store, clock, logger });
    const g0 = performance.now();
    const { generated } = await generateWeek({ roomId: ROOM, store, receipts, setNow: (ms) => (now = ms) }, shape);
    const generateSeconds = (performance.now() - g0) / 1000;
    const events = store.lastSeq();
    const payloadBytes = store.db.prepare<[], { n: number }>('SELECT COALESCE(SUM(LENGTH(payload)), 0) AS n FROM event_log').get()!.n;
    log(`week generated: ${events} events in ${generateSeconds.toFixed(1)} s (${JSON.stringify(generated)})`);
    const runs: DrainRun[] = [];
    for (const [i, s] of settings.entries()) {
      const baseline = await baselineOnce(store, dir, s, i);
      log(`baseline (maxEvents ${s.maxEvents}): ${baseline.eventsPerSec.toFixed(0)} events/s`);
      const link = await drainOnce(broker, store, dir, s, i);
      log(`link (maxEvents ${s.maxEvents}, maxInFlight ${s.maxInFlight}): ${link.eventsPerSec.toFixed(0)} events/s in ${link.seconds.toFixed(1)} s`);
      runs.push({ setting: s, link, baseline });
    }
    const { monday: _monday, ...shapeOut } = shape;
    return { machine, brokerConf, week: { shape: shapeOut, generated, events, payloadBytes, generateSeconds }, runs };
  } finally {
    await store?.close();
    await broker?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSyncDrainReport(r: SyncDrainReport): string {
  const m = r.machine;
  const w = r.week;
  const f0 = (v: number) => v.toFixed(0);
  const lines = [
    `machine: ${m.cpus} CPUs, ${m.cpuModel}; Node ${m.node}; Linux ${m.kernel}; ${m.date}`,
    `CPU busy in the second before the run: ${f0(m.busyBeforeRun * 100)} % of all CPUs`,
    ...(m.busyBeforeRun > 0.1 ? ['WARNING: the machine was busy when the run started; these figures are skewed by other work.'] : []),
    `week: ${w.events} events (${Object.entries(w.generated).map(([k, v]) => `${k} ${v}`).join(', ')}), ${(w.payloadBytes / 1e6).toFixed(1)} MB of payload JSON; ` +
      `${w.shape.students} students, ${w.shape.periods} lessons a day on ${w.shape.schoolDays} days, ${w.shape.metrics.length} sensor metrics every ${w.shape.readingEveryMs / 1000} s; generated in ${w.generateSeconds.toFixed(1)} s`,
    ...(r.brokerConf ? [`mosquitto: extra settings ${r.brokerConf}`] : []),
    'link: edge store + Uplink (this process) -> mosquitto (TLS, client certs, ACL) -> 1 cloud worker (`classroom-edge cloud start`, own process) -> SQLite (WAL, synchronous=FULL)',
    'baseline: CloudStore.commitBatch of the same batches in this process, no MQTT, no encoding',
    '',
    `${'batch (maxEvents / maxInFlight / lingerMs)'.padEnd(44)}${'link ev/s'.padStart(11)}${'baseline ev/s'.padStart(15)}${'ratio'.padStart(8)}${'link s'.padStart(9)}${'batches'.padStart(9)}${'resent'.padStart(8)}`,
  ];
  for (const run of r.runs) {
    const s = run.setting;
    lines.push(
      `${`${s.maxEvents} / ${s.maxInFlight} / ${s.lingerMs}`.padEnd(44)}${f0(run.link.eventsPerSec).padStart(11)}${f0(run.baseline.eventsPerSec).padStart(15)}${(run.link.eventsPerSec / run.baseline.eventsPerSec).toFixed(2).padStart(8)}` +
        `${run.link.seconds.toFixed(1).padStart(9)}${String(run.link.batchesSent).padStart(9)}${String(run.link.batchesResent).padStart(8)}`,
    );
    const c = run.link.cpuPct;
    lines.push(`  CPU during the drain (% of a core): cloud ${f0(c.cloud)}, mosquitto ${c.broker === null ? 'n/a' : f0(c.broker)}, edge (store + Uplink) ${f0(c.edge)}`);
    lines.push(`  cloud holds ${run.link.cloudRows} rows, seq ${run.link.cloudSeqRange[0]}..${run.link.cloudSeqRange[1]}, ${run.link.cloudStoreIds} store id (edge: seq 1..${w.events})`);
  }
  return lines.join('\n');
}
