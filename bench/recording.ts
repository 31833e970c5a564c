/**
 * Recording benchmark (docs/performance.md, "Recording"): what recording
 * lessons costs the appliance, each figure against a baseline measured in
 * the same run.
 *
 * 1. Stream copy: CPU (% of one core, utime+stime of the ffmpeg process over
 *    `windowMs` after `warmupMs`) and VmRSS/VmHWM of the recorder's own
 *    ffmpeg (edge/recording/capture.ts, a Capture per source) recording one,
 *    then two, 1080p25 H.264 RTSP sources; baseline: the recorder's re-encode
 *    of the same source (the same arg builders with `reencode: true`: x264
 *    veryfast), spawned here so its -progress frame count shows whether it
 *    kept real time.
 * 2. The composed view (composedArgs: camera full frame + an inset, x264
 *    veryfast 1080p25); VAAPI only where /dev/dri/renderD128 exists.
 * 3. Publish-to-commit latency of the ingest bench's paced 1,000 events/s
 *    phase against the real service (CLI child process), alternating phases
 *    without and with one stream-copy Capture running (a keep-alive client
 *    reading the camera runs through all of them, so the camera encodes in
 *    every phase and only the recording differs).
 * 4. Upload over loopback: RecordingUploader + HttpTusTransport into the
 *    reference cloud's tus endpoint (child process, bench/lib/recording-cloud.ts)
 *    against `curl -T` of the same file into a Node HTTP sink that hashes
 *    what it receives.
 *
 * The cameras: one GStreamer RTSP server (test/helpers/rtsp-camera.ts, a
 * shared media factory), each "camera" being one more RTSP client of its
 * mount: one x264enc pipeline feeds every recorder, so two 1080p x264
 * stand-ins do not compete with the figures for the machine's two cores.
 * The camera's CPU is measured over each window and reported, not counted.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { availableParallelism, cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { composedSchema, rtspSourceSchema, type RtspSourceConfig } from '../edge/config/recording-schema.js';
import { Capture } from '../edge/recording/capture.js';
import { composedArgs, encodeArgs, globalArgs, inputArgs, segmentArgs, VAAPI_DEVICE } from '../edge/recording/ffmpeg.js';
import { sha256File } from '../edge/recording/finish.js';
import { openStore } from '../edge/store/index.js';
import { systemClock } from '../edge/util/clock.js';
import { silentLogger } from '../edge/util/logger.js';
import { RecordingUploader } from '../sync/recording-upload.js';
import { HttpTusTransport } from '../sync/tus-client.js';
import { RtspCamera } from '../test/helpers/rtsp-camera.js';
import { runLoad } from './lib/load.js';
import { startServiceProcess, stopProcess } from './lib/proc.js';
import type { LoadPlan, PhaseResult } from './lib/protocol.js';
import { cpuWindow, killTrackedGroups, memoryOf, sleep, spread, startFfmpeg, trackDir, trackGroup, trackGroupsOf, trackProcess, until } from './lib/recording-proc.js';
import { benchRoom } from './lib/room.js';

const here = (rel: string): string => fileURLToPath(new URL(rel, import.meta.url));
const CLI = here('../edge/cli.js');
const PUBLISHER = here('./load-publisher.js');
const CLOUD = here('./lib/recording-cloud.js');

export interface RecordingBenchOptions {
  warmupMs: number;
  windowMs: number;
  segmentSeconds: number;
  camera: { width: number; height: number; framerate: number; kbps: number; gop: number; pattern: 'ball' | 'snow' | 'smpte' };
  /** Paced-latency phases: this many (without, with) pairs, alternating. */
  latencyPairs: number;
  latencyRate: number;
  latencyWarmupMs: number;
  latencyPhaseMs: number;
  publishers: number;
  uploadBytes: number;
  /** Upload rounds: each is one curl and one uploader run, alternating. */
  uploadRounds: number;
  log: (line: string) => void;
}

export const DEFAULT_RECORDING_OPTIONS: RecordingBenchOptions = {
  warmupMs: 5000,
  windowMs: 20_000,
  // The config's default (edge/config/recording-schema.ts).
  segmentSeconds: 10,
  // Snow: noise fills the 4 Mbit/s a classroom camera sends (the ball pattern encodes to ~177 kbit/s); a worst case for the re-encode.
  camera: { width: 1920, height: 1080, framerate: 25, kbps: 4000, gop: 25, pattern: 'snow' },
  latencyPairs: 3,
  latencyRate: 1000,
  latencyWarmupMs: 1000,
  latencyPhaseMs: 5000,
  publishers: 4,
  uploadBytes: 200 * 2 ** 20,
  uploadRounds: 2,
  log: (line) => process.stdout.write(`${line}\n`),
};

