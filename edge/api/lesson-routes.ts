/**
 * The kiosk's lesson routes (issue 4), for roles teacher and technician:
 *   GET  /api/lessons/current                      current lesson, roster with live marks, unknown taps, teacher check-in
 *   GET  /api/lessons?date=YYYY-MM-DD              a day's lessons with attendance counts (default today)
 *   GET  /api/lessons/:id/summary                  attendance + behaviour of a lesson
 *   PUT  /api/lessons/:id/attendance/:studentId    { status, commandId }: a teacher's correction (audited)
 *   POST /api/lessons/:id/behaviour                { studentId | groupId, categoryId, commandId }: praise or remark
 *   POST /api/lessons/:id/behaviour/students       { studentIds, categoryId, commandId }: one category for several
 *                                                  students, each awarded once (ids derived from commandId)
 *   GET  /api/export/attendance.csv?lessonId=… | ?from=…&to=…  [&lang=en]   CSV with BOM
 * Lesson ids contain '/', so `:id` is the encodeURIComponent form of the id.
 * Errors use the API's envelope `{ error: { code, message } }`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DateTime } from 'luxon';
import { z } from 'zod';
import { attendanceCsv } from '../attendance/export.js';
import { sessionToLesson } from '../attendance/queries.js';
import type { AttendanceService } from '../attendance/service.js';
import { AttendanceError, attendanceStatusSchema, type AttendanceSummary } from '../attendance/types.js';
import { BehaviourError, MAX_GROUP_AWARD, type BehaviourService } from '../behaviour/service.js';
import type { LessonClockApi, LessonOccurrence } from '../lessons/types.js';
import { idSchema } from '../schemas/bus.js';
import type { Role } from '../security/credentials.js';
import type { Clock } from '../util/clock.js';
import type { LessonSyncState } from '../../sync/receipts.js';

type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface LessonRouteDeps {
  /** The API's role check (createAuthenticator(...) of edge/api/auth.ts). */
  requireRole: (...roles: Role[]) => PreHandler;
  lessons: LessonClockApi;
  attendance: AttendanceService;
  behaviour: BehaviourService;
  /** The lesson's district sync state (sync/receipts.ts): pending until the cloud confirms its receipt. */
  syncState?: (lessonId: string) => LessonSyncState;
  clock: Clock;
  roomId: string;
  /** The room's IANA zone (config room.timezone), for tap times in the CSV. */
  timeZone: string;
  /** Longest date range of one CSV export (default 366 days). */
  maxExportDays?: number;
}

const dateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD')
  .refine((d) => DateTime.fromISO(d, { zone: 'UTC' }).isValid, 'not a calendar date');

const correctionBody = z.object({ status: attendanceStatusSchema, commandId: idSchema }).strict();
const behaviourBody = z
  .object({ studentId: idSchema.optional(), groupId: idSchema.optional(), categoryId: idSchema, commandId: idSchema })
  .strict()
  .refine((b) => (b.studentId === undefined) !== (b.groupId === undefined), 'give exactly one of studentId or groupId');
const groupAwardBody = z.object({ studentIds: z.array(idSchema).min(1).max(MAX_GROUP_AWARD), categoryId: idSchema, commandId: idSchema }).strict();
const exportQuery = z
  .object({ lessonId: z.string().min(1).max(200).optional(), from: dateSchema.optional(), to: dateSchema.optional(), lang: z.enum(['zh', 'en']).default('zh') })
  .strict()
  .refine((q) => (q.lessonId === undefined) !== (q.from === undefined), 'give either lessonId or from (and to)')
  .refine((q) => q.to === undefined || q.from !== undefined, 'to needs from');

function issues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
}

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } });
}

const ERROR_STATUS: Record<string, number> = {
  'unknown-lesson': 404,
  'unknown-student': 404,
  'not-open': 409,
  'invalid-input': 400,
  'unknown-category': 400,
};

/** A domain error as an API reply; anything else is rethrown to the API's error handler. */
function domainError(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof AttendanceError || err instanceof BehaviourError) {
    return sendError(reply, ERROR_STATUS[err.code] ?? 400, err.code, err.message);
  }
  throw err;
}

function safeFileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
}

