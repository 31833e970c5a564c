/**
 * Benchmark load generator (forked by bench/ingest.ts, so the load runs in
 * its own process): several mqtt.js clients publish ~200-byte QoS 1
 * behaviour events and time each publish to its PUBACK.
 *
 * - saturate: each client keeps `window` publishes in flight for the phase;
 * - paced: a fixed total rate, split round-robin across the clients, sent
 *   from a ~1 ms timer (no busy loop, which would steal a core from the
 *   system under test).
 *
 * Each phase has a warm-up (not measured) and a measurement window. Counted
 * in the window: publishes sent, PUBACKs received, and the publish-to-PUBACK
 * latency of every publish sent in it. After the phase, outstanding publishes
 * are drained before the next phase starts.
 *
 * IPC: receives one LoadPlan ({type:'run'}); sends {type:'connected'}, one
 * {type:'phase'} per phase, then {type:'done'} (or {type:'error'}).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { behaviourPayloads } from './lib/behaviour.js';
import { loadPlanSchema, type LoadPlan, type Phase, type PhaseResult, type PublisherMessage } from './lib/protocol.js';
import { summarize } from './lib/stats.js';

/** In-flight cap per client in paced mode (MQTT packet ids are 16-bit). */
const PACED_INFLIGHT_CAP = 20_000;
/** How long to wait for outstanding PUBACKs at the end of a phase. */
const DRAIN_TIMEOUT_MS = 20_000;

interface Publisher {
  index: number;
  client: MqttClient;
  inflight: number;
  seq: number;
}

interface Recorder {
  measureStart: number;
  measureEnd: number;
  sent: number;
  acked: number;
  ackedTotal: number;
  errors: number;
  skipped: number;
  inflight: number;
  latencies: number[];
}

