/**
 * Fault test (issue 5, "Faults that must lose nothing"): kill -9 of the edge
 * mid-batch, of the cloud worker mid-commit and of the district broker,
 * repeated in a bounded loop, while the room is under load and syncing.
 *
 * Three real processes: the edge service (`node dist/edge/cli.js start`, one
 * data dir across rounds), the reference cloud (`... cloud start --config`,
 * one database across rounds) and Debian's mosquitto (TLS, client
 * certificates, ACL, no persistence: a broker crash loses every session and
 * every queued message). mqtt.js publishers push QoS 1 behaviour events with
 * unique ids into the edge's local bus (paced, so a 2-core CI machine keeps
 * up); every id whose PUBACK arrived is recorded.
 *
 * Each round kills each target in turn (the edge, the worker, the broker,
 * and the worker then the broker: a district server losing power) at a
 * random moment of the busy window,
 * but only once work is really in flight: for the edge, publishes without a
 * PUBACK and batches the cloud has not acknowledged; for the worker and the
 * broker, batches the cloud has not acknowledged (edge /health `inFlight`).
 * The process must die by SIGKILL; it is restarted and the link must make
 * progress again before the next round. After the loop and a final drain:
 * every PUBACKed event is in the edge store exactly once, the edge's event
 * log is gap- and duplicate-free, and the cloud's `events` rows for the room
 * equal the edge's event log exactly: one store id, the same seqs 1..n, the
 * same stream/type/entity/payload/ts/clockSynced/bootId.
 *
 * Proof that it can fail (tried by hand on a patched build, patches not kept):
 * - sync/cloud/worker.ts acking what it received (ackedSeq = batch.lastSeq)
 *   *before* committing it (commit 30 ms later, a slow disk): the drain
 *   completed, then "80 seqs of the edge log missing from the cloud:
 *   [2869, 2870, ...]" (a worker kill fell between ack and commit).
 * - sync/uplink.ts taking the broker's PUBACK of a batch for the cloud's ack:
 *   with edge/worker/broker kills only, the test still passed (mosquitto hands
 *   a batch to a live worker within microseconds, and keeps it for a dead
 *   worker's session); so the `worker+broker` kill was added (batches queued
 *   for the dead worker die with mosquitto), and the test then failed with
 *   "2032 seqs of the edge log missing from the cloud: [2689, 2690, ...]".
 * - before the fixes of this commit the test also found two real bugs: the
 *   cloud process exited (code 0) when the broker went down, and the edge and
 *   the cloud hung on SIGTERM after a broker restart (sync/cloud/cli.ts,
 *   sync/uplink.ts, sync/cloud/worker.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, requireBuilt, startCli, type Started } from '../helpers/cli.js';
import { edgeCloudYaml, startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { PASSWORDS, tempRoom, type TempRoom } from '../helpers/room.js';

const ROOM = 'kill-room';
const ROUNDS = 3;
/** `worker+broker`: the district server loses power: the worker dies, batches queue in mosquitto for its session, then mosquitto dies too. */
const TARGETS = ['edge', 'worker', 'broker', 'worker+broker'] as const;
type Target = (typeof TARGETS)[number];
const PUBLISHERS = 2;
/** QoS 1 publishes each publisher keeps in flight at most. */
const WINDOW = 16;
/** Each publisher sends up to BURST events every PACE_MS (at most ~2 x 4 / 10 ms = 800 events/s). */
const PACE_MS = 10;
const BURST = 4;
/** The random part of a round's busy window (after the link is seen working again). */
const KILL_MIN_MS = 150;
const KILL_MAX_MS = 900;
const TOPIC = `classroom/${ROOM}/behaviour`;

/** The whole scenario's bound (it takes ~30 s on an idle 2-core machine); past it the diagnostics are printed. */
const SCENARIO_MS = 60_000;
/** What the scenario did, for the failure message. */
const steps: string[] = [];
const step = (s: string) => steps.push(`${new Date().toISOString().slice(14, 23)} ${s}`);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let broker: DistrictBroker | undefined;
let room: TempRoom | undefined;
let edge: Started | undefined;
let cloud: CloudProc | undefined;
let load: Load | undefined;
let workDir: string | undefined;

