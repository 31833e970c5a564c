/**
 * Simulated rooms for the worker-capacity benchmark (forked by
 * bench/sync-capacity.ts, so the load runs in its own process): each room is
 * one mqtt.js client with its own TLS client certificate (CN = room id, so the
 * broker's room ACL applies), client id `edge-{room}`, subscribed to its
 * `down/ack`. It replays one minute of a busy room's events (given by the
 * orchestrator) in a loop with a random phase, and sends them as the Uplink
 * does (sync/uplink.ts): a batch once the oldest waiting event is `lingerMs`
 * old or `maxEvents` wait, at most `maxInFlight` batches unacknowledged, a
 * batch resent after `ackTimeoutMs`, the same message format and encoding
 * (encodeMessage: JSON, gzip when it pays). A batch's latency is from its
 * send to the ack that covers its last seq.
 *
 * IPC: init, add (rooms), measure (a window), stop; see bench/lib/rooms-protocol.ts.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { PROTOCOL_VERSION, districtTopics, encodeMessage, type Batch, type LinkEvent } from '../sync/protocol.js';
import { roomsCommandSchema, type RoomsCommand, type RoomsMessage, type RoomsWindow } from './lib/rooms-protocol.js';
import { summarize } from './lib/stats.js';

type Init = Extract<RoomsCommand, { type: 'init' }>;

interface Sent {
  lastSeq: number;
  events: number;
  msg: Batch;
  /** performance.now() of the first send, and of the last (re)send. */
  firstAt: number;
  lastAt: number;
  inWindow: boolean;
}

interface Room {
  id: string;
  client: MqttClient;
  topics: ReturnType<typeof districtTopics>;
  storeId: string;
  bootId: string;
  /** ms into the minute where this room's replay started (random phase), and the first point at or after it. */
  phase: number;
  first: number;
  /** performance.now() when the replay started, and how many schedule points were emitted. */
  startedAt: number;
  emitted: number;
  seq: number;
  ackedSeq: number;
  pending: LinkEvent[];
  pendingSince: number | null;
  inFlight: Sent[];
}

const TICK_MS = 20;
let init: Init | undefined;
const rooms: Room[] = [];
let ca: Buffer | undefined;
let window: { start: number; end: number; batches: number; events: number; acked: number; resent: number; latencies: number[]; open: Sent[] } | null = null;

