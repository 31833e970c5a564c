/**
 * The room's domain services, wired together (issue 4): datasets (timetable
 * and roster), the lesson clock, attendance, behaviour and retention. The
 * lesson clock drives the `lesson` topic, the class-start/class-end scenes
 * and the attendance window; card taps from readers (drivers or third-party
 * publishers) go to attendance; teacher cards unlock the kiosk.
 */
import { DateTime } from 'luxon';
import type { EdgeConfig } from './config/schema.js';
import type { AlertMessage } from './schemas/bus.js';
import type { Topics } from './schemas/topics.js';
import type { Store } from './store/index.js';
import type { Clock } from './util/clock.js';
import type { Logger } from './util/logger.js';
import type { SceneRunner } from './scenes/scenes.js';
import { Datasets } from './lessons/datasets.js';
import { LessonClock } from './lessons/clock.js';
import { createRosterIndex, type RosterIndexExtra } from './lessons/roster.js';
import { lessonMessage } from './lessons/message.js';
import { ensureDemoDatasets } from './lessons/demo-data.js';
import type { LessonOccurrence } from './lessons/types.js';
import { AttendanceService } from './attendance/service.js';
import type { TapResult } from './attendance/types.js';
import { BehaviourService } from './behaviour/service.js';
import { RetentionService } from './privacy/retention.js';
import { LessonReceipts } from '../sync/receipts.js';

export interface ClassroomDeps {
  config: EdgeConfig;
  /** The embedded demo room: seed the demo timetable and roster. */
  demo: boolean;
  store: Store;
  clock: Clock;
  logger: Logger;
  topics: Topics;
  publish: (topic: string, payload: object, opts?: { retain?: boolean; qos?: 0 | 1 }) => Promise<void>;
  raiseAlert: (alert: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
  scenes: SceneRunner;
  timing?: ClassroomTiming;
  /** Counts a malformed or foreign lesson-receipt verdict from the district (metrics.syncErrors). */
  onSyncRejected?: (reason: string) => void;
}

export interface ClassroomTiming {
  /** Longest wait between two lesson-clock evaluations (default 5 s). */
  lessonTickMs?: number;
  /** Attendance's periodic check (teacher missing, window close; default 15 s). */
  attendanceTickMs?: number;
}

export interface CardTap {
  reader: string;
  uid: string;
  number?: string;
  ts: number;
}

const EMPTY_ROSTER = { classes: [], students: [], teachers: [], leaves: [] };
const DATASET_REFRESH_MS = 5000;
const AUTOMATION = { username: 'lesson-clock', role: 'automation' };

export type Classroom = Awaited<ReturnType<typeof startClassroom>>;

export async function startClassroom(deps: ClassroomDeps) {
  const { config, store, clock, topics } = deps;
  const log = deps.logger.child({ ns: 'edge:classroom' });
  const zone = config.room.timezone;
  const datasets = new Datasets({ store, clock, logger: deps.logger });
  if (deps.demo) {
    const today = DateTime.fromMillis(clock.now(), { zone }).toISODate() ?? '';
    await ensureDemoDatasets(datasets, { today });
  }

  let roster: RosterIndexExtra = createRosterIndex(0, EMPTY_ROSTER);
  const loadRoster = () => {
    const active = datasets.active('roster');
    roster = active ? createRosterIndex(active.version, active.doc) : createRosterIndex(0, EMPTY_ROSTER);
  };
  loadRoster();

  const lessons = new LessonClock({ roomId: config.room.id, zone, clock, store, datasets, logger: deps.logger, tickMs: deps.timing?.lessonTickMs });
  const publishLesson = () =>
    deps.publish(topics.lesson, lessonMessage(lessons.current(), roster), { retain: true, qos: 1 }).catch((e: unknown) => log.warn({ err: e }, 'could not publish the lesson'));
  const runScene = (name: string, lesson: LessonOccurrence) => {
    if (!config.lessons.autoScenes || !deps.scenes.has(name)) return;
    void deps.scenes.run(name, AUTOMATION).then(
      (r) => log.info({ scene: name, lessonId: lesson.lessonId, ok: r.ok, failed: r.steps.filter((s) => !s.ok).map((s) => s.device) }, 'lesson scene run'),
      (e: unknown) => log.error({ err: e, scene: name }, 'lesson scene failed'),
    );
  };
  lessons.on('start', (lesson) => {
    void publishLesson();
    runScene('class-start', lesson);
  });
  lessons.on('end', (lesson) => {
    void publishLesson();
    runScene('class-end', lesson);
  });
  lessons.on('update', () => void publishLesson());

  const receipts = new LessonReceipts({ roomId: config.room.id, store, clock, logger: deps.logger, raiseAlert: deps.raiseAlert, onRejected: deps.onSyncRejected });
  const attendance = new AttendanceService({
    roomId: config.room.id,
    store,
    clock,
    lessons,
    roster: () => roster,
    config: config.lessons.attendance,
    publish: (topic, payload) => deps.publish(topic, payload, { qos: 1 }),
    topics,
    raiseAlert: deps.raiseAlert,
    logger: deps.logger,
    timeZone: zone,
    tickMs: deps.timing?.attendanceTickMs,
    onClosed: (lessonId) => receipts.lessonClosed(lessonId),
  });
  const behaviour = new BehaviourService({
    roomId: config.room.id,
    store,
    clock,
    lessons,
    roster: () => roster,
    categories: config.behaviour.categories,
    publish: (topic, payload) => deps.publish(topic, payload, { qos: 1 }),
    topics,
    logger: deps.logger,
    expected: (id) => attendance.expectedStudents(id),
  });
  const retention = new RetentionService({ store, clock, config: config.privacy, raiseAlert: deps.raiseAlert, logger: deps.logger });

  datasets.onChange((kind) => {
    if (kind === 'roster') loadRoster();
    void publishLesson();
  });
  // An import by the CLI (another process) lands in the store; pick it up.
  const refresher = setInterval(() => {
    try {
      datasets.refresh();
    } catch (e) {
      log.error({ err: e }, 'could not check for new datasets');
    }
  }, DATASET_REFRESH_MS);
  refresher.unref();

  // Attendance first, so a lesson that starts now has its window before the clock emits.
  await attendance.start();
  lessons.start();
  retention.start();
  receipts.start();
  await publishLesson();

  /**
   * A committed card tap (from a reader driver or the `card` topic): attendance,
   * and for a teacher's card the kiosk unlock (刷卡授权).
   */
  async function onCardTap(tap: CardTap): Promise<TapResult> {
    const result = await attendance.handleTap({ reader: tap.reader, uid: tap.uid, ts: tap.ts });
    if (result.kind === 'unlock') {
      await deps.publish(topics.kioskUnlock, { teacherId: result.teacherId, name: result.name, lessonId: result.lessonId, ts: tap.ts }, { qos: 1 });
    }
    log.debug({ reader: tap.reader, result: result.kind }, 'card tap handled');
    return result;
  }

  return {
    datasets,
    lessons,
    attendance,
    behaviour,
    retention,
    receipts,
    roster: () => roster,
    onCardTap,
    /** The lesson a record at `ts` belongs to (attached by the edge, never trusted from publishers). */
    lessonIdFor: (ts: number) => behaviour.lessonIdFor(ts),
    /** The lesson a card tap at `ts` counts for (its attendance window, which opens before the bell). */
    tapLessonIdFor: (ts: number) => attendance.lessonIdForTap(ts),
    async stop(): Promise<void> {
      clearInterval(refresher);
      retention.stop();
      receipts.stop();
      attendance.stop();
      await lessons.stop();
    },
  };
}
