/**
 * Ingest benchmark (shared/DESIGN.md section 7): publish-to-commit latency
 * and throughput of QoS 1 behaviour events, the real service against a bare
 * baseline, measured in one run.
 *
 * - System under test: the service through its CLI in a child process, with
 *   a temp config (the demo room's simulated devices; store WAL +
 *   synchronous=FULL, group commit 4 ms / 256 rows).
 * - Baseline: bench/baseline-broker.ts in a child process: bare aedes, no
 *   auth/validation/domain logic, batched better-sqlite3 inserts with the same
 *   pragmas and flush policy, PUBACK after COMMIT.
 * - Load: bench/load-publisher.ts in a third process (several mqtt.js clients).
 *
 * Publish-to-commit latency is measured as publish-to-PUBACK: in both systems
 * the PUBACK of a QoS 1 publish is written only after the COMMIT of the row.
 * Phases per system: paced 1,000/s, paced 5,000/s, then saturation with 64
 * and with 256 publishes in flight per publisher (64 is the reference; 256
 * shows where each system really saturates).
 * Idle RSS: VmRSS of the service after `idleMs` without load (20 s: the
 * service asks V8 for one full GC a second after start-up and V8's memory
 * reducer then shrinks the heap some 8 s later, see edge/util/startup-gc.ts);
 * the RSS at 5 s, the start-up transient, is printed as well.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runLoad } from './lib/load.js';
import { machineBusyFraction, nextMessage, readRssBytes, startServiceProcess, stopProcess } from './lib/proc.js';
import { baselineMessageSchema, type BaselineMessage, type LoadPlan, type Phase } from './lib/protocol.js';
import { checkTargets, formatReport, type IngestReport, type MachineInfo, type SystemResult } from './lib/report.js';
import { benchRoom } from './lib/room.js';

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const CLI = here('../edge/cli.js');
const PUBLISHER = here('./load-publisher.js');
const BASELINE = here('./baseline-broker.js');

export interface IngestBenchOptions {
  publishers: number;
  /** Saturation phases: QoS 1 publishes in flight per publisher, one phase per value. */
  windows: number[];
  warmupMs: number;
  phaseMs: number;
  idleMs: number;
  payloadBytes: number;
  flushIntervalMs: number;
  maxBatch: number;
  rates: number[];
  log: (line: string) => void;
}

export const DEFAULT_INGEST_OPTIONS: IngestBenchOptions = {
  publishers: 4,
  windows: [64, 256],
  warmupMs: 1000,
  phaseMs: 5000,
  idleMs: 20_000,
  payloadBytes: 200,
  flushIntervalMs: 4,
  maxBatch: 256,
  rates: [1000, 5000],
  log: (line) => process.stdout.write(`${line}\n`),
};

function phases(o: IngestBenchOptions): Phase[] {
  return [
    ...o.rates.map((rate): Phase => ({ name: `paced-${rate}`, mode: 'paced', rate, warmupMs: o.warmupMs, durationMs: o.phaseMs })),
    ...o.windows.map((window): Phase => ({ name: `saturate-${window}`, mode: 'saturate', window, warmupMs: o.warmupMs, durationMs: o.phaseMs })),
  ];
}

function loadTimeout(o: IngestBenchOptions): number {
  return (o.rates.length + o.windows.length) * (o.warmupMs + o.phaseMs + 25_000) + 15_000;
}

async function machine(): Promise<MachineInfo> {
  const busyBeforeRun = await machineBusyFraction(1000);
  return {
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: release(),
    totalMemBytes: totalmem(),
    tmpdir: tmpdir(),
    date: new Date().toISOString(),
    busyBeforeRun,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function countRows(file: string, sql: string, ...params: string[]): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare<string[], { n: number }>(sql).get(...params);
    return row?.n ?? 0;
  } finally {
    db.close();
  }
}