export interface ProcFigure {
  label: string;
  cpuPct: number;
  rssBytes: number;
  hwmBytes: number;
}

export interface CpuPhase {
  name: string;
  procs: ProcFigure[];
  /** The GStreamer camera stand-in over the same window (not counted in procs). */
  cameraCpuPct: number;
  /** All CPUs, everything on the machine (other engineers' work included), over the window. */
  machineBusyPct: number;
  windowSeconds: number;
  /** Frames ffmpeg output per second over the window (phases spawned here; null for Captures). */
  fps: number | null;
  /** Media seconds journaled by the Captures (copy phases), and their bytes. */
  mediaSeconds: number | null;
  recordedBytes: number | null;
  /** A Capture respawned its ffmpeg during the window: the figure is void. */
  respawned: boolean;
}

export interface LatencyPhase {
  recording: boolean;
  result: PhaseResult;
  /** CPU of the recorder's ffmpeg over the phase (with recording), % of a core. */
  ffmpegCpuPct: number | null;
  /** The camera stand-in over the phase (kept encoding in every phase), % of a core. */
  cameraCpuPct: number;
  machineBusyPct: number;
}

export interface UploadRun {
  system: 'uploader' | 'curl';
  seconds: number;
  mbPerSecond: number;
  bytesSent: number;
  verified: boolean;
}

export interface TargetCheck {
  name: string;
  value: string;
  target: string;
  met: boolean | null;
}

export interface RecordingReport {
  machine: { cpus: number; cpuModel: string; node: string; kernel: string; date: string; ffmpeg: string };
  settings: Omit<RecordingBenchOptions, 'log'>;
  copy1: CpuPhase;
  copy2: CpuPhase;
  reencode: CpuPhase;
  composedX264: CpuPhase;
  composedVaapi: CpuPhase | string;
  latency: LatencyPhase[];
  latencyRows: { rowsCommitted: number; ackedTotal: number };
  upload: UploadRun[];
  uploadFileBytes: number;
  /** sha256 of the upload file read from the page cache, in this process (the cloud does the same at completion). */
  uploadSha256Seconds: number;
  targets: TargetCheck[];
  seconds: number;
}

const MB = 1_000_000;

function rtspSource(id: string, url: string, reencode = false): RtspSourceConfig {
  return rtspSourceSchema.parse({ id, kind: 'rtsp', url, audio: false, reencode });
}

/** The args capture.ts builds for a source (globalArgs, inputArgs, encodeArgs, segmentArgs, in that order). */
function captureArgs(source: RtspSourceConfig, dir: string, segmentSeconds: number): string[] {
  mkdirSync(dir, { recursive: true });
  return [
    ...globalArgs(),
    ...inputArgs(source),
    ...encodeArgs(source, { segmentSeconds }),
    ...segmentArgs({ dir, segmentSeconds, startNumber: 0, listFile: join(dir, 'run-000001.csv') }),
  ];
}

async function copyPhase(o: RecordingBenchOptions, cam: RtspCamera, n: number, dir: string): Promise<CpuPhase> {
  const caps = Array.from(
    { length: n },
    (_, i) => new Capture({ sourceId: `cam${i + 1}`, source: rtspSource(`cam${i + 1}`, cam.url), dir: join(dir, `copy${n}-cam${i + 1}`), segmentSeconds: o.segmentSeconds, logger: silentLogger() }),
  );
  const t0 = performance.now();
  const untrack = trackGroupsOf(() => caps.map((c) => c.pid));
  try {
    for (const c of caps) c.start();
    await until(() => caps.every((c) => c.state === 'recording'), 20_000, () => `stream copy x${n}: not recording after 20 s (${caps.map((c) => `${c.state}: ${c.reason ?? ''}`).join('; ')})`);
    await sleep(Math.max(0, o.warmupMs - (performance.now() - t0)));
    const pids = caps.map((c) => c.pid!);
    const w = cpuWindow({ ...Object.fromEntries(pids.map((p, i) => [`cam${i + 1}`, p])), camera: cam.process!.pid! });
    await sleep(o.windowMs);
    const r = w.end();
    const procs = pids.map((pid, i): ProcFigure => ({ label: `cam${i + 1}`, cpuPct: r.pct[`cam${i + 1}`]!, ...memoryOf(pid) }));
    const respawned = caps.some((c, i) => c.pid !== pids[i]);
    await Promise.all(caps.map((c) => c.stop()));
    return {
      name: `stream copy x${n}`,
      procs,
      cameraCpuPct: r.pct.camera!,
      machineBusyPct: r.machineBusyPct,
      windowSeconds: r.seconds,
      fps: null,
      mediaSeconds: caps.reduce((s, c) => s + c.mediaMs(), 0) / 1000 / n,
      recordedBytes: caps.reduce((s, c) => s + c.bytes(), 0),
      respawned,
    };
  } finally {
    await Promise.all(caps.map((c) => c.stop().catch(() => undefined)));
    untrack();
  }
}