function send(m: RoomsMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const backlog = () => rooms.reduce((n, r) => n + (r.seq - r.ackedSeq), 0);

function connectRoom(spec: { id: string; certFile: string; keyFile: string }): Promise<Room> {
  const p = init!;
  const client = mqtt.connect(p.url, {
    clientId: `edge-${spec.id}`,
    clean: true,
    keepalive: 60,
    reconnectPeriod: 1000,
    connectTimeout: 30_000,
    protocolVersion: 4,
    ca,
    cert: readFileSync(spec.certFile),
    key: readFileSync(spec.keyFile),
    rejectUnauthorized: true,
  });
  const room: Room = {
    id: spec.id,
    client,
    topics: districtTopics(spec.id),
    storeId: randomUUID(),
    bootId: randomUUID(),
    phase: 0,
    first: 0,
    startedAt: 0,
    emitted: 0,
    seq: 0,
    ackedSeq: 0,
    pending: [],
    pendingSince: null,
    inFlight: [],
  };
  room.phase = Math.floor(Math.random() * 60_000);
  const first = p.minute.findIndex((pt) => pt.atMs >= room.phase);
  // No point after the phase: start at the next minute's first point.
  room.first = first >= 0 ? first : p.minute.length;
  client.on('message', (_topic, payload) => onAck(room, payload));
  client.on('error', () => undefined); // reconnects on its own; lost batches are resent after ackTimeoutMs
  return new Promise<Room>((resolve, reject) => {
    client.once('connect', () => {
      client.subscribe(room.topics.ack, { qos: 1 }, (err) => (err ? reject(err) : resolve(room)));
    });
    client.once('error', reject);
  });
}

function onAck(room: Room, payload: Buffer): void {
  let ackedSeq: number;
  try {
    const ack = JSON.parse(payload.toString('utf8')) as { storeId?: unknown; ackedSeq?: unknown };
    if (ack.storeId !== room.storeId || typeof ack.ackedSeq !== 'number') return;
    ackedSeq = ack.ackedSeq;
  } catch {
    return;
  }
  if (ackedSeq <= room.ackedSeq) return;
  const now = performance.now();
  if (window && now >= window.start && now < window.end) window.acked += ackedSeq - room.ackedSeq;
  room.ackedSeq = ackedSeq;
  const still: Sent[] = [];
  for (const b of room.inFlight) {
    if (b.lastSeq > ackedSeq) {
      still.push(b);
      continue;
    }
    if (b.inWindow && window) {
      window.latencies.push(now - b.firstAt);
      const i = window.open.indexOf(b);
      if (i >= 0) window.open.splice(i, 1);
    }
  }
  room.inFlight = still;
  pump(room, now);
}

/** Appends the schedule points that are due, then sends what the Uplink would send. */
function pump(room: Room, now: number): void {
  const p = init!;
  const minute = p.minute;
  if (room.startedAt > 0 && minute.length > 0) {
    for (;;) {
      // Emission k is the point (first + k) of the looped minute, `first` being the first point at or after the phase.
      const idx = room.first + room.emitted;
      const point = minute[idx % minute.length]!;
      const at = room.startedAt - room.phase + Math.floor(idx / minute.length) * 60_000 + point.atMs;
      if (at > now) break;
      const ts = Date.now();
      for (const e of point.events) {
        room.seq++;
        room.pending.push({ seq: room.seq, stream: e.stream, type: e.type, entityId: String(room.seq), payload: e.payload, ts, clockSynced: false, bootId: room.bootId });
      }
      room.pendingSince ??= now;
      room.emitted++;
    }
  }
  for (const b of room.inFlight) {
    if (now - b.lastAt >= p.ackTimeoutMs) {
      b.lastAt = now;
      b.msg = { ...b.msg, sentAt: Date.now() };
      if (window && now >= window.start && now < window.end) window.resent++;
      room.client.publish(room.topics.events, encodeMessage(b.msg), { qos: 1 });
    }
  }
  while (room.pending.length > 0 && room.inFlight.length < p.maxInFlight) {
    if (room.pending.length < p.maxEvents && now - (room.pendingSince ?? now) < p.lingerMs) break;
    const events = room.pending.splice(0, p.maxEvents);
    room.pendingSince = room.pending.length > 0 ? now : null;
    const msg: Batch = {
      v: PROTOCOL_VERSION,
      roomId: room.id,
      storeId: room.storeId,
      batchId: randomUUID(),
      firstSeq: events[0]!.seq,
      lastSeq: events[events.length - 1]!.seq,
      events,
      sentAt: Date.now(),
      clockSynced: false,
      bootId: room.bootId,
    };
    const inWindow = window !== null && now >= window.start && now < window.end;
    const b: Sent = { lastSeq: msg.lastSeq, events: events.length, msg, firstAt: now, lastAt: now, inWindow };
    room.inFlight.push(b);
    if (inWindow) {
      window!.batches++;
      window!.events += events.length;
      window!.open.push(b);
    }
    room.client.publish(room.topics.events, encodeMessage(msg), { qos: 1 });
  }
}

async function add(specs: Array<{ id: string; certFile: string; keyFile: string }>): Promise<number> {
  const t0 = performance.now();
  const queue = [...specs];
  // A few TLS handshakes at a time: the broker and the worker keep serving the rooms already running.
  const worker = async () => {
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      const room = await connectRoom(s);
      room.startedAt = performance.now();
      rooms.push(room);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return performance.now() - t0;
}

/** CPU seconds (user + system) of another process, from /proc/<pid>/stat (USER_HZ 100); NaN when it is gone. */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function measure(warmupMs: number, durationMs: number, graceMs: number, pids: number[]): Promise<RoomsWindow> {
  await sleep(warmupMs);
  const start = performance.now();
  window = { start, end: start + durationMs, batches: 0, events: 0, acked: 0, resent: 0, latencies: [], open: [] };
  const backlogStart = backlog();
  const cpu0 = process.cpuUsage();
  const pidCpu0 = pids.map(cpuSecondsOf);
  await sleep(durationMs);
  const cpu = process.cpuUsage(cpu0);
  const pidCpuPct = pids.map((pid, i) => ((cpuSecondsOf(pid) - pidCpu0[i]!) * 1000 * 100) / durationMs);
  const backlogEnd = backlog();
  const w = window;
  for (let waited = 0; w.open.length > 0 && waited < graceMs; waited += 50) await sleep(50);
  window = null;
  return {
    rooms: rooms.length,
    measuredMs: durationMs,
    batches: w.batches,
    events: w.events,
    ackedEvents: w.acked,
    latency: summarize(w.latencies),
    unacked: w.open.length,
    resent: w.resent,
    backlogStart,
    backlogEnd,
    cpuPct: ((cpu.user + cpu.system) / 1000 / durationMs) * 100,
    pidCpuPct,
  };
}

let ticker: ReturnType<typeof setInterval> | null = null;

process.on('message', (raw: unknown) => {
  const parsed = roomsCommandSchema.safeParse(raw);
  if (!parsed.success) {
    void send({ type: 'error', message: `bad command: ${parsed.error.message}` });
    return;
  }
  const cmd = parsed.data;
  const run = async (): Promise<void> => {
    switch (cmd.type) {
      case 'init':
        init = cmd;
        ca = readFileSync(cmd.caFile);
        ticker = setInterval(() => {
          const now = performance.now();
          for (const r of rooms) pump(r, now);
        }, TICK_MS);
        await send({ type: 'ready' });
        return;
      case 'add':
        if (!init) throw new Error('add before init');
        {
          const connectMs = await add(cmd.rooms);
          await send({ type: 'added', rooms: rooms.length, connectMs });
        }
        return;
      case 'measure':
        await send({ type: 'window', result: await measure(cmd.warmupMs, cmd.durationMs, cmd.graceMs, cmd.pids) });
        return;
      case 'stop':
        if (ticker) clearInterval(ticker);
        await Promise.all(rooms.map((r) => r.client.endAsync(true).catch(() => undefined)));
        await send({ type: 'stopped' });
        process.disconnect?.();
        return;
    }
  };
  run().catch((e: unknown) => void send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) }));
});
