/**
 * The broker against independent MQTT clients: Debian's mosquitto_pub and
 * mosquitto_sub (package mosquitto-clients). They must be installed: the
 * suite fails, it does not skip, when they are missing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createBroker, type Broker } from '../../edge/broker/broker.js';
import { createMetrics, type Metrics } from '../../edge/metrics.js';
import { loadCredentials, type ConfiguredUser } from '../../edge/security/credentials.js';
import { silentLogger } from '../../edge/util/logger.js';

const ROOM = 'jy-0101-r203';
const R = `classroom/${ROOM}/`;

function requireTool(name: string): void {
  const r = spawnSync(name, ['--help'], { encoding: 'utf8' });
  if (r.error) throw new Error(`${name} is required by this test and is missing (${r.error.message}): apt-get install mosquitto-clients`);
}

const children = new Set<ChildProcess>();

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start a tool in its own process group; `done` resolves on exit. */
function start(cmd: string, args: string[]): { child: ChildProcess; done: Promise<Result> } {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Result>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

let dataDir: string;
let broker: Broker;
let metrics: Metrics;
let port: number;
const ingested: string[] = [];

const conn = (user?: { u: string; p: string }) => ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', ...(user ? ['-u', user.u, '-P', user.p] : [])];
const KIOSK = { u: 'kiosk', p: 'kiosk-pass-4711' };
const TECH = { u: 'tech', p: 'tech-pass-0815' };
const AIR = { u: 'air', p: 'air-pass-2718' };

beforeAll(async () => {
  requireTool('mosquitto_pub');
  requireTool('mosquitto_sub');
  dataDir = await mkdtemp(join(tmpdir(), 'ce-mosq-'));
  const files: Record<string, string> = {};
  for (const u of [KIOSK, TECH, AIR]) {
    files[u.u] = join(dataDir, `${u.u}.secret`);
    await writeFile(files[u.u] ?? '', `${u.p}\n`, { mode: 0o600 });
  }
  const configured: ConfiguredUser[] = [
    { username: KIOSK.u, role: 'teacher', passwordFile: files[KIOSK.u] ?? '' },
    { username: TECH.u, role: 'technician', passwordFile: files[TECH.u] ?? '' },
    { username: AIR.u, role: 'device', deviceId: 'air', passwordFile: files[AIR.u] ?? '' },
  ];
  const { store } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
  metrics = createMetrics();
  broker = createBroker({
    roomId: ROOM,
    logger: silentLogger(),
    metrics,
    credentials: store,
    ingest: async (_p, topic, payload) => {
      ingested.push(`${topic} ${payload.toString()}`);
      return { accept: true };
    },
  });
  port = (await broker.listen({ tcp: { port: 0, hosts: ['127.0.0.1'] } })).tcpPort ?? 0;
});

beforeEach(() => {
  ingested.length = 0;
});

afterEach(() => {
  for (const child of children) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  children.clear();
});

afterAll(async () => {
  await broker?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Resolves once some client has an active subscription to `filter`. */
function subscribed(filter: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (subs: { topic: string }[]) => {
      if (subs.some((s) => s.topic === filter)) {
        broker.aedes.off('subscribe', on);
        resolve();
      }
    };
    broker.aedes.on('subscribe', on);
  });
}

describe('broker with mosquitto clients', () => {
  it('authenticates mosquitto_sub and delivers a retained message', async () => {
    await broker.publish(`${R}lesson`, { lessonId: 'math-7', course: '数学' }, { retain: true });
    const { done } = start('mosquitto_sub', [...conn(KIOSK), '-t', `${R}lesson`, '-C', '1', '-W', '5', '-v']);
    const r = await done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${R}lesson {"lessonId":"math-7","course":"数学"}`);
  });

  it('refuses mosquitto_sub without credentials or with a wrong password (non-zero exit)', async () => {
    const before = (await metrics.authFailures.get()).values[0]?.value ?? 0;
    const anonymous = await start('mosquitto_sub', [...conn(), '-t', `${R}lesson`, '-C', '1', '-W', '5']).done;
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.stderr).toMatch(/not authori[sz]ed/i);
    const wrong = await start('mosquitto_sub', [...conn({ u: KIOSK.u, p: 'guess' }), '-t', `${R}lesson`, '-C', '1', '-W', '5']).done;
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/bad user name or password/i);
    const pub = await start('mosquitto_pub', [...conn(), '-t', `${R}behaviour`, '-m', '{}', '-q', '1']).done;
    expect(pub.code).not.toBe(0);
    expect((await metrics.authFailures.get()).values[0]?.value).toBe(before + 3);
    expect(ingested).toEqual([]);
  });

  it('drops what mosquitto_pub may not publish: it never reaches a subscriber', async () => {
    const filter = `${R}#`;
    const ready = subscribed(filter);
    // The subscriber exits after the first (non-retained: -R) message it receives: it must be the permitted one.
    const sub = start('mosquitto_sub', [...conn(TECH), '-t', filter, '-q', '1', '-C', '1', '-W', '10', '-v', '-R']);
    await ready;

    const refused = [
      [...conn(AIR), '-t', `${R}sensor/panel/co2`, '-m', '{"value":999}', '-q', '1'],
      [...conn(AIR), '-t', `${R}device/panel/state`, '-m', '{"online":false}', '-q', '1', '-r'],
      [...conn(AIR), '-t', `${R}lesson`, '-m', '{"lessonId":null}', '-q', '0'],
      [...conn(KIOSK), '-t', `${R}alert`, '-m', '{"fake":true}', '-q', '1'],
      [...conn(KIOSK), '-t', `classroom/other-room/behaviour`, '-m', '{}', '-q', '1'],
    ];
    for (const args of refused) {
      const r = await start('mosquitto_pub', args).done;
      // MQTT 3.1.1 has no negative PUBACK: the publish is acknowledged and dropped, like Mosquitto does.
      expect(r.code, r.stderr).toBe(0);
    }
    const ok = await start('mosquitto_pub', [...conn(AIR), '-t', `${R}sensor/air/co2`, '-m', '{"value":612}', '-q', '1']).done;
    expect(ok.code).toBe(0);

    const r = await sub.done;
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`${R}sensor/air/co2 {"value":612}`);
    expect(ingested).toEqual([`${R}sensor/air/co2 {"value":612}`]);
    const refusedCount = (await metrics.publishesRefused.get()).values.reduce((n, v) => n + v.value, 0);
    expect(refusedCount).toBe(5);
  });

  it('refuses a subscription outside the rights of mosquitto_sub', async () => {
    // A device may not watch other devices' commands: SUBACK 0x80, which mosquitto_sub reports before giving up.
    const before = (await metrics.subscriptionsRefused.get()).values.find((v) => v.labels.role === 'device')?.value ?? 0;
    const r = await start('mosquitto_sub', [...conn(AIR), '-t', `${R}device/+/command`, '-C', '1', '-W', '3']).done;
    expect(r.stderr).toMatch(/All subscription requests were denied/);
    expect(r.stdout).toBe('');
    expect((await metrics.subscriptionsRefused.get()).values.find((v) => v.labels.role === 'device')?.value).toBe(before + 1);
    // Its own command topic is fine.
    const ready = subscribed(`${R}device/air/command`);
    const own = start('mosquitto_sub', [...conn(AIR), '-t', `${R}device/air/command`, '-C', '1', '-W', '5']);
    await ready;
    await broker.publish(`${R}device/air/command`, { id: 'c1', command: 'read', args: {} });
    expect((await own.done).stdout.trim()).toBe('{"id":"c1","command":"read","args":{}}');
  });
});