async function ffmpegPhase(o: RecordingBenchOptions, cam: RtspCamera, name: string, args: string[]): Promise<CpuPhase> {
  const run = startFfmpeg(args);
  const t0 = performance.now();
  try {
    await until(
      () => Number(run.progress().out_time_us ?? 0) > 0 || run.child.exitCode !== null,
      20_000,
      () => `${name}: ffmpeg made no progress in 20 s:\n${run.stderrTail()}`,
    );
    if (run.child.exitCode !== null) throw new Error(`${name}: ffmpeg exited (${run.child.exitCode}):\n${run.stderrTail()}`);
    await sleep(Math.max(0, o.warmupMs - (performance.now() - t0)));
    const f0 = Number(run.progress().frame ?? 0);
    const w = cpuWindow({ ffmpeg: run.pid, camera: cam.process!.pid! });
    await sleep(o.windowMs);
    const f1 = Number(run.progress().frame ?? 0);
    const r = w.end();
    const mem = memoryOf(run.pid);
    if (run.child.exitCode !== null) throw new Error(`${name}: ffmpeg exited during the window:\n${run.stderrTail()}`);
    return {
      name,
      procs: [{ label: 'ffmpeg', cpuPct: r.pct.ffmpeg!, ...mem }],
      cameraCpuPct: r.pct.camera!,
      machineBusyPct: r.machineBusyPct,
      windowSeconds: r.seconds,
      fps: (f1 - f0) / r.seconds,
      mediaSeconds: null,
      recordedBytes: null,
      respawned: false,
    };
  } finally {
    await run.stop();
  }
}

function composedCmd(o: RecordingBenchOptions, cam: RtspCamera, dir: string, encoder: 'x264' | 'vaapi'): string[] {
  const composed = composedSchema.parse({ main: 'teacher', inset: 'students', encoder });
  mkdirSync(dir, { recursive: true });
  return [
    ...globalArgs(),
    ...composedArgs(composed, inputArgs(rtspSource('teacher', cam.url)), inputArgs(rtspSource('students', cam.url))),
    ...segmentArgs({ dir, segmentSeconds: o.segmentSeconds, startNumber: 0, listFile: join(dir, 'run-000001.csv') }),
  ];
}

function countRows(file: string, source: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM behaviour_events WHERE source = ?').get(source)?.n ?? 0;
  } finally {
    db.close();
  }
}

