/**
 * The kiosk's lesson routes through fastify's inject (no network): auth and
 * roles, the current lesson with live marks, the day's lessons, summaries,
 * corrections and awards with URL-encoded lesson ids, and the CSV export's bytes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../edge/api/auth.js';
import { registerLessonRoutes } from '../../edge/api/lesson-routes.js';
import { AttendanceService } from '../../edge/attendance/service.js';
import { BehaviourService, groupAwardId } from '../../edge/behaviour/service.js';
import { configSchema } from '../../edge/config/schema.js';
import { createMetrics } from '../../edge/metrics.js';
import { topics } from '../../edge/schemas/topics.js';
import type { CredentialStore, Principal } from '../../edge/security/credentials.js';
import { silentLogger } from '../../edge/util/logger.js';
import { LessonReceipts } from '../../sync/receipts.js';
import { FakeLessons, ROOM, SettableClock, ZONE, at, demoRoster, lesson, recorder, tempStore, type TempStore } from '../unit/attendance/fakes.js';

const P1 = lesson(1, '08:00', '08:45', 'c2-3', '数学');
const P2 = lesson(2, '08:55', '09:40', 'c2-3', '语文');
const USERS: Record<string, { password: string; principal: Principal }> = {
  kiosk: { password: 'kiosk-pw', principal: { username: 'kiosk', role: 'teacher' } },
  tech: { password: 'tech-pw', principal: { username: 'tech', role: 'technician' } },
  cam: { password: 'cam-pw', principal: { username: 'cam', role: 'device', deviceId: 'cam' } },
};
const credentials: CredentialStore = {
  verify: async (u, p) => (USERS[u]?.password === p ? USERS[u]!.principal : null),
  get: (u) => USERS[u]?.principal,
  list: () => Object.values(USERS).map((x) => x.principal),
};
const basic = (user: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${USERS[user]!.password}`).toString('base64')}` });
const enc = encodeURIComponent;

let clock: SettableClock;
let tmp: TempStore;
let lessons: FakeLessons;
let attendance: AttendanceService;
let receipts: LessonReceipts;
let closed: Promise<void>;
let app: FastifyInstance;

beforeEach(async () => {
  clock = new SettableClock(at('08:10'));
  tmp = tempStore(clock);
  lessons = new FakeLessons(clock, [P1, P2]);
  const roster = demoRoster();
  const rec = recorder();
  const logger = silentLogger();
  receipts = new LessonReceipts({ roomId: ROOM, store: tmp.store, clock, logger });
  let onClosed: () => void = () => undefined;
  closed = new Promise((resolve) => (onClosed = resolve));
  attendance = new AttendanceService({
    roomId: ROOM,
    store: tmp.store,
    clock,
    lessons,
    roster: () => roster,
    config: { openBeforeMinutes: 10, graceMinutes: 5, teacherMissingMinutes: 10 },
    publish: rec.publish,
    topics: topics(ROOM),
    raiseAlert: rec.raiseAlert,
    logger,
    timeZone: ZONE,
    onClosed: (id) => {
      void receipts.issue(id).then(() => onClosed());
    },
  });
  const categories = configSchema.parse({ version: 1, room: { id: ROOM, name: 'x' }, dataDir: '/tmp/x', broker: {} }).behaviour.categories;
  const behaviour = new BehaviourService({
    roomId: ROOM,
    store: tmp.store,
    clock,
    lessons,
    roster: () => roster,
    categories,
    publish: rec.publish,
    topics: topics(ROOM),
    logger,
    expected: (id) => attendance.expectedStudents(id),
  });
  app = Fastify();
  const requireRole = createAuthenticator({ credentials, metrics: createMetrics(), logger, clock });
  registerLessonRoutes(app, { requireRole, lessons, attendance, behaviour, syncState: (id) => receipts.state(id), clock, roomId: ROOM, timeZone: ZONE });
  await app.ready();
  await attendance.start();
  await attendance.handleTap({ reader: 'reader', uid: '0000000001', ts: at('08:02') });
  await attendance.handleTap({ reader: 'reader', uid: '0000000003', ts: at('08:09') });
  await attendance.handleTap({ reader: 'reader', uid: 'BADC0FFEE0', ts: at('08:09') });
  await attendance.handleTap({ reader: 'reader', uid: '00000000AA', ts: at('07:58') });
});
afterEach(async () => {
  attendance.stop();
  await app.close();
  await tmp.cleanup();
});

describe('auth', () => {
  it('401 without credentials, 403 for a device, 200 for teacher and technician', async () => {
    expect((await app.inject({ url: '/api/lessons/current' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/lessons/current', headers: { authorization: 'Basic a2lvc2s6d3Jvbmc=' } })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/lessons/current', headers: basic('cam') })).statusCode).toBe(403);
    expect((await app.inject({ url: '/api/export/attendance.csv?from=2025-03-03', headers: basic('cam') })).statusCode).toBe(403);
    expect((await app.inject({ url: '/api/lessons/current', headers: basic('kiosk') })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/lessons/current', headers: basic('tech') })).statusCode).toBe(200);
    const put = await app.inject({ method: 'PUT', url: `/api/lessons/${enc(P1.lessonId)}/attendance/s02`, payload: { status: 'present', commandId: 'x1' } });
    expect(put.statusCode).toBe(401);
    expect(tmp.store.db.prepare('SELECT COUNT(*) AS n FROM attendance_corrections').get()).toEqual({ n: 0 });
  });
});

describe('queries', () => {
  it('GET /api/lessons/current: the lesson, its roster with live marks, unknown taps and teacher check-in', async () => {
    const r = await app.inject({ url: '/api/lessons/current', headers: basic('kiosk') });
    const body = r.json();
    expect(body.phase).toBe('in-progress');
    expect(body.lesson).toMatchObject({ lessonId: P1.lessonId, course: '数学' });
    expect(body.next).toMatchObject({ lessonId: P2.lessonId });
    expect(body.attendance).toMatchObject({ expected: 5, present: 1, late: 1, unmarked: 3, unknownTaps: 1, teacherCheckIn: { teacherId: 't01', name: '陈老师' } });
    expect(body.attendance.students[0]).toMatchObject({ studentId: 's01', name: '张三', status: 'present' });
    expect(body.attendance.students[4]).toMatchObject({ studentId: 's05', status: null, onLeave: true });
    expect(body.attendance.unknownCards).toEqual([{ uid: 'BADC0FFEE0', reader: 'reader', ts: at('08:09') }]);

    clock.set('08:50'); // break: P2's window is open
    const brk = (await app.inject({ url: '/api/lessons/current', headers: basic('kiosk') })).json();
    expect(brk).toMatchObject({ phase: 'window-open', lesson: { lessonId: P2.lessonId }, attendance: { started: false, expected: 5 } });
    clock.set('12:00');
    expect((await app.inject({ url: '/api/lessons/current', headers: basic('kiosk') })).json()).toMatchObject({ phase: 'none', lesson: null, attendance: null });
  });

  it('GET /api/lessons?date=: the day\'s lessons with attendance counts; today by default; bad dates refused', async () => {
    const today = (await app.inject({ url: '/api/lessons', headers: basic('kiosk') })).json();
    expect(today.date).toBe('2025-03-03');
    expect(today.lessons.map((l: { lessonId: string }) => l.lessonId)).toEqual([P1.lessonId, P2.lessonId]);
    expect(today.lessons[0].attendance).toMatchObject({ expected: 5, present: 1, late: 1, unknownTaps: 1 });
    expect(today.lessons[0].teacherCheckIn).toMatchObject({ teacherId: 't01' });
    expect(today.lessons[1].attendance).toMatchObject({ expected: 5, present: 0, unmarked: 5 });
    const same = (await app.inject({ url: '/api/lessons?date=2025-03-03', headers: basic('kiosk') })).json();
    expect(same).toEqual(today);
    expect((await app.inject({ url: '/api/lessons?date=2025-03-04', headers: basic('kiosk') })).json()).toEqual({ date: '2025-03-04', lessons: [] });
    for (const bad of ['2025-3-3', '2025-02-30', 'today']) {
      const r = await app.inject({ url: `/api/lessons?date=${bad}`, headers: basic('kiosk') });
      expect(r.statusCode, bad).toBe(400);
      expect(r.json().error.code).toBe('invalid-request');
    }
  });

  it('GET /api/lessons/:id/summary takes the URL-encoded id (ids contain "/"); unknown ids are 404', async () => {
    expect(P1.lessonId).toContain('/');
    const r = await app.inject({ url: `/api/lessons/${enc(P1.lessonId)}/summary`, headers: basic('tech') });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.lesson.lessonId).toBe(P1.lessonId);
    expect(body.attendance).toMatchObject({ present: 1, late: 1 });
    expect(body.behaviour).toMatchObject({ expected: 5, events: 0 });
    const missing = await app.inject({ url: `/api/lessons/${enc('r203/2025-03-03/p9')}/summary`, headers: basic('tech') });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ code: 'unknown-lesson', message: expect.stringContaining('r203/2025-03-03/p9') });
  });

  it('the summary carries the lesson\'s sync state: pending until the cloud confirms the receipt written at its close', async () => {
    const url = `/api/lessons/${enc(P1.lessonId)}/summary`;
    expect((await app.inject({ url, headers: basic('tech') })).json().sync).toBe('pending');
    await attendance.closeLesson(P1, 'scheduled');
    await closed;
    const row = receipts.row(P1.lessonId)!;
    expect(row).toMatchObject({ revision: 1, state: 'pending' });
    expect(row.count).toBeGreaterThanOrEqual(9);
    // Taps, marks (2 by card, 3 absentees), the unknown card, session open and close.
    expect(row.count).toBe(tmp.store.eventsAfter(0, 1000).filter((e) => e.stream !== 'receipt' && JSON.parse(e.payload).lessonId === P1.lessonId).length);
    const verdict = { v: 1, roomId: ROOM, storeId: tmp.store.storeId, lessonId: P1.lessonId, revision: 1, receiptSeq: row.receiptSeq, outcome: 'complete', differences: [], ts: clock.now() };
    await receipts.handleOutcome(Buffer.from(JSON.stringify(verdict)));
    expect((await app.inject({ url, headers: basic('kiosk') })).json().sync).toBe('complete');
  });
});

describe('commands', () => {
  it('PUT attendance: a correction, audited with the principal, idempotent by commandId', async () => {
    const url = `/api/lessons/${enc(P1.lessonId)}/attendance/s03`;
    const r = await app.inject({ method: 'PUT', url, headers: basic('kiosk'), payload: { status: 'present', commandId: 'fix-1' } });
    expect(r.statusCode).toBe(200);
    expect(r.json().result).toMatchObject({ kind: 'corrected', old: 'late', status: 'present' });
    const again = await app.inject({ method: 'PUT', url, headers: basic('kiosk'), payload: { status: 'present', commandId: 'fix-1' } });
    expect(again.json().result.kind).toBe('duplicate');
    expect(tmp.store.db.prepare('SELECT actor, role, action FROM audit_log').all()).toEqual([{ actor: 'kiosk', role: 'teacher', action: 'attendance.correct' }]);
    const bad = await app.inject({ method: 'PUT', url, headers: basic('kiosk'), payload: { status: 'sleeping', commandId: 'fix-2' } });
    expect(bad.statusCode).toBe(400);
    const ghost = await app.inject({ method: 'PUT', url: `/api/lessons/${enc(P1.lessonId)}/attendance/ghost`, headers: basic('kiosk'), payload: { status: 'present', commandId: 'fix-3' } });
    expect(ghost.statusCode).toBe(404);
    expect(ghost.json().error.code).toBe('unknown-student');
  });

  it('POST behaviour: 201 then 200 for the same commandId; points from config', async () => {
    const url = `/api/lessons/${enc(P1.lessonId)}/behaviour`;
    const first = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: { studentId: 's02', categoryId: 'answer', commandId: 'aw-1' } });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ duplicate: false, lessonId: P1.lessonId, event: { kind: 'praise', points: 1 } });
    const second = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: { studentId: 's02', categoryId: 'answer', commandId: 'aw-1' } });
    expect(second.statusCode).toBe(200);
    expect(second.json().duplicate).toBe(true);
    const withPoints = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: { studentId: 's02', categoryId: 'answer', commandId: 'aw-2', points: 10 } });
    expect(withPoints.statusCode).toBe(400);
    const both = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: { studentId: 's02', groupId: 'g', categoryId: 'answer', commandId: 'aw-3' } });
    expect(both.statusCode).toBe(400);
    const unknownCat = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: { groupId: 'g', categoryId: 'nope', commandId: 'aw-4' } });
    expect(unknownCat.json().error.code).toBe('unknown-category');
    const summary = (await app.inject({ url: `/api/lessons/${enc(P1.lessonId)}/summary`, headers: basic('kiosk') })).json();
    expect(summary.behaviour.points.byStudent).toEqual([expect.objectContaining({ studentId: 's02', total: 1 })]);
  });

  it('POST behaviour/students: one category for several students, each awarded once; a retry of the group id awards nobody twice', async () => {
    const url = `/api/lessons/${enc(P1.lessonId)}/behaviour/students`;
    const payload = { studentIds: ['s01', 's03', 's04'], categoryId: 'teamwork', commandId: 'grp-cmd-1' };
    // Refused before anything is stored: an unknown student, a student twice, no students, an unknown category.
    for (const [bad, code] of [
      [{ ...payload, studentIds: ['s01', 'ghost'] }, 'unknown-student'],
      [{ ...payload, studentIds: ['s01', 's01'] }, 'invalid-input'],
      [{ ...payload, studentIds: [] }, 'invalid-request'],
      [{ ...payload, categoryId: 'nope' }, 'unknown-category'],
    ] as const) {
      const r = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: bad });
      expect(r.statusCode, JSON.stringify(bad)).toBeGreaterThanOrEqual(400);
      expect(r.json().error.code, JSON.stringify(bad)).toBe(code);
    }
    expect(tmp.store.db.prepare("SELECT count(*) AS n FROM behaviour_events WHERE payload LIKE '%teamwork%'").get()).toEqual({ n: 0 });
    const first = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ awarded: 3, duplicates: 0 });
    const ids = (first.json().students as Array<{ studentId: string; commandId: string }>).map((x) => x.commandId);
    expect(ids).toEqual(['s01', 's03', 's04'].map((s) => groupAwardId('grp-cmd-1', s)));
    expect(new Set(ids).size).toBe(3);
    const retry = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload });
    expect(retry.statusCode).toBe(200);
    expect(retry.json()).toMatchObject({ awarded: 0, duplicates: 3 });
    // A retry that adds a student (e.g. the first attempt stopped half-way) awards only the new one.
    const wider = await app.inject({ method: 'POST', url, headers: basic('kiosk'), payload: { ...payload, studentIds: ['s01', 's03', 's04', 's02'] } });
    expect(wider.json()).toMatchObject({ awarded: 1, duplicates: 3 });
    const rows = tmp.store.db.prepare("SELECT student_id AS s, count(*) AS n FROM behaviour_events WHERE payload LIKE '%teamwork%' GROUP BY student_id ORDER BY student_id").all();
    expect(rows).toEqual([{ s: 's01', n: 1 }, { s: 's02', n: 1 }, { s: 's03', n: 1 }, { s: 's04', n: 1 }]);
  });
});

describe('CSV export', () => {
  const csvText = (raw: Buffer) => raw.subarray(3).toString('utf8');

  it('a lesson: UTF-8 with BOM, Chinese header and status words, proper escaping, Chinese names round-trip', async () => {
    clock.set('08:45');
    await attendance.closeLesson(P1, 'scheduled');
    const r = await app.inject({ url: `/api/export/attendance.csv?lessonId=${enc(P1.lessonId)}`, headers: basic('kiosk') });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toMatch(/^attachment; filename="attendance-r203_2025-03-03_p1\.csv"$/);
    const raw = r.rawPayload;
    expect([...raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = csvText(raw).split('\r\n');
    expect(lines[0]).toBe('日期,节次,课程,班级,学号,姓名,状态,刷卡时间');
    expect(lines[1]).toBe('2025-03-03,1,数学,c2-3,s01,张三,出勤,08:02:00');
    expect(lines[3]).toBe('2025-03-03,1,数学,c2-3,s03,"欧阳, ""小明""",迟到,08:09:00');
    expect(lines[4]).toBe('2025-03-03,1,数学,c2-3,s04,赵六,缺勤,');
    expect(lines[5]).toBe('2025-03-03,1,数学,c2-3,s05,王五,请假,');
    expect(lines[6]).toBe('');
    expect(lines).toHaveLength(7);
    // the bytes of a Chinese name are its UTF-8 encoding
    expect(raw.includes(Buffer.from('张三', 'utf8'))).toBe(true);
  });

  it('a date range in English; errors for bad queries', async () => {
    clock.set('09:00');
    lessons.begin(P2);
    await attendance.handleTap({ reader: 'reader', uid: '0000000002', ts: at('09:01') });
    const r = await app.inject({ url: '/api/export/attendance.csv?from=2025-03-01&to=2025-03-03&lang=en', headers: basic('tech') });
    expect(r.statusCode).toBe(200);
    const lines = csvText(r.rawPayload).trimEnd().split('\r\n');
    expect(lines[0]).toBe('Date,Period,Course,Class,Student ID,Name,Status,Tap time');
    expect(lines).toHaveLength(1 + 5 + 5);
    expect(lines[1]).toBe('2025-03-03,1,数学,c2-3,s01,张三,present,08:02:00');
    expect(lines[2]).toBe('2025-03-03,1,数学,c2-3,s02,李四,not marked,');
    expect(lines[7]).toBe('2025-03-03,2,语文,c2-3,s02,李四,late,09:01:00');
    const h = basic('tech');
    for (const q of ['', '?from=2025-03-04&to=2025-03-01', '?from=2024-01-01&to=2025-03-01', '?lessonId=x&from=2025-03-01', '?to=2025-03-01', '?from=2025-03-01&lang=fr']) {
      expect((await app.inject({ url: `/api/export/attendance.csv${q}`, headers: h })).statusCode, q).toBe(400);
    }
    expect((await app.inject({ url: `/api/export/attendance.csv?lessonId=${enc('r203/2020-01-01/p1')}`, headers: h })).statusCode).toBe(404);
  });
});
