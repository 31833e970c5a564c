/**
 * Fixtures of the lesson tests: a term with a holiday week (国庆节), a make-up
 * Saturday following Monday, a day with a changed bell schedule, a shorter
 * Friday schedule; a small roster; a store in a temp dir.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import type { Clock } from '../../../edge/util/clock.js';
import type { TimetableDoc } from '../../../edge/lessons/timetable-schema.js';
import type { RosterDoc } from '../../../edge/lessons/roster-schema.js';

export const ROOM = 'r203';

export function timetable(): TimetableDoc {
  return {
    bellSchedules: {
      standard: {
        periods: [
          { period: 1, start: '08:00', end: '08:45' },
          { period: 2, start: '08:55', end: '09:40' },
          { period: 3, start: '10:00', end: '10:45' },
          { period: 4, start: '10:55', end: '11:40' },
          { period: 5, start: '14:00', end: '14:45' },
        ],
      },
      friday: {
        periods: [
          { period: 1, start: '08:00', end: '08:40' },
          { period: 2, start: '08:50', end: '09:30' },
        ],
      },
      exam: {
        periods: [
          { period: 1, start: '09:00', end: '10:30' },
          { period: 2, start: '11:00', end: '12:00' },
        ],
      },
    },
    defaultBellSchedule: 'standard',
    weekdayBellSchedules: { '5': 'friday' },
    term: {
      name: '2025-2026学年第一学期',
      start: '2025-09-01',
      end: '2026-01-23',
      holidays: [{ from: '2025-10-01', to: '2025-10-08', name: '国庆节' }],
      makeupDays: [{ date: '2025-10-11', followsWeekday: 1, name: '国庆调休' }],
      bellOverrides: [{ date: '2025-11-05', bellSchedule: 'exam' }],
    },
    weekly: [
      { weekday: 1, period: 1, course: '数学', classId: 'c1', teacherId: 't1' },
      { weekday: 1, period: 2, course: '语文', classId: 'c2', teacherId: 't2' },
      { weekday: 1, period: 3, course: '英语', classId: 'c1' },
      { weekday: 3, period: 1, course: '物理', classId: 'c1', teacherId: 't1' },
      { weekday: 3, period: 2, course: '化学', classId: 'c2', teacherId: 't2' },
      { weekday: 3, period: 5, course: '生物', classId: 'c2' },
      { weekday: 5, period: 1, course: '历史', classId: 'c1', teacherId: 't2' },
      { weekday: 5, period: 2, course: '地理', classId: 'c2', teacherId: 't2' },
    ],
  };
}

export function roster(): RosterDoc {
  return {
    classes: [
      { classId: 'c1', name: '初二(1)班' },
      { classId: 'c2', name: '初二(2)班' },
    ],
    students: [
      { studentId: 's1', name: '张三', classId: 'c1', cardUid: '62E3086CED' },
      { studentId: 's2', name: '李四', classId: 'c1', cardUid: '0A1B2C3D4E' },
      { studentId: 's3', name: '王五', classId: 'c2' },
    ],
    teachers: [
      { teacherId: 't1', name: '赵老师', cardUid: '7E00000001' },
      { teacherId: 't2', name: '钱老师' },
    ],
    leaves: [{ studentId: 's2', from: '2025-09-01', to: '2025-09-02', periods: [2], reason: '病假' }],
  };
}

/** Epoch ms of a Shanghai (UTC+8) wall time. */
export function sh(date: string, time: string): number {
  return Date.parse(`${date}T${time}:00+08:00`);
}

/** A Clock reading the (possibly faked) Date. */
export const dateClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

export interface TempStore {
  dir: string;
  file: string;
  open(clock?: Clock): Store;
  remove(): void;
}

export function tempStore(): TempStore {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ce-lessons-'));
  const file = path.join(dir, 'store.db');
  return {
    dir,
    file,
    open: (clock = dateClock) => openStore({ path: file, roomId: ROOM, logger: silentLogger(), clock, flushIntervalMs: 0 }),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