async function latencyPhases(o: RecordingBenchOptions, cam: RtspCamera, dir: string, runTag: string): Promise<{ phases: LatencyPhase[]; rowsCommitted: number; ackedTotal: number }> {
  const room = benchRoom({ flushIntervalMs: 4, maxBatch: 256 });
  const untrackRoom = trackDir(room.dir);
  const out: LatencyPhase[] = [];
  // The stand-in's shared mount stops its x264enc when its last client leaves. A client that reads
  // and discards the stream keeps the camera encoding through every phase, so the phases without a
  // recording do not also lose the camera's ~35 % of a core (a real camera is not on the appliance).
  const keeper = startFfmpeg(['-hide_banner', '-nostats', '-loglevel', 'error', '-progress', 'pipe:1', ...inputArgs(rtspSource('keeper', cam.url)), '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-']);
  try {
    await until(() => Number(keeper.progress().out_time_us ?? 0) > 0, 20_000, () => `latency: the camera keep-alive client got no media:\n${keeper.stderrTail()}`);
    const svc = await startServiceProcess(CLI, room.configFile);
    const untrackSvc = trackProcess(svc.child);
    try {
      // Past the service's start-up GC (edge/util/startup-gc.ts) before the first phase.
      await sleep(3000);
      for (let i = 0; i < o.latencyPairs * 2; i++) {
        const recording = i % 2 === 1;
        let cap: Capture | null = null;
        const untrack = trackGroupsOf(() => [cap?.pid]);
        try {
          if (recording) {
            cap = new Capture({ sourceId: 'cam1', source: rtspSource('cam1', cam.url), dir: join(dir, `latency-${i}`), segmentSeconds: o.segmentSeconds, logger: silentLogger() });
            cap.start();
            const c = cap;
            await until(() => c.state === 'recording', 20_000, () => `latency: the recording did not start (${c.state}: ${c.reason ?? ''})`);
            await sleep(1000);
          }
          const ffPid = cap?.pid ?? null;
          const w = cpuWindow({ camera: cam.process!.pid!, ...(ffPid ? { ffmpeg: ffPid } : {}) });
          const plan: LoadPlan = {
            type: 'run',
            url: `mqtt://127.0.0.1:${svc.ports.mqtt}`,
            username: room.username,
            password: room.password,
            topic: `classroom/${room.roomId}/behaviour`,
            publishers: o.publishers,
            idPrefix: `${runTag}-lat${i}`,
            payloadBytes: 200,
            phases: [{ name: `paced-${o.latencyRate}`, mode: 'paced', rate: o.latencyRate, warmupMs: o.latencyWarmupMs, durationMs: o.latencyPhaseMs }],
            sutPid: svc.pid,
          };
          const [result] = await runLoad(PUBLISHER, plan, o.latencyWarmupMs + o.latencyPhaseMs + 40_000);
          const win = w.end();
          const cpu = win.pct.ffmpeg ?? null;
          if (cap && cap.pid !== ffPid) throw new Error('latency: the recorder respawned ffmpeg during the phase');
          out.push({ recording, result: result!, ffmpegCpuPct: cpu, cameraCpuPct: win.pct.camera!, machineBusyPct: win.machineBusyPct });
          o.log(
            `latency ${recording ? 'with   ' : 'without'} recording: p50 ${result!.latency.p50.toFixed(2)} ms, p99 ${result!.latency.p99.toFixed(2)} ms, ${result!.ackRate.toFixed(0)} events/s` +
              (cpu !== null ? `, recorder ffmpeg ${cpu.toFixed(1)} %` : ''),
          );
        } finally {
          await cap?.stop();
          untrack();
        }
      }
      const exit = await stopProcess(svc.child);
      if (exit.code !== 0) throw new Error(`service did not stop cleanly (code ${exit.code}, signal ${exit.signal}); output:\n${svc.output().slice(-4000)}`);
    } finally {
      if (svc.child.exitCode === null && svc.child.signalCode === null) svc.child.kill('SIGKILL');
      untrackSvc();
    }
    const rowsCommitted = countRows(room.storeFile, room.username);
    const ackedTotal = out.reduce((n, p) => n + p.result.ackedTotal, 0);
    if (rowsCommitted < ackedTotal) throw new Error(`latency: ${ackedTotal} PUBACKs but only ${rowsCommitted} rows in the store`);
    return { phases: out, rowsCommitted, ackedTotal };
  } finally {
    await keeper.stop();
    room.cleanup();
    untrackRoom();
  }
}

/** The baseline's receiver: takes any PUT/POST body, hashes it, answers the hex digest. */
function startSink(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const h = createHash('sha256');
    req.on('data', (c: Buffer) => h.update(c));
    req.on('end', () => res.end(h.digest('hex')));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a ? a.port : 0 });
    });
  });
}

function runCurl(file: string, url: string): Promise<{ seconds: number; body: string; code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    // -T: PUT of the file, as an upload tool would; Expect: off so the body goes out at once.
    const child = spawn('curl', ['-sS', '-H', 'Expect:', '-T', file, url], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    trackGroup(child);
    let body = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (body += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ seconds: (performance.now() - t0) / 1000, body: body.trim(), code, stderr }));
  });
}

interface CloudChild {
  child: ChildProcess;
  port: number;
  roomId: string;
  secret: string;
}

