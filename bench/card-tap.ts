/**
 * Card tap benchmark (issue 4): from the bytes of an RDM6300 frame written on
 * the reader's serial line to the `attendance` message of that student on the
 * bus, which the service publishes only after the attendance row committed.
 *
 * Set-up, all real: a socat pseudo-terminal pair is the reader's cable; the
 * service runs as its own process through the CLI (`classroom-edge import
 * roster`, then `start`) with an EM4100 reader on one end of the pair at 9600
 * baud; an ad-hoc lesson is started through the HTTP API as a teacher would;
 * the bench writes frames on the other end and listens on the bus as a
 * technician. One tap at a time (a classroom reader is read one card at a
 * time), each a different student, so every tap makes a new mark.
 *
 * Baseline, in this process on the same socat pair: the bare transfer of the
 * same 14 bytes from one end to the other through serialport, no parsing, no
 * store, no bus. The physical floor is the frame's time on a real 9600-baud
 * line (14 bytes x 10 bits / 9600 = 14.6 ms), which a pty does not impose:
 * on a real reader, add it to the figures measured here.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { SerialPort } from 'serialport';
import { encodeCard } from '../drivers/em4100/codec.js';
import { killGroupAndWait, startPtyPair } from '../test/helpers/peers.js';
import { startServiceProcess, stopProcess } from './lib/proc.js';
import { summarize } from './lib/stats.js';
import type { LatencySummary } from './lib/protocol.js';

const BAUD = 9600;
const FRAME_BYTES = 14; // RDM6300: STX, 10 hex digits, 2 checksum digits, ETX
/** 8N1: a start bit, 8 data bits, a stop bit per byte. */
export const FRAME_TIME_MS = (FRAME_BYTES * 10 * 1000) / BAUD;

export interface CardTapReport {
  machine: { cpus: number; node: string; date: string };
  samples: number;
  warmup: number;
  frameTimeMs: number;
  baseline: LatencySummary;
  service: LatencySummary;
  rowsCommitted: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const uidOf = (i: number) => `5C00${i.toString(16).toUpperCase().padStart(6, '0')}`;

function openPort(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const p = new SerialPort({ path, baudRate: BAUD, autoOpen: false });
    p.open((err) => (err ? reject(err) : resolve(p)));
  });
}

function closePort(p: SerialPort): Promise<void> {
  return new Promise((resolve) => (p.isOpen ? p.close(() => resolve()) : resolve()));
}

function write(p: SerialPort, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => p.write(bytes, (err) => (err ? reject(err) : p.drain((e) => (e ? reject(e) : resolve())))));
}

/** Bare transfer of one frame across the pty pair, `n` times. */
async function baseline(a: string, b: string, n: number, warmup: number): Promise<number[]> {
  const rx = await openPort(a);
  const tx = await openPort(b);
  const out: number[] = [];
  try {
    for (let i = 0; i < warmup + n; i++) {
      const frame = encodeCard('rdm6300', uidOf(900_000 + i));
      let got = 0;
      const done = new Promise<void>((resolve) => {
        const onData = (chunk: Buffer) => {
          got += chunk.length;
          if (got >= frame.length) {
            rx.off('data', onData);
            resolve();
          }
        };
        rx.on('data', onData);
      });
      const t0 = performance.now();
      await write(tx, frame);
      await done;
      if (i >= warmup) out.push(performance.now() - t0);
      await sleep(5 + Math.random() * 10);
    }
  } finally {
    await closePort(rx);
    await closePort(tx);
  }
  return out;
}

