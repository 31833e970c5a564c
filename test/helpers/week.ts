/**
 * A simulated school week of one room, generated into a real edge store under
 * a fake clock (fast: no real week): on school days a timetable of lessons,
 * each with a lesson start, a card tap and an attendance mark per student,
 * behaviour events, an audit entry, a lesson end and the lesson's
 * completeness receipt; all week long, sensor readings of every metric at a
 * fixed interval. Shared by test/integration/outbox-week-mosquitto.test.ts
 * (the outbox cap during a week offline) and bench/sync-drain.ts (draining
 * a busy room's week to the cloud).
 */
import type { Store } from '../../edge/store/index.js';
import type { LessonReceipts } from '../../sync/receipts.js';

const MIN = 60_000;
const HOUR = 3_600_000;

export interface WeekShape {
  /** Midnight (UTC) of the Monday the week starts on. */
  monday: number;
  days: number;
  /** Days with lessons, from Monday. */
  schoolDays: number;
  /** Lessons per school day, one an hour from `firstLessonHour`, 45 minutes each. */
  periods: number;
  firstLessonHour: number;
  students: number;
  /** Behaviour events per lesson (one a minute from the start). */
  behaviourPerLesson: number;
  /** Sensor metrics of the room's air sensor, each read every `readingEveryMs`. */
  metrics: string[];
  readingEveryMs: number;
}

/** The integration test's week: 30 students, 8 lessons a day, 2 metrics a minute. */
export const TEST_WEEK: WeekShape = {
  monday: Date.UTC(2025, 2, 3, 0, 0, 0), // 2025-03-03, a Monday (UTC for simplicity)
  days: 7,
  schoolDays: 5,
  periods: 8,
  firstLessonHour: 8,
  students: 30,
  behaviourPerLesson: 12,
  metrics: ['co2', 'temperature'],
  readingEveryMs: MIN,
};

/**
 * A busy room's week as docs/sync.md sizes the outbox: 45 students, 9 lessons
 * a day, 12 sensor metrics every 30 s.
 */
export const BUSY_WEEK: WeekShape = {
  ...TEST_WEEK,
  periods: 9,
  students: 45,
  behaviourPerLesson: 20,
  metrics: ['co2', 'temperature', 'humidity', 'pm25', 'pm10', 'tvoc', 'noise', 'lux', 'hcho', 'pressure', 'power-panel', 'power-projector'],
  readingEveryMs: 30_000,
};

export interface WeekGenerated {
  /** Events generated per stream (what the store was asked to log; the outbox policy may thin sensor readings). */
  generated: Record<string, number>;
  lessonIds: string[];
}

export interface WeekDeps {
  roomId: string;
  store: Store;
  receipts: LessonReceipts;
  /** Sets the fake clock that stamps the store's events. */
  setNow: (ms: number) => void;
  /** Called after each simulated hour (the test checks the outbox there). */
  afterHour?: (hour: number) => void;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Writes the week into `deps.store`, hour by hour, awaiting each hour's commits. */
export async function generateWeek(deps: WeekDeps, shape: WeekShape): Promise<WeekGenerated> {
  const { roomId, store, receipts, setNow } = deps;
  const generated: Record<string, number> = {};
  const count = (stream: string, n = 1) => (generated[stream] = (generated[stream] ?? 0) + n);
  const lessonIds: string[] = [];
  for (let hour = 0; hour < shape.days * 24; hour++) {
    const hourStart = shape.monday + hour * HOUR;
    const day = Math.floor(hour / 24);
    const writes: Array<Promise<unknown>> = [];
    for (let t = 0; t < HOUR; t += shape.readingEveryMs) {
      const now = hourStart + t;
      setNow(now);
      const m = Math.floor(t / MIN);
      for (const metric of shape.metrics) {
        writes.push(store.recordReading({ device: 'air', metric, value: 400 + m, unit: metric === 'co2' ? 'ppm' : 'C', ts: now }));
        count('sensor');
      }
    }
    await Promise.all(writes);
    const hourOfDay = hour % 24;
    if (day < shape.schoolDays && hourOfDay >= shape.firstLessonHour && hourOfDay < shape.firstLessonHour + shape.periods) {
      let now = hourStart;
      setNow(now);
      const date = new Date(shape.monday + day * 24 * HOUR);
      const lessonId = `${roomId}/${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}/p${hourOfDay - shape.firstLessonHour + 1}`;
      lessonIds.push(lessonId);
      await store.write((tx) => tx.appendEvent({ stream: 'lesson', type: 'start', entityId: lessonId, payload: { lessonId }, ts: now }));
      count('lesson');
      const lessonWrites: Array<Promise<unknown>> = [];
      for (let s = 0; s < shape.students; s++) {
        const ts = now + s * 1000;
        lessonWrites.push(store.recordCardTap({ reader: 'door', uid: `UID${s}`, ts, lessonId }));
        lessonWrites.push(
          store.write((tx) =>
            tx.appendEvent({ stream: 'attendance', type: 'mark', entityId: `${lessonId}#s${s}`, payload: { lessonId, studentId: `s${s}`, status: 'present' }, ts }),
          ),
        );
        count('card');
        count('attendance');
      }
      for (let b = 0; b < shape.behaviourPerLesson; b++) {
        lessonWrites.push(store.recordBehaviour({ source: 'cam', kind: 'hand-raise', studentId: `s${b % shape.students}`, payload: { b }, ts: now + b * MIN, lessonId }));
        count('behaviour');
      }
      lessonWrites.push(store.recordAudit({ actor: 'kiosk', role: 'teacher', action: 'scene.run', target: 'class-start', args: {}, result: 'ok', ts: now }));
      count('audit');
      await Promise.all(lessonWrites);
      now = hourStart + 45 * MIN;
      setNow(now);
      await store.write((tx) => tx.appendEvent({ stream: 'lesson', type: 'end', entityId: lessonId, payload: { lessonId }, ts: now }));
      count('lesson');
      if ((await receipts.issue(lessonId)) === null) throw new Error(`no receipt written for ${lessonId}`);
      count('receipt');
    }
    deps.afterHour?.(hour);
  }
  return { generated, lessonIds };
}
