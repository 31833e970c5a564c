/**
 * Small fakes for the attendance, behaviour, privacy and lesson-route tests:
 * a lesson clock driven by hand (an EventEmitter), a roster index, a
 * settable clock, a recorder of publishes and alerts, and a store in a temp dir.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LessonClockApi, LessonClockEvents, LessonOccurrence, Leave, RosterIndex, Student, Teacher } from '../../../edge/lessons/types.js';
import type { AlertMessage } from '../../../edge/schemas/bus.js';
import { openStore, type Store } from '../../../edge/store/index.js';
import type { Clock } from '../../../edge/util/clock.js';
import { silentLogger } from '../../../edge/util/logger.js';

export const ROOM = 'r203';
export const DATE = '2025-03-03'; // a Monday
export const ZONE = 'Asia/Shanghai';

/** Epoch ms of a local time on DATE in Asia/Shanghai (UTC+8, no DST). */
export function at(hhmm: string, date = DATE): number {
  const [h, m, s] = hhmm.split(':').map(Number);
  const [y, mo, d] = date.split('-').map(Number);
  return Date.UTC(y!, mo! - 1, d!, h! - 8, m!, s ?? 0);
}

export function lesson(period: number, start: string, end: string, classId: string, course: string, teacherId: string | null = 't01'): LessonOccurrence {
  return {
    lessonId: `${ROOM}/${DATE}/p${period}`,
    roomId: ROOM,
    date: DATE,
    period,
    course,
    classId,
    teacherId,
    startsAt: at(start),
    endsAt: at(end),
    adHoc: false,
  };
}

export class SettableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return performance.now();
  }
  set(hhmm: string): void {
    this.t = at(hhmm);
  }
}

/** A lesson clock whose "current" lesson is whatever holds the clock's time; events are emitted by the test. */
export class FakeLessons extends EventEmitter implements LessonClockApi {
  constructor(
    private readonly clock: Clock,
    public plan: LessonOccurrence[],
  ) {
    super();
  }
  override on<E extends keyof LessonClockEvents>(event: E, listener: (...args: LessonClockEvents[E]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override off<E extends keyof LessonClockEvents>(event: E, listener: (...args: LessonClockEvents[E]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
  current(): LessonOccurrence | null {
    const now = this.clock.now();
    return this.plan.find((l) => l.startsAt <= now && now < l.endsAt) ?? null;
  }
  next(): LessonOccurrence | null {
    const now = this.clock.now();
    return [...this.plan].filter((l) => l.startsAt > now).sort((a, b) => a.startsAt - b.startsAt)[0] ?? null;
  }
  lessonsOn(date: string): LessonOccurrence[] {
    return this.plan.filter((l) => l.date === date);
  }
  find(lessonId: string): LessonOccurrence | undefined {
    return this.plan.find((l) => l.lessonId === lessonId);
  }
  today(): string {
    return DATE;
  }
  begin(l: LessonOccurrence): void {
    this.emit('start', l);
  }
  finish(l: LessonOccurrence): void {
    this.emit('end', l, 'scheduled');
  }
}

export class FakeRoster implements RosterIndex {
  constructor(
    public students: Student[],
    public teachers: Teacher[],
    public leaves: Leave[] = [],
    readonly version = 1,
  ) {}
  studentsOf(classId: string): Student[] {
    return this.students.filter((s) => s.classId === classId);
  }
  student(studentId: string): Student | undefined {
    return this.students.find((s) => s.studentId === studentId);
  }
  teacher(teacherId: string): Teacher | undefined {
    return this.teachers.find((t) => t.teacherId === teacherId);
  }
  byCard(uid: string): { type: 'student'; student: Student } | { type: 'teacher'; teacher: Teacher } | undefined {
    const s = this.students.find((x) => x.cardUid === uid);
    if (s) return { type: 'student', student: s };
    const t = this.teachers.find((x) => x.cardUid === uid);
    return t ? { type: 'teacher', teacher: t } : undefined;
  }
  leaveFor(studentId: string, date: string, period: number | null): Leave | undefined {
    return this.leaves.find(
      (l) => l.studentId === studentId && l.from <= date && date <= l.to && (l.periods === undefined || (period !== null && l.periods.includes(period))),
    );
  }
}

/** Class 初二(3) = c2-3 (five students, 王五 on leave), class c2-4 (one student), one teacher. */
export function demoRoster(): FakeRoster {
  return new FakeRoster(
    [
      { studentId: 's01', name: '张三', classId: 'c2-3', cardUid: '0000000001' },
      { studentId: 's02', name: '李四', classId: 'c2-3', cardUid: '0000000002' },
      { studentId: 's03', name: '欧阳, "小明"', classId: 'c2-3', cardUid: '0000000003' },
      { studentId: 's04', name: '赵六', classId: 'c2-3', cardUid: '0000000004' },
      { studentId: 's05', name: '王五', classId: 'c2-3', cardUid: '0000000005' },
      { studentId: 's10', name: '孙七', classId: 'c2-4', cardUid: '0000000010' },
    ],
    [{ teacherId: 't01', name: '陈老师', cardUid: '00000000AA' }],
    [{ studentId: 's05', from: DATE, to: DATE, reason: '病假' }],
  );
}

export interface Recorder {
  published: Array<{ topic: string; payload: Record<string, unknown> }>;
  alerts: Array<Omit<AlertMessage, 'id' | 'ts'>>;
  publish: (topic: string, payload: object) => Promise<void>;
  raiseAlert: (a: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
}

export function recorder(): Recorder {
  const r: Recorder = {
    published: [],
    alerts: [],
    publish: async (topic, payload) => {
      r.published.push({ topic, payload: payload as Record<string, unknown> });
    },
    raiseAlert: async (a) => {
      r.alerts.push(a);
    },
  };
  return r;
}

export interface TempStore {
  dir: string;
  file: string;
  store: Store;
  reopen(clock: Clock): Promise<Store>;
  cleanup(): Promise<void>;
}

export function tempStore(clock: Clock): TempStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ce-attendance-'));
  const file = path.join(dir, 'store.db');
  const open = (c: Clock): Store => openStore({ path: file, roomId: ROOM, logger: silentLogger(), clock: c, flushIntervalMs: 0 });
  const t: TempStore = {
    dir,
    file,
    store: open(clock),
    async reopen(c) {
      await t.store.close();
      t.store = open(c);
      return t.store;
    },
    async cleanup() {
      await t.store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

export function count(store: Store, sql: string, ...params: unknown[]): number {
  const row = store.db.prepare(sql).get(...params) as { n: number } | undefined;
  return row?.n ?? 0;
}
