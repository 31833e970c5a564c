/**
 * Technicians' remote commands end to end: Debian's mosquitto as the district
 * broker (TLS client certificates, ACL), the reference cloud as
 * `classroom-edge cloud start` runs it (ingest worker, command link,
 * technician HTTP API) and a real edge service with a simulated Samsung MDC
 * panel. A technician commands the panel over HTTP and gets the result; a
 * command outside their scope is refused and audited; a command that reaches
 * the room after it expired is not run; a redelivered command is run once;
 * both audits show what happened.
 */
import type { CloudApiAnswer } from '../helpers/cloud.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { hashPassword } from '../../edge/security/passwords.js';
import { startService, type RunningService } from '../../edge/service.js';
import { systemClock } from '../../edge/util/clock.js';
import { LogRing } from '../../edge/util/log-ring.js';
import { createLogger, silentLogger } from '../../edge/util/logger.js';
import { cloudConfigSchema, startCloud, type RunningCloud } from '../../sync/cloud/cli.js';
import type { CommandRecord } from '../../sync/cloud/commands.js';
import { districtTopics, encodeMessage, type RemoteCommand } from '../../sync/protocol.js';
import { edgeCloudYaml, startDistrictBroker, type DistrictBroker } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { PASSWORDS, tempRoom, type TempRoom } from '../helpers/room.js';

const ROOM = 'jy-0101-r203';
const OTHER = 'jy-0202-r101';
const WANG = 'Bearer wang:wang-token-0123456789';
const LI = 'Bearer li:li-token-0123456789';

let broker: DistrictBroker;
let cloud: RunningCloud;
let dir: string;
let room: TempRoom;
let svc: RunningService | null = null;
const restarts: string[] = [];
const ring = new LogRing(200);

async function startEdge(): Promise<RunningService> {
  const cert = broker.rooms[ROOM]!;
  const yaml = `${room.yaml}
${edgeCloudYaml(broker, cert)}`;
  const registry = builtinDrivers();
  const config = loadConfigText(yaml, room.configFile, registry);
  const logger = createLogger({ level: 'info', destination: { write: () => true } as unknown as NodeJS.WritableStream, ring });
  const s = await startService({ config, registry, logger, clock: systemClock, logRing: ring, restart: (reason) => restarts.push(reason) });
  await waitFor(() => s.sync?.stats().connected === true, 10_000, `the edge link; broker log:\n${broker.log()}`);
  return s;
}