export async function runCardTapBench(opts: { samples?: number; warmup?: number } = {}): Promise<CardTapReport> {
  const samples = opts.samples ?? 300;
  const warmup = opts.warmup ?? 20;
  const total = samples + warmup;
  const cli = fileURLToPath(new URL('../edge/cli.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'ce-bench-tap-'));
  const a = join(dir, 'reader-host');
  const b = join(dir, 'reader-device');
  let socat: ChildProcess | undefined;
  let service: Awaited<ReturnType<typeof startServiceProcess>> | undefined;
  try {
    socat = await startPtyPair(a, b);
    const base = await baseline(a, b, samples, warmup);

    const dataDir = join(dir, 'data');
    const password = randomBytes(18).toString('base64url');
    writeFileSync(join(dir, 'tech.secret'), `${password}\n`, { mode: 0o600 });
    const configFile = join(dir, 'config.yaml');
    writeFileSync(
      configFile,
      `version: 1
room: { id: bench-room, name: 基准测试教室, timezone: Asia/Shanghai }
dataDir: ${JSON.stringify(dataDir)}
log: { level: info }
broker:
  port: 0
  websocketPort: 0
  bind: [127.0.0.1]
  users:
    - { username: tech, role: technician, passwordFile: ${JSON.stringify(join(dir, 'tech.secret'))} }
api: { port: 0, host: 127.0.0.1 }
devices:
  - { id: reader, name: 刷卡器, kind: card-reader, driver: em4100, transport: { type: serial, path: ${JSON.stringify(a)}, baudRate: ${BAUD} }, options: { format: rdm6300 } }
`,
    );
    const students = Array.from({ length: total }, (_, i) => ({ studentId: `b${String(i).padStart(5, '0')}`, name: `学生${i}`, classId: 'bench', cardUid: uidOf(i) }));
    writeFileSync(join(dir, 'roster.json'), JSON.stringify({ classes: [{ classId: 'bench', name: '基准班' }], students, teachers: [], leaves: [] }));
    const imp = spawnSync(process.execPath, [cli, 'import', 'roster', join(dir, 'roster.json'), '--config', configFile], { encoding: 'utf8' });
    if (imp.status !== 0) throw new Error(`roster import failed (exit ${imp.status}):\n${imp.stdout}${imp.stderr}`);

    service = await startServiceProcess(cli, configFile);
    const auth = `Basic ${Buffer.from(`tech:${password}`).toString('base64')}`;
    const res = await fetch(`http://127.0.0.1:${service.ports.api}/api/lessons/ad-hoc`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ course: '基准测试', classId: 'bench', minutes: 120 }),
    });
    if (res.status !== 200) throw new Error(`could not start the ad-hoc lesson: HTTP ${res.status} ${await res.text()}`);

    const bus = await mqtt.connectAsync(`mqtt://127.0.0.1:${service.ports.mqtt}`, { username: 'tech', password, reconnectPeriod: 0 });
    const waiting = new Map<string, () => void>();
    bus.on('message', (_topic, buf) => {
      const m = JSON.parse(buf.toString()) as { studentId?: string };
      if (m.studentId) waiting.get(m.studentId)?.();
    });
    await bus.subscribeAsync('classroom/bench-room/attendance', { qos: 0 });
    // The reader must be online (the service opened its end of the pair).
    for (let i = 0; ; i++) {
      const d = (await (await fetch(`http://127.0.0.1:${service.ports.api}/api/devices/reader`, { headers: { authorization: auth } })).json()) as { online?: boolean };
      if (d.online) break;
      if (i > 100) throw new Error('the reader did not come online');
      await sleep(50);
    }

    const tx = await openPort(b);
    const lat: number[] = [];
    try {
      for (let i = 0; i < total; i++) {
        const s = students[i]!;
        const marked = new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no attendance for ${s.studentId} (card ${s.cardUid}) within 5 s`)), 5000);
          waiting.set(s.studentId, () => {
            clearTimeout(timer);
            waiting.delete(s.studentId);
            resolve();
          });
        });
        const t0 = performance.now();
        await write(tx, encodeCard('rdm6300', s.cardUid));
        await marked;
        if (i >= warmup) lat.push(performance.now() - t0);
        await sleep(20 + Math.random() * 30);
      }
    } finally {
      await closePort(tx);
      await bus.endAsync();
    }
    await stopProcess(service.child);
    service = undefined;

    const db = new Database(join(dataDir, 'store.db'), { readonly: true });
    const rowsCommitted = (db.prepare("SELECT count(*) AS n FROM attendance WHERE source = 'card'").get() as { n: number }).n;
    db.close();
    if (rowsCommitted !== total) throw new Error(`${total} taps marked on the bus but ${rowsCommitted} card marks in the store`);
    return {
      machine: { cpus: cpus().length, node: process.version, date: new Date().toISOString() },
      samples,
      warmup,
      frameTimeMs: FRAME_TIME_MS,
      baseline: summarize(base),
      service: summarize(lat),
      rowsCommitted,
    };
  } finally {
    if (service) await stopProcess(service.child);
    await killGroupAndWait(socat);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatCardTapReport(r: CardTapReport): string {
  const f = (v: number) => v.toFixed(2);
  const row = (name: string, s: LatencySummary) => `${name.padEnd(44)}${f(s.p50).padStart(9)}${f(s.p99).padStart(9)}${f(s.max).padStart(9)}`;
  return [
    `machine: ${r.machine.cpus} CPUs; Node ${r.machine.node}; ${r.machine.date}`,
    `${r.samples} taps measured (${r.warmup} warm-up), one at a time, each a new student; ${r.rowsCommitted} card marks committed`,
    '',
    `${'latency (ms)'.padEnd(44)}${'p50'.padStart(9)}${'p99'.padStart(9)}${'max'.padStart(9)}`,
    row('baseline: 14 bytes across the pty pair', r.baseline),
    row('service: bytes written -> attendance on bus', r.service),
    `${'ratio service / baseline (p50, p99)'.padEnd(44)}${(r.service.p50 / r.baseline.p50).toFixed(1).padStart(9)}${(r.service.p99 / r.baseline.p99).toFixed(1).padStart(9)}`,
    `${'physical floor: frame time at 9600 baud'.padEnd(44)}${f(r.frameTimeMs).padStart(9)}`,
    `${'on a real 9600-baud reader (floor + p50, p99)'.padEnd(44)}${f(r.frameTimeMs + r.service.p50).padStart(9)}${f(r.frameTimeMs + r.service.p99).padStart(9)}`,
  ].join('\n');
}
