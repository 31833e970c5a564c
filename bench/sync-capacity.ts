/**
 * Cloud worker capacity benchmark (issue 5): how many rooms at classroom load
 * one ingest worker carries, and two workers on the shared subscription.
 *
 * - Broker: Debian's mosquitto, TLS with client certificates and the room
 *   ACL (test/helpers/mosquitto.ts); restarted for each configuration.
 * - Cloud: `classroom-edge cloud start` in its own process, SQLite (WAL,
 *   synchronous=FULL), a fresh database per configuration. One worker: one
 *   process with `workers: 1`. Two workers: two such processes (as two
 *   machines would run them) on the shared subscription `$share/ingest/...`,
 *   on the same SQLite file (the reference cloud's embedded database: its
 *   writes are serialised by SQLite's lock).
 * - Rooms: bench/sync-rooms.ts in one forked process, one mqtt.js TLS client
 *   per room with its own certificate, sending as the Uplink does (batches,
 *   linger, in-flight cap, resend).
 * - Classroom load: the bell minute of a busy room's lesson (BUSY_WEEK of
 *   test/helpers/week.ts): every student taps in (a card tap and an attendance
 *   mark a second), the lesson start, an audit entry, a behaviour event, and
 *   the sensor readings; replayed in a loop with a random phase per room.
 *   The lesson hour's average is printed too (it is far lower).
 *
 * Ramp: rooms grow by `factor` per step (connected while the others keep
 * sending), warm-up, measured window; a step is carried when the p99 send-to-
 * ack latency of the window's batches is within `boundMs`, every batch of the
 * window was acknowledged within the grace time, and the acknowledged events
 * kept up with the sent ones (>= 95 %). The ramp stops at the first step not
 * carried; the figure is the last carried step (so it is a lower bound, within
 * one factor of the true capacity).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { CloudStore } from '../sync/cloud/store.js';
import { linkOptions } from '../sync/link-options.js';
import { PROTOCOL_VERSION, districtTopics, encodeMessage, type Batch } from '../sync/protocol.js';
import { startDistrictBroker, type ClientCert, type DistrictBroker } from '../test/helpers/mosquitto.js';
import { BUSY_WEEK, type WeekShape } from '../test/helpers/week.js';
import { extraBrokerConf, issueRoomCerts, mosquittoPid, startCloudProcess, writeCloudConfig, type CloudProcess } from './lib/district.js';
import { machineBusyFraction, nextMessage, stopProcess } from './lib/proc.js';
import { roomsMessageSchema, type RoomsCommand, type RoomsMessage, type RoomsWindow } from './lib/rooms-protocol.js';

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const CLI = here('../edge/cli.js');
const ROOMS_JS = here('./sync-rooms.js');
const WORKERS = ['cloud-worker-1', 'cloud-worker-2'];
const PROBE_ROOM = 'bench-probe';

export interface CapacityConfig {
  label: string;
  /** Cloud processes, each `classroom-edge cloud start` with `workers: workersPerProcess`. */
  processes: number;
  workersPerProcess: number;
}

export interface CapacityOptions {
  configs: CapacityConfig[];
  startRooms: number;
  factor: number;
  maxRooms: number;
  warmupMs: number;
  measureMs: number;
  graceMs: number;
  boundMs: number;
  /** The Uplink's settings the rooms follow (the edge's defaults). */
  uplink: { maxEvents: number; lingerMs: number; maxInFlight: number; ackTimeoutMs: number };
  shape: WeekShape;
  log: (line: string) => void;
}

export const DEFAULT_CAPACITY_OPTIONS: CapacityOptions = {
  configs: [
    { label: '1 worker', processes: 1, workersPerProcess: 1 },
    { label: '2 workers (2 processes)', processes: 2, workersPerProcess: 1 },
  ],
  startRooms: 100,
  factor: 1.5,
  maxRooms: 4000,
  warmupMs: 2000,
  measureMs: 5000,
  graceMs: 3000,
  boundMs: 1000,
  uplink: { maxEvents: 500, lingerMs: 200, maxInFlight: 4, ackTimeoutMs: 10_000 },
  shape: BUSY_WEEK,
  log: (line) => process.stdout.write(`${line}\n`),
};

export interface CapacityStep {
  rooms: number;
  connectMs: number;
  window: RoomsWindow;
  cloudCpuPct: number;
  brokerCpuPct: number | null;
  carried: boolean;
  why: string | null;
}