async function benchService(o: IngestBenchOptions, runTag: string): Promise<SystemResult> {
  const room = benchRoom({ flushIntervalMs: o.flushIntervalMs, maxBatch: o.maxBatch });
  try {
    o.log(`service: starting ${CLI} with ${room.configFile}`);
    const svc = await startServiceProcess(CLI, room.configFile);
    try {
      const early = Math.min(5000, o.idleMs);
      await sleep(early);
      const startupRssBytes = readRssBytes(svc.pid);
      o.log(`service: RSS ${early} ms after start-up: ${(startupRssBytes / 1e6).toFixed(1)} MB`);
      await sleep(o.idleMs - early);
      const idleRssBytes = readRssBytes(svc.pid);
      o.log(`service: idle RSS after ${o.idleMs} ms: ${(idleRssBytes / 1e6).toFixed(1)} MB; load on mqtt://127.0.0.1:${svc.ports.mqtt}`);
      const plan: LoadPlan = {
        type: 'run',
        url: `mqtt://127.0.0.1:${svc.ports.mqtt}`,
        username: room.username,
        password: room.password,
        topic: `classroom/${room.roomId}/behaviour`,
        publishers: o.publishers,
        idPrefix: `${runTag}-svc`,
        payloadBytes: o.payloadBytes,
        phases: phases(o),
        sutPid: svc.pid,
      };
      const results = await runLoad(PUBLISHER, plan, loadTimeout(o));
      const afterLoadRssBytes = readRssBytes(svc.pid);
      const exit = await stopProcess(svc.child);
      if (exit.code !== 0) throw new Error(`service did not stop cleanly (code ${exit.code}, signal ${exit.signal}); output:\n${svc.output().slice(-4000)}`);
      const rowsCommitted = countRows(room.storeFile, 'SELECT COUNT(*) AS n FROM behaviour_events WHERE source = ?', room.username);
      return { label: 'service', phases: results, rowsCommitted, ackedTotal: results.reduce((n, p) => n + p.ackedTotal, 0), idleRssBytes, startupRssBytes, afterLoadRssBytes };
    } finally {
      if (svc.child.exitCode === null && svc.child.signalCode === null) svc.child.kill('SIGKILL');
    }
  } finally {
    room.cleanup();
  }
}

async function benchBaseline(o: IngestBenchOptions, runTag: string): Promise<SystemResult> {
  const dir = mkdtempSync(join(tmpdir(), 'ce-bench-base-'));
  const file = join(dir, 'baseline.db');
  const child = fork(BASELINE, [file, String(o.flushIntervalMs), String(o.maxBatch)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const parse = (m: unknown) => {
    const r = baselineMessageSchema.safeParse(m);
    return r.success ? r.data : undefined;
  };
  const expect = <T extends BaselineMessage['type']>(m: BaselineMessage, type: T): Extract<BaselineMessage, { type: T }> => {
    if (m.type === type) return m as Extract<BaselineMessage, { type: T }>;
    throw new Error(m.type === 'error' ? `baseline broker failed: ${m.message}` : `baseline broker: expected "${type}", got "${m.type}"`);
  };
  try {
    const listening = expect(await nextMessage(child, parse, 15_000, 'baseline broker start'), 'listening');
    await sleep(Math.min(o.idleMs, 2000));
    const idleRssBytes = readRssBytes(child.pid!);
    o.log(`baseline: bare aedes on mqtt://127.0.0.1:${listening.port}, idle RSS ${(idleRssBytes / 1e6).toFixed(1)} MB`);
    const results = await runLoad(
      PUBLISHER,
      {
        type: 'run',
        url: `mqtt://127.0.0.1:${listening.port}`,
        topic: 'classroom/bench-room/behaviour',
        publishers: o.publishers,
        idPrefix: `${runTag}-base`,
        payloadBytes: o.payloadBytes,
        phases: phases(o),
        sutPid: child.pid!,
      },
      loadTimeout(o),
    );
    const stopped = nextMessage(child, parse, 15_000, 'baseline broker stop');
    child.send({ type: 'stop' });
    expect(await stopped, 'stopped');
    const rowsCommitted = countRows(file, 'SELECT COUNT(*) AS n FROM events');
    return { label: 'baseline', phases: results, rowsCommitted, ackedTotal: results.reduce((n, p) => n + p.ackedTotal, 0), idleRssBytes, startupRssBytes: null, afterLoadRssBytes: null };
  } finally {
    if (child.exitCode === null && child.signalCode === null) await stopProcess(child, 3000);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the whole ingest benchmark (service, then baseline) and returns its report. */
export async function runIngestBench(options: Partial<IngestBenchOptions> = {}): Promise<IngestReport> {
  const o: IngestBenchOptions = { ...DEFAULT_INGEST_OPTIONS, ...options };
  const runTag = `b${Date.now().toString(36)}`;
  const host = await machine();
  const service = await benchService(o, runTag);
  const baseline = await benchBaseline(o, runTag);
  for (const r of [service, baseline]) {
    // Every acknowledged event must be in the store: otherwise the figures measure something else.
    if (r.rowsCommitted < r.ackedTotal) throw new Error(`${r.label}: ${r.ackedTotal} PUBACKs but only ${r.rowsCommitted} rows in the store`);
  }
  const { log: _log, ...settings } = o;
  return { machine: host, settings, service, baseline, targets: checkTargets(service, baseline, o.windows) };
}

export { formatReport };
