import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AttendanceService } from '../../../edge/attendance/service.js';
import { topics } from '../../../edge/schemas/topics.js';
import { attendanceSchema } from '../../../edge/schemas/bus.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { FakeLessons, ROOM, SettableClock, at, count, demoRoster, lesson, recorder, tempStore, type FakeRoster, type Recorder, type TempStore } from './fakes.js';

const P1 = lesson(1, '08:00', '08:45', 'c2-3', '数学');
const P2 = lesson(2, '08:55', '09:40', 'c2-4', '物理', null);
const CONFIG = { openBeforeMinutes: 10, graceMinutes: 5, teacherMissingMinutes: 10 };
const tap = (uid: string, hhmm: string, reader = 'reader') => ({ reader, uid, ts: at(hhmm) });

let clock: SettableClock;
let tmp: TempStore;
let lessons: FakeLessons;
let roster: FakeRoster;
let rec: Recorder;
let svc: AttendanceService;

function service(): AttendanceService {
  return new AttendanceService({
    roomId: ROOM,
    store: tmp.store,
    clock,
    lessons,
    roster: () => roster,
    config: CONFIG,
    publish: rec.publish,
    topics: topics(ROOM),
    raiseAlert: rec.raiseAlert,
    logger: silentLogger(),
    timeZone: 'Asia/Shanghai',
    tickMs: 1000,
  });
}

beforeEach(() => {
  clock = new SettableClock(at('07:30'));
  tmp = tempStore(clock);
  lessons = new FakeLessons(clock, [P1, P2]);
  roster = demoRoster();
  rec = recorder();
  svc = service();
});
afterEach(async () => {
  svc.stop();
  vi.useRealTimers();
  await tmp.cleanup();
});