export interface CapacityRun {
  config: CapacityConfig;
  steps: CapacityStep[];
  /** Rooms of the last carried step (0 if none); null first-failed when the ramp reached maxRooms. */
  carried: number;
  firstNotCarried: number | null;
}

export interface LoadDefinition {
  /** The bell minute, as replayed: events and Uplink batches a minute per room. */
  eventsPerMinute: number;
  batchesPerMinute: number;
  mix: Record<string, number>;
  /** A busy room's lesson hour on average (sensor readings included), for comparison. */
  lessonHourEventsPerMinute: number;
}

/** The raw baseline: the cloud store's own commit of the same batches, in this process, no MQTT. */
export interface StoreBaseline {
  seconds: number;
  batchesPerSec: number;
  eventsPerSec: number;
  /** batchesPerSec / the load's batches per second per room. */
  roomsEquivalent: number;
}

export interface SyncCapacityReport {
  baseline: StoreBaseline;
  brokerConf: string | null;
  machine: { cpus: number; cpuModel: string; node: string; kernel: string; date: string; busyBeforeRun: number };
  load: LoadDefinition;
  settings: Omit<CapacityOptions, 'log' | 'shape' | 'configs'>;
  runs: CapacityRun[];
}

type Minute = Extract<RoomsCommand, { type: 'init' }>['minute'];

/** The first minute of a lesson of `shape`, with the payloads the edge store logs (edge/store/repos.ts). */
export function bellMinute(shape: WeekShape): Minute {
  const lessonId = 'room/2025-03-03/p1';
  const points: Minute = [];
  for (let s = 0; s < 60; s++) {
    const events: Minute[number]['events'] = [];
    if (s === 0) {
      events.push({ stream: 'lesson', type: 'start', payload: { lessonId } });
      events.push({ stream: 'audit', type: 'entry', payload: { actor: 'kiosk', role: 'teacher', action: 'scene.run', target: 'class-start', args: {}, result: 'ok', error: null } });
    }
    // One behaviour event a minute (the week's are a minute apart from the lesson start).
    if (s === 0 && shape.behaviourPerLesson > 0) {
      events.push({ stream: 'behaviour', type: 'event', payload: { source: 'cam', kind: 'hand-raise', studentId: 's0', lessonId, data: { b: 0 } } });
    }
    if (s < shape.students) {
      events.push({ stream: 'card', type: 'tap', payload: { reader: 'door', uid: `UID${s}`, number: null, lessonId } });
      events.push({ stream: 'attendance', type: 'mark', payload: { lessonId, studentId: `s${s}`, status: 'present' } });
    }
    if ((s * 1000) % shape.readingEveryMs === 0) {
      for (const metric of shape.metrics) events.push({ stream: 'sensor', type: 'reading', payload: { device: 'air', metric, value: 400 + s, unit: metric === 'co2' ? 'ppm' : 'C' } });
    }
    if (events.length > 0) points.push({ atMs: s * 1000, events });
  }
  return points;
}

