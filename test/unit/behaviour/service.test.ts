import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BehaviourService } from '../../../edge/behaviour/service.js';
import { configSchema } from '../../../edge/config/schema.js';
import { behaviourEventSchema } from '../../../edge/schemas/bus.js';
import { topics } from '../../../edge/schemas/topics.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { FakeLessons, ROOM, SettableClock, at, count, demoRoster, lesson, recorder, tempStore, type Recorder, type TempStore } from '../attendance/fakes.js';

const P1 = lesson(1, '08:00', '08:45', 'c2-3', '数学');
const P2 = lesson(2, '08:55', '09:40', 'c2-3', '语文');
const CATEGORIES = configSchema.parse({ version: 1, room: { id: ROOM, name: 'x' }, dataDir: '/tmp/x', broker: {} }).behaviour.categories;
const teacher = { username: 'kiosk', role: 'teacher' };

let clock: SettableClock;
let tmp: TempStore;
let lessons: FakeLessons;
let rec: Recorder;
let svc: BehaviourService;

beforeEach(() => {
  clock = new SettableClock(at('08:10'));
  tmp = tempStore(clock);
  lessons = new FakeLessons(clock, [P1, P2]);
  rec = recorder();
  const roster = demoRoster();
  svc = new BehaviourService({
    roomId: ROOM,
    store: tmp.store,
    clock,
    lessons,
    roster: () => roster,
    categories: CATEGORIES,
    publish: rec.publish,
    topics: topics(ROOM),
    logger: silentLogger(),
  });
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('kiosk awards', () => {
  it('are idempotent by commandId: stored once, published once', async () => {
    const a = await svc.award({ studentId: 's01', categoryId: 'answer', actor: teacher, commandId: 'c-1' });
    const b = await svc.award({ studentId: 's01', categoryId: 'answer', actor: teacher, commandId: 'c-1' });
    expect(a).toMatchObject({ duplicate: false, lessonId: P1.lessonId, event: { kind: 'praise', category: 'answer', points: 1, studentId: 's01' } });
    expect(b).toMatchObject({ duplicate: true, id: a.id, seq: a.seq, lessonId: P1.lessonId });
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM behaviour_events')).toBe(1);
    expect(tmp.store.eventsAfter(0, 10).filter((e) => e.stream === 'behaviour')).toHaveLength(1);
    expect(rec.published).toHaveLength(1);
    expect(rec.published[0]!.topic).toBe(`classroom/${ROOM}/behaviour`);
    expect(behaviourEventSchema.safeParse(rec.published[0]!.payload).success).toBe(true);
    await svc.award({ studentId: 's01', categoryId: 'answer', actor: teacher, commandId: 'c-2' });
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM behaviour_events')).toBe(2);
  });

  it('take points from the configured category, per student or per group', async () => {
    const r = await svc.award({ groupId: 'g1', categoryId: 'distracted', actor: teacher, commandId: 'c-3' });
    expect(r.event).toMatchObject({ kind: 'remark', points: -1, groupId: 'g1' });
    const row = tmp.store.db.prepare('SELECT source, kind, student_id, lesson_id FROM behaviour_events').get();
    expect(row).toEqual({ source: 'kiosk', kind: 'remark', student_id: null, lesson_id: P1.lessonId });
  });

  it('refuse bad input with a named error', async () => {
    await expect(svc.award({ studentId: 's01', categoryId: 'nope', actor: teacher, commandId: 'c-4' })).rejects.toMatchObject({
      code: 'unknown-category',
      message: expect.stringContaining('answer, teamwork'),
    });
    await expect(svc.award({ studentId: 's01', groupId: 'g', categoryId: 'answer', actor: teacher, commandId: 'c-5' })).rejects.toMatchObject({ code: 'invalid-input' });
    await expect(svc.award({ studentId: 'ghost', categoryId: 'answer', actor: teacher, commandId: 'c-6' })).rejects.toMatchObject({ code: 'unknown-student' });
    await expect(svc.award({ lessonId: 'r203/2025-03-03/p9', studentId: 's01', categoryId: 'answer', actor: teacher, commandId: 'c-7' })).rejects.toMatchObject({
      code: 'unknown-lesson',
    });
    await expect(svc.award({ studentId: 's01', categoryId: 'answer', actor: teacher, commandId: '' })).rejects.toMatchObject({ code: 'invalid-input' });
    expect(tmp.store.lastSeq()).toBe(0);
  });
});

describe('bus events', () => {
  it('are tied to the lesson in progress by the edge, not by the publisher; praise points come from config', async () => {
    const r = await svc.ingest({ kind: 'praise', category: 'answer', points: 10, studentId: 's02', ts: at('08:10'), lessonId: 'forged' }, 'cam');
    expect(r).toMatchObject({ kind: 'recorded', lessonId: P1.lessonId });
    const row = tmp.store.db.prepare<[], { payload: string; lesson_id: string }>('SELECT payload, lesson_id FROM behaviour_events').get()!;
    expect(row.lesson_id).toBe(P1.lessonId);
    expect(JSON.parse(row.payload)).toMatchObject({ points: 1 });
    expect(JSON.parse(row.payload)).not.toHaveProperty('lessonId');
    clock.set('08:50'); // break
    expect(await svc.ingest({ kind: 'hand-raise', studentId: 's02', ts: at('08:50') }, 'cam')).toMatchObject({ kind: 'recorded', lessonId: null });
  });

  it('reject invalid events and unknown categories without throwing; dedup by publisher id', async () => {
    expect(await svc.ingest({ kind: 'answer', ts: at('08:10') }, 'clicker')).toMatchObject({ kind: 'rejected' });
    expect(await svc.ingest('garbage', 'clicker')).toMatchObject({ kind: 'rejected' });
    expect(await svc.ingest({ kind: 'praise', category: 'made-up', points: 5, ts: at('08:10') }, 'cam')).toMatchObject({
      kind: 'rejected',
      reason: expect.stringContaining('made-up'),
    });
    const e = { kind: 'hand-raise', id: 'cam-77', studentId: 's01', ts: at('08:10') };
    expect((await svc.ingest(e, 'cam')).kind).toBe('recorded');
    expect((await svc.ingest(e, 'cam')).kind).toBe('duplicate');
    expect(count(tmp.store, 'SELECT COUNT(*) AS n FROM behaviour_events')).toBe(1);
  });

  it('lessonIdFor gives the lesson in progress at a time, none between lessons', () => {
    expect(svc.lessonIdFor(at('08:00'))).toBe(P1.lessonId);
    expect(svc.lessonIdFor(at('08:50'))).toBeUndefined();
    expect(svc.lessonIdFor(at('09:00'))).toBe(P2.lessonId);
  });
});

describe('summary', () => {
  it('computes points, clicker answer and correct rates, participation and activity', async () => {
    const ts = at('08:10');
    const answer = (studentId: string | undefined, questionId: string, a: string, correct?: boolean) =>
      svc.ingest({ kind: 'answer', questionId, answer: a, ...(correct !== undefined ? { correct } : {}), ...(studentId ? { studentId } : {}), ts }, 'clicker');
    // q1: s01 B (wrong, then changes to A: right), s02 A right, s03 C wrong, one anonymous A
    await answer('s01', 'q1', 'B', false);
    await answer('s02', 'q1', 'A', true);
    await answer('s03', 'q1', 'C', false);
    await answer('s01', 'q1', 'A', true);
    await answer(undefined, 'q1', 'A', true);
    // q2: only s10 (not in this class) answered, correctness unknown
    await answer('s10', 'q2', 'D');
    await svc.ingest({ kind: 'hand-raise', studentId: 's04', ts }, 'cam');
    await svc.ingest({ kind: 'hand-raise', studentId: 's04', ts }, 'cam');
    await svc.ingest({ kind: 'hand-raise', ts }, 'cam');
    await svc.ingest({ kind: 'activity', activity: 'teacher-lecturing', ts }, 'cam');
    await svc.ingest({ kind: 'activity', activity: 'teacher-lecturing', ts }, 'cam');
    await svc.ingest({ kind: 'activity', activity: 'student-discussion', ts }, 'cam');
    await svc.award({ studentId: 's05', categoryId: 'focus', actor: teacher, commandId: 'k1' });
    await svc.award({ studentId: 's05', categoryId: 'distracted', actor: teacher, commandId: 'k2' }); // remark: no participation
    await svc.award({ studentId: 's02', categoryId: 'answer', actor: teacher, commandId: 'k3' });
    await svc.award({ groupId: 'g1', categoryId: 'teamwork', actor: teacher, commandId: 'k4' });
    // another lesson's event is not counted
    clock.set('09:00');
    await svc.ingest({ kind: 'hand-raise', studentId: 's05', ts: at('09:00') }, 'cam');

    const s = svc.summary(P1.lessonId)!;
    expect(s.expected).toBe(5);
    expect(s.questions).toEqual([
      { questionId: 'q1', answered: 3, anonymous: 1, correct: 3, correctRate: 3 / 4, answerRate: 3 / 5, answers: { A: 3, C: 1 } },
      { questionId: 'q2', answered: 1, anonymous: 0, correct: 0, correctRate: null, answerRate: 0, answers: { D: 1 } },
    ]);
    // participants among the expected: s01, s02, s03 (answers), s04 (hand-raise), s05 (praise) = 5 of 5
    expect(s.participation).toEqual({ participants: 5, expected: 5, rate: 1, studentIds: ['s01', 's02', 's03', 's04', 's05'] });
    expect(s.handRaises).toEqual({ total: 3, byStudent: { s04: 2 } });
    expect(s.activity).toEqual({ 'teacher-lecturing': 2, 'student-discussion': 1 });
    expect(s.points.total).toBe(2);
    expect(s.points.byStudent).toEqual([
      { studentId: 's02', name: '李四', total: 1, count: 1, byCategory: { answer: 1 } },
      { studentId: 's05', name: '王五', total: 0, count: 2, byCategory: { focus: 1, distracted: -1 } },
    ]);
    expect(s.points.byGroup).toEqual([{ groupId: 'g1', total: 1, count: 1, byCategory: { teamwork: 1 } }]);
    expect(s.points.byCategory).toContainEqual({ categoryId: 'distracted', label: '注意力不集中', kind: 'remark', count: 1, points: -1 });
    expect(svc.summary(P2.lessonId)!.handRaises.total).toBe(1);
  });

  it('participation without answers is partial; an unknown lesson with nothing recorded has no summary', async () => {
    await svc.ingest({ kind: 'hand-raise', studentId: 's01', ts: at('08:10') }, 'cam');
    expect(svc.summary(P1.lessonId)!.participation).toMatchObject({ participants: 1, rate: 1 / 5 });
    expect(svc.summary('r203/2025-01-01/p1')).toBeUndefined();
  });
});