afterAll(async () => {
  load?.detach();
  for (const p of [edge?.child, cloud?.child]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGKILL');
      await gone;
    }
  }
  await broker?.cleanup();
  room?.cleanup();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

interface CloudProc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startCloudCli(configFile: string): Promise<CloudProc> {
  requireBuilt();
  const child = spawn(process.execPath, [CLI, 'cloud', 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the cloud exited with ${child.exitCode} before starting:\n${out}`);
      return out.includes('district cloud ingest started');
    },
    20_000,
    `the cloud CLI to start; output:\n${out}`,
  );
  return { child, output: () => out, exited };
}

interface SyncHealth {
  connected: boolean;
  storeId: string;
  ackedSeq: number;
  lastSeq: number;
  backlog: number;
  inFlight: number;
}

async function health(svc: Started): Promise<SyncHealth> {
  const res = await fetch(`http://127.0.0.1:${svc.ports.api}/health`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { sync?: SyncHealth };
  if (!body.sync) throw new Error('/health has no sync object: is the cloud section in the config?');
  return body.sync;
}

/** Polls /health until `cond` holds; returns the sample that satisfied it. */
async function healthUntil(svc: Started, cond: (h: SyncHealth) => boolean, ms: number, what: string): Promise<SyncHealth> {
  let last: SyncHealth | undefined;
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    try {
      last = await health(svc);
    } catch {
      last = undefined; // the API is not up yet
    }
    if (last && cond(last)) return last;
    await sleep(5);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}; last /health sync: ${JSON.stringify(last)}`);
}

/** Paced QoS 1 load on the edge's local bus; survives the edge being killed and restarted. */
class Load {
  readonly published = new Set<string>();
  readonly acked = new Set<string>();
  private clients: MqttClient[] = [];
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private pending = 0;
  private gen = 0;

  async attach(port: number): Promise<void> {
    const gen = ++this.gen;
    this.clients = await Promise.all(
      Array.from({ length: PUBLISHERS }, async (_, p) => {
        const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          username: 'integ',
          password: PASSWORDS.integ,
          clientId: `kill9-sync-g${gen}-p${p}`,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: 10_000,
        });
        c.on('error', () => undefined); // the kill surfaces as a closed connection
        return c;
      }),
    );
    this.clients.forEach((c, p) => {
      let n = 0;
      let mine = 0;
      const timer = setInterval(() => {
        for (let k = 0; k < BURST && mine < WINDOW && c.connected && gen === this.gen; k++) {
          const id = `g${gen}-p${p}-${n++}`;
          const payload = JSON.stringify({ kind: 'answer', questionId: 'q1', answer: 'A', studentId: `s${n % 40}`, id, ts: Date.now() });
          this.published.add(id);
          mine++;
          this.pending++;
          c.publish(TOPIC, payload, { qos: 1 }, (err) => {
            mine--;
            this.pending--;
            if (!err) this.acked.add(id);
          });
        }
      }, PACE_MS);
      this.timers.push(timer);
    });
  }

  /** Publishes sent whose PUBACK has not arrived (nor failed) yet. */
  inflight(): number {
    return this.pending;
  }

  /** Stops publishing and drops the connections (their unacknowledged publishes fail). */
  detach(): void {
    this.gen++;
    for (const t of this.timers.splice(0)) clearInterval(t);
    for (const c of this.clients.splice(0)) c.end(true);
  }

  /** Stops publishing and waits for every outstanding PUBACK (a clean end of the load). */
  async drain(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await waitFor(() => this.pending === 0, 20_000, `${this.pending} outstanding PUBACKs`);
    this.detach();
  }
}

interface EdgeLogRow {
  seq: number;
  stream: string;
  type: string;
  entity_id: string | null;
  payload: string;
  ts: number;
  clock_synced: number;
  boot_id: string;
}

/** Read-only checks of the edge store: every PUBACKed id exactly once, a gap-free log, one log row per behaviour row. */
function checkEdgeStore(file: string, l: Load, when: string): { lastSeq: number; storeId: string; log: EdgeLogRow[] } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    expect(db.pragma('quick_check', { simple: true }), `${when}: quick_check`).toBe('ok');
    const rows = db.prepare<[], { id: number; pid: string | null }>("SELECT id, json_extract(payload, '$.id') AS pid FROM behaviour_events").all();
    const byPid = new Map<string, number>();
    for (const r of rows) {
      const key = r.pid ?? `(no id: row ${r.id})`;
      byPid.set(key, (byPid.get(key) ?? 0) + 1);
    }
    const missing = [...l.acked].filter((id) => !byPid.has(id));
    const duplicated = [...byPid].filter(([, n]) => n !== 1).map(([id, n]) => `${id} x${n}`);
    const unknown = [...byPid.keys()].filter((id) => !l.published.has(id));
    expect(missing.slice(0, 10), `${when}: ${missing.length} PUBACKed events missing from the edge store`).toEqual([]);
    expect(duplicated.slice(0, 10), `${when}: events stored more than once`).toEqual([]);
    expect(unknown.slice(0, 10), `${when}: behaviour rows that were never published`).toEqual([]);

    const log = db.prepare<[], EdgeLogRow>('SELECT seq, stream, type, entity_id, payload, ts, clock_synced, boot_id FROM event_log ORDER BY seq').all();
    const gaps = log.filter((r, i) => r.seq !== i + 1).slice(0, 5);
    expect(gaps, `${when}: the edge event log is not 1..n`).toEqual([]);
    const perRow = new Map<string, number>();
    for (const e of log) if (e.stream === 'behaviour') perRow.set(e.entity_id ?? '', (perRow.get(e.entity_id ?? '') ?? 0) + 1);
    const notOne = rows.filter((r) => perRow.get(String(r.id)) !== 1).map((r) => `row ${r.id}: ${perRow.get(String(r.id)) ?? 0} log rows`);
    expect(notOne.slice(0, 10), `${when}: behaviour rows without exactly one event-log row`).toEqual([]);
    const storeId = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'store_id'").get()?.value ?? '';
    return { lastSeq: log.length, storeId, log };
  } finally {
    db.close();
  }
}

describe('kill -9 of the edge, the cloud worker and the broker while syncing (mosquitto, TLS)', () => {
  it(`loses nothing and duplicates nothing over ${ROUNDS} rounds of ${TARGETS.join(', ')} kills`, async () => {
    let deadline: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        scenario(),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => reject(new Error(`the scenario took more than ${SCENARIO_MS} ms; steps: ${steps.join(' | ')}`)), SCENARIO_MS);
        }),
      ]);
    } catch (e) {
      // The processes' own logs say what went wrong (which side stopped acknowledging, what was rejected).
      const tail = (s: string | undefined) => (s ?? '').split('\n').slice(-40).join('\n');
      throw new Error(
        `${e instanceof Error ? e.stack : String(e)}\n--- steps: ${steps.join(' | ')}\n--- broker log:\n${tail(broker?.log())}\n--- cloud output:\n${tail(cloud?.output())}\n--- edge output:\n${tail(edge?.output())}`,
      );
    } finally {
      clearTimeout(deadline);
    }
  }, SCENARIO_MS + 30_000);
});

async function scenario(): Promise<void> {
  {
    requireBuilt();
    broker = await startDistrictBroker({ rooms: [ROOM], workers: ['cloud-worker-1'] });
    workDir = mkdtempSync(join(tmpdir(), 'ce-kill9-sync-'));
    room = tempRoom({ roomId: ROOM });
    const roomCert = broker.rooms[ROOM]!;
    // The CLI logs its ports in an info-level line; small batches so several are in flight at once.
    const yaml = `${room.yaml.replace('log: { level: warn }', 'log: { level: info }')}
${edgeCloudYaml(broker, roomCert, ['batch: { maxEvents: 40, lingerMs: 20 }', 'ackTimeoutMs: 1500', 'maxInFlight: 4'])}`;
    expect(yaml, 'could not set log level info in the temp config').toContain('log: { level: info }');
    writeFileSync(room.configFile, yaml);
    const storeFile = join(room.dataDir, 'store.db');
    const workerCert = broker.workers['cloud-worker-1']!;
    const cloudDb = join(workDir, 'cloud.db');
    const cloudYaml = join(workDir, 'cloud.yaml');
    writeFileSync(
      cloudYaml,
      `broker:\n  url: ${broker.url}\n  certFile: ${JSON.stringify(workerCert.certFile)}\n  keyFile: ${JSON.stringify(workerCert.keyFile)}\n` +
        `  caFile: ${JSON.stringify(broker.caFile)}\ndatabase: ${JSON.stringify(cloudDb)}\nworkers: 1\nlog: { level: info }\n`,
    );

    step('start');
    cloud = await startCloudCli(cloudYaml);
    edge = await startCli(['--config', room.configFile]);
    load = new Load();
    await load.attach(edge.ports.mqtt!);

    const rounds: Array<Record<string, unknown>> = [];
    let order = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of TARGETS) {
        // The link must be working before the busy window starts: the cloud acknowledges new events.
        step(`round ${round} ${target}: waiting for the link`);
        const before = await healthUntil(edge, (h) => h.connected, 30_000, `round ${round} ${target}: the district link to be up`);
        await healthUntil(
          edge,
          (h) => {
            const c = cloud!.child;
            if (c.exitCode !== null || c.signalCode !== null) throw new Error(`round ${round} ${target}: the cloud process exited by itself (${c.exitCode ?? c.signalCode})`);
            return h.ackedSeq > before.ackedSeq;
          },
          30_000,
          `round ${round} ${target}: the cloud to acknowledge new events`,
        );
        // Stratified random delays: each kill draws from its own slice of the busy window.
        const slice = (KILL_MAX_MS - KILL_MIN_MS) / (ROUNDS * TARGETS.length);
        const delay = Math.round(KILL_MIN_MS + slice * (order++ + Math.random()));
        step(`busy window ${delay} ms`);
        await sleep(delay);
        // Then kill at the first moment work is in flight (unacknowledged batches; for the edge also unacknowledged publishes).
        const atKill = await healthUntil(
          edge,
          (h) => h.connected && h.inFlight > 0 && h.backlog > 0 && (target !== 'edge' || load!.inflight() > 0),
          20_000,
          `round ${round} ${target}: batches in flight`,
        );
        const publishesInFlight = load.inflight();
        step(`kill ${target} (inFlight ${atKill.inFlight}, backlog ${atKill.backlog}, publishes ${publishesInFlight})`);
        let signal: NodeJS.Signals | null;
        if (target === 'edge') {
          const svc = edge;
          process.kill(svc.child.pid!, 'SIGKILL');
          load.detach();
          signal = (await svc.exited).signal;
          expect(publishesInFlight, `round ${round}: no publish was in flight when the edge was killed`).toBeGreaterThan(0);
          const check = checkEdgeStore(storeFile, load, `after the edge kill of round ${round}`);
          expect(check.lastSeq, `round ${round}: the edge log is behind what /health showed (store recreated?)`).toBeGreaterThanOrEqual(atKill.lastSeq);
          edge = await startCli(['--config', room.configFile]);
          expect(edge.output()).not.toMatch(/STORE CORRUPT|store-recovered/);
          await load.attach(edge.ports.mqtt!);
        } else if (target === 'worker') {
          const c = cloud;
          process.kill(c.child.pid!, 'SIGKILL');
          signal = (await c.exited).signal;
          cloud = await startCloudCli(cloudYaml);
        } else if (target === 'broker') {
          const exit = await broker.kill();
          signal = exit?.signal ?? null;
          await broker.start();
        } else {
          const c = cloud;
          process.kill(c.child.pid!, 'SIGKILL');
          const workerSignal = (await c.exited).signal;
          expect(workerSignal, `round ${round}: the worker did not die by SIGKILL`).toBe('SIGKILL');
          // The edge keeps sending; its batches wait in mosquitto for the dead worker's session, and are lost with mosquitto.
          const sentBefore = atKill.lastSeq;
          await healthUntil(edge, (h) => h.lastSeq > sentBefore && h.inFlight > 0, 20_000, `round ${round}: batches sent while the worker is down`);
          const exit = await broker.kill();
          signal = exit?.signal ?? null;
          await broker.start();
          cloud = await startCloudCli(cloudYaml);
        }
        step(`${target} restarted`);
        expect(signal, `round ${round}: the ${target} did not die by SIGKILL`).toBe('SIGKILL');
        expect(atKill.inFlight, `round ${round} ${target}: no batch was in flight at the kill`).toBeGreaterThan(0);
        rounds.push({ round, target, delay, inFlight: atKill.inFlight, backlog: atKill.backlog, ackedSeq: atKill.ackedSeq, publishesInFlight });
      }
    }

    // Final drain: the load ends cleanly, then the edge must get every event acknowledged.
    step('drain the load');
    await load.drain();
    step('drain the link');
    const lastSeq = (await health(edge)).lastSeq;
    const drained = await healthUntil(edge, (h) => h.ackedSeq === h.lastSeq && h.lastSeq >= lastSeq, 60_000, 'the final drain');
    expect(drained.backlog).toBe(0);

    step('clean stops');
    // Clean stops, then both databases are compared as they are on disk.
    edge.child.kill('SIGTERM');
    expect((await edge.exited).code, `clean edge stop failed:\n${edge.output().slice(-2000)}`).toBe(0);
    cloud.child.kill('SIGTERM');
    expect((await cloud.exited).code, `clean cloud stop failed:\n${cloud.output().slice(-2000)}`).toBe(0);

    const edgeCheck = checkEdgeStore(storeFile, load, 'at the end');
    const cdb = new Database(cloudDb, { readonly: true, fileMustExist: true });
    let cloudRows: Array<EdgeLogRow & { store_id: string }>;
    let ackedInCloud: Array<{ store_id: string; acked_seq: number }>;
    try {
      cloudRows = cdb
        .prepare<[string], EdgeLogRow & { store_id: string }>(
          'SELECT store_id, seq, stream, type, entity_id, payload, ts, clock_synced, boot_id FROM events WHERE room_id = ? ORDER BY store_id, seq',
        )
        .all(ROOM);
      ackedInCloud = cdb.prepare<[string], { store_id: string; acked_seq: number }>('SELECT store_id, acked_seq FROM rooms WHERE room_id = ?').all(ROOM);
    } finally {
      cdb.close();
    }
    expect(new Set(cloudRows.map((r) => r.store_id)), 'the cloud holds rows of another store (the edge store was recreated?)').toEqual(new Set([edgeCheck.storeId]));
    const cloudSeqs = cloudRows.map((r) => r.seq);
    const cloudSet = new Set(cloudSeqs);
    const edgeSeqs = new Set(edgeCheck.log.map((r) => r.seq));
    const missing = edgeCheck.log.filter((r) => !cloudSet.has(r.seq)).map((r) => r.seq);
    const extra = cloudSeqs.filter((s) => !edgeSeqs.has(s));
    expect(missing.slice(0, 20), `${missing.length} seqs of the edge log missing from the cloud`).toEqual([]);
    expect(extra.slice(0, 20), 'seqs in the cloud the edge never logged').toEqual([]);
    expect(cloudSeqs, 'the cloud rows are not exactly seq 1..n').toEqual(edgeCheck.log.map((r) => r.seq));
    const canon = (r: EdgeLogRow) => [r.seq, r.stream, r.type, r.entity_id, JSON.stringify(JSON.parse(r.payload)), r.ts, r.clock_synced, r.boot_id];
    const differing = cloudRows.filter((r, i) => JSON.stringify(canon(r)) !== JSON.stringify(canon(edgeCheck.log[i]!))).map((r) => r.seq);
    expect(differing.slice(0, 20), 'cloud rows whose contents differ from the edge log').toEqual([]);
    expect(ackedInCloud, "the cloud's contiguous mark").toEqual([{ store_id: edgeCheck.storeId, acked_seq: edgeCheck.lastSeq }]);
    // The PUBACKed events are among them (the log holds them exactly once, checked above).
    const behaviourInCloud = cloudRows.filter((r) => r.stream === 'behaviour').length;
    expect(behaviourInCloud).toBeGreaterThanOrEqual(load.acked.size);
    const boots = new Set(edgeCheck.log.map((r) => r.boot_id)).size;
    expect(boots, 'the edge restarted after each of its kills (one boot id per run)').toBe(ROUNDS + 1);

    console.log(
      `sync kill -9: ${rounds.length} kills ${JSON.stringify(rounds)}; ${load.acked.size} events PUBACKed, ` +
        `${edgeCheck.lastSeq} log rows, equal in the cloud`,
    );
  }
}