export function loadDefinition(shape: WeekShape, minute: Minute): LoadDefinition {
  const mix: Record<string, number> = {};
  for (const p of minute) for (const e of p.events) mix[e.stream] = (mix[e.stream] ?? 0) + 1;
  const lessonEvents = 2 + 2 * shape.students + shape.behaviourPerLesson + 1 + 1; // start/end, taps and marks, behaviour, audit, receipt
  const readingsPerHour = shape.metrics.length * (3_600_000 / shape.readingEveryMs);
  return {
    eventsPerMinute: Object.values(mix).reduce((a, b) => a + b, 0),
    batchesPerMinute: minute.length, // points are a second apart, more than lingerMs: one batch each
    mix,
    lessonHourEventsPerMinute: (lessonEvents + readingsPerHour) / 60,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * CloudStore.commitBatch (the worker's transaction, one fsync each) of the
 * rooms' batches, rooms taking turns through their minute, for `ms`.
 */
async function storeBaseline(file: string, minute: Minute, ms: number): Promise<StoreBaseline> {
  const store = await CloudStore.open(file);
  const rooms = Array.from({ length: 500 }, (_, i) => ({ id: `base-${i}`, storeId: `s-${i}`, seq: 0, k: i % minute.length }));
  let batches = 0;
  let events = 0;
  const t0 = performance.now();
  try {
    while (performance.now() - t0 < ms) {
      const room = rooms[batches % rooms.length]!;
      const point = minute[room.k++ % minute.length]!;
      const ts = Date.now();
      const evs = point.events.map((e) => ({ seq: ++room.seq, stream: e.stream, type: e.type, entityId: String(room.seq), payload: e.payload, ts, clockSynced: false, bootId: 'b' }));
      const b: Batch = { v: PROTOCOL_VERSION, roomId: room.id, storeId: room.storeId, batchId: `b${batches}`, firstSeq: evs[0]!.seq, lastSeq: evs[evs.length - 1]!.seq, events: evs, sentAt: ts, clockSynced: false, bootId: 'b' };
      await store.commitBatch(b, ts);
      batches++;
      events += evs.length;
    }
  } finally {
    await store.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const perRoom = minute.length / 60;
  return { seconds, batchesPerSec: batches / seconds, eventsPerSec: events / seconds, roomsEquivalent: batches / seconds / perRoom };
}

/** Sends batches as a probe room until one is acknowledged: some ingest worker's shared subscription is in place. */
async function probeIngest(broker: DistrictBroker, cert: ClientCert): Promise<void> {
  const topics = districtTopics(PROBE_ROOM);
  const client = await mqtt.connectAsync(broker.url, linkOptions({ url: broker.url, ...cert, caFile: broker.caFile }, { clientId: `edge-${PROBE_ROOM}`, clean: true, reconnectPeriod: 0 }));
  try {
    let acked = false;
    client.on('message', () => (acked = true));
    await client.subscribeAsync(topics.ack, { qos: 1 });
    const storeId = `probe-${Date.now()}`;
    for (let i = 0; i < 100 && !acked; i++) {
      const e = { seq: 1, stream: 'lesson', type: 'probe', entityId: null, payload: {}, ts: Date.now(), clockSynced: false, bootId: 'probe' };
      const batch = { v: PROTOCOL_VERSION, roomId: PROBE_ROOM, storeId, batchId: `probe-${i}`, firstSeq: 1, lastSeq: 1, events: [e], sentAt: Date.now(), clockSynced: false, bootId: 'probe' };
      await client.publishAsync(topics.events, encodeMessage(batch), { qos: 1 });
      for (let k = 0; k < 10 && !acked; k++) await sleep(20);
    }
    if (!acked) throw new Error('no ingest worker acknowledged the probe batch within 20 s');
  } finally {
    await client.endAsync();
  }
}

class RoomsProcess {
  private constructor(readonly child: ChildProcess) {}

  static async start(init: RoomsCommand): Promise<RoomsProcess> {
    const child = fork(ROOMS_JS, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const p = new RoomsProcess(child);
    await p.ask(init, 'ready', 10_000);
    return p;
  }

  async ask<T extends RoomsMessage['type']>(cmd: RoomsCommand, type: T, timeoutMs: number): Promise<Extract<RoomsMessage, { type: T }>> {
    const answer = nextMessage(
      this.child,
      (m) => {
        const r = roomsMessageSchema.safeParse(m);
        return r.success && (r.data.type === type || r.data.type === 'error') ? r.data : undefined;
      },
      timeoutMs,
      `rooms: ${cmd.type}`,
    );
    this.child.send(cmd);
    const m = await answer;
    if (m.type === 'error') throw new Error(`simulated rooms failed: ${m.message}`);
    return m as Extract<RoomsMessage, { type: T }>;
  }

  async stop(): Promise<void> {
    try {
      await this.ask({ type: 'stop' }, 'stopped', 20_000);
    } finally {
      await stopProcess(this.child, 5000);
    }
  }
}

function judge(w: RoomsWindow, boundMs: number): string | null {
  if (w.latency.count === 0) return 'no batch acknowledged';
  if (w.unacked > 0) return `${w.unacked} batches of the window unacknowledged after the grace time`;
  if (w.latency.p99 > boundMs) return `p99 ack latency ${w.latency.p99.toFixed(0)} ms > ${boundMs} ms`;
  if (w.ackedEvents < 0.95 * w.events) return `acknowledged ${w.ackedEvents} of ${w.events} events sent`;
  return null;
}

async function runConfig(o: CapacityOptions, broker: DistrictBroker, certs: Map<string, ClientCert>, dir: string, index: number, minute: Minute): Promise<CapacityRun> {
  const c = o.configs[index]!;
  // A fresh broker (persistence off: no session of the previous configuration's workers stays in the share group).
  await broker.kill();
  await broker.start();
  const database = join(dir, `cloud-cap-${index}.db`);
  const clouds: CloudProcess[] = [];
  let rooms: RoomsProcess | undefined;
  try {
    for (let p = 0; p < c.processes; p++) {
      const configFile = join(dir, `cloud-cap-${index}-${p}.yaml`);
      const workerId = WORKERS[p % WORKERS.length]!;
      writeCloudConfig(configFile, { broker, workerCert: broker.workers[workerId]!, database, workers: c.workersPerProcess, clientIdPrefix: `${workerId}-c${index}` });
      clouds.push(await startCloudProcess(CLI, configFile));
    }
    await probeIngest(broker, certs.get(PROBE_ROOM)!);
    const bpid = mosquittoPid(broker);
    rooms = await RoomsProcess.start({ type: 'init', url: broker.url, caFile: broker.caFile, ...o.uplink, minute });
    const steps: CapacityStep[] = [];
    let firstNotCarried: number | null = null;
    let connected = 0;
    for (let n = o.startRooms; n <= o.maxRooms; n = Math.round(n * o.factor)) {
      const ids = Array.from({ length: n - connected }, (_, i) => `room-${String(connected + i + 1).padStart(5, '0')}`);
      const missing = ids.filter((id) => !certs.has(id));
      for (const [id, cert] of Object.entries(await issueRoomCerts(broker, missing))) certs.set(id, cert);
      const added = await rooms.ask({ type: 'add', rooms: ids.map((id) => ({ id, ...certs.get(id)! })) }, 'added', 120_000);
      connected = added.rooms;
      const pids = [...clouds.map((x) => x.pid), ...(bpid ? [bpid] : [])];
      const { result: w } = await rooms.ask({ type: 'measure', warmupMs: o.warmupMs, durationMs: o.measureMs, graceMs: o.graceMs, pids }, 'window', o.warmupMs + o.measureMs + o.graceMs + 30_000);
      const why = judge(w, o.boundMs);
      const step: CapacityStep = {
        rooms: connected,
        connectMs: added.connectMs,
        window: w,
        cloudCpuPct: w.pidCpuPct.slice(0, clouds.length).reduce((a, b) => a + b, 0),
        brokerCpuPct: bpid ? w.pidCpuPct[clouds.length]! : null,
        carried: why === null,
        why,
      };
      steps.push(step);
      o.log(
        `${c.label}: ${connected} rooms: ${((w.events / w.measuredMs) * 1000).toFixed(0)} events/s, ${((w.batches / w.measuredMs) * 1000).toFixed(0)} batches/s, ` +
          `ack p50/p99 ${w.latency.p50.toFixed(0)}/${w.latency.p99.toFixed(0)} ms; CPU cloud ${step.cloudCpuPct.toFixed(0)} %, broker ${step.brokerCpuPct?.toFixed(0) ?? 'n/a'} %, rooms ${w.cpuPct.toFixed(0)} %` +
          (why ? ` -> not carried: ${why}` : ''),
      );
      if (why) {
        firstNotCarried = connected;
        break;
      }
    }
    const carried = [...steps].reverse().find((s) => s.carried)?.rooms ?? 0;
    return { config: c, steps, carried, firstNotCarried };
  } finally {
    await rooms?.stop().catch(() => undefined);
    for (const cloud of clouds) await cloud.stop().catch(() => cloud.child.kill('SIGKILL'));
  }
}

export async function runSyncCapacityBench(options: Partial<CapacityOptions> = {}): Promise<SyncCapacityReport> {
  const o: CapacityOptions = { ...DEFAULT_CAPACITY_OPTIONS, ...options };
  const busyBeforeRun = await machineBusyFraction(1000);
  const machine = { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, kernel: release(), date: new Date().toISOString(), busyBeforeRun };
  const minute = bellMinute(o.shape);
  const dir = mkdtempSync(join(tmpdir(), 'ce-bench-cap-'));
  let broker: DistrictBroker | undefined;
  try {
    broker = await startDistrictBroker({ rooms: [PROBE_ROOM], workers: WORKERS });
    const brokerConf = extraBrokerConf(broker);
    if (brokerConf) o.log(`mosquitto: extra settings ${brokerConf}`);
    const certs = new Map<string, ClientCert>([[PROBE_ROOM, broker.rooms[PROBE_ROOM]!]]);
    const baseline = await storeBaseline(join(dir, 'baseline.db'), minute, 3000);
    o.log(`baseline: CloudStore.commitBatch of the rooms' batches: ${baseline.batchesPerSec.toFixed(0)} batches/s (${baseline.roomsEquivalent.toFixed(0)} rooms' worth)`);
    const runs: CapacityRun[] = [];
    for (let i = 0; i < o.configs.length; i++) runs.push(await runConfig(o, broker, certs, dir, i, minute));
    const { log: _log, shape: _shape, configs: _configs, ...settings } = o;
    return { machine, load: loadDefinition(o.shape, minute), settings, baseline, brokerConf, runs };
  } finally {
    await broker?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatSyncCapacityReport(r: SyncCapacityReport): string {
  const m = r.machine;
  const s = r.settings;
  const l = r.load;
  const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');
  const lines = [
    `machine: ${m.cpus} CPUs, ${m.cpuModel}; Node ${m.node}; Linux ${m.kernel}; ${m.date}`,
    `CPU busy in the second before the run: ${f0(m.busyBeforeRun * 100)} % of all CPUs`,
    ...(m.busyBeforeRun > 0.1 ? ['WARNING: the machine was busy when the run started; these figures are skewed by other work.'] : []),
    `classroom load per room: the bell minute of a busy lesson, ${l.eventsPerMinute} events/min in ${l.batchesPerMinute} batches/min (${Object.entries(l.mix).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
      `a lesson hour averages ${l.lessonHourEventsPerMinute.toFixed(1)} events/min`,
    ...(r.brokerConf ? [`mosquitto: extra settings ${r.brokerConf}`] : []),
    `rooms: mqtt.js TLS clients with their own certificates in one process, Uplink settings maxEvents ${s.uplink.maxEvents}, lingerMs ${s.uplink.lingerMs}, maxInFlight ${s.uplink.maxInFlight}, ackTimeoutMs ${s.uplink.ackTimeoutMs}`,
    `ramp: from ${s.startRooms} rooms x${s.factor} per step (max ${s.maxRooms}); ${s.warmupMs} ms warm-up + ${s.measureMs} ms measured; carried = p99 send-to-ack <= ${s.boundMs} ms, all acked within ${s.graceMs} ms, acked >= 95 % of sent`,
    '',
  ];
  const widths = [8, 9, 10, 15, 9, 9, 8, 8];
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' ');
  for (const run of r.runs) {
    lines.push(`${run.config.label}: carried ${run.carried} rooms${run.firstNotCarried === null ? ` (ramp ended at ${s.maxRooms} without failing)` : `, not ${run.firstNotCarried}`}`);
    lines.push(row(['rooms', 'events/s', 'batches/s', 'ack p50/p99 ms', 'cloud %', 'broker %', 'rooms %', 'carried']));
    for (const st of run.steps) {
      const w = st.window;
      lines.push(
        row([
          String(st.rooms),
          f0((w.events / w.measuredMs) * 1000),
          f0((w.batches / w.measuredMs) * 1000),
          `${f0(w.latency.p50)}/${f0(w.latency.p99)}`,
          f0(st.cloudCpuPct),
          st.brokerCpuPct === null ? 'n/a' : f0(st.brokerCpuPct),
          f0(w.cpuPct),
          st.carried ? 'yes' : 'no',
        ]),
      );
      if (st.why) lines.push(`  not carried: ${st.why}`);
    }
    lines.push('');
  }
  const b = r.baseline;
  lines.push(
    `baseline (same run, no MQTT): CloudStore.commitBatch of the rooms' batches, one transaction and fsync each: ${f0(b.batchesPerSec)} batches/s, ${f0(b.eventsPerSec)} events/s = ${f0(b.roomsEquivalent)} rooms at this load`,
  );
  for (const run of r.runs) lines.push(`${run.config.label}: ${run.carried} rooms carried = ${(run.carried / b.roomsEquivalent).toFixed(2)} of the bare store's`);
  if (r.runs.length >= 2 && r.runs[0]!.carried > 0) {
    lines.push(`ratio ${r.runs[1]!.config.label} / ${r.runs[0]!.config.label}: ${(r.runs[1]!.carried / r.runs[0]!.carried).toFixed(2)} (one ramp step is x${s.factor})`);
  }
  return lines.join('\n');
}