export function registerLessonRoutes(app: FastifyInstance, deps: LessonRouteDeps): void {
  const operator = deps.requireRole('teacher', 'technician');
  const { lessons, attendance, behaviour } = deps;
  const maxDays = deps.maxExportDays ?? 366;

  app.get('/api/lessons/current', { preHandler: operator }, async () => {
    const now = deps.clock.now();
    const current = lessons.current();
    const next = lessons.next();
    let lesson: LessonOccurrence | null = current;
    let phase: 'in-progress' | 'window-open' | 'none' = current ? 'in-progress' : 'none';
    if (!current && next && now >= attendance.windowOpensAt(next)) {
      lesson = next;
      phase = 'window-open';
    }
    return { phase, lesson, next, attendance: lesson ? (attendance.summary(lesson.lessonId) ?? null) : null };
  });

  app.get<{ Querystring: Record<string, unknown> }>('/api/lessons', { preHandler: operator }, async (req, reply) => {
    const q = z.object({ date: dateSchema.optional() }).strict().safeParse(req.query);
    if (!q.success) return sendError(reply, 400, 'invalid-request', issues(q.error));
    const date = q.data.date ?? lessons.today();
    const byId = new Map<string, LessonOccurrence>();
    // Lessons attendance stored (ad hoc ones, or a timetable changed since), then the clock's plan (live times win).
    for (const s of attendance.repo.sessionsBetween(date, date)) byId.set(s.lessonId, sessionToLesson(s, deps.roomId));
    for (const l of lessons.lessonsOn(date)) byId.set(l.lessonId, l);
    const list = [...byId.values()]
      .sort((a, b) => a.startsAt - b.startsAt)
      .map((l) => {
        const checkIn = attendance.repo.teacherCheckIn(l.lessonId);
        return { ...l, attendance: attendance.counts(l.lessonId) ?? null, teacherCheckIn: checkIn ?? null };
      });
    return { date, lessons: list };
  });

  app.get<{ Params: { id: string } }>('/api/lessons/:id/summary', { preHandler: operator }, async (req, reply) => {
    const id = req.params.id;
    const a = attendance.summary(id);
    if (!a) return sendError(reply, 404, 'unknown-lesson', `no lesson ${id}`);
    return { lesson: a.lesson, attendance: a, behaviour: behaviour.summary(id) ?? null, sync: deps.syncState?.(id) ?? 'pending' };
  });

  app.put<{ Params: { id: string; studentId: string } }>('/api/lessons/:id/attendance/:studentId', { preHandler: operator }, async (req, reply) => {
    const body = correctionBody.safeParse(req.body);
    if (!body.success) return sendError(reply, 400, 'invalid-request', issues(body.error));
    const principal = req.principal!;
    try {
      const result = await attendance.correct(req.params.id, req.params.studentId, body.data.status, principal, { commandId: body.data.commandId });
      return { result };
    } catch (err) {
      return domainError(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/api/lessons/:id/behaviour', { preHandler: operator }, async (req, reply) => {
    const body = behaviourBody.safeParse(req.body);
    if (!body.success) return sendError(reply, 400, 'invalid-request', issues(body.error));
    const id = req.params.id;
    if (!attendance.queries.lesson(id)) return sendError(reply, 404, 'unknown-lesson', `no lesson ${id}`);
    const principal = req.principal!;
    try {
      const r = await behaviour.award({ lessonId: id, ...body.data, actor: principal });
      return reply.code(r.duplicate ? 200 : 201).send(r);
    } catch (err) {
      return domainError(reply, err);
    }
  });

  app.post<{ Params: { id: string } }>('/api/lessons/:id/behaviour/students', { preHandler: operator }, async (req, reply) => {
    const body = groupAwardBody.safeParse(req.body);
    if (!body.success) return sendError(reply, 400, 'invalid-request', issues(body.error));
    const id = req.params.id;
    if (!attendance.queries.lesson(id)) return sendError(reply, 404, 'unknown-lesson', `no lesson ${id}`);
    try {
      const r = await behaviour.awardMany({ lessonId: id, ...body.data, actor: req.principal! });
      return reply.code(r.awarded > 0 ? 201 : 200).send(r);
    } catch (err) {
      return domainError(reply, err);
    }
  });

  app.get<{ Querystring: Record<string, unknown> }>('/api/export/attendance.csv', { preHandler: operator }, async (req, reply) => {
    const q = exportQuery.safeParse(req.query);
    if (!q.success) return sendError(reply, 400, 'invalid-request', issues(q.error));
    const { lessonId, lang } = q.data;
    let summaries: AttendanceSummary[];
    let name: string;
    if (lessonId !== undefined) {
      const s = attendance.summary(lessonId);
      if (!s) return sendError(reply, 404, 'unknown-lesson', `no lesson ${lessonId}`);
      summaries = [s];
      name = safeFileName(lessonId);
    } else {
      const from = q.data.from!;
      const to = q.data.to ?? from;
      const days = DateTime.fromISO(to, { zone: 'UTC' }).diff(DateTime.fromISO(from, { zone: 'UTC' }), 'days').days;
      if (days < 0) return sendError(reply, 400, 'invalid-request', `from ${from} is after to ${to}`);
      if (days >= maxDays) return sendError(reply, 400, 'invalid-request', `at most ${maxDays} days per export (asked ${days + 1})`);
      summaries = attendance.repo
        .sessionsBetween(from, to)
        .map((s) => attendance.summary(s.lessonId))
        .filter((s): s is AttendanceSummary => s !== undefined);
      name = from === to ? from : `${from}_${to}`;
    }
    const csv = attendanceCsv(summaries, { lang, timeZone: deps.timeZone });
    return reply
      .header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="attendance-${name}.csv"`)
      .send(csv);
  });
}
