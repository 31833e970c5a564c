/**
 * The reference cloud's technicians' commands without a broker: token
 * authentication, role and scope (room list and prefix rule), the command
 * table and audit (issued, refused, results from the link and from the event
 * log, no-answer expiry, late results) and the HTTP API through fastify's
 * inject (no anonymous access, 403 with the reason, scope filtering). The
 * parts that touch the cloud database run on both backends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../../edge/security/passwords.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { createCloudApi } from '../../../sync/cloud/api.js';
import { CloudCommands } from '../../../sync/cloud/commands.js';
import { FLEET_CSP, registerFleet } from '../../../sync/cloud/fleet.js';
import type { CloudStore } from '../../../sync/cloud/store.js';
import { BACKENDS, useCloudDb, type CloudDbFactory } from '../../helpers/cloud-db.js';
import { Technicians, type Technician } from '../../../sync/cloud/technicians.js';
import { districtTopics, encodeMessage, remoteCommandSchema, type CommandResultMessage } from '../../../sync/protocol.js';

const T0 = 1_760_000_000_000;
let dir: string;
let store: CloudStore;
let hashes: { wang: string; li: string };
const cleanup: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  hashes = { wang: await hashPassword('wang-secret-0123456789'), li: await hashPassword('li-secret-0123456789') };
});
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f();
});

async function setup(db: CloudDbFactory) {
  dir = mkdtempSync(join(tmpdir(), 'ce-cloudcmd-'));
  store = await db.open(dir);
  const d = dir;
  cleanup.push(async () => {
    await store.close();
    rmSync(d, { recursive: true, force: true });
  });
  const techs: Technician[] = [
    { name: 'wang', tokenHash: hashes.wang, role: 'technician', schools: ['jy-0101'] },
    { name: 'li', tokenHash: hashes.li, role: 'admin', schools: ['*'] },
  ];
  const technicians = new Technicians(techs, [{ id: 'lab1', school: 'jy-0101' }]);
  let now = T0;
  const published: Array<{ topic: string; payload: Buffer }> = [];
  const commands = new CloudCommands({
    store,
    technicians,
    logger: silentLogger(),
    publish: async (topic, payload) => {
      published.push({ topic, payload });
    },
    now: () => now,
    defaultTtlMs: 60_000,
    graceMs: 1000,
  });
  // Rooms the cloud has seen: status rows.
  for (const roomId of ['jy-0101-r203', 'jy-0202-r101', 'lab1']) await store.recordStatus({ v: 1, roomId, state: 'online', ts: T0 }, T0);
  await store.recordTelemetry({ v: 1, roomId: 'jy-0101-r203', deviceId: 'panel', state: { deviceId: 'panel', online: true, state: { power: true }, lastError: null }, ts: T0 }, T0);
  await store.recordTelemetry({ v: 1, roomId: 'jy-0101-r203', deviceId: 'proj', state: { deviceId: 'proj', online: false, lastError: { message: 'offline' } }, ts: T0 }, T0);
  return { technicians, commands, published, techs, setNow: (t: number) => (now = t) };
}

const result = (id: string, roomId: string, over: Partial<CommandResultMessage> = {}): CommandResultMessage => ({
  v: 1,
  roomId,
  id,
  status: 'ok',
  result: { state: { power: true } },
  startedAt: T0 + 10,
  finishedAt: T0 + 20,
  ...over,
});

describe('technicians: authentication, role and scope', () => {
  const db = useCloudDb('sqlite');
  it('checks the bearer token against the named technician\'s hash', async () => {
    const { technicians } = await setup(db);
    expect((await technicians.authenticate('Bearer wang:wang-secret-0123456789'))?.name).toBe('wang');
    expect(await technicians.authenticate('Bearer wang:li-secret-0123456789')).toBeNull();
    expect(await technicians.authenticate('Bearer nobody:x')).toBeNull();
    expect(await technicians.authenticate('Basic d2FuZzp4')).toBeNull();
    expect(await technicians.authenticate(undefined)).toBeNull();
  });

  it('a room\'s school comes from the room list, else the id without its last -segment', async () => {
    const { technicians, techs } = await setup(db);
    expect(technicians.schoolOf('lab1')).toBe('jy-0101');
    expect(technicians.schoolOf('jy-0101-r203')).toBe('jy-0101');
    expect(technicians.schoolOf('gym')).toBeNull();
    const wang = techs[0]!;
    expect(technicians.authorize(wang, 'jy-0101-r203', 'device.command')).toEqual({ ok: true, school: 'jy-0101' });
    expect(technicians.authorize(wang, 'lab1', 'devices.list').ok).toBe(true);
    const out = technicians.authorize(wang, 'jy-0202-r101', 'device.command');
    expect(out.ok === false && out.reason).toMatch(/outside the scope of wang/);
    const role = technicians.authorize(wang, 'jy-0101-r203', 'service.restart');
    expect(role.ok === false && role.reason).toBe('role technician may not run service.restart');
    expect(technicians.authorize(techs[1]!, 'gym', 'service.restart').ok).toBe(true);
  });
});

describe.each(BACKENDS)('cloud commands (%s)', (backend) => {
  const db = useCloudDb(backend);
  it('issues an authorised command: stored pending, audited, published with a TTL', async () => {
    const { commands, published, techs } = await setup(db);
    const out = await commands.issue(techs[0]!, 'jy-0101-r203', 'device.command', { device: 'panel', command: 'power', args: { on: true } });
    expect(out.ok).toBe(true);
    const cmd = out.ok ? out.command : null;
    expect(cmd).toMatchObject({ status: 'pending', roomId: 'jy-0101-r203', technician: 'wang', expiresAt: T0 + 60_000 });
    expect(published.map((p) => p.topic)).toEqual([districtTopics('jy-0101-r203').commands]);
    const msg = remoteCommandSchema.parse(JSON.parse(published[0]!.payload.toString()));
    expect(msg).toMatchObject({ id: cmd!.id, issuedBy: { technician: 'wang', role: 'technician' }, command: 'device.command' });
    expect((await commands.auditEntries({ limit: 10 })).map((e) => [e.technician, e.roomId, e.action, e.outcome])).toEqual([['wang', 'jy-0101-r203', 'device.command', 'issued']]);
  });

  it('refuses out of scope, a forbidden role and an unknown room: nothing published, each refusal audited with its reason', async () => {
    const { commands, published, techs } = await setup(db);
    expect(await commands.issue(techs[0]!, 'jy-0202-r101', 'devices.list', {})).toMatchObject({ ok: false, status: 403 });
    expect(await commands.issue(techs[0]!, 'jy-0101-r203', 'service.restart', {})).toMatchObject({ ok: false, status: 403 });
    expect(await commands.issue(techs[1]!, 'never-seen', 'devices.list', {})).toMatchObject({ ok: false, status: 404 });
    expect(published).toEqual([]);
    const audit = await commands.auditEntries({ limit: 10 });
    expect(audit.map((e) => e.outcome)).toEqual(['refused', 'refused', 'refused']);
    expect(audit[2]!.detail).toMatch(/outside the scope/);
  });

  it('stores a result from the link once; a foreign room or unknown id is rejected and counted', async () => {
    const { commands, techs } = await setup(db);
    const out = await commands.issue(techs[0]!, 'jy-0101-r203', 'devices.list', {});
    const id = out.ok ? out.command.id : '';
    const waiting = commands.wait(id, 5000);
    const second = commands.wait(id, 5000); // two technicians waiting on the same command both hear of it
    await commands.onResultMessage(districtTopics('jy-0202-r101').commandResults, encodeMessage(result(id, 'jy-0202-r101')));
    await commands.onResultMessage(districtTopics('jy-0101-r203').commandResults, Buffer.from('{nope'));
    expect((await commands.get(id))!.status).toBe('pending');
    await commands.onResultMessage(districtTopics('jy-0101-r203').commandResults, encodeMessage(result(id, 'jy-0101-r203')));
    expect((await waiting)!.status).toBe('ok');
    expect((await second)!.status).toBe('ok');
    expect(await commands.get(id)).toMatchObject({ status: 'ok', result: { state: { power: true } }, finishedAt: T0 + 20 });
    // The same result again (redelivery, or via the event log): ignored.
    expect(await commands.applyResult(result(id, 'jy-0101-r203', { status: 'error', error: { code: 'x', message: 'y' } }), 'link')).toBe(false);
    expect(commands.counts.rejected).toEqual({ 'room-mismatch': 1, 'not-json': 1 });
    expect((await commands.auditEntries({ limit: 10 })).map((e) => e.outcome)).toEqual(['ok', 'issued']);
  });

  it('picks up a result that came through the event log; marks an unanswered one expired; a late result still lands', async () => {
    const { commands, techs, setNow } = await setup(db);
    const a = await commands.issue(techs[0]!, 'jy-0101-r203', 'devices.list', {});
    const b = await commands.issue(techs[0]!, 'jy-0101-r203', 'logs.recent', {});
    const idA = a.ok ? a.command.id : '';
    const idB = b.ok ? b.command.id : '';
    await store.commitBatch(
      {
        v: 1,
        roomId: 'jy-0101-r203',
        storeId: 's1',
        batchId: 'b1',
        firstSeq: 1,
        lastSeq: 1,
        events: [{ seq: 1, stream: 'command', type: 'result', entityId: idA, payload: result(idA, 'jy-0101-r203'), ts: T0, clockSynced: true, bootId: 'x' }],
        sentAt: T0,
      },
      T0,
    );
    await commands.sweep();
    expect((await commands.get(idA))!.status).toBe('ok');
    expect((await commands.get(idB))!.status).toBe('pending');
    setNow(T0 + 60_000 + 1001);
    await commands.sweep();
    expect(await commands.get(idB)).toMatchObject({ status: 'expired', error: { code: 'no-answer' } });
    expect(await commands.applyResult(result(idB, 'jy-0101-r203', { status: 'expired', error: { code: 'expired', message: 'late' } }), 'link')).toBe(true);
    expect(await commands.get(idB)).toMatchObject({ status: 'expired', error: { code: 'expired' } });
  });
});

describe('cloud config', () => {
  it('an API needs technicians; a technician is named once', async () => {
    const { cloudConfigSchema } = await import('../../../sync/cloud/cli.js');
    const base = { broker: { url: 'mqtts://x:8883', certFile: 'a', keyFile: 'b' }, database: 'c.db' };
    const noTech = cloudConfigSchema.safeParse({ ...base, api: { port: 8443 } });
    expect(noTech.success).toBe(false);
    expect(noTech.error?.issues.map((i) => i.path.join('.'))).toEqual(['technicians']);
    const t = { name: 'wang', tokenHash: hashes.wang, role: 'technician', schools: ['jy-0101'] };
    const twice = cloudConfigSchema.safeParse({ ...base, api: { port: 8443 }, technicians: [t, t] });
    expect(twice.error?.issues.map((i) => i.path.join('.'))).toEqual(['technicians.1.name']);
    expect(cloudConfigSchema.safeParse({ ...base, api: { port: 8443 }, technicians: [{ ...t, tokenHash: 'plain' }] }).success).toBe(false);
    expect(cloudConfigSchema.safeParse({ ...base, api: { port: 8443 }, technicians: [t] }).success).toBe(true);
  });
});

describe.each(BACKENDS)('technician HTTP API (%s)', (backend) => {
  const db = useCloudDb(backend);
  async function api() {
    const s = await setup(db);
    const app = createCloudApi({ store, commands: s.commands, technicians: s.technicians, logger: silentLogger(), now: () => T0 + 5000 });
    registerFleet(app, { store, commands: s.commands, technicians: s.technicians, now: () => T0 + 5000, waitMs: 0 });
    cleanup.unshift(() => void app.close());
    return { ...s, app };
  }
  const wang = { authorization: 'Bearer wang:wang-secret-0123456789' };
  const li = { authorization: 'Bearer li:li-secret-0123456789' };

  it('has no anonymous route', async () => {
    const { app } = await api();
    for (const url of ['/api/rooms', '/api/audit', '/api/rooms/jy-0101-r203/devices', '/api/commands/x', '/fleet', '/nothing']) {
      const r = await app.inject({ url });
      expect(r.statusCode, url).toBe(401);
      expect(r.headers['www-authenticate']).toContain(url === '/fleet' ? 'Basic' : 'Bearer');
    }
    expect((await app.inject({ url: '/api/rooms', headers: { authorization: 'Bearer wang:wrong' } })).statusCode).toBe(401);
  });

  it('lists only the rooms in scope, with status and device health', async () => {
    const { app } = await api();
    const r = await app.inject({ url: '/api/rooms', headers: wang });
    expect(r.statusCode).toBe(200);
    const rooms = (r.json() as { rooms: Array<{ roomId: string; online: boolean; devices: object }> }).rooms;
    expect(rooms.map((x) => x.roomId)).toEqual(['jy-0101-r203', 'lab1']);
    expect(rooms[0]).toMatchObject({ online: true, school: 'jy-0101', devices: { total: 2, online: 1, offline: 1, withError: 1 } });
    const d = await app.inject({ url: '/api/rooms/jy-0101-r203/devices', headers: wang });
    expect((d.json() as { devices: Array<{ deviceId: string }> }).devices.map((x) => x.deviceId)).toEqual(['panel', 'proj']);
    const other = await app.inject({ url: '/api/rooms/jy-0202-r101/devices', headers: wang });
    expect(other.statusCode).toBe(403);
  });

  it('POST a command: 202 with its id; out of scope 403 with the reason; bad body 400', async () => {
    const { app, published } = await api();
    const ok = await app.inject({ method: 'POST', url: '/api/rooms/jy-0101-r203/commands', headers: wang, payload: { command: 'devices.list' } });
    expect(ok.statusCode).toBe(202);
    const id = (ok.json() as { id: string }).id;
    expect(published).toHaveLength(1);
    const got = await app.inject({ url: `/api/commands/${id}`, headers: wang });
    expect(got.json()).toMatchObject({ id, status: 'pending' });
    const no = await app.inject({ method: 'POST', url: '/api/rooms/jy-0202-r101/commands', headers: wang, payload: { command: 'devices.list' } });
    expect(no.statusCode).toBe(403);
    expect((no.json() as { error: { message: string } }).error.message).toMatch(/outside the scope of wang/);
    const bad = await app.inject({ method: 'POST', url: '/api/rooms/jy-0101-r203/commands', headers: wang, payload: { command: 'Bad Name', extra: 1 } });
    expect(bad.statusCode).toBe(400);
    const audit = await app.inject({ url: '/api/audit', headers: wang });
    expect((audit.json() as { entries: Array<{ outcome: string }> }).entries.map((e) => e.outcome)).toEqual(['refused', 'issued']);
    expect(published).toHaveLength(1);
  });

  it('a room shows its lessons by the latest receipt state and its open alerts (help requests); a technician acknowledges them', async () => {
    const { app, published } = await api();
    const now = T0 + 5000;
    const alert = (seq: number, code: string, severity: string, ts: number) => ({
      seq,
      stream: 'alert',
      type: 'alert/raised',
      entityId: `a${seq}`,
      payload: { id: `a${seq}`, severity, code, message: `${code} <b>${seq}</b>`, ts },
      ts,
      clockSynced: true,
      bootId: 'x',
    });
    const room = 'jy-0101-r203';
    // Received eight days ago and never acknowledged: past the open window, no longer listed.
    await store.commitBatch({ v: 1, roomId: room, storeId: 's-alerts', batchId: 'b0', firstSeq: 1, lastSeq: 1, events: [alert(1, 'sync-disabled', 'warning', now - 8 * 86_400_000)], sentAt: now }, now - 8 * 86_400_000);
    const events = [alert(2, 'device-offline', 'warning', now - 25 * 3600_000), alert(3, 'help-request', 'warning', now - 3600_000), alert(4, 'unknown-card', 'info', now - 60_000)];
    await store.commitBatch({ v: 1, roomId: room, storeId: 's-alerts', batchId: 'ba', firstSeq: 2, lastSeq: 4, events, sentAt: now }, now);
    const receipt = (lesson: string, revision: number, state: string) =>
      store.db.run(
        'INSERT INTO receipts (room_id, store_id, lesson_id, revision, receipt_seq, count, counts, digest, state, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [room, 's-alerts', lesson, revision, 10 + revision, 1, '{}', 'd', state, now],
      );
    await receipt('L1', 1, 'complete');
    await receipt('L2', 1, 'complete');
    await receipt('L2', 2, 'incomplete'); // a correction after the first receipt: the latest revision decides
    await receipt('L3', 1, 'pending');
    type Summary = { roomId: string; lessons: object; alerts: { count: number; helpRequests: number; open: Array<{ id: string; code: string }> } };
    const summary = async () => ((await app.inject({ url: '/api/rooms', headers: wang })).json() as { rooms: Summary[] }).rooms.find((x) => x.roomId === room)!;
    const before = await summary();
    expect(before.lessons).toEqual({ complete: 1, incomplete: 1, pending: 1 });
    expect(before.alerts).toMatchObject({ count: 3, helpRequests: 1 });
    expect(before.alerts.open.map((a) => a.code)).toEqual(['unknown-card', 'help-request', 'device-offline']);
    const page = await app.inject({ url: '/fleet', headers: wang });
    expect(page.body).toContain('<td class="off">1/1/1</td>');
    expect(page.body).toContain('<td class="off">3 (1)</td>');
    expect(page.body).toContain('报修');
    expect(page.body).toContain('help-request &lt;b&gt;3&lt;/b&gt;'); // escaped, never markup
    expect(page.body).not.toContain('sync-disabled');
    expect(page.body.match(/action="\/fleet\/alerts\/ack"/g)).toHaveLength(3);

    // Acknowledged through the API: no longer open; a second acknowledgement changes nothing and says who did it.
    const ack = (headers: Record<string, string>, r: string, id: string) => app.inject({ method: 'POST', url: `/api/rooms/${r}/alerts/${id}/ack`, headers });
    const first = await ack(wang, room, 'a3');
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ roomId: room, alertId: 'a3', technician: 'wang', ackedAt: now, already: false });
    const again = await ack(li, room, 'a3');
    expect(again.json()).toMatchObject({ technician: 'wang', already: true });
    // The room hears of the first acknowledgement only, with the alert's code (its kiosk shows a help request as seen).
    await new Promise((r) => setImmediate(r));
    expect(published.map((p) => [p.topic, JSON.parse(p.payload.toString())])).toEqual([
      [districtTopics(room).alertAcks, { v: 1, roomId: room, alertId: 'a3', code: 'help-request', technician: 'wang', ackedAt: now }],
    ]);
    expect((await ack(wang, room, 'a99')).statusCode).toBe(404);
    expect((await ack(wang, 'jy-0202-r101', 'a3')).statusCode).toBe(403);
    expect((await ack(wang, room, 'bad id!')).statusCode).toBe(400);
    expect((await summary()).alerts).toMatchObject({ count: 2, helpRequests: 0 });
    const audit = (await app.inject({ url: '/api/audit', headers: li })).json() as { entries: Array<{ technician: string; action: string; outcome: string; roomId: string }> };
    expect(audit.entries.filter((e) => e.action === 'alert.ack').map((e) => [e.technician, e.roomId, e.outcome])).toEqual([
      ['wang', 'jy-0202-r101', 'refused'],
      ['li', room, 'already-acknowledged'],
      ['wang', room, 'acknowledged'],
    ]);

    // Acknowledged on the fleet page: the form needs the page's CSRF token, then leads back to the page.
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const post = (form: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/fleet/alerts/ack', headers: { ...wang, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString() });
    expect((await post({ room, alert: 'a4', csrf: 'forged' })).statusCode).toBe(403);
    const done = await post({ room, alert: 'a4', csrf, lang: 'en' });
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe('/fleet?lang=en');
    const after = await app.inject({ url: '/fleet?lang=en', headers: wang });
    expect(after.body).toContain('<td>1 (0)</td>');
    expect(after.body).not.toContain('unknown-card');
    expect(after.body).toContain('device-offline');
  });

  it('the fleet page: Basic or Bearer, no scripts, rooms in scope, a command form guarded by a CSRF token', async () => {
    const { app, published } = await api();
    const anon = await app.inject({ url: '/fleet' });
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toContain('Basic');
    // Basic is for the page only: the JSON API still wants a Bearer token.
    const basic = { authorization: `Basic ${Buffer.from('wang:wang-secret-0123456789').toString('base64')}` };
    expect((await app.inject({ url: '/api/rooms', headers: basic })).statusCode).toBe(401);
    const r = await app.inject({ url: '/fleet', headers: basic });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-security-policy']).toBe(FLEET_CSP);
    expect(r.body).not.toMatch(/<script/i);
    expect(r.body).toContain('<html lang="zh-CN">');
    expect(r.body).toContain('教室设备总览');
    expect(r.body).toContain('jy-0101-r203');
    expect(r.body).not.toContain('jy-0202-r101');
    expect(r.body).not.toContain('service.restart');
    expect((await app.inject({ url: '/fleet?lang=en', headers: wang })).body).toContain('Classroom fleet');
    const csrf = /name="csrf" value="([^"]+)"/.exec(r.body)![1]!;
    const post = (form: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/fleet/commands', headers: { ...basic, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(form).toString() });
    expect((await post({ room: 'jy-0101-r203', command: 'devices.list', args: '{}', csrf: 'forged' })).statusCode).toBe(403);
    expect(published).toHaveLength(0);
    const refused = await post({ room: 'jy-0202-r101', command: 'devices.list', args: '{}', csrf });
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('outside the scope of wang');
    const ok = await post({ room: 'jy-0101-r203', command: 'device.command', args: '{"device":"panel","command":"power","args":{"on":true}}', csrf });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('&quot;status&quot;: &quot;pending&quot;');
    expect(published).toHaveLength(1);
  });
});