function send(m: PublisherMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let clockTicks: number | undefined;
/** CPU seconds (user + system) of another process, from /proc/<pid>/stat. */
function cpuSecondsOf(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Samples CPU time of the load generator and of the process under test at the window's start and end. */
function cpuWindow(plan: LoadPlan, startInMs: number, lengthMs: number): () => { sut: number | null; load: number } {
  const at: { sut0?: number; sut1?: number; own0?: number; own1?: number } = {};
  const sample = (which: 0 | 1) => {
    if (plan.sutPid !== undefined) {
      try {
        at[which === 0 ? 'sut0' : 'sut1'] = cpuSecondsOf(plan.sutPid);
      } catch {
        // the process under test is gone: no figure (reported as null)
      }
    }
    at[which === 0 ? 'own0' : 'own1'] = ownCpuSeconds();
  };
  setTimeout(() => sample(0), startInMs);
  setTimeout(() => sample(1), startInMs + lengthMs);
  return () => {
    const pct = (a?: number, b?: number) => (a === undefined || b === undefined ? null : ((b - a) / (lengthMs / 1000)) * 100);
    return { sut: pct(at.sut0, at.sut1), load: pct(at.own0, at.own1) ?? Number.NaN };
  };
}

async function connect(plan: LoadPlan, index: number): Promise<MqttClient> {
  const client = mqtt.connect(plan.url, {
    clientId: `${plan.idPrefix}-p${index}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    keepalive: 60,
    ...(plan.username !== undefined ? { username: plan.username } : {}),
    ...(plan.password !== undefined ? { password: plan.password } : {}),
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error(`publisher ${index}: connection to ${plan.url} closed before CONNACK`)));
  });
  // TCP_NODELAY, as both brokers set on their side: mqtt.js leaves Nagle on, and then a publish
  // sent while the previous one is unacknowledged waits for the ACK that rides on its PUBACK, which
  // put ~4 ms of the client's own making into the paced latencies of both systems (measured
  // 2026-11-23: p50 at 1,000 events/s 8.0 ms -> 3.5 ms for the baseline).
  const socket = client.stream as { setNoDelay?: (on: boolean) => unknown };
  socket.setNoDelay?.(true);
  return client;
}

function runPhase(plan: LoadPlan, pubs: Publisher[], phase: Phase): Promise<PhaseResult> {
  const makePayload = behaviourPayloads(plan.payloadBytes);
  const start = performance.now();
  const rec: Recorder = {
    measureStart: start + phase.warmupMs,
    measureEnd: start + phase.warmupMs + phase.durationMs,
    sent: 0,
    acked: 0,
    ackedTotal: 0,
    errors: 0,
    skipped: 0,
    inflight: 0,
    latencies: [],
  };
  const end = rec.measureEnd;
  const cpu = cpuWindow(plan, phase.warmupMs, phase.durationMs);

  const publishOne = (pub: Publisher, onSettled?: () => void): void => {
    const id = `${plan.idPrefix}-${phase.name}-p${pub.index}-${String(pub.seq++).padStart(9, '0')}`;
    const payload = makePayload(id, Date.now());
    const t0 = performance.now();
    const inWindow = t0 >= rec.measureStart && t0 < rec.measureEnd;
    if (inWindow) rec.sent++;
    pub.inflight++;
    rec.inflight++;
    pub.client.publish(plan.topic, payload, { qos: 1 }, (err) => {
      const t1 = performance.now();
      pub.inflight--;
      rec.inflight--;
      if (err) rec.errors++;
      else {
        rec.ackedTotal++;
        if (t1 >= rec.measureStart && t1 < rec.measureEnd) rec.acked++;
        if (inWindow) rec.latencies.push(t1 - t0);
      }
      onSettled?.();
    });
  };

  return new Promise<PhaseResult>((resolve) => {
    const finish = async () => {
      const drainUntil = performance.now() + DRAIN_TIMEOUT_MS;
      while (rec.inflight > 0 && performance.now() < drainUntil) await sleep(5);
      const measuredMs = phase.durationMs;
      const usage = cpu();
      resolve({
        name: phase.name,
        mode: phase.mode,
        targetRate: phase.mode === 'paced' ? phase.rate : null,
        measuredMs,
        sent: rec.sent,
        acked: rec.acked,
        ackRate: rec.acked / (measuredMs / 1000),
        latency: summarize(rec.latencies),
        errors: rec.errors,
        skipped: rec.skipped,
        unacked: rec.inflight,
        ackedTotal: rec.ackedTotal,
        sutCpuPct: usage.sut,
        loadCpuPct: usage.load,
      });
    };

    if (phase.mode === 'saturate') {
      const pump = (pub: Publisher): void => {
        while (pub.inflight < phase.window && performance.now() < end) publishOne(pub, () => pump(pub));
      };
      for (const pub of pubs) pump(pub);
      setTimeout(() => void finish(), Math.max(0, end - performance.now()) + 5);
      return;
    }

    let scheduled = 0;
    let next = 0;
    const tick = (): void => {
      const now = performance.now();
      const due = Math.floor(((Math.min(now, end) - start) / 1000) * phase.rate);
      while (scheduled < due) {
        const pub = pubs[next]!;
        next = (next + 1) % pubs.length;
        scheduled++;
        if (pub.inflight >= PACED_INFLIGHT_CAP) rec.skipped++;
        else publishOne(pub);
      }
      if (now < end) setTimeout(tick, 1);
      else setTimeout(() => void finish(), 5);
    };
    tick();
  });
}

async function run(plan: LoadPlan): Promise<void> {
  const clients = await Promise.all(Array.from({ length: plan.publishers }, (_, i) => connect(plan, i)));
  const pubs: Publisher[] = clients.map((client, index) => ({ index, client, inflight: 0, seq: 0 }));
  for (const p of pubs) p.client.on('error', () => undefined); // errors surface as failed publish callbacks
  await send({ type: 'connected', publishers: pubs.length });
  try {
    for (const phase of plan.phases) {
      const result = await runPhase(plan, pubs, phase);
      await send({ type: 'phase', result });
    }
  } finally {
    await Promise.all(pubs.map((p) => p.client.endAsync(true).catch(() => undefined)));
  }
  await send({ type: 'done' });
}

process.once('message', (m: unknown) => {
  const parsed = loadPlanSchema.safeParse(m);
  const work = parsed.success ? run(parsed.data) : Promise.reject(new Error(`bad load plan: ${parsed.error.message}`));
  work
    .catch(async (e: unknown) => {
      process.exitCode = 1;
      await send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    })
    .finally(() => process.disconnect?.());
});