function startCloud(dir: string): Promise<CloudChild> {
  if (!existsSync(CLOUD)) return Promise.reject(new Error(`${CLOUD} is missing: run \`npm run build\` first`));
  const child = fork(CLOUD, [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  trackGroup(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cloud child: no answer in 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`cloud child exited (${code}) before listening`)));
    child.on('message', (m: { type?: string; port?: number; roomId?: string; secret?: string; message?: string }) => {
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve({ child, port: m.port!, roomId: m.roomId!, secret: m.secret! });
      } else if (m.type === 'error') {
        clearTimeout(timer);
        reject(new Error(`cloud child failed: ${m.message}`));
      }
    });
  });
}

async function stopCloud(c: CloudChild): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.child.once('exit', () => r()));
  c.child.send({ type: 'stop' });
  const t = setTimeout(() => c.child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

async function uploadOnce(cloud: CloudChild, dir: string, file: string, sha256: string, round: number): Promise<UploadRun> {
  const store = openStore({ path: join(dir, `edge-${round}.db`), roomId: cloud.roomId, logger: silentLogger(), clock: systemClock });
  const up = new RecordingUploader({
    store,
    roomId: cloud.roomId,
    transport: new HttpTusTransport({ baseUrl: `http://127.0.0.1:${cloud.port}`, roomId: cloud.roomId, token: cloud.secret }),
    logger: silentLogger(),
  });
  try {
    await up.enqueue({ path: file, lessonId: `${cloud.roomId}/2026-01-05/p${round + 1}`, source: 'cam1', segment: 0, sha256, durationMs: 10_000 });
    const done = new Promise<boolean>((resolve) => {
      up.once('uploaded', () => resolve(true));
      up.once('failed', (f: { reason: string }) => {
        process.stderr.write(`upload failed: ${f.reason}\n`);
        resolve(false);
      });
    });
    const t0 = performance.now();
    up.start();
    const ok = await done;
    const seconds = (performance.now() - t0) / 1000;
    const size = up.segments()[0]!.size;
    return { system: 'uploader', seconds, mbPerSecond: size / MB / seconds, bytesSent: up.counts.bytesSent, verified: ok && up.counts.retries === 0 };
  } finally {
    await up.stop();
    await store.close();
  }
}

async function uploadPhase(o: RecordingBenchOptions, dir: string): Promise<{ runs: UploadRun[]; fileBytes: number; sha256Seconds: number }> {
  if (!existsSync('/usr/bin/curl')) throw new Error('curl is missing: apt-get install -y curl (it is the upload baseline)');
  const file = join(dir, 'upload.bin');
  // `head -c` of /dev/urandom: incompressible bytes; the upload path does not look inside the container.
  const fd = openSync(file, 'w');
  try {
    await new Promise<void>((resolve, reject) => {
      const p = spawn('head', ['-c', String(o.uploadBytes), '/dev/urandom'], { stdio: ['ignore', fd, 'inherit'] });
      p.once('error', reject);
      p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`head -c exited ${code}`))));
    });
  } finally {
    closeSync(fd);
  }
  const h0 = performance.now();
  const sha256 = await sha256File(file);
  // The cloud re-reads and hashes the whole file at completion: this is what that costs here.
  const sha256Seconds = (performance.now() - h0) / 1000;
  const sink = await startSink();
  const cloud = await startCloud(dir);
  const runs: UploadRun[] = [];
  try {
    for (let round = 0; round < o.uploadRounds; round++) {
      const c = await runCurl(file, `http://127.0.0.1:${sink.port}/upload.bin`);
      if (c.code !== 0) throw new Error(`curl failed (${c.code}): ${c.stderr}`);
      runs.push({ system: 'curl', seconds: c.seconds, mbPerSecond: o.uploadBytes / MB / c.seconds, bytesSent: o.uploadBytes, verified: c.body === sha256 });
      const u = await uploadOnce(cloud, dir, file, sha256, round);
      runs.push(u);
      o.log(`upload round ${round + 1}: curl -> hashing sink ${runs.at(-2)!.mbPerSecond.toFixed(0)} MB/s, edge uploader -> cloud tus ${u.mbPerSecond.toFixed(0)} MB/s`);
    }
  } finally {
    await stopCloud(cloud);
    await new Promise<void>((r) => sink.server.close(() => r()));
  }
  return { runs, fileBytes: o.uploadBytes, sha256Seconds };
}

function ffmpegVersion(): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn('ffmpeg', ['-version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.once('error', () => resolve('unknown'));
    p.once('close', () => resolve(s.split('\n')[0]?.replace(/ Copyright.*/, '') ?? 'unknown'));
  });
}

