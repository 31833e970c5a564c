/** The override routes on a real lesson clock (fake time), with a small role check fake. */
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerLessonOverrideRoutes } from '../../../edge/lessons/routes.js';
import type { Role } from '../../../edge/security/credentials.js';
import { dateClock, ROOM, sh, tempStore, type TempStore } from './fixtures.js';
import { startClock, useFakeTime, type Harness } from './clock-harness.js';

let tmp: TempStore;
let h: Harness | undefined;
afterEach(async () => {
  await h?.shutdown().catch(() => undefined);
  h = undefined;
  vi.useRealTimers();
  tmp?.remove();
});

const requireRole =
  (...roles: Role[]) =>
  async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const role = req.headers['x-role'] as Role | undefined;
    if (!role || !roles.includes(role)) {
      await reply.code(403).send({ error: { code: 'forbidden', message: 'no' } });
      return;
    }
    req.principal = { username: `${role}-user`, role };
  };

const D = '2025-09-01';

describe('lesson override routes', () => {
  it('extend, end, ad hoc and start early; refusals are 409 with the reason; every call is audited', async () => {
    tmp = tempStore();
    useFakeTime(sh(D, '08:30'));
    h = await startClock(tmp);
    const app = Fastify();
    registerLessonOverrideRoutes(app, { requireRole, lessons: h.lc, datasets: h.datasets, store: h.store, clock: dateClock });
    const post = (url: string, payload: unknown, role = 'teacher') =>
      app.inject({ method: 'POST', url, payload: payload as object, headers: { 'x-role': role } });

    expect((await post('/api/lessons/extend', { minutes: 5 }, 'device')).statusCode).toBe(403);
    const ext = await post('/api/lessons/extend', { minutes: 5, commandId: 'k1' });
    expect(ext.statusCode).toBe(200);
    expect(ext.json()).toMatchObject({ lesson: { lessonId: `${ROOM}/${D}/p1`, endsAt: sh(D, '08:50') } });
    const bad = await post('/api/lessons/extend', { minutes: 500 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('invalid-request');

    expect((await post('/api/lessons/end', {})).json()).toMatchObject({ lesson: { lessonId: `${ROOM}/${D}/p1`, endsAt: sh(D, '08:30') } });
    const none = await post('/api/lessons/end', {});
    expect(none.statusCode).toBe(409);
    expect(none.json()).toEqual({ error: { code: 'no-lesson', message: 'end: no lesson in progress' } });

    const notNext = await post('/api/lessons/start-early', { lessonId: `${ROOM}/${D}/p3` });
    expect(notNext.statusCode).toBe(409);
    expect((await post('/api/lessons/start-early', { lessonId: `${ROOM}/${D}/p2` })).json().lesson.startsAt).toBe(sh(D, '08:30'));
    const adhoc = await post('/api/lessons/ad-hoc', { course: '班会', classId: 'c1', minutes: 20 }, 'technician');
    expect(adhoc.json()).toMatchObject({ lesson: { lessonId: `${ROOM}/${D}/adhoc-1`, adHoc: true } });
    await h.lc.idle();
    expect(h.log).toEqual([
      `start ${ROOM}/${D}/p1`,
      `update ${ROOM}/${D}/p1 ${new Date(sh(D, '08:50')).toISOString()}`,
      `end ${ROOM}/${D}/p1 manual`,
      `start ${ROOM}/${D}/p2`,
      `end ${ROOM}/${D}/p2 superseded`,
      `start ${ROOM}/${D}/adhoc-1`,
    ]);

    const audit = h.store.db.prepare('SELECT actor, action, target, result FROM audit_log ORDER BY id').all();
    expect(audit).toEqual([
      { actor: 'teacher-user', action: 'lesson.extend', target: `${ROOM}/${D}/p1`, result: 'ok' },
      { actor: 'teacher-user', action: 'lesson.end', target: `${ROOM}/${D}/p1`, result: 'ok' },
      { actor: 'teacher-user', action: 'lesson.end', target: 'none', result: 'refused' },
      { actor: 'teacher-user', action: 'lesson.start-early', target: `${ROOM}/${D}/p3`, result: 'refused' },
      { actor: 'teacher-user', action: 'lesson.start-early', target: `${ROOM}/${D}/p2`, result: 'ok' },
      { actor: 'technician-user', action: 'lesson.ad-hoc', target: `${ROOM}/${D}/adhoc-1`, result: 'ok' },
    ]);

    const ds = await app.inject({ method: 'GET', url: '/api/datasets', headers: { 'x-role': 'teacher' } });
    expect(ds.json()).toMatchObject({ timetable: { version: 1, source: 'fixture', counts: { weekly: 8 } }, roster: null });
    await app.close();
  });
});
