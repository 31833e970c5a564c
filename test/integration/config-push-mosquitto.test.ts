/**
 * Configuration push end to end (docs/config-push.md): Debian's mosquitto
 * over TLS with client certificates as the district broker, the reference
 * cloud's ingest worker recording results, and a real edge service (sim
 * devices, real drivers). A push adding a simulated device is applied and the
 * device comes online; a push adding a device that cannot come online (TCP to
 * a closed port; a serial port that does not exist, through the CLI) is
 * rolled back with the reason, the previous devices still working; an
 * invalid push is refused with check-config's `path: reason`; a restart comes
 * back with the last applied push and does not handle the retained one again.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../edge/util/logger.js';
import type { RunningService } from '../../edge/service.js';
import { configPushes, pushConfig } from '../../sync/cloud/config-push.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { IngestWorker } from '../../sync/cloud/worker.js';
import { edgeCloudYaml, freePort, startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom, type TempRoom } from '../helpers/room.js';
import { CLI, requireBuilt } from '../helpers/cli.js';

const logger = silentLogger();
let broker: DistrictBroker;
let dir: string;
let cloud: CloudStore;
let worker: IngestWorker;
let room: TempRoom;
const services: RunningService[] = [];

const PANEL = '  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1, pollSeconds: 1 } }';
const panel = { id: 'panel', kind: 'display', driver: 'samsung-mdc', transport: { type: 'sim' }, options: { displayId: 1, pollSeconds: 1 } };
const air = { id: 'air', kind: 'sensor', driver: 'modbus-rtu', transport: { type: 'sim' }, options: { unitId: 1, profile: 'xy-md02', pollSeconds: 1 } };
const SCENES = 'scenes:\n  class-start: [ { device: panel, command: power, args: { on: true } } ]';

beforeEach(async () => {
  broker = await startDistrictBroker({ rooms: ['r1'], workers: ['cloud-worker-1', 'cloud-worker-2'] });
  dir = mkdtempSync(join(tmpdir(), 'ce-cfgpush-'));
  cloud = await CloudStore.open(join(dir, 'cloud.db'));
  const cert = broker.workers['cloud-worker-1']!;
  worker = new IngestWorker({
    broker: { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile },
    clientId: 'cloud-worker-1',
    store: cloud,
    logger,
    reconnect: { minMs: 100, maxMs: 500 },
  });
  await worker.start();
  room = tempRoom({ roomId: 'r1', devicesYaml: PANEL, scenesYaml: SCENES });
  const rc = broker.rooms.r1!;
  room.yaml = `${room.yaml}
configPush: { checkTimeoutMs: 3000 }
${edgeCloudYaml(broker, rc)}`;
  writeFileSync(room.configFile, room.yaml);
});

afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
  await worker.stop({ force: true });
  await cloud.close();
  await broker.cleanup();
  room.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<RunningService> {
  const svc = await startRoom(room);
  services.push(svc);
  await waitFor(() => svc.sync!.stats().connected, 10_000, `the edge link; broker log:\n${broker.log()}`);
  return svc;
}

function district() {
  const cert = broker.workers['cloud-worker-2']!;
  return { url: broker.url, certFile: cert.certFile, keyFile: cert.keyFile, caFile: broker.caFile };
}

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, stdout, stderr })));
}

const push = (config: unknown, waitMs = 20_000) => pushConfig({ broker: district(), store: cloud, roomId: 'r1', config, issuedBy: 'wang.tech', waitMs, logger });

describe('config push over mosquitto', () => {
  it('applies a working device, rolls back one that cannot come online (the previous devices still work), refuses an invalid one; a restart keeps the applied version', async () => {
    const svc = await start();
    await waitFor(() => svc.devices.get('panel')?.online === true, 10_000, 'the panel');

    // 1. A simulated air sensor: applied, online.
    const one = await push({ devices: [panel, air] });
    expect(one.push.version).toBe(1);
    expect(one.result).toMatchObject({ roomId: 'r1', version: 1, outcome: 'applied', changes: { added: ['air'], removed: [], changed: [] } });
    expect(svc.devices.get('air')?.online).toBe(true);
    expect(svc.devices.list().map((d) => d.deviceId)).toEqual(['panel', 'air']);

    // 2. A projector on a closed TCP port: rolled back, the result names it and why.
    const closed = await freePort();
    const projector = { id: 'proj', kind: 'projector', driver: 'pjlink', transport: { type: 'tcp', host: '127.0.0.1', port: closed }, options: { timeoutMs: 500 } };
    const two = await push({ devices: [panel, air, projector] });
    expect(two.result).toMatchObject({ version: 2, outcome: 'rolled-back', changes: { added: ['proj'] } });
    expect(two.result!.failed).toHaveLength(1);
    expect(two.result!.failed![0]!.deviceId).toBe('proj');
    expect(two.result!.failed![0]!.reason).toMatch(/^did not come online within 3 s/);
    expect(two.result!.failed![0]!.reason).toMatch(/ECONNREFUSED|refused/i);
    expect(svc.devices.list().map((d) => d.deviceId)).toEqual(['panel', 'air']);
    expect(svc.devices.get('air')?.online).toBe(true);
    const cmd = await svc.devices.execute('panel', 'power', { on: true }, { username: 'tech', role: 'technician' });
    expect(cmd).toMatchObject({ ok: true });

    // 3. Invalid: refused with check-config's path: reason, nothing touched.
    const three = await push({ devices: [panel, { ...air, options: { unitId: 999 } }] });
    expect(three.result).toMatchObject({ version: 3, outcome: 'refused' });
    expect(three.result!.problems![0]).toMatch(/^devices\[1\]\.options\.unitId: /);
    expect(svc.devices.list().map((d) => d.deviceId)).toEqual(['panel', 'air']);

    // The cloud database has every push with its result (recorded by pushConfig and by the worker).
    await waitFor(async () => (await configPushes(cloud, 'r1')).every((p) => p.outcome !== null), 5000, 'results stored');
    expect((await configPushes(cloud, 'r1')).map((p) => [p.version, p.outcome])).toEqual([
      [1, 'applied'],
      [2, 'rolled-back'],
      [3, 'refused'],
    ]);
    // /health says which config is in force; every push is audited.
    const health = (await (await fetch(`http://127.0.0.1:${svc.ports.api}/health`)).json()) as { config: { source: string; active: { version: number } } };
    expect(health.config).toMatchObject({ source: 'pushed', active: { version: 1 } });
    const audit = svc.store.db.prepare<[], { target: string; result: string; actor: string }>("SELECT target, result, actor FROM audit_log WHERE action = 'config.push' ORDER BY id").all();
    expect(audit).toEqual([
      { target: 'config v1', result: 'ok', actor: 'wang.tech' },
      { target: 'config v2', result: 'error', actor: 'wang.tech' },
      { target: 'config v3', result: 'refused', actor: 'wang.tech' },
    ]);

    // 4. Restart: the applied v1 is in force, not the file's devices; the retained v3 is not handled again.
    await svc.stop();
    services.splice(services.indexOf(svc), 1);
    const again = await start();
    expect(again.devices.list().map((d) => d.deviceId)).toEqual(['panel', 'air']);
    await waitFor(() => again.devices.get('air')?.online === true, 10_000, 'air after the restart');
    await new Promise((r) => setTimeout(r, 700));
    expect(again.configPush.status()).toMatchObject({ source: 'pushed', active: { version: 1 }, lastPush: null });
    expect(worker.stats().rejected).toEqual({});

    // 5. check-config says the pushed version is in force; config-reset returns the room to its file.
    await again.stop();
    services.splice(services.indexOf(again), 1);
    requireBuilt();
    const check = await run(['check-config', room.configFile]);
    expect(check.status).toBe(0);
    expect(check.stdout).toContain('note: a pushed configuration is in force: config v1 by wang.tech');
    const reset = await run(['config-reset', '--config', room.configFile]);
    expect(reset.status).toBe(0);
    expect(reset.stdout).toContain('config v1 (by wang.tech) is no longer in force');
    expect((await run(['check-config', room.configFile])).stdout).not.toContain('note:');
    const afterReset = await start();
    expect(afterReset.devices.list().map((d) => d.deviceId)).toEqual(['panel']);
  }, 90_000);

  it('classroom-edge cloud push-config --wait: a serial device on a missing port is rolled back and the CLI says why', async () => {
    requireBuilt();
    const svc = await start();
    const cert = broker.workers['cloud-worker-2']!;
    const cloudConf = join(dir, 'cloud.yaml');
    writeFileSync(
      cloudConf,
      `broker:\n  url: ${broker.url}\n  certFile: ${JSON.stringify(cert.certFile)}\n  keyFile: ${JSON.stringify(cert.keyFile)}\n  caFile: ${JSON.stringify(broker.caFile)}\n` +
        `database: ${JSON.stringify(join(dir, 'cloud.db'))}\nclientIdPrefix: cloud-worker-2\n`,
    );
    const pushed = join(dir, 'push.yaml');
    writeFileSync(
      pushed,
      `devices:\n${PANEL}\n  - { id: door, kind: card-reader, driver: em4100, transport: { type: serial, path: /dev/serial/by-id/no-such-reader } }\n${SCENES}\n`,
    );
    // Asynchronously: the edge service runs in this process and must keep running while the CLI waits.
    const r = await run(['cloud', 'push-config', '--config', cloudConf, '--room', 'r1', '--file', pushed, '--wait', '--timeout', '30']);
    expect(r.stdout).toContain('pushed config v1 to room r1');
    expect(r.stdout).toContain('room r1 config v1: rolled-back');
    expect(r.stdout).toMatch(/door: did not come online within 3 s.*no-such-reader/);
    expect(r.status).toBe(1);
    expect(svc.devices.list().map((d) => d.deviceId)).toEqual(['panel']);
    expect(await configPushes(cloud, 'r1')).toMatchObject([{ version: 1, outcome: 'rolled-back', issuedBy: expect.any(String) }]);

    // A YAML error in the file: nothing is pushed.
    writeFileSync(pushed, 'devices: [\n');
    const bad = await run(['cloud', 'push-config', '--config', cloudConf, '--room', 'r1', '--file', pushed]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/push\.yaml: line \d+ column \d+: /);
    expect(await configPushes(cloud, 'r1')).toHaveLength(1);
  }, 90_000);
});