function checkTargets(r: Omit<RecordingReport, 'targets' | 'seconds'>): TargetCheck[] {
  const perSource = [...r.copy1.procs, ...r.copy2.procs].map((p) => p.cpuPct);
  const worst = Math.max(...perSource);
  const lat = (recording: boolean, k: 'p50' | 'p99') => spread(r.latency.filter((p) => p.recording === recording).map((p) => p.result.latency[k]));
  const latencyCheck = (k: 'p50' | 'p99'): TargetCheck => {
    const off = lat(false, k);
    const on = lat(true, k);
    const allowed = Math.max(off.max - off.min, on.max - on.min);
    const diff = on.median - off.median;
    return {
      name: `${k} publish-to-commit at ${r.settings.latencyRate} events/s, with vs without one stream-copy recording`,
      value: `${on.median.toFixed(2)} vs ${off.median.toFixed(2)} ms (median of ${on.n} / ${off.n} phases; difference ${diff >= 0 ? '+' : ''}${diff.toFixed(2)} ms)`,
      target: `difference within the run-to-run spread (${allowed.toFixed(2)} ms)`,
      met: Math.abs(diff) <= allowed,
    };
  };
  return [
    { name: 'stream copy CPU per 1080p25 source (worst of 1 and 2 sources)', value: `${worst.toFixed(2)} % of a core`, target: '<= 5 % of a core', met: worst <= 5 },
    latencyCheck('p50'),
    latencyCheck('p99'),
  ];
}

