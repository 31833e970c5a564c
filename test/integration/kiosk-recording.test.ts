/**
 * The recording routes on a running service (in process) with a fake
 * recorder at the API boundary (test/unit/kiosk/fake-recorder.ts): the
 * kiosk's POST /api/kiosk/recording (validation, once per commandId, unknown
 * source 404, refusals 409, a thrown error 500 and not kept), who is passed
 * to the recorder and what is audited, the technicians' routes, the
 * snapshot's recordingControl, /health's recording section; and a room
 * without a recorder (409 no-recorder, audited; no buttons, no section).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { startService, type RunningService } from '../../edge/service.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { FakeRecorder } from '../unit/kiosk/fake-recorder.js';
import { basicAuth, PASSWORDS, tempRoom, type TempRoom } from '../helpers/room.js';

interface Running {
  room: TempRoom;
  svc: RunningService;
  base: string;
  token: string;
}

// The config has no recording section: with one, the service would start the real recorder as well.
async function start(opts: { recorder?: FakeRecorder }): Promise<Running> {
  const room = tempRoom();
  const registry = builtinDrivers();
  const config = loadConfigText(room.yaml, room.configFile, registry);
  const svc = await startService({ config, registry, logger: silentLogger(), clock: systemClock, ...(opts.recorder ? { recorder: opts.recorder } : {}) });
  if (opts.recorder) {
    const topic = `classroom/${config.room.id}/recording`;
    opts.recorder.publish = (msg) => svc.broker.publish(topic, msg, { retain: true });
    opts.recorder.audit = (a) => svc.store.recordAudit(a);
    await opts.recorder.publish(opts.recorder.status());
  }
  const base = `http://127.0.0.1:${svc.ports.api}`;
  const pair = await fetch(`${base}/api/kiosk/pair`, { method: 'POST', headers: { authorization: basicAuth('kiosk', PASSWORDS.kiosk), 'content-type': 'application/json' }, body: '{}' });
  const { token } = (await pair.json()) as { token: string };
  return { room, svc, base, token };
}

const TECH = basicAuth('tech', PASSWORDS.tech);
let fake: FakeRecorder;
let r: Running;
let bare: Running;

const post = (run: Running, path: string, body: unknown, auth = `Bearer ${run.token}`) =>
  fetch(`${run.base}${path}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
const audits = (run: Running, action: string) =>
  run.svc.store.db.prepare<[string], { actor: string; role: string; target: string; result: string; error: string | null }>('SELECT actor, role, target, result, error FROM audit_log WHERE action = ? ORDER BY id').all(action);

beforeAll(async () => {
  fake = new FakeRecorder({ sources: ['teacher', 'students'], liveTargets: { district: 'teacher' }, now: () => Date.now(), settleMs: 50 });
  r = await start({ recorder: fake });
  bare = await start({});
});

afterAll(async () => {
  for (const x of [r, bare]) {
    await x?.svc.stop();
    x?.room.cleanup();
  }
});

describe('POST /api/kiosk/recording', () => {
  it('refuses a request without a valid token, and bad bodies with a clear 400 (nothing reaches the recorder)', async () => {
    expect((await post(r, '/api/kiosk/recording', { commandId: 'x-1', action: 'start' }, 'Bearer not-a-token-0123456789')).status).toBe(401);
    const bad: Array<[unknown, RegExp]> = [
      [{ action: 'start' }, /commandId/],
      [{ commandId: 'x-2', action: 'pause' }, /action/],
      [{ commandId: 'x-3', action: 'start', source: '../etc' }, /source/],
      [{ commandId: 'x-4', action: 'start', extra: 1 }, /extra|Unrecognized/i],
      [{ commandId: '', action: 'stop' }, /commandId/],
    ];
    for (const [body, message] of bad) {
      const res = await post(r, '/api/kiosk/recording', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const err = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(err.code).toBe('invalid-request');
      expect(err.message).toMatch(message);
    }
    expect(fake.calls).toEqual([]);
  });

  it('starts every source once per commandId, as the paired teacher; a retry gets the stored reply', async () => {
    const first = await post(r, '/api/kiosk/recording', { commandId: 'rec-start-1', action: 'start' });
    expect(first.status).toBe(200);
    const body = await first.json();
    expect(body).toEqual({ ok: true, sources: { teacher: 'starting', students: 'starting' } });
    const again = await post(r, '/api/kiosk/recording', { commandId: 'rec-start-1', action: 'start' });
    expect(again.status).toBe(200);
    expect(again.headers.get('x-command-replayed')).toBe('1');
    expect(await again.json()).toEqual(body);
    expect(fake.calls).toEqual([{ op: 'start', by: { username: 'kiosk', role: 'teacher' } }]);
    // Audited once, by the recorder with the teacher the API named; the API adds no second row.
    expect(audits(r, 'recording.start')).toEqual([{ actor: 'kiosk', role: 'teacher', target: '*', result: 'ok', error: null }]);
    // The same id for another action is refused, and nothing runs.
    const reused = await post(r, '/api/kiosk/recording', { commandId: 'rec-start-1', action: 'stop' });
    expect(reused.status).toBe(409);
    expect(((await reused.json()) as { error: { code: string } }).error.code).toBe('command-id-reused');
    expect(fake.calls).toHaveLength(1);
  });

  it('answers an unknown source with 404 unknown-source, a refusal with 409, and keeps both', async () => {
    const unknown = await post(r, '/api/kiosk/recording', { commandId: 'rec-unknown', action: 'start', source: 'ceiling' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ ok: false, error: { code: 'unknown-source' } });
    expect((await post(r, '/api/kiosk/recording', { commandId: 'rec-unknown', action: 'start', source: 'ceiling' })).headers.get('x-command-replayed')).toBe('1');
    fake.refuseNext = { code: 'disk-full', message: 'only 1 GiB free, 2 GiB needed' };
    const full = await post(r, '/api/kiosk/recording', { commandId: 'rec-full', action: 'start', source: 'students' });
    expect(full.status).toBe(409);
    expect(await full.json()).toEqual({ ok: false, sources: {}, error: { code: 'disk-full', message: 'only 1 GiB free, 2 GiB needed' } });
    expect(fake.calls.slice(1).map((c) => c.source)).toEqual(['ceiling', 'students']);
    expect(audits(r, 'recording.start').slice(1)).toMatchObject([
      { target: 'ceiling', result: 'refused' },
      { target: 'students', result: 'refused', error: 'only 1 GiB free, 2 GiB needed' },
    ]);
  });

  it('answers a recorder that throws with 500, audits it, and does not keep it: a retry runs again', async () => {
    fake.throwNext = new Error('recorder crashed');
    const failed = await post(r, '/api/kiosk/recording', { commandId: 'rec-throw', action: 'stop', source: 'teacher' });
    expect(failed.status).toBe(500);
    expect(((await failed.json()) as { error: { code: string } }).error.code).toBe('internal');
    expect(audits(r, 'recording.stop')).toEqual([{ actor: 'kiosk', role: 'teacher', target: 'teacher', result: 'error', error: 'recorder crashed' }]);
    const retry = await post(r, '/api/kiosk/recording', { commandId: 'rec-throw', action: 'stop', source: 'teacher' });
    expect(retry.status).toBe(200);
    expect(retry.headers.get('x-command-replayed')).toBeNull();
    expect(await retry.json()).toEqual({ ok: true, sources: { teacher: 'stopping' } });
    expect(fake.calls.filter((c) => c.op === 'stop')).toHaveLength(2);
  });
});

describe('the kiosk snapshot, the live channel and /health', () => {
  it('offers the buttons with the sources, and carries the latest recording message', async () => {
    const snap = (await (await fetch(`${r.base}/api/kiosk/snapshot`, { headers: { authorization: `Bearer ${r.token}` } })).json()) as {
      kiosk: { recordingControl: boolean; recordingSources: unknown };
      recording: { sources: Record<string, { state: string }> } | null;
    };
    expect(snap.kiosk.recordingControl).toBe(true);
    expect(snap.kiosk.recordingSources).toEqual([
      { id: 'teacher', label: null },
      { id: 'students', label: null },
    ]);
    expect(snap.recording?.sources.students).toBeDefined();
    // The latest message on the bus, kept while no kiosk is connected (this one is not the recorder's status).
    const snapshotNow = async () => ((await (await fetch(`${r.base}/api/kiosk/snapshot`, { headers: { authorization: `Bearer ${r.token}` } })).json()) as typeof snap).recording;
    await r.svc.broker.publish('classroom/test-room/recording', { sources: { elsewhere: { state: 'recording', lessonId: null, since: Date.now() } } }, { retain: true });
    await expect.poll(async () => Object.keys((await snapshotNow())?.sources ?? {})).toEqual(['elsewhere']);
    await fake.publish(fake.status());
    await expect.poll(async () => Object.keys((await snapshotNow())?.sources ?? {}).sort()).toEqual(['students', 'teacher']);
  });

  it('forwards what the recorder publishes to a connected kiosk', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${r.svc.ports.api}/api/kiosk/live`);
    const frames: Array<{ type: string; kind?: string; payload?: { sources: Record<string, { state: string; reason?: string }> } }> = [];
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as (typeof frames)[number]));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(JSON.stringify({ type: 'hello', token: r.token }));
    await expect.poll(() => frames.some((f) => f.type === 'snapshot')).toBe(true);
    await fake.set('students', { state: 'degraded', reason: 'no packets for 5 s' });
    await expect.poll(() => frames.find((f) => f.kind === 'recording' && f.payload?.sources.students?.state === 'degraded')?.payload?.sources.students?.reason).toBe('no packets for 5 s');
    ws.close();
  });

  it('adds the recorder health to /health; a source in error makes the service degraded, still 200', async () => {
    const ok = await (await fetch(`${r.base}/health`)).json();
    expect(ok).toMatchObject({ status: 'ok', recording: { status: 'degraded', sources: { students: { state: 'degraded', reason: 'no packets for 5 s' } }, disk: { minFreeBytes: 2 * 2 ** 30 } } });
    await fake.set('students', { state: 'error', reason: 'camera refused the connection' });
    const res = await fetch(`${r.base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'degraded', room: 'test-room', recording: { status: 'error', sources: { students: { state: 'error' } } } });
    await fake.set('students', { state: 'idle', reason: null });
    expect(await (await fetch(`${r.base}/health`)).json()).toMatchObject({ status: 'ok' });
  });
});

describe('technicians: /api/recording', () => {
  it('is for technicians only', async () => {
    expect((await fetch(`${r.base}/api/recording`, { headers: { authorization: basicAuth('kiosk', PASSWORDS.kiosk) } })).status).toBe(403);
    expect((await post(r, '/api/recording/start', {}, basicAuth('kiosk', PASSWORDS.kiosk))).status).toBe(403);
    expect((await post(r, '/api/recording/live/district/start', {}, `Bearer ${r.token}`)).status).toBe(403);
    expect((await fetch(`${r.base}/api/recording`)).status).toBe(401);
  });

  it('shows sources, status and health', async () => {
    const res = await fetch(`${r.base}/api/recording`, { headers: { authorization: TECH } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ sources: ['teacher', 'students'], status: { sources: { teacher: {}, students: { state: 'idle' } } }, health: { status: expect.any(String), disk: {} } });
  });

  it('starts and stops one source (audited by the recorder as the technician), with an optional commandId', async () => {
    const n = fake.calls.length;
    const start = await post(r, '/api/recording/start', { source: 'students' }, TECH);
    expect(start.status).toBe(200);
    expect(await start.json()).toEqual({ ok: true, sources: { students: 'starting' } });
    const stop1 = await post(r, '/api/recording/stop', { source: 'students', commandId: 'tech-stop-1' }, TECH);
    const stop2 = await post(r, '/api/recording/stop', { source: 'students', commandId: 'tech-stop-1' }, TECH);
    expect([stop1.status, stop2.status]).toEqual([200, 200]);
    expect(stop2.headers.get('x-command-replayed')).toBe('1');
    expect(fake.calls.slice(n)).toEqual([
      { op: 'start', source: 'students', by: { username: 'tech', role: 'technician' } },
      { op: 'stop', source: 'students', by: { username: 'tech', role: 'technician' } },
    ]);
    expect(audits(r, 'recording.stop').filter((a) => a.actor === 'tech')).toEqual([{ actor: 'tech', role: 'technician', target: 'students', result: 'ok', error: null }]);
    expect((await post(r, '/api/recording/start', { source: 'nope' }, TECH)).status).toBe(404);
    expect((await post(r, '/api/recording/start', { source: 'students', note: 'x' }, TECH)).status).toBe(400);
  });

  it('starts and stops a live push by target; an unknown target is 404', async () => {
    const on = await post(r, '/api/recording/live/district/start', {}, TECH);
    expect(on.status).toBe(200);
    expect(fake.status().sources.teacher?.live).toMatchObject({ state: 'live', target: 'district' });
    expect((await post(r, '/api/recording/live/district/stop', {}, TECH)).status).toBe(200);
    expect(fake.status().sources.teacher?.live?.state).toBe('off');
    const unknown = await post(r, '/api/recording/live/other/start', {}, TECH);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: 'unknown-target' } });
    expect((await post(r, '/api/recording/live/bad%20id/start', {}, TECH)).status).toBe(400);
    expect(audits(r, 'recording.live.start').map((a) => [a.target, a.result])).toEqual([
      ['district', 'ok'],
      ['other', 'refused'],
    ]);
  });
});

describe('a room without a recorder', () => {
  it('offers no buttons and has no recording section in /health', async () => {
    const snap = (await (await fetch(`${bare.base}/api/kiosk/snapshot`, { headers: { authorization: `Bearer ${bare.token}` } })).json()) as { kiosk: { recordingControl: boolean; recordingSources: unknown[] } };
    expect(snap.kiosk).toMatchObject({ recordingControl: false, recordingSources: [] });
    const health = (await (await fetch(`${bare.base}/health`)).json()) as Record<string, unknown>;
    expect(health.status).toBe('ok');
    expect('recording' in health).toBe(false);
  });

  it('answers 409 no-recorder, audited as refused, and kept for a retry', async () => {
    const res = await post(bare, '/api/kiosk/recording', { commandId: 'bare-1', action: 'start' });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ ok: false, error: { code: 'no-recorder' } });
    expect((await post(bare, '/api/kiosk/recording', { commandId: 'bare-1', action: 'start' })).headers.get('x-command-replayed')).toBe('1');
    expect(audits(bare, 'recording.start')).toEqual([{ actor: 'kiosk', role: 'teacher', target: '*', result: 'refused', error: expect.stringContaining('no recorder') }]);
    expect((await fetch(`${bare.base}/api/recording`, { headers: { authorization: TECH } })).status).toBe(409);
    expect((await post(bare, '/api/recording/live/district/start', {}, TECH)).status).toBe(409);
  });
});
