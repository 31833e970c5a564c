/**
 * The kiosk's API on a running service (in process): pairing (teacher
 * only), bearer tokens, the live WebSocket (hello, snapshot, events, alerts),
 * the technician command route's dedup by `id`, the help request (an alert
 * and an audited event-log row for the district), revocation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { RunningService } from '../../edge/service.js';
import { basicAuth, PASSWORDS, startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

const DEVICES = `  - { id: panel, name: 交互平板, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }`;

let room: TempRoom;
let svc: RunningService;
let base: string;
let token = '';
let sessionId = '';

const post = (path: string, body: unknown, auth: string) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A live connection that collects frames. */
async function live(tok: string): Promise<{ ws: WebSocket; frames: Array<Record<string, unknown>>; closed: Promise<number> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${svc.ports.api}/api/kiosk/live`);
  const frames: Array<Record<string, unknown>> = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ type: 'hello', token: tok }));
  return { ws, frames, closed };
}

async function until<T>(what: string, probe: () => T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  room = tempRoom({ devicesYaml: DEVICES });
  svc = await startRoom(room);
  base = `http://127.0.0.1:${svc.ports.api}`;
  for (let i = 0; i < 50 && !svc.devices.get('panel')?.online; i++) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await svc?.stop();
  room?.cleanup();
});

describe('kiosk API', () => {
  it('pairs a teacher-role user only and returns a bearer token', async () => {
    expect((await post('/api/kiosk/pair', {}, basicAuth('kiosk', 'wrong'))).status).toBe(401);
    expect((await post('/api/kiosk/pair', {}, basicAuth('tech', PASSWORDS.tech))).status).toBe(403);
    const r = await post('/api/kiosk/pair', { label: 'front' }, basicAuth('kiosk', PASSWORDS.kiosk));
    expect(r.status).toBe(201);
    const body = (await r.json()) as { token: string; sessionId: string; username: string };
    expect(body.username).toBe('kiosk');
    token = body.token;
    sessionId = body.sessionId;
    const snap = await fetch(`${base}/api/kiosk/snapshot`, { headers: { authorization: `Bearer ${token}` } });
    expect(snap.status).toBe(200);
    expect(await snap.json()).toMatchObject({ room: { id: 'test-room' }, kiosk: { idleLockSeconds: 180, pinUnlock: false }, devices: [{ deviceId: 'panel' }] });
    const bad = await fetch(`${base}/api/kiosk/snapshot`, { headers: { authorization: 'Bearer not-a-valid-token-0123456789' } });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await post('/api/kiosk/unlock', { pin: '1234' }, `Bearer ${token}`)).status).toBe(409); // no PINs configured
  });

  it('closes a live connection without a valid hello; sends a snapshot then events to a paired kiosk', async () => {
    const bad = await live('nope');
    expect(await bad.closed).toBe(4401);
    // The wrong pairing password and the bad hello are counted as authentication failures.
    expect(await (await fetch(`${base}/metrics`)).text()).toContain('classroom_edge_auth_failures_total{surface="kiosk"} 2');
    const ok = await live(token);
    const snap = await until('snapshot', () => ok.frames.find((f) => f.type === 'snapshot'));
    expect(snap.data).toMatchObject({ room: { id: 'test-room' } });
    const r = await post('/api/kiosk/devices/panel/commands', { commandId: 'k-1', command: 'mute', args: { on: true } }, `Bearer ${token}`);
    expect(r.status).toBe(200);
    const ev = await until('device state', () =>
      ok.frames.find((f) => f.type === 'event' && f.kind === 'device-state' && (f.payload as { state: { mute?: boolean } }).state.mute === true),
    );
    expect(ev.deviceId).toBe('panel');
    // A help request: an alert live, and an audited event for the district.
    const help = await post('/api/kiosk/help', { commandId: 'help-1', note: '投影仪不亮' }, `Bearer ${token}`);
    expect(help.status).toBe(201);
    await until('alert', () => ok.frames.find((f) => f.type === 'event' && f.kind === 'alert' && (f.payload as { code: string }).code === 'help-request'));
    expect((await post('/api/kiosk/help', { commandId: 'help-1', note: '投影仪不亮' }, `Bearer ${token}`)).headers.get('x-command-replayed')).toBe('1');
    const rows = svc.store.db.prepare("SELECT count(*) AS n FROM event_log WHERE stream = 'audit' AND payload LIKE '%kiosk.help-request%'").get();
    expect(rows).toEqual({ n: 1 });
    ok.ws.close();
  });

  it('applies a technician command with an id once', async () => {
    const send = () => post('/api/devices/panel/commands', { id: 't-vol-1', command: 'volume', args: { level: 33 } }, basicAuth('tech', PASSWORDS.tech));
    const a = await send();
    const b = await send();
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.headers.get('x-command-replayed')).toBeNull();
    expect(b.headers.get('x-command-replayed')).toBe('1');
    expect(await b.json()).toEqual(await a.json());
    expect(svc.store.db.prepare(`SELECT count(*) AS n FROM audit_log WHERE action = 'device.command' AND args LIKE '%"level":33%'`).get()).toEqual({ n: 1 });
  });

  it('applies a lesson override with a commandId once', async () => {
    const start = () => post('/api/lessons/ad-hoc', { course: '数学', classId: 'c1', minutes: 30, commandId: 'adhoc-1' }, basicAuth('kiosk', PASSWORDS.kiosk));
    const a = await start();
    expect(a.status, await a.clone().text()).toBe(200);
    const b = await start();
    expect(b.headers.get('x-command-replayed')).toBe('1');
    expect(await b.json()).toEqual(await a.json());
    expect(svc.store.db.prepare(`SELECT count(*) AS n FROM audit_log WHERE action = 'lesson.ad-hoc'`).get()).toEqual({ n: 1 });
    expect((await post('/api/lessons/end', { commandId: 'end-1' }, basicAuth('kiosk', PASSWORDS.kiosk))).status).toBe(200);
  });

  it('lets a technician revoke a kiosk session', async () => {
    const list = (await (await fetch(`${base}/api/kiosk/sessions`, { headers: { authorization: basicAuth('tech', PASSWORDS.tech) } })).json()) as { sessions: Array<{ id: string }> };
    expect(list.sessions.map((s) => s.id)).toContain(sessionId);
    expect((await fetch(`${base}/api/kiosk/sessions/${sessionId}`, { method: 'DELETE', headers: { authorization: basicAuth('tech', PASSWORDS.tech) } })).status).toBe(200);
    expect((await fetch(`${base}/api/kiosk/snapshot`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
  });
});