/** Runs the recording benchmark; cleans up every child process group and temp dir it made. */
export async function runRecordingBench(options: Partial<RecordingBenchOptions> = {}): Promise<RecordingReport> {
  const o: RecordingBenchOptions = { ...DEFAULT_RECORDING_OPTIONS, ...options };
  const started = performance.now();
  const runTag = `r${Date.now().toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'ce-bench-rec-'));
  const untrackDir = trackDir(dir);
  let cam: RtspCamera | null = null;
  // The camera stand-in runs in its own process group (test/helpers/peers.ts startPeer).
  const untrackCam = trackGroupsOf(() => [cam?.process?.pid]);
  try {
    const machine = { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, kernel: release(), date: new Date().toISOString(), ffmpeg: await ffmpegVersion() };
    o.log(`camera: GStreamer RTSP server, ${o.camera.width}x${o.camera.height} ${o.camera.framerate} fps, pattern ${o.camera.pattern}, x264enc ${o.camera.kbps} kbit/s, key-int-max ${o.camera.gop}; each "camera" is one more client of its mount`);
    cam = await RtspCamera.start({ dir, width: o.camera.width, height: o.camera.height, framerate: o.camera.framerate, gop: o.camera.gop, kbps: o.camera.kbps, pattern: o.camera.pattern, audio: false });
    const c = cam;
    const report1 = (p: CpuPhase) =>
      o.log(
        `${p.name}: ${p.procs.map((x) => `${x.label} ${x.cpuPct.toFixed(1)} % CPU, RSS ${(x.rssBytes / MB).toFixed(1)} MB`).join('; ')}` +
          `${p.fps !== null ? `; ${p.fps.toFixed(1)} fps` : ''}; camera ${p.cameraCpuPct.toFixed(0)} %; machine ${p.machineBusyPct.toFixed(0)} % busy`,
      );
    const copy1 = await copyPhase(o, c, 1, dir);
    report1(copy1);
    const copy2 = await copyPhase(o, c, 2, dir);
    report1(copy2);
    const reencode = await ffmpegPhase(o, c, 're-encode x1 (libx264 veryfast)', captureArgs(rtspSource('cam1', c.url, true), join(dir, 'reencode'), o.segmentSeconds));
    report1(reencode);
    const composedX264 = await ffmpegPhase(o, c, 'composed view (x264 veryfast)', composedCmd(o, c, join(dir, 'composed-x264'), 'x264'));
    report1(composedX264);
    // Untested here (no GPU on the machine this was written on): runs only where the render node exists.
    const composedVaapi = existsSync(VAAPI_DEVICE)
      ? await ffmpegPhase(o, c, 'composed view (VAAPI)', composedCmd(o, c, join(dir, 'composed-vaapi'), 'vaapi'))
      : `not measurable here (no GPU: ${VAAPI_DEVICE} does not exist)`;
    if (typeof composedVaapi !== 'string') report1(composedVaapi);
    const latency = await latencyPhases(o, c, dir, runTag);
    // The upload does not need the camera: stop it so its encoder does not share the cores with the transfer.
    await cam.stop();
    cam = null;
    const upload = await uploadPhase(o, dir);
    const { log: _log, ...settings } = o;
    const partial = {
      machine,
      settings,
      copy1,
      copy2,
      reencode,
      composedX264,
      composedVaapi,
      latency: latency.phases,
      latencyRows: { rowsCommitted: latency.rowsCommitted, ackedTotal: latency.ackedTotal },
      upload: upload.runs,
      uploadFileBytes: upload.fileBytes,
      uploadSha256Seconds: upload.sha256Seconds,
    };
    return { ...partial, targets: checkTargets(partial), seconds: (performance.now() - started) / 1000 };
  } finally {
    await cam?.stop().catch(() => undefined);
    untrackCam();
    const left = killTrackedGroups();
    if (left > 0) o.log(`cleanup: killed ${left} leftover process group(s)`);
    rmSync(dir, { recursive: true, force: true });
    untrackDir();
  }
}

const f = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

export function formatRecordingReport(r: RecordingReport): string {
  const lines: string[] = [];
  const m = r.machine;
  lines.push(`machine: ${m.cpus} CPUs, ${m.cpuModel}; Node ${m.node}; Linux ${m.kernel}; ${m.ffmpeg}; ${m.date}`);
  const s = r.settings;
  lines.push(
    `sources: one GStreamer RTSP server, ${s.camera.width}x${s.camera.height}p${s.camera.framerate} H.264 (x264enc superfast zerolatency, pattern ${s.camera.pattern}, ${s.camera.kbps} kbit/s, key-int-max ${s.camera.gop}), no audio; ` +
      `each "camera" is a client of its one shared mount. CPU: utime+stime over ${s.windowMs / 1000} s after ${s.warmupMs / 1000} s warm-up, % of one core; segments ${s.segmentSeconds} s MPEG-TS`,
  );
  lines.push('');
  const widths = [52, 22, 22, 8];
  lines.push(row(['figure', 'value', 'baseline', 'ratio'], widths));
  lines.push(row(['-'.repeat(52), '-'.repeat(22), '-'.repeat(22), '-'.repeat(8)], widths));
  const re = r.reencode.procs[0]!;
  const ratio = (a: number, b: number) => f(a / b, 3);
  const c1 = r.copy1.procs[0]!;
  lines.push(row(['stream copy x1: ffmpeg CPU (% of a core)', f(c1.cpuPct, 2), `re-encode ${f(re.cpuPct)}`, ratio(c1.cpuPct, re.cpuPct)], widths));
  lines.push(row(['stream copy x1: VmRSS / VmHWM (MB)', `${f(c1.rssBytes / MB)} / ${f(c1.hwmBytes / MB)}`, `${f(re.rssBytes / MB)} / ${f(re.hwmBytes / MB)}`, ratio(c1.rssBytes, re.rssBytes)], widths));
  r.copy2.procs.forEach((p) => {
    lines.push(row([`stream copy x2, ${p.label}: CPU (% of a core)`, f(p.cpuPct, 2), `re-encode ${f(re.cpuPct)}`, ratio(p.cpuPct, re.cpuPct)], widths));
    lines.push(row([`stream copy x2, ${p.label}: VmRSS / VmHWM (MB)`, `${f(p.rssBytes / MB)} / ${f(p.hwmBytes / MB)}`, '', ''], widths));
  });
  lines.push(row(['re-encode x1: frames out per second', f(r.reencode.fps ?? Number.NaN), `${s.camera.framerate} (real time)`, ''], widths));
  const cx = r.composedX264.procs[0]!;
  lines.push(row(['composed view, x264 veryfast: CPU (% of a core)', f(cx.cpuPct), `re-encode ${f(re.cpuPct)}`, f(cx.cpuPct / re.cpuPct, 2)], widths));
  lines.push(row(['composed view, x264: VmRSS / VmHWM (MB)', `${f(cx.rssBytes / MB)} / ${f(cx.hwmBytes / MB)}`, `${f(re.rssBytes / MB)} / ${f(re.hwmBytes / MB)}`, ''], widths));
  lines.push(row(['composed view, x264: frames out per second', f(r.composedX264.fps ?? Number.NaN), `${s.camera.framerate} (real time)`, ''], widths));
  if (typeof r.composedVaapi === 'string') lines.push(row(['composed view, VAAPI', r.composedVaapi, '', ''], [52, 0, 0, 0]));
  else lines.push(row(['composed view, VAAPI: CPU (% of a core)', f(r.composedVaapi.procs[0]!.cpuPct), `x264 ${f(cx.cpuPct)}`, ratio(r.composedVaapi.procs[0]!.cpuPct, cx.cpuPct)], widths));
  for (const p of [r.copy1, r.copy2, r.reencode, r.composedX264]) {
    lines.push(row([`  during ${p.name}: camera CPU / machine busy`, `${f(p.cameraCpuPct, 0)} % / ${f(p.machineBusyPct, 0)} %`, '', ''], widths));
  }
  for (const p of [r.copy1, r.copy2]) {
    const kbps = ((p.recordedBytes ?? 0) * 8) / 1000 / ((p.mediaSeconds ?? Number.NaN) * p.procs.length);
    lines.push(row([`  ${p.name}: media s per source / MB written`, `${f(p.mediaSeconds ?? Number.NaN)} / ${f((p.recordedBytes ?? 0) / MB)}`, p.respawned ? 'RESPAWNED' : '', ''], widths));
    lines.push(row([`  ${p.name}: camera bitrate as recorded (kbit/s)`, f(kbps, 0), `asked ${s.camera.kbps}`, ''], widths));
  }
  const lat = (recording: boolean, k: 'p50' | 'p99') => spread(r.latency.filter((p) => p.recording === recording).map((p) => p.result.latency[k]));
  for (const k of ['p50', 'p99'] as const) {
    const on = lat(true, k);
    const off = lat(false, k);
    lines.push(
      row(
        [`${s.latencyRate} events/s ${k} latency, median (min-max) ms`, `${f(on.median, 2)} (${f(on.min, 2)}-${f(on.max, 2)})`, `${f(off.median, 2)} (${f(off.min, 2)}-${f(off.max, 2)})`, f(on.median / off.median, 2)],
        widths,
      ),
    );
  }
  lines.push(row(['  (value: with recording; baseline: without)', r.latency.map((p) => (p.recording ? 'R' : '-')).join(''), '', ''], widths));
  const recCpu = spread(r.latency.filter((p) => p.recording).map((p) => p.ffmpegCpuPct ?? Number.NaN));
  lines.push(row(['  recorder ffmpeg CPU during the load (% of a core)', f(recCpu.median, 2), '', ''], widths));
  const camLat = (recording: boolean) => spread(r.latency.filter((p) => p.recording === recording).map((p) => p.cameraCpuPct)).median;
  const busyLat = (recording: boolean) => spread(r.latency.filter((p) => p.recording === recording).map((p) => p.machineBusyPct)).median;
  lines.push(row(['  camera CPU / machine busy during the phases (%)', `${f(camLat(true), 0)} / ${f(busyLat(true), 0)}`, `${f(camLat(false), 0)} / ${f(busyLat(false), 0)}`, ''], widths));
  lines.push(row(['  PUBACKs / rows in the store', `${r.latencyRows.ackedTotal}/${r.latencyRows.rowsCommitted}`, '', ''], widths));
  const up = spread(r.upload.filter((u) => u.system === 'uploader').map((u) => u.mbPerSecond));
  const curl = spread(r.upload.filter((u) => u.system === 'curl').map((u) => u.mbPerSecond));
  lines.push(
    row(
      [`upload ${f(r.uploadFileBytes / 2 ** 20, 0)} MiB over loopback, MB/s median (min-max)`, `${f(up.median, 0)} (${f(up.min, 0)}-${f(up.max, 0)})`, `curl ${f(curl.median, 0)} (${f(curl.min, 0)}-${f(curl.max, 0)})`, f(up.median / curl.median, 2)],
      widths,
    ),
  );
  lines.push(row(['  sha256 of the file alone (s; the cloud does it at completion)', f(r.uploadSha256Seconds, 2), '', ''], widths));
  lines.push(row(['  every upload verified (sha256) and sent once', String(r.upload.every((u) => u.verified && u.bytesSent === r.uploadFileBytes)), '', ''], widths));
  lines.push('');
  lines.push('targets:');
  for (const t of r.targets) lines.push(`  ${t.met === null ? 'n/a   ' : t.met ? 'MET   ' : 'MISSED'}  ${t.name}: ${t.value} (target ${t.target})`);
  return lines.join('\n');
}