describe('card taps and the attendance window', () => {
  it('refuses a tap before the window opens and says when it opens', async () => {
    clock.set('07:45');
    const r = await svc.handleTap(tap('0000000001', '07:45'));
    expect(r).toMatchObject({ kind: 'outside-window', studentId: 's01', reason: 'too-early', lessonId: P1.lessonId, opensAt: at('07:50') });
    expect(r.kind === 'outside-window' && r.message).toContain('07:50');
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM attendance')).toBe(0);
    expect(rec.published).toHaveLength(0);
  });

  it('marks present inside the window (before start and within grace), late after grace, and publishes after commit', async () => {
    clock.set('07:52');
    const early = await svc.handleTap(tap('0000000001', '07:52'));
    expect(early).toMatchObject({ kind: 'marked', lessonId: P1.lessonId, studentId: 's01', status: 'present' });
    clock.set('08:05');
    expect(await svc.handleTap(tap('0000000002', '08:05'))).toMatchObject({ kind: 'marked', status: 'present' });
    clock.set('08:05:01');
    expect(await svc.handleTap(tap('0000000003', '08:05:01'))).toMatchObject({ kind: 'marked', status: 'late' });

    const rows = tmp.store.db.prepare('SELECT student_id, status, source, tap_ts FROM attendance ORDER BY id').all();
    expect(rows).toEqual([
      { student_id: 's01', status: 'present', source: 'card', tap_ts: at('07:52') },
      { student_id: 's02', status: 'present', source: 'card', tap_ts: at('08:05') },
      { student_id: 's03', status: 'late', source: 'card', tap_ts: at('08:05:01') },
    ]);
    // each mark has exactly one event-log row, and its row points at it
    const events = tmp.store.eventsAfter(0, 100).filter((e) => e.stream === 'attendance' && e.type === 'mark');
    expect(events).toHaveLength(3);
    const seqs = tmp.store.db.prepare<[], { seq: number }>('SELECT seq FROM attendance ORDER BY id').all().map((r) => r.seq);
    expect(seqs).toEqual(events.map((e) => e.seq));
    expect(rec.published.map((p) => p.topic)).toEqual(Array(3).fill(`classroom/${ROOM}/attendance`));
    for (const p of rec.published) expect(attendanceSchema.safeParse(p.payload).success).toBe(true);
    expect(rec.published[2]!.payload).toMatchObject({ lessonId: P1.lessonId, studentId: 's03', status: 'late', source: 'card' });
  });

  it('deduplicates repeated taps of a marked student: no new row, event or publish', async () => {
    clock.set('08:01');
    await svc.handleTap(tap('0000000001', '08:01'));
    const seq = tmp.store.lastSeq();
    const again = await svc.handleTap(tap('0000000001', '08:20'));
    const concurrent = await Promise.all([svc.handleTap(tap('0000000002', '08:21')), svc.handleTap(tap('0000000002', '08:21'))]);
    expect(again).toEqual({ kind: 'duplicate', lessonId: P1.lessonId, studentId: 's01', status: 'present' });
    expect(concurrent.map((r) => r.kind).sort()).toEqual(['duplicate', 'marked']);
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM attendance')).toBe(2);
    expect(tmp.store.eventsAfter(seq, 100).filter((e) => e.type === 'mark')).toHaveLength(1);
    expect(rec.published).toHaveLength(2);
  });

  it('refuses a tap after the lesson ended and names the lesson', async () => {
    lessons.plan = [P1];
    clock.set('08:00');
    lessons.begin(P1);
    clock.set('08:45');
    await svc.closeLesson(P1, 'scheduled');
    clock.set('08:46');
    const r = await svc.handleTap(tap('0000000001', '08:46'));
    expect(r).toMatchObject({ kind: 'outside-window', reason: 'ended', lessonId: P1.lessonId });
    // the closed lesson's absent mark is not changed by the late tap
    expect(tmp.store.db.prepare("SELECT status FROM attendance WHERE student_id = 's01'").get()).toEqual({ status: 'absent' });
  });

  it('a tap with no lesson today says so', async () => {
    lessons.plan = [];
    expect(await svc.handleTap(tap('0000000001', '10:00'))).toMatchObject({ kind: 'outside-window', reason: 'no-lesson' });
  });

  it('走班: a student of another class is not marked in this lesson, but counts for the next lesson whose window is open', async () => {
    clock.set('08:20');
    const r = await svc.handleTap(tap('0000000010', '08:20'));
    expect(r).toMatchObject({ kind: 'not-expected', lessonId: P1.lessonId, studentId: 's10', classId: 'c2-4' });
    clock.set('08:46');
    // P1 still in progress until 08:45; at 08:46 only P2's window (opens 08:45) holds the tap
    expect(await svc.handleTap(tap('0000000010', '08:46'))).toMatchObject({ kind: 'marked', lessonId: P2.lessonId, status: 'present' });
    expect(svc.summary(P2.lessonId)).toMatchObject({ expected: 1, present: 1, started: true, open: true });
  });

  it('rejects garbage input without throwing', async () => {
    await expect(svc.handleTap({ reader: 'reader', uid: 'not-hex!', ts: at('08:00') })).resolves.toMatchObject({ kind: 'rejected' });
    await expect(svc.handleTap(null)).resolves.toMatchObject({ kind: 'rejected' });
    await expect(svc.handleTap({ reader: '', uid: '01', ts: -1 })).resolves.toMatchObject({ kind: 'rejected' });
    expect(tmp.store.lastSeq()).toBe(0);
  });
});

