/**
 * Issue 4 end to end: the embedded demo room (its config, its timetable and
 * roster) runs a whole simulated school day on a settable clock. Every card
 * is presented on the simulated EM4100 reader, so its bytes go through the
 * real driver, the supervisor's card path, attendance and the bus. At each
 * lesson end the rest are marked absent (leave excepted); the summary, the
 * bus messages, the CSV export and the event log are checked against what
 * the test did, and every record is in the event log exactly once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoConfigYaml } from '../../edge/config/demo.js';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { DEMO_TEACHERS } from '../../edge/lessons/demo-data.js';
import type { LessonOccurrence } from '../../edge/lessons/types.js';
import { startService, type RunningService } from '../../edge/service.js';
import type { Clock } from '../../edge/util/clock.js';
import { createLogger, silentLogger } from '../../edge/util/logger.js';

const ZONE = 'Asia/Shanghai';
const DAY = '2026-11-25'; // a Wednesday of the demo term, no holiday
const MIN = 60_000;
const DEBOUNCE_MS = 300;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class SettableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return performance.now();
  }
}

const local = (hhmm: string) => DateTime.fromISO(`${DAY}T${hhmm}`, { zone: ZONE }).toMillis();

async function waitFor<T>(what: string, probe: () => T | undefined | null | false, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let dir: string;
let svc: RunningService;
let clock: SettableClock;
let bus: MqttClient;
let techAuth: string;
const messages: Array<{ topic: string; payload: Record<string, unknown>; retain: boolean }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ce-day-'));
  clock = new SettableClock(local('07:30'));
  // The embedded demo config, on free ports.
  const yaml = demoConfigYaml(join(dir, 'demo'))
    .replace('port: 1883, websocketPort: 8083', 'port: 0, websocketPort: 0')
    .replace('port: 8080', 'port: 0')
    // The day is compressed into seconds: the reader's debounce of a card left on it
    // (1.5 s by default, on real time) would swallow the same card in the next lesson.
    .replace('options: { format: rdm6300 }', `options: { format: rdm6300, debounceMs: ${DEBOUNCE_MS} }`);
  expect(yaml).toContain(`debounceMs: ${DEBOUNCE_MS}`);
  const registry = builtinDrivers();
  const config = loadConfigText(yaml, '(demo config, test ports)', registry);
  svc = await startService({ config, registry, logger: process.env.DAY_LOG ? createLogger({ level: 'debug', destination: process.stderr }) : silentLogger(), clock, demo: true, timing: { lessonTickMs: 20, attendanceTickMs: 20 } });

  const creds = readFileSync(join(dir, 'demo', 'secrets', 'initial-credentials.txt'), 'utf8');
  const tech = /username: technician\s+role:\s+\S+\s+password: (\S+)/.exec(creds);
  if (!tech) throw new Error(`no technician in the first-start credentials:\n${creds.replace(/password: \S+/g, 'password: ***')}`);
  techAuth = `Basic ${Buffer.from(`technician:${tech[1]}`).toString('base64')}`;
  bus = mqtt.connect(`mqtt://127.0.0.1:${svc.ports.mqtt}`, { username: 'technician', password: tech[1], reconnectPeriod: 0 });
  await new Promise<void>((resolve, reject) => {
    bus.once('connect', () => resolve());
    bus.once('error', reject);
  });
  bus.on('message', (topic, buf, packet) => messages.push({ topic, payload: JSON.parse(buf.toString()) as Record<string, unknown>, retain: packet.retain }));
  await bus.subscribeAsync('classroom/demo-room/#', { qos: 1 });
  await waitFor('the reader online', () => svc.devices.get('reader')?.online);
}, 60_000);

afterAll(async () => {
  await bus?.endAsync();
  await svc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const api = (path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${svc.ports.api}${path}`, { ...init, headers: { authorization: techAuth, 'content-type': 'application/json', ...init.headers } });

/** Present a card on the simulated reader: its frame goes through the real EM4100 driver. */
async function present(uid: string, repeats = 1): Promise<void> {
  const r = await api('/api/sim/reader/present', { method: 'POST', body: JSON.stringify({ uid, repeats }) });
  expect(r.status, await r.clone().text()).toBe(200);
}

