/** Manual overrides of the lesson clock: start early, extend, ad hoc, end now; overlaps supersede. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LessonOverrideError } from '../../../edge/lessons/clock.js';
import { ROOM, sh, tempStore, type TempStore } from './fixtures.js';
import { lessonEvents, startClock, useFakeTime, type Harness } from './clock-harness.js';

let tmp: TempStore;
let h: Harness | undefined;
afterEach(async () => {
  await h?.shutdown().catch(() => undefined);
  h = undefined;
  vi.useRealTimers();
  tmp?.remove();
});

const D = '2025-09-01'; // a Monday: p1 08:00-08:45, p2 08:55-09:40, p3 10:00-10:45
const id = (p: number) => `${ROOM}/${D}/p${p}`;
const iso = (t: string) => new Date(sh(D, t)).toISOString();

function setHarness(x: Harness): void {
  h = x;
}

async function at(time: string): Promise<Harness> {
  tmp = tempStore();
  useFakeTime(sh(D, time));
  h = await startClock(tmp);
  return h;
}

describe('LessonClock overrides', () => {
  it('startEarly: the next lesson starts now, once; only the next one may', async () => {
    const h = await at('08:50');
    await expect(h.lc.startEarly(id(3))).rejects.toMatchObject({ code: 'not-next', message: expect.stringContaining(`the next lesson is ${id(2)}`) });
    const started = await h.lc.startEarly(id(2));
    expect(started).toMatchObject({ lessonId: id(2), startsAt: sh(D, '08:50'), endsAt: sh(D, '09:40') });
    await h.advance(10 * 60_000); // past the scheduled 08:55
    expect(h.log).toEqual([`start ${id(2)}`]); // p1 ended before the clock started: it never ran
    expect(h.lc.current()?.startsAt).toBe(sh(D, '08:50'));
  });

  it('startEarly during a lesson ends that one as superseded', async () => {
    const h = await at('08:40');
    await h.lc.startEarly(id(2));
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} superseded`, `start ${id(2)}`]);
    expect(h.lc.find(id(1))?.endsAt).toBe(sh(D, '08:40'));
  });

  it('extend: the end moves (update event), no end at the old time', async () => {
    const h = await at('08:30');
    const ext = await h.lc.extend(5);
    expect(ext.endsAt).toBe(sh(D, '08:50'));
    await h.advance(16 * 60_000); // 08:46
    expect(h.log).toEqual([`start ${id(1)}`, `update ${id(1)} ${iso('08:50')}`]);
    await h.advance(5 * 60_000); // 08:51
    expect(h.log.at(-1)).toBe(`end ${id(1)} scheduled`);
    expect(lessonEvents(h.store)).toEqual([`start ${id(1)}`, `update ${id(1)}`, `end ${id(1)}`]);
  });

  it('an extension into the next lesson is ended by it (superseded)', async () => {
    const h = await at('08:30');
    await h.lc.extend(20); // to 09:05, past p2's start at 08:55
    await h.advance(30 * 60_000);
    expect(h.log).toEqual([`start ${id(1)}`, `update ${id(1)} ${iso('09:05')}`, `end ${id(1)} superseded`, `start ${id(2)}`]);
    expect(h.lc.find(id(1))?.endsAt).toBe(sh(D, '08:55'));
  });

  it('startAdHoc: a numbered session in a free period; it ends by itself', async () => {
    const h = await at('11:00');
    const a = await h.lc.startAdHoc({ course: '答疑', classId: 'c2', minutes: 30, teacherId: 't1' });
    expect(a).toMatchObject({ lessonId: `${ROOM}/${D}/adhoc-1`, period: null, adHoc: true, startsAt: sh(D, '11:00'), endsAt: sh(D, '11:30'), teacherId: 't1' });
    await h.advance(31 * 60_000);
    const b = await h.lc.startAdHoc({ course: '补课', classId: 'c1', minutes: 10 });
    expect(b.lessonId).toBe(`${ROOM}/${D}/adhoc-2`);
    expect(h.log).toEqual([`start ${a.lessonId}`, `end ${a.lessonId} scheduled`, `start ${b.lessonId}`]);
    expect(h.lc.lessonsOn(D).map((l) => l.lessonId)).toEqual([id(1), id(2), id(3), a.lessonId, b.lessonId]);
    await expect(h.lc.startAdHoc({ course: '', classId: 'bad id', minutes: 0 })).rejects.toBeInstanceOf(LessonOverrideError);
  });

  it('startAdHoc during a lesson supersedes it; the next scheduled lesson supersedes the session', async () => {
    const h = await at('08:10');
    const a = await h.lc.startAdHoc({ course: '班会', classId: 'c1', minutes: 60 });
    await h.advance(50 * 60_000); // 09:00: p2 began at 08:55, inside the session
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} superseded`, `start ${a.lessonId}`, `end ${a.lessonId} superseded`, `start ${id(2)}`]);
  });

  it('endNow ends the lesson (manual) and it does not start again; the next one starts on time', async () => {
    const h = await at('08:10');
    const ended = await h.lc.endNow();
    expect(ended.endsAt).toBe(sh(D, '08:10'));
    await h.advance(50 * 60_000);
    expect(h.log).toEqual([`start ${id(1)}`, `end ${id(1)} manual`, `start ${id(2)}`]);
    await expect(h.lc.endNow()).resolves.toMatchObject({ lessonId: id(2) });
    await expect(h.lc.endNow()).rejects.toMatchObject({ code: 'no-lesson' });
    await expect(h.lc.extend(5)).rejects.toMatchObject({ code: 'no-lesson' });
  });

  it('overrides survive a restart; find() reads past lessons from the store', async () => {
    const first = await at('11:00');
    const a = await first.lc.startAdHoc({ course: '答疑', classId: 'c2', minutes: 30 });
    await first.lc.extend(10);
    await first.shutdown();
    vi.setSystemTime(sh(D, '11:35'));
    const h = await startClock(tmp);
    setHarness(h);
    expect(h.lc.current()).toMatchObject({ lessonId: a.lessonId, endsAt: sh(D, '11:40') });
    expect(h.log).toEqual([]);
    await h.advance(10 * 60_000);
    expect(h.log).toEqual([`end ${a.lessonId} scheduled`]);
    vi.setSystemTime(sh('2025-09-03', '07:00'));
    await h.advance(5000);
    expect(h.lc.find(a.lessonId)).toMatchObject({ course: '答疑', startsAt: sh(D, '11:00'), endsAt: sh(D, '11:40'), adHoc: true });
    expect(h.lc.find(id(3))).toMatchObject({ course: '英语' }); // never ran: from the timetable
    expect(h.lc.find('other-room/2025-09-01/p1')).toBeUndefined();
    expect((await h.lc.startAdHoc({ course: 'x', classId: 'c1', minutes: 5 })).lessonId).toBe(`${ROOM}/2025-09-03/adhoc-1`);
  });
});