describe('unknown cards', () => {
  it('raise an alert with the UID, are counted per lesson, never throw', async () => {
    clock.set('08:10');
    const r = await svc.handleTap(tap('deadbeef01', '08:10'));
    expect(r).toEqual({ kind: 'unknown-card', uid: 'DEADBEEF01', lessonId: P1.lessonId });
    await svc.handleTap(tap('DEADBEEF01', '08:11'));
    expect(rec.alerts).toHaveLength(2);
    expect(rec.alerts[0]).toMatchObject({ code: 'unknown-card', severity: 'warning', data: { uid: 'DEADBEEF01', reader: 'reader', lessonId: P1.lessonId } });
    expect(rec.alerts[0]!.message).toContain('DEADBEEF01');
    const s = svc.summary(P1.lessonId)!;
    expect(s.unknownTaps).toBe(2);
    expect(s.unknownCards.map((u) => u.uid)).toEqual(['DEADBEEF01', 'DEADBEEF01']);
    expect(tmp.store.eventsAfter(0, 100).filter((e) => e.type === 'unknown-card')).toHaveLength(2);
  });

  it('outside any lesson: alert, stored without a lesson', async () => {
    lessons.plan = [];
    expect(await svc.handleTap(tap('CAFE000001', '12:00'))).toEqual({ kind: 'unknown-card', uid: 'CAFE000001', lessonId: null });
    expect(rec.alerts).toHaveLength(1);
    expect(tmp.store.db.prepare('SELECT lesson_id, uid FROM unknown_taps').all()).toEqual([{ lesson_id: null, uid: 'CAFE000001' }]);
  });
});

describe('lesson end', () => {
  it('marks the unmarked absent, or leave when an approved leave covers the lesson; summary numbers', async () => {
    await svc.start();
    clock.set('08:00');
    lessons.begin(P1);
    await vi.waitFor(() => expect(svc.summary(P1.lessonId)?.started).toBe(true));
    await svc.handleTap(tap('0000000001', '08:00'));
    clock.set('08:12');
    await svc.handleTap(tap('0000000002', '08:12'));
    await svc.handleTap(tap('ABCDEF0001', '08:13'));
    const during = svc.summary(P1.lessonId)!;
    expect(during).toMatchObject({ expected: 5, present: 1, late: 1, absent: 0, leave: 0, unmarked: 3, unknownTaps: 1, open: true });
    expect(during.students.find((s) => s.studentId === 's05')).toMatchObject({ status: null, onLeave: true, name: '王五' });

    clock.set('08:45');
    rec.published.length = 0;
    expect(await svc.closeLesson(P1, 'scheduled')).toBe(3);
    expect(await svc.closeLesson(P1, 'scheduled')).toBe(0); // idempotent
    const s = svc.summary(P1.lessonId)!;
    expect(s).toMatchObject({ expected: 5, present: 1, late: 1, absent: 2, leave: 1, unmarked: 0, unknownTaps: 1, open: false });
    expect(s.students.map((x) => [x.studentId, x.status, x.source])).toEqual([
      ['s01', 'present', 'card'],
      ['s02', 'late', 'card'],
      ['s03', 'absent', 'auto'],
      ['s04', 'absent', 'auto'],
      ['s05', 'leave', 'auto'],
    ]);
    expect(rec.published.map((p) => [p.payload.studentId, p.payload.status, p.payload.source])).toEqual([
      ['s03', 'absent', 'auto'],
      ['s04', 'absent', 'auto'],
      ['s05', 'leave', 'auto'],
    ]);
    // every record is in the event log exactly once
    const marks = tmp.store.eventsAfter(0, 1000).filter((e) => e.stream === 'attendance' && e.type === 'mark');
    expect(marks.map((e) => (JSON.parse(e.payload) as { studentId: string }).studentId).sort()).toEqual(['s01', 's02', 's03', 's04', 's05']);
    expect(tmp.store.eventsAfter(0, 1000).filter((e) => e.type === 'session-open')).toHaveLength(1);
    expect(tmp.store.eventsAfter(0, 1000).filter((e) => e.type === 'session-close')).toHaveLength(1);
  });

  it('the clock\'s end event closes the lesson', async () => {
    await svc.start();
    clock.set('08:45');
    lessons.finish(P1);
    await vi.waitFor(() => expect(svc.summary(P1.lessonId)).toMatchObject({ absent: 4, leave: 1, open: false }));
  });

  it('a leave for other periods does not cover this lesson', async () => {
    roster.leaves = [{ studentId: 's05', from: '2025-03-03', to: '2025-03-03', periods: [3, 4] }];
    await svc.closeLesson(P1, 'scheduled');
    expect(svc.summary(P1.lessonId)!.students.find((s) => s.studentId === 's05')?.status).toBe('absent');
  });
});

