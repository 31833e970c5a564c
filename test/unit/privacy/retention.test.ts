import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AttendanceService } from '../../../edge/attendance/service.js';
import { ACKED_SEQ_KEY, RetentionService } from '../../../edge/privacy/retention.js';
import { topics } from '../../../edge/schemas/topics.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { FakeLessons, ROOM, SettableClock, at, count, demoRoster, lesson, recorder, tempStore, type Recorder, type TempStore } from '../attendance/fakes.js';

const DAY = 86_400_000;
const P1 = lesson(1, '08:00', '08:45', 'c2-3', '数学');

let clock: SettableClock;
let tmp: TempStore;
let rec: Recorder;

function retention(days = 30, intervalMs?: number): RetentionService {
  return new RetentionService({ store: tmp.store, clock, config: { retentionDays: days }, raiseAlert: rec.raiseAlert, logger: silentLogger(), ...(intervalMs ? { intervalMs } : {}) });
}

function setAcked(seq: number): void {
  tmp.store.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(ACKED_SEQ_KEY, String(seq));
}

/** A lesson with marks, a correction, a teacher check-in, an unknown tap, a card tap and a behaviour event. */
async function oneLessonOfData(): Promise<void> {
  const roster = demoRoster();
  const lessons = new FakeLessons(clock, [P1]);
  const svc = new AttendanceService({
    roomId: ROOM,
    store: tmp.store,
    clock,
    lessons,
    roster: () => roster,
    config: { openBeforeMinutes: 10, graceMinutes: 5, teacherMissingMinutes: 10 },
    publish: rec.publish,
    topics: topics(ROOM),
    raiseAlert: rec.raiseAlert,
    logger: silentLogger(),
  });
  clock.set('08:01');
  await svc.handleTap({ reader: 'r', uid: '0000000001', ts: at('08:01') });
  await svc.handleTap({ reader: 'r', uid: '00000000AA', ts: at('08:01') });
  await svc.handleTap({ reader: 'r', uid: 'FFFF0001', ts: at('08:02') });
  await tmp.store.recordCardTap({ reader: 'r', uid: '0000000001', ts: at('08:01'), lessonId: P1.lessonId });
  await tmp.store.recordBehaviour({ source: 'cam', kind: 'hand-raise', studentId: 's01', payload: { kind: 'hand-raise', ts: at('08:03') }, ts: at('08:03'), lessonId: P1.lessonId });
  await tmp.store.recordReading({ device: 'air', metric: 'co2', value: 600, unit: 'ppm', ts: at('08:03') });
  clock.set('08:45');
  await svc.closeLesson(P1, 'scheduled');
  await svc.correct(P1.lessonId, 's02', 'leave', { username: 'kiosk', role: 'teacher' });
  rec.alerts.length = 0; // the unknown card's alert
}

const PERSONAL = ['attendance', 'attendance_sessions', 'attendance_corrections', 'teacher_checkins', 'unknown_taps', 'card_taps', 'behaviour_events'];
const rows = (table: string): number => count(tmp.store, `SELECT COUNT(*) AS n FROM ${table}`);

beforeEach(async () => {
  clock = new SettableClock(at('07:00'));
  tmp = tempStore(clock);
  rec = recorder();
  await oneLessonOfData();
});
afterEach(async () => {
  vi.useRealTimers();
  await tmp.cleanup();
});

