/**
 * Fault test (shared/DESIGN.md section 7): kill -9 under load.
 *
 * The service runs as a child process (`node dist/edge/cli.js start`) on one
 * data dir across rounds. Four mqtt.js publishers (user `integ`) push QoS 1
 * behaviour events with unique ids as fast as a window of in-flight publishes
 * allows; every id whose PUBACK arrived is recorded. After a random
 * 100-800 ms the service gets SIGKILL. Then the store file is opened
 * read-only and must hold every acknowledged event exactly once, a gap-free
 * and duplicate-free event log, and exactly one event-log row per behaviour
 * row. A last clean start/stop checks that the store was never moved aside.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { requireBuilt, startCli, type Started } from '../helpers/cli.js';
import { PASSWORDS, tempRoom, type TempRoom } from '../helpers/room.js';

const ROUNDS = 6;
const PUBLISHERS = 4;
/** QoS 1 publishes each publisher keeps in flight. */
const WINDOW = 32;
const KILL_MIN_MS = 100;
const KILL_MAX_MS = 800;
const TOPIC = 'classroom/test-room/behaviour';

let room: TempRoom | undefined;
let running: Started | undefined;
const clients: MqttClient[] = [];

afterAll(async () => {
  for (const c of clients.splice(0)) c.end(true);
  if (running && running.child.exitCode === null && running.child.signalCode === null) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
  room?.cleanup();
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function connect(port: number, clientId: string): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    username: 'integ',
    password: PASSWORDS.integ,
    clientId,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  clients.push(c);
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  c.on('error', () => undefined); // the kill surfaces as a closed connection
  return c;
}

interface Load {
  stop(): void;
  inflight(): number;
}

/** Each client keeps WINDOW publishes in flight until stopped; ids go to `published`, PUBACKed ids to `onAck`. */
function startLoad(cs: MqttClient[], round: number, published: Set<string>, onAck: (id: string) => void): Load {
  let stopped = false;
  let inflight = 0;
  cs.forEach((c, p) => {
    let n = 0;
    let mine = 0;
    const pump = (): void => {
      while (!stopped && mine < WINDOW && c.connected) {
        const id = `r${round}-p${p}-${n++}`;
        const payload = JSON.stringify({ kind: 'answer', questionId: 'q1', answer: 'A', studentId: 's12', id, ts: Date.now() });
        published.add(id);
        mine++;
        inflight++;
        c.publish(TOPIC, payload, { qos: 1 }, (err) => {
          mine--;
          inflight--;
          if (!err) onAck(id);
          pump();
        });
      }
    };
    pump();
  });
  return {
    stop: () => {
      stopped = true;
    },
    inflight: () => inflight,
  };
}

interface StoreCheck {
  behaviourRows: number;
  eventRows: number;
  lastSeq: number;
}

/** Opens the store read-only and asserts the durability invariants. */
function checkStore(file: string, published: Set<string>, acked: Set<string>, when: string): StoreCheck {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    expect(db.pragma('quick_check', { simple: true }), `${when}: quick_check`).toBe('ok');

    // Every acknowledged id exactly once; no id twice; no id we never published.
    const rows = db.prepare<[], { id: number; pid: string | null }>("SELECT id, json_extract(payload, '$.id') AS pid FROM behaviour_events").all();
    const byPid = new Map<string, number>();
    const rowPid = new Map<string, string>();
    for (const r of rows) {
      expect(r.pid, `${when}: behaviour row ${r.id} has no publisher id`).toEqual(expect.any(String));
      const pid = r.pid ?? '';
      byPid.set(pid, (byPid.get(pid) ?? 0) + 1);
      rowPid.set(String(r.id), pid);
    }
    const missing = [...acked].filter((id) => !byPid.has(id));
    const duplicated = [...byPid].filter(([, n]) => n !== 1).map(([id, n]) => `${id} x${n}`);
    const unknown = [...byPid.keys()].filter((id) => !published.has(id));
    expect(missing.slice(0, 10), `${when}: ${missing.length} acknowledged events missing from the store`).toEqual([]);
    expect(duplicated.slice(0, 10), `${when}: events stored more than once`).toEqual([]);
    expect(unknown.slice(0, 10), `${when}: events in the store that were never published`).toEqual([]);

    // The event log: gap-free, duplicate-free, never reused.
    const log = db
      .prepare<[], { n: number; d: number; lo: number | null; hi: number | null }>(
        'SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS d, MIN(seq) AS lo, MAX(seq) AS hi FROM event_log',
      )
      .get()!;
    expect(log.d, `${when}: duplicate seq in event_log`).toBe(log.n);
    if (log.n > 0) expect(log.n, `${when}: gap in event_log seq ${log.lo}..${log.hi}`).toBe(log.hi! - log.lo! + 1);
    const seqRow = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'event_log'").get();
    expect(seqRow?.seq ?? 0, `${when}: sqlite_sequence disagrees with MAX(seq)`).toBe(log.hi ?? 0);

    // Exactly one event-log row per behaviour row (and none without one), carrying the same event.
    const events = db
      .prepare<[], { seq: number; entity_id: string | null; pid: string | null }>(
        "SELECT seq, entity_id, json_extract(payload, '$.data.id') AS pid FROM event_log WHERE stream = 'behaviour'",
      )
      .all();
    const perRow = new Map<string, number>();
    const wrong: string[] = [];
    for (const e of events) {
      const key = e.entity_id ?? '';
      perRow.set(key, (perRow.get(key) ?? 0) + 1);
      const expected = rowPid.get(key);
      if (expected === undefined) wrong.push(`seq ${e.seq}: no behaviour row ${key}`);
      else if (expected !== e.pid) wrong.push(`seq ${e.seq}: carries ${e.pid}, row ${key} is ${expected}`);
    }
    const notOne = [...rowPid.keys()].filter((id) => perRow.get(id) !== 1).map((id) => `row ${id}: ${perRow.get(id) ?? 0} event rows`);
    expect(wrong.slice(0, 10), `${when}: event_log rows not matching a behaviour row`).toEqual([]);
    expect(notOne.slice(0, 10), `${when}: behaviour rows without exactly one event_log row`).toEqual([]);

    return { behaviourRows: rows.length, eventRows: log.n, lastSeq: log.hi ?? 0 };
  } finally {
    db.close();
  }
}