type Outcome = 'mark' | 'unlock' | 'unknown' | 'duplicate';

/**
 * Presents a card and waits for what attendance does with it: a mark on the
 * `attendance` topic, the kiosk unlock, the unknown-card alert, or (for a
 * duplicate) nothing but the committed tap.
 */
async function tapped(uid: string, outcome: Outcome, repeats = 1): Promise<void> {
  const count = () => (svc.store.db.prepare('SELECT count(*) AS n FROM card_taps').get() as { n: number }).n;
  const taps = count();
  const seen = messages.length;
  await present(uid, repeats);
  await waitFor(`the tap of ${uid}`, () => count() > taps);
  const student = svc.classroom.roster().byCard(uid);
  const topicOf: Record<Outcome, string> = { mark: '/attendance', unlock: '/kiosk/unlock', unknown: '/alert', duplicate: '' };
  if (outcome === 'duplicate') {
    // Nothing is published for a duplicate; the tap is committed, give attendance a moment to look at it.
    await new Promise((r) => setTimeout(r, 50));
    return;
  }
  await waitFor(`${outcome} for ${uid}`, () =>
    messages.slice(seen).some((m) => {
      if (!m.topic.endsWith(topicOf[outcome])) return false;
      if (outcome === 'mark') return student?.type === 'student' && m.payload.studentId === student.student.studentId;
      if (outcome === 'unknown') return JSON.stringify(m.payload).includes(uid);
      return true;
    }),
  );
}

interface Expectation {
  lesson: LessonOccurrence;
  present: string[];
  late: string[];
  leave: string[];
  absent: string[];
  teacher: boolean;
  unknown: number;
  duplicate: number;
}

const plan: Expectation[] = [];