describe('retention', () => {
  it('keeps records younger than retention even when synced', async () => {
    setAcked(tmp.store.lastSeq());
    clock.t = at('08:45') + 29 * DAY;
    const r = await retention(30).run();
    expect(Object.values(r.deleted).every((n) => n === 0)).toBe(true);
    expect(r.eventLogPruned).toBe(0);
    for (const t of PERSONAL) expect(rows(t), t).toBeGreaterThan(0);
    expect(rec.alerts.filter((a) => a.code === 'retention-blocked')).toHaveLength(0);
  });

  it('deletes synced personal records past retention and prunes acknowledged old events; seq stays monotonic', async () => {
    const last = tmp.store.lastSeq();
    setAcked(last);
    clock.t = at('08:45') + 31 * DAY;
    const r = await retention(30).run();
    for (const t of PERSONAL) expect(rows(t), t).toBe(0);
    expect(r.deleted).toMatchObject({ attendance: 5, attendance_corrections: 1, teacher_checkins: 1, unknown_taps: 1, card_taps: 1, behaviour_events: 1, attendance_sessions: 1 });
    expect(r.eventLogPruned).toBe(last);
    expect(rows('sensor_readings')).toBe(1); // not personal
    expect(rows('audit_log')).toBe(1); // accountability is kept
    expect(tmp.store.lastSeq()).toBe(last);
    const next = await tmp.store.recordReading({ device: 'air', metric: 'co2', value: 601, unit: 'ppm', ts: clock.now() });
    expect(next.seq).toBe(last + 1);
    expect(rec.alerts).toHaveLength(0);
  });

  it('never deletes unsynced records: keeps them, alerts retention-blocked, keeps their events', async () => {
    // the cloud acknowledged only the first two events: the session's opening and s01's mark
    setAcked(2);
    expect(tmp.store.eventsAfter(0, 2).map((e) => e.type)).toEqual(['session-open', 'mark']);
    const last = tmp.store.lastSeq();
    clock.t = at('08:45') + 40 * DAY;
    const r = await retention(30).run();
    expect(r.ackedSeq).toBe(2);
    expect(r.eventLogPruned).toBe(2);
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM event_log')).toBe(last - 2);
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM event_log WHERE seq <= 2')).toBe(0);
    // every remaining personal row has its event still in the log
    const orphaned = count(tmp.store, 'SELECT COUNT(*) AS n FROM attendance a WHERE NOT EXISTS (SELECT 1 FROM event_log e WHERE e.seq = a.seq)');
    expect(orphaned).toBe(0);
    expect(r.deleted).toMatchObject({ attendance: 1, attendance_sessions: 0 });
    expect(tmp.store.db.prepare('SELECT student_id FROM attendance ORDER BY student_id').all()).toEqual(
      ['s02', 's03', 's04', 's05'].map((student_id) => ({ student_id })),
    );
    expect(rows('attendance_sessions')).toBe(1);
    expect(rows('card_taps') + rows('behaviour_events')).toBe(2);
    const blocked = rec.alerts.filter((a) => a.code === 'retention-blocked');
    expect(blocked).toHaveLength(1);
    expect(blocked[0]!.data).toMatchObject({ ackedSeq: 2, retentionDays: 30, blocked: expect.objectContaining({ attendance: 4, card_taps: 1, behaviour_events: 1 }) });
    expect(r.blocked.attendance).toBe(4);
  });

  it('with no acknowledgement at all (no sync yet) deletes nothing', async () => {
    clock.t = at('08:45') + 400 * DAY;
    const r = await retention(30).run();
    expect(r.ackedSeq).toBe(0);
    expect(Object.values(r.deleted).reduce((a, b) => a + b, 0)).toBe(0);
    expect(r.eventLogPruned).toBe(0);
    expect(rec.alerts.map((a) => a.code)).toEqual(['retention-blocked']);
  });

  it('runs at start and then every interval', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    setAcked(tmp.store.lastSeq());
    clock.t = at('08:45') + 10 * DAY;
    const svc = retention(30, DAY);
    const run = vi.spyOn(svc, 'run');
    svc.start();
    await vi.waitFor(() => expect(run).toHaveBeenCalledTimes(1));
    expect(rows('attendance')).toBe(5);
    clock.t = at('08:45') + 31 * DAY;
    await vi.advanceTimersByTimeAsync(DAY);
    await vi.waitFor(() => expect(rows('attendance')).toBe(0));
    expect(run).toHaveBeenCalledTimes(2);
    svc.stop();
  });

  it('refuses a nonsensical retention', () => {
    expect(() => retention(0)).toThrow(/retentionDays/);
  });
});