describe('kill -9 under load', () => {
  it(`keeps every acknowledged event exactly once over ${ROUNDS} SIGKILLs`, async () => {
    requireBuilt();
    room = tempRoom();
    // The CLI logs its ports in an info-level line; the helper's config logs at warn.
    const yaml = room.yaml.replace('log: { level: warn }', 'log: { level: info }');
    expect(yaml, 'could not set log level info in the temp config').toContain('log: { level: info }');
    writeFileSync(room.configFile, yaml);
    const storeFile = join(room.dataDir, 'store.db');

    const published = new Set<string>();
    const acked = new Set<string>();
    const rounds: Array<{ delay: number; acked: number; inflightAtKill: number; storedUnackedSoFar: number; lastSeq: number }> = [];
    let prevSeq = 0;

    for (let round = 0; round < ROUNDS; round++) {
      // Stratified random delays: every round draws from its own slice of 100-800 ms.
      const slice = (KILL_MAX_MS - KILL_MIN_MS) / ROUNDS;
      const delay = Math.round(KILL_MIN_MS + slice * (round + Math.random()));
      running = await startCli(['--config', room.configFile]);
      const svc = running;
      const port = svc.ports.mqtt;
      if (port === undefined) throw new Error(`round ${round}: the service logged no MQTT port`);
      const cs = await Promise.all(Array.from({ length: PUBLISHERS }, (_, p) => connect(port, `kill9-r${round}-p${p}`)));

      const roundAcked = new Set<string>();
      const load = startLoad(cs, round, published, (id) => {
        acked.add(id);
        roundAcked.add(id);
      });
      await sleep(delay);
      const inflightAtKill = load.inflight();
      const ackedBeforeKill = roundAcked.size;
      process.kill(svc.child.pid!, 'SIGKILL');
      load.stop();
      const exit = await svc.exited;
      for (const c of cs) c.end(true);
      clients.splice(0);

      expect(exit.signal, `round ${round}: the service did not die by SIGKILL`).toBe('SIGKILL');
      expect(ackedBeforeKill, `round ${round}: no event was acknowledged before the kill (${delay} ms)`).toBeGreaterThan(0);
      expect(inflightAtKill, `round ${round}: nothing was in flight at the kill`).toBeGreaterThan(0);

      const check = checkStore(storeFile, published, acked, `after round ${round} (kill at ${delay} ms)`);
      expect(check.lastSeq, `round ${round}: the event log did not grow (store recreated?)`).toBeGreaterThan(prevSeq);
      prevSeq = check.lastSeq;
      rounds.push({
        delay,
        acked: roundAcked.size,
        inflightAtKill,
        storedUnackedSoFar: check.behaviourRows - acked.size,
        lastSeq: check.lastSeq,
      });
    }

    // A last clean start: the store opens as it is (not moved aside as corrupt) and shuts down cleanly.
    running = await startCli(['--config', room.configFile]);
    expect(running.output()).not.toMatch(/STORE CORRUPT|store-recovered/);
    running.child.kill('SIGTERM');
    const last = await running.exited;
    expect(last.code, `clean stop after the rounds failed; output:\n${running.output().slice(-2000)}`).toBe(0);
    const final = checkStore(storeFile, published, acked, 'at the end');
    expect(final.lastSeq, 'the event log shrank after the clean restart').toBeGreaterThanOrEqual(prevSeq);
    expect(final.behaviourRows).toBeGreaterThanOrEqual(acked.size);

    console.log(`kill -9 rounds: ${JSON.stringify(rounds)}; ${acked.size} acknowledged, ${final.behaviourRows} stored`);
  }, 60_000);
});