describe('a simulated school day in the demo room', () => {
  it('runs every lesson of the day by the timetable, with attendance from the real reader driver', async () => {
    const lessons = svc.classroom.lessons.lessonsOn(DAY);
    expect(lessons.map((l) => l.period)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const roster = svc.classroom.roster();

    for (const [i, lesson] of lessons.entries()) {
      const students = roster.studentsOf(lesson.classId);
      expect(students.length).toBeGreaterThan(0);
      const onLeave = students.filter((s) => roster.leaveFor(s.studentId, lesson.date, lesson.period)).map((s) => s.studentId);
      const others = students.filter((s) => !onLeave.includes(s.studentId));
      const early = others.slice(0, 9);
      const late = others.slice(9, 12);
      const absent = others.slice(12).map((s) => s.studentId);
      const teacher = DEMO_TEACHERS.find((t) => t.teacherId === lesson.teacherId);
      const teacherTaps = i !== 3; // period 4's teacher forgets: an alert after ten minutes
      const unknown = i === 0 ? 1 : 0;

      // Real time for the reader's debounce to forget the cards of the last lesson.
      await sleep(DEBOUNCE_MS + 50);
      // Window open (10 minutes before): the teacher and most students tap.
      clock.t = lesson.startsAt - 8 * MIN;
      if (teacherTaps && teacher) await tapped(teacher.cardUid, 'unlock');
      // The first student leaves the card on the reader: the driver debounces the repeats.
      for (const [k, s] of early.entries()) await tapped(s.cardUid!, 'mark', k === 0 ? 3 : 1);
      if (unknown) await tapped('00DEADBEEF', 'unknown');

      // The bell: the lesson starts, the lesson topic says so (retained).
      clock.t = lesson.startsAt + 1000;
      await waitFor(`start of ${lesson.lessonId}`, () => messages.some((m) => m.topic.endsWith('/lesson') && m.payload.lessonId === lesson.lessonId));
      // The class-start scene turns the panel on (through the real MDC driver).
      await waitFor(`class-start scene of ${lesson.lessonId}`, () => svc.devices.get('panel')?.state.power === 'on');
      // In the first lesson a student taps again once the reader's debounce is over:
      // a second committed tap, but a duplicate for attendance, not a second mark.
      const duplicate = i === 0 ? 1 : 0;
      if (duplicate) {
        await sleep(DEBOUNCE_MS + 50);
        await tapped(early[1]!.cardUid!, 'duplicate');
      }

      // After the grace: late.
      clock.t = lesson.startsAt + 7 * MIN;
      for (const s of late) await tapped(s.cardUid!, 'mark');

      // Eleven minutes in: the teacher-missing check runs on attendance's tick.
      clock.t = lesson.startsAt + 11 * MIN;
      if (!teacherTaps) {
        await waitFor('the teacher-missing alert', () => messages.some((m) => m.topic.endsWith('/alert') && m.payload.code === 'teacher-missing' && (m.payload.data as { lessonId?: string })?.lessonId === lesson.lessonId));
      }

      // The end bell: the rest are absent, those on leave are on leave.
      clock.t = lesson.endsAt + 1000;
      await waitFor(`end of ${lesson.lessonId}`, () => svc.classroom.attendance.summary(lesson.lessonId)?.open === false);
      await waitFor(`class-end scene of ${lesson.lessonId}`, () => svc.devices.get('panel')?.state.power === 'off');
      plan.push({
        lesson,
        present: early.map((s) => s.studentId),
        late: late.map((s) => s.studentId),
        leave: onLeave,
        absent,
        teacher: teacherTaps,
        unknown,
        duplicate,
      });
    }
  }, 120_000);

  it('summarises every lesson as it happened', () => {
    expect(plan).toHaveLength(8);
    const leaveSeen = plan.some((p) => p.leave.length > 0);
    expect(leaveSeen, 'the demo roster has a student on leave today').toBe(true);
    for (const p of plan) {
      const s = svc.classroom.attendance.summary(p.lesson.lessonId)!;
      const by = (status: string) => s.students.filter((x) => x.status === status).map((x) => x.studentId).sort();
      expect({ lesson: p.lesson.lessonId, present: by('present'), late: by('late'), leave: by('leave'), absent: by('absent') }).toEqual({
        lesson: p.lesson.lessonId,
        present: [...p.present].sort(),
        late: [...p.late].sort(),
        leave: [...p.leave].sort(),
        absent: [...p.absent].sort(),
      });
      expect(s).toMatchObject({
        expected: p.present.length + p.late.length + p.leave.length + p.absent.length,
        present: p.present.length,
        late: p.late.length,
        leave: p.leave.length,
        absent: p.absent.length,
        unmarked: 0,
        unknownTaps: p.unknown,
      });
      if (p.teacher) expect(s.teacherCheckIn?.teacherId).toBe(p.lesson.teacherId);
      else expect(s.teacherCheckIn).toBeNull();
    }
  });

  it('told the bus: lesson changes retained, every mark, the kiosk unlocks and the unknown card', () => {
    const lessonIds = plan.map((p) => p.lesson.lessonId);
    const lessonMsgs = messages.filter((m) => m.topic === 'classroom/demo-room/lesson');
    for (const id of lessonIds) expect(lessonMsgs.some((m) => m.payload.lessonId === id)).toBe(true);
    const marks = messages.filter((m) => m.topic === 'classroom/demo-room/attendance');
    const expectedMarks = plan.reduce((n, p) => n + p.present.length + p.late.length + p.leave.length + p.absent.length, 0);
    const markKeys = new Set(marks.filter((m) => typeof m.payload.studentId === 'string').map((m) => `${String(m.payload.lessonId)}/${String(m.payload.studentId)}`));
    expect(markKeys.size).toBe(expectedMarks);
    const unlocks = messages.filter((m) => m.topic === 'classroom/demo-room/kiosk/unlock');
    expect(unlocks).toHaveLength(plan.filter((p) => p.teacher).length);
    const unknown = messages.filter((m) => m.topic === 'classroom/demo-room/alert' && m.payload.code === 'unknown-card');
    expect(unknown).toHaveLength(1);
    expect(JSON.stringify(unknown[0]!.payload)).toContain('00DEADBEEF');
  });

  it('keeps every record in the event log exactly once', () => {
    const db = svc.store.db;
    const one = <T>(sql: string, ...args: unknown[]) => db.prepare(sql).get(...args) as T;
    const all = <T>(sql: string, ...args: unknown[]) => db.prepare(sql).all(...args) as T[];
    // Card taps: one row per tap the driver delivered (repeats of a card left on the reader debounced), one event each.
    const taps = one<{ n: number }>('SELECT count(*) AS n FROM card_taps').n;
    const tapsExpected = plan.reduce((n, p) => n + (p.teacher ? 1 : 0) + p.present.length + p.unknown + p.duplicate + p.late.length, 0);
    expect(taps).toBe(tapsExpected);
    for (const [table, stream, types] of [
      ['card_taps', 'card', "('tap')"],
      ['attendance', 'attendance', "('mark')"],
      ['teacher_checkins', 'attendance', "('teacher-checkin', 'teacher-unlock')"],
      ['unknown_taps', 'attendance', "('unknown-card')"],
    ] as const) {
      const rows = one<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).n;
      const events = all<{ entity_id: string; n: number }>(
        `SELECT entity_id, count(*) AS n FROM event_log WHERE stream = ? AND type IN ${types} GROUP BY entity_id`,
        stream,
      );
      expect(events.length, `${table}: one event per row`).toBe(rows);
      expect(events.every((e) => e.n === 1), `${table}: no event twice`).toBe(true);
      const orphans = one<{ n: number }>(
        `SELECT count(*) AS n FROM ${table} t WHERE NOT EXISTS (SELECT 1 FROM event_log e WHERE e.stream = ? AND e.type IN ${types} AND CAST(e.entity_id AS INTEGER) = t.id)`,
        stream,
      ).n;
      expect(orphans, `${table}: every row has its event`).toBe(0);
    }
    // Each lesson started and ended once; each attendance session opened and closed once.
    for (const p of plan) {
      const id = p.lesson.lessonId;
      const kinds = all<{ stream: string; type: string; n: number }>(
        "SELECT stream, type, count(*) AS n FROM event_log WHERE entity_id = ? AND type IN ('start', 'end', 'session-open', 'session-close') GROUP BY stream, type ORDER BY stream, type",
        id,
      );
      expect(kinds).toEqual([
        { stream: 'attendance', type: 'session-close', n: 1 },
        { stream: 'attendance', type: 'session-open', n: 1 },
        { stream: 'lesson', type: 'end', n: 1 },
        { stream: 'lesson', type: 'start', n: 1 },
      ]);
    }
    // The taps carry the lesson they happened in (attached by the edge).
    const unattached = one<{ n: number }>('SELECT count(*) AS n FROM card_taps WHERE lesson_id IS NULL AND ts >= ?', local('08:00')).n;
    expect(unattached).toBe(0);
    // seq is gap-free and monotonic.
    const seqs = one<{ min: number; max: number; n: number }>('SELECT min(seq) AS min, max(seq) AS max, count(*) AS n FROM event_log');
    expect(seqs.max - seqs.min + 1).toBe(seqs.n);
  });

  it('exports the day as CSV that Excel opens with the Chinese names intact', async () => {
    const r = await api(`/api/export/attendance.csv?from=${DAY}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/csv; charset=utf-8');
    const bytes = Buffer.from(await r.arrayBuffer());
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(3));
    const lines = text.trimEnd().split(/\r?\n/);
    const expectedRows = plan.reduce((n, p) => n + p.present.length + p.late.length + p.leave.length + p.absent.length, 0);
    expect(lines).toHaveLength(1 + expectedRows);
    expect(lines[0]).toContain('学号');
    const roster = svc.classroom.roster();
    const someone = roster.studentsOf(plan[0]!.lesson.classId)[0]!;
    expect(text).toContain(someone.name);
    expect(text).toContain('迟到');
    expect(text).toContain('请假');
  });
});