async function api(method: 'GET' | 'POST', path: string, auth: string, body?: object): Promise<{ status: number; json: CloudApiAnswer }> {
  const r = await fetch(`http://127.0.0.1:${cloud.apiPort}${path}`, {
    method,
    headers: { authorization: auth, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: (await r.json()) as CloudApiAnswer };
}

function edgeAudit(): Array<{ actor: string; role: string; action: string; target: string; result: string; args: string }> {
  return svc!.store.db.prepare('SELECT actor, role, action, target, result, args FROM audit_log ORDER BY id').all() as never;
}

beforeAll(async () => {
  broker = await startDistrictBroker({ rooms: [ROOM, OTHER], workers: ['cloud-worker-1'] });
  dir = mkdtempSync(join(tmpdir(), 'ce-remote-'));
  const w = broker.workers['cloud-worker-1']!;
  const config = cloudConfigSchema.parse({
    broker: { url: broker.url, certFile: w.certFile, keyFile: w.keyFile, caFile: broker.caFile },
    database: join(dir, 'cloud.db'),
    api: { port: 0, host: '127.0.0.1' },
    technicians: [
      { name: 'wang', tokenHash: await hashPassword('wang-token-0123456789'), role: 'technician', schools: ['jy-0101'] },
      { name: 'li', tokenHash: await hashPassword('li-token-0123456789'), role: 'admin', schools: ['*'] },
    ],
    rooms: [{ id: OTHER, school: 'jy-0202' }],
  });
  cloud = await startCloud(config, silentLogger());
  room = tempRoom({
    roomId: ROOM,
    devicesYaml: '  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }',
  });
  svc = await startEdge();
  await waitFor(() => svc!.devices.get('panel')?.online === true, 10_000, 'the simulated panel');
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await cloud?.stop();
  await broker?.cleanup();
  room?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('technicians\' remote commands over mosquitto', () => {
  it('device.command through the HTTP API reaches the panel and the result comes back; both audits show it', async () => {
    await waitFor(async () => (await api('GET', '/api/rooms', WANG)).json.rooms?.some((r) => r.roomId === ROOM && r.online) === true, 10_000, 'the room online in the cloud');
    const r = await api('POST', `/api/rooms/${ROOM}/commands?wait=15000`, WANG, { command: 'device.command', args: { device: 'panel', command: 'power', args: { on: true } } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', technician: 'wang', roomId: ROOM, result: { state: { power: 'on' } } });
    expect(svc!.devices.get('panel')?.state.power).toBe('on');
    const audit = edgeAudit();
    expect(audit.filter((a) => a.action === 'device.command')).toMatchObject([{ actor: 'wang', role: 'cloud:technician', target: 'panel', result: 'ok' }]);
    const remote = audit.filter((a) => a.action === 'remote:device.command');
    expect(remote).toMatchObject([{ actor: 'wang', role: 'cloud:technician', target: 'panel', result: 'ok' }]);
    expect(JSON.parse(remote[0]!.args).commandId).toBe(r.json.id);
    const cloudAudit = (await api('GET', '/api/audit', WANG)).json.entries as Array<{ commandId: string; outcome: string; technician: string }>;
    expect(cloudAudit.filter((e) => e.commandId === r.json.id).map((e) => e.outcome)).toEqual(['ok', 'issued']);
    // The result and the edge's audit rows also reach the cloud's tables through the event log.
    await waitFor(async () => (await cloud.store.events(ROOM)).some((e) => e.stream === 'command' && e.entityId === r.json.id), 10_000, 'the result in the cloud events');
    const got = await api('GET', `/api/commands/${r.json.id}`, WANG);
    expect(got.json.status).toBe('ok');
    const devices = await api('GET', `/api/rooms/${ROOM}/devices`, WANG);
    await waitFor(async () => (await api('GET', `/api/rooms/${ROOM}/devices`, WANG)).json.devices?.some((d) => d.deviceId === 'panel' && d.online) === true, 10_000, 'panel telemetry');
    expect(devices.status).toBe(200);
    // The fleet page (Basic credentials, as a browser sends them) shows the room online.
    const fleet = await fetch(`http://127.0.0.1:${cloud.apiPort}/fleet`, { headers: { authorization: `Basic ${Buffer.from('wang:wang-token-0123456789').toString('base64')}` } });
    expect(fleet.status).toBe(200);
    const html = await fleet.text();
    expect(html).toMatch(new RegExp(`<td>${ROOM}</td><td>jy-0101</td><td class="on">在线</td>`));
  });

  it('a command outside the technician\'s scope or role is refused with a reason and audited; nothing is sent', async () => {
    const before = cloud.commands.counts.issued;
    const out = await api('POST', `/api/rooms/${OTHER}/commands`, WANG, { command: 'devices.list' });
    expect(out.status).toBe(403);
    expect(out.json.error!.message).toMatch(/outside the scope of wang/);
    const role = await api('POST', `/api/rooms/${ROOM}/commands`, WANG, { command: 'service.restart' });
    expect(role.status).toBe(403);
    expect(role.json.error!.message).toBe('role technician may not run service.restart');
    expect(cloud.commands.counts.issued).toBe(before);
    const audit = (await api('GET', '/api/audit?limit=5', WANG)).json.entries as Array<{ roomId: string; outcome: string; detail: string }>;
    expect(audit.slice(0, 2).map((e) => [e.roomId, e.outcome])).toEqual([
      [ROOM, 'refused'],
      [OTHER, 'refused'],
    ]);
    expect((await fetch(`http://127.0.0.1:${cloud.apiPort}/api/rooms`)).status).toBe(401);
  });

  it('a redelivered command is executed once', async () => {
    const r = await api('POST', `/api/rooms/${ROOM}/commands?wait=15000`, WANG, { command: 'device.command', args: { device: 'panel', command: 'power', args: { on: false } } });
    expect(r.json.status).toBe('ok');
    const c = (await cloud.commands.get(r.json.id)) as CommandRecord;
    const msg: RemoteCommand = { v: 1, roomId: ROOM, id: c.id, issuedBy: { technician: 'wang', role: 'technician' }, issuedAt: c.issuedAt, expiresAt: c.expiresAt, command: c.command, args: c.args as Record<string, unknown> };
    // The broker delivers it again (e.g. after a lost PUBACK): published twice more.
    const w = broker.workers['cloud-worker-1']!;
    const raw = await mqtt.connectAsync(broker.url, { clientId: 'redeliver', cert: readFileSync(w.certFile), key: readFileSync(w.keyFile), ca: readFileSync(broker.caFile), protocolVersion: 4, reconnectPeriod: 0 });
    const deviceRuns = () => edgeAudit().filter((a) => a.action === 'device.command' && JSON.parse(a.args).args?.on === false).length;
    expect(deviceRuns()).toBe(1);
    await raw.publishAsync(districtTopics(ROOM).commands, encodeMessage(msg), { qos: 1 });
    await raw.publishAsync(districtTopics(ROOM).commands, encodeMessage(msg), { qos: 1 });
    // A malformed one too: rejected and counted, the link stays up.
    await raw.publishAsync(districtTopics(ROOM).commands, Buffer.from('{"v":1,"roomId"'), { qos: 1 });
    const metric = () => svc!.metrics.registry.getSingleMetricAsString('classroom_edge_remote_commands_total');
    await waitFor(async () => (await metric()).includes('command="device.command",status="duplicate"} 2'), 10_000, 'two duplicates counted');
    await waitFor(async () => (await metric()).includes('status="malformed"} 1'), 10_000, 'the malformed one counted');
    expect(deviceRuns()).toBe(1);
    expect(edgeAudit().filter((a) => a.action === 'remote:device.command' && JSON.parse(a.args).commandId === c.id)).toHaveLength(1);
    expect(svc!.sync!.stats().connected).toBe(true);
    await raw.endAsync();
  });

  it('a command that reaches the room after it expired is not run; the cloud records the expiry', async () => {
    await svc!.stop();
    svc = null;
    // The room is away; the broker keeps the command in its session (clean: false) until it returns.
    const r = await api('POST', `/api/rooms/${ROOM}/commands`, WANG, { command: 'device.command', args: { device: 'panel', command: 'power', args: { on: true } }, ttlMs: 1000 });
    expect(r.status).toBe(202);
    await new Promise((res) => setTimeout(res, 1500));
    svc = await startEdge();
    const done = await api('GET', `/api/commands/${r.json.id}?wait=15000`, WANG);
    await waitFor(async () => (await api('GET', `/api/commands/${r.json.id}`, WANG)).json.error?.code === 'expired', 15_000, 'the edge\'s expired answer');
    expect(done.status).toBe(200);
    const final = (await api('GET', `/api/commands/${r.json.id}`, WANG)).json;
    expect(final).toMatchObject({ status: 'expired', error: { code: 'expired' } });
    const audit = edgeAudit();
    expect(audit.filter((a) => a.action === 'remote:device.command' && JSON.parse(a.args).commandId === r.json.id)).toMatchObject([{ actor: 'wang', result: 'refused' }]);
    // Not run: the panel saw no new device.command (the store kept the earlier two).
    expect(audit.filter((a) => a.action === 'device.command')).toHaveLength(2);
  }, 60_000);

  it("a teacher's help request is an open alert in the cloud; a technician acknowledges it and the room's bus tells the kiosk", async () => {
    const kiosk = await mqtt.connectAsync(`mqtt://127.0.0.1:${svc!.ports.mqtt}`, { username: 'kiosk', password: PASSWORDS.kiosk, clientId: 'kiosk-help', reconnectPeriod: 0 });
    const seen: Array<{ id: string; code: string; data?: Record<string, unknown> }> = [];
    kiosk.on('message', (_t, p) => seen.push(JSON.parse(p.toString()) as (typeof seen)[number]));
    await kiosk.subscribeAsync(`classroom/${ROOM}/alert`, { qos: 1 });
    await svc!.raiseAlert({ severity: 'warning', code: 'help-request', message: 'the panel shows no picture' });
    await waitFor(() => seen.some((a) => a.code === 'help-request'), 5000, 'the help request on the bus');
    const help = seen.find((a) => a.code === 'help-request')!;
    const open = async () => (await api('GET', '/api/rooms', WANG)).json.rooms?.find((r) => r.roomId === ROOM)?.alerts;
    await waitFor(async () => (await open())?.open.some((a) => a.id === help.id) === true, 15_000, 'the help request open in the cloud');
    expect((await open())!.helpRequests).toBe(1);
    const ack = await api('POST', `/api/rooms/${ROOM}/alerts/${help.id}/ack`, WANG);
    expect(ack).toMatchObject({ status: 200, json: { alertId: help.id, technician: 'wang', already: false } });
    await waitFor(() => seen.some((a) => a.code === 'help-acknowledged'), 10_000, 'the acknowledgement on the room bus');
    expect(seen.find((a) => a.code === 'help-acknowledged')!.data).toMatchObject({ alertId: help.id, technician: 'wang' });
    expect((await open())!.helpRequests).toBe(0);
    // Shown to the teacher, not sent back up as a new alert of the room.
    await new Promise((r) => setTimeout(r, 500));
    expect((await cloud.store.events(ROOM)).filter((e) => e.stream === 'alert').map((e) => JSON.parse(e.payload).code)).not.toContain('help-acknowledged');
    await kiosk.endAsync();
  });

  it('an admin restarts the service: answered first, then the injected restart runs; logs.recent answers', async () => {
    const logs = await api('POST', `/api/rooms/${ROOM}/commands?wait=15000`, LI, { command: 'logs.recent', args: { limit: 20 } });
    expect(logs.json.status).toBe('ok');
    expect(logs.json.result!.records!.length).toBeGreaterThan(0);
    expect(restarts).toEqual([]);
    const r = await api('POST', `/api/rooms/${ROOM}/commands?wait=15000`, LI, { command: 'service.restart' });
    expect(r.json).toMatchObject({ status: 'ok', result: { restarting: true } });
    await waitFor(() => restarts.length === 1, 5000, 'the restart after the reply');
    expect(restarts[0]).toBe(`remote command ${r.json.id} by li`);
  });

  it('a result whose direct message is lost still reaches the cloud through the event log', async () => {
    await svc!.stop();
    svc = null;
    const r = await api('POST', `/api/rooms/${ROOM}/commands`, WANG, { command: 'devices.list', ttlMs: 60_000 });
    expect(r.status).toBe(202);
    // Nobody hears up/command-results any more: the cloud's command client is gone (after its publish went out).
    await cloud.commandLink.stop();
    svc = await startEdge();
    await waitFor(() => edgeAudit().some((a) => a.action === 'remote:devices.list' && JSON.parse(a.args).commandId === r.json.id), 10_000, 'the edge to run it');
    const final = (await api('GET', `/api/commands/${r.json.id}?wait=15000`, WANG)).json;
    expect(final).toMatchObject({ status: 'ok', result: { devices: [{ deviceId: 'panel' }] } });
    expect((await cloud.store.events(ROOM)).filter((e) => e.stream === 'command' && e.entityId === r.json.id)).toHaveLength(1);
  }, 60_000);
});