describe('teacher cards', () => {
  it('check the teacher in once per lesson and unlock the kiosk, also outside lessons', async () => {
    clock.set('07:55');
    const first = await svc.handleTap(tap('00000000AA', '07:55'));
    expect(first).toEqual({ kind: 'unlock', teacherId: 't01', name: '陈老师', lessonId: P1.lessonId, checkIn: true });
    const again = await svc.handleTap(tap('00000000aa', '08:30'));
    expect(again).toMatchObject({ kind: 'unlock', checkIn: false, lessonId: P1.lessonId });
    expect(svc.summary(P1.lessonId)!.teacherCheckIn).toEqual({ teacherId: 't01', name: '陈老师', ts: at('07:55') });
    clock.set('12:00');
    expect(await svc.handleTap(tap('00000000AA', '12:00'))).toEqual({ kind: 'unlock', teacherId: 't01', name: '陈老师', lessonId: null, checkIn: false });
    const types = tmp.store.eventsAfter(0, 100).map((e) => e.type);
    expect(types.filter((t) => t === 'teacher-checkin')).toHaveLength(1);
    expect(types.filter((t) => t === 'teacher-unlock')).toHaveLength(1);
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM attendance')).toBe(0);
  });

  it('alert teacher-missing once, teacherMissingMinutes into a lesson without a check-in', async () => {
    await svc.start();
    clock.set('08:00');
    lessons.begin(P1);
    await vi.waitFor(() => expect(svc.summary(P1.lessonId)?.started).toBe(true));
    clock.set('08:09');
    await svc.tick();
    expect(rec.alerts).toHaveLength(0);
    clock.set('08:10');
    await svc.tick();
    await svc.tick();
    expect(rec.alerts).toEqual([expect.objectContaining({ code: 'teacher-missing', data: expect.objectContaining({ lessonId: P1.lessonId }) })]);
    expect(tmp.store.eventsAfter(0, 100).filter((e) => e.type === 'teacher-missing')).toHaveLength(1);
  });

  it('no alert when the teacher checked in; the periodic timer drives the check', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    clock.set('08:00');
    await svc.start(); // P1 is current: its attendance opens at start
    expect(svc.summary(P1.lessonId)?.started).toBe(true);
    clock.set('08:11');
    await vi.advanceTimersByTimeAsync(1000);
    await vi.waitFor(() => expect(rec.alerts).toHaveLength(1));

    // next lesson, with a teacher who checks in
    const P3 = lesson(3, '10:00', '10:45', 'c2-3', '语文', 't01');
    lessons.plan.push(P3);
    clock.set('09:58');
    await svc.handleTap(tap('00000000AA', '09:58'));
    lessons.begin(P3);
    clock.set('10:20');
    await vi.advanceTimersByTimeAsync(1000);
    await svc.tick();
    expect(rec.alerts.filter((a) => a.data?.lessonId === P3.lessonId)).toHaveLength(0);
  });
});

describe('corrections', () => {
  it('are audited (who, old, new, when) with the correction row and events in one transaction; idempotent by commandId', async () => {
    clock.set('08:20');
    await svc.handleTap(tap('0000000001', '08:20')); // late
    clock.set('08:30');
    const actor = { username: 'kiosk', role: 'teacher' };
    const before = tmp.store.lastSeq();
    const r = await svc.correct(P1.lessonId, 's01', 'present', actor, { commandId: 'cmd-1' });
    expect(r).toMatchObject({ kind: 'corrected', old: 'late', status: 'present' });
    const audit = tmp.store.db.prepare('SELECT actor, role, action, target, args, result, ts FROM audit_log').all() as Array<Record<string, unknown>>;
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actor: 'kiosk', role: 'teacher', action: 'attendance.correct', result: 'ok', ts: at('08:30') });
    expect(JSON.parse(String(audit[0]!.args))).toEqual({ lessonId: P1.lessonId, studentId: 's01', old: 'late', status: 'present', commandId: 'cmd-1' });
    expect(tmp.store.db.prepare('SELECT old_status, new_status, actor, ts FROM attendance_corrections').all()).toEqual([
      { old_status: 'late', new_status: 'present', actor: 'kiosk', ts: at('08:30') },
    ]);
    const events = tmp.store.eventsAfter(before, 100);
    expect(events.map((e) => [e.stream, e.type])).toEqual([
      ['attendance', 'correction'],
      ['audit', 'entry'],
    ]);
    expect(events[1]!.seq).toBe(events[0]!.seq + 1);
    expect(svc.summary(P1.lessonId)!.students[0]).toMatchObject({ status: 'present', source: 'teacher' });
    expect(rec.published.at(-1)?.payload).toMatchObject({ studentId: 's01', status: 'present', source: 'teacher' });

    const again = await svc.correct(P1.lessonId, 's01', 'present', actor, { commandId: 'cmd-1' });
    expect(again.kind).toBe('duplicate');
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM audit_log')).toBe(1);
  });

  it('work after the lesson ended, and a marked absentee can be set present', async () => {
    await svc.closeLesson(P1, 'scheduled');
    clock.set('11:00');
    const r = await svc.correct(P1.lessonId, 's03', 'present', { username: 'tech', role: 'technician' });
    expect(r).toMatchObject({ kind: 'corrected', old: 'absent', status: 'present' });
    expect(svc.summary(P1.lessonId)).toMatchObject({ present: 1, absent: 3, leave: 1 });
  });

  it('name the problem: unknown lesson, unknown student, lesson not open yet', async () => {
    const actor = { username: 'kiosk', role: 'teacher' };
    await expect(svc.correct('r203/2025-03-03/p9', 's01', 'present', actor)).rejects.toMatchObject({ code: 'unknown-lesson' });
    clock.set('08:10');
    await expect(svc.correct(P1.lessonId, 'nobody', 'present', actor)).rejects.toMatchObject({ code: 'unknown-student', message: expect.stringContaining('nobody') });
    clock.set('07:00');
    await expect(svc.correct(P2.lessonId, 's10', 'present', actor)).rejects.toMatchObject({ code: 'not-open' });
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM audit_log')).toBe(0);
  });
});

describe('restart', () => {
  it('resumes mid-lesson from the store, and closes a lesson that ended while stopped', async () => {
    clock.set('08:00');
    await svc.start();
    await svc.handleTap(tap('0000000001', '08:01'));
    svc.stop();
    await tmp.reopen(clock);
    svc = service();
    clock.set('08:10');
    await svc.start();
    expect(await svc.handleTap(tap('0000000001', '08:10'))).toMatchObject({ kind: 'duplicate' });
    expect(await svc.handleTap(tap('0000000002', '08:10'))).toMatchObject({ kind: 'marked', status: 'late' });
    svc.stop();

    // down over the end of the lesson
    await tmp.reopen(clock);
    svc = service();
    clock.set('09:00');
    await svc.start();
    expect(svc.summary(P1.lessonId)).toMatchObject({ present: 1, late: 1, absent: 2, leave: 1, open: false });
    const opens = tmp.store.eventsAfter(0, 1000).filter((e) => e.type === 'session-open' && e.entityId === P1.lessonId);
    expect(opens).toHaveLength(1);
    // P2 is in progress at 09:00: its attendance opened at start
    expect(svc.summary(P2.lessonId)).toMatchObject({ started: true, open: true });
  });
});
