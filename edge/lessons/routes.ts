/**
 * The kiosk's manual lesson overrides and the dataset versions (issue 4),
 * for roles teacher and technician; each override is audited (who, what,
 * result) in the store's audit log:
 *   POST /api/lessons/start-early  { lessonId, commandId? }      the next lesson starts now
 *   POST /api/lessons/extend       { minutes, commandId? }       the current lesson ends later
 *   POST /api/lessons/ad-hoc       { course, classId, minutes, teacherId?, commandId? }
 *   POST /api/lessons/end          { commandId? }                the current lesson ends now
 *   GET  /api/datasets                                            timetable and roster versions in force
 * Replies: `{ lesson }`, or the API's envelope `{ error: { code, message } }`
 * (409 for an override that cannot be done now, 400 for bad input).
 * With a `commandId` and the API's command ledger, an override is applied
 * once per id: a retry gets the first reply (edge/api/command-ledger.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Role } from '../security/credentials.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import { adHocInput, LessonOverrideError, type LessonClock } from './clock.js';
import type { Datasets } from './datasets.js';
import type { LessonOccurrence } from './types.js';

type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface LessonOverrideRouteDeps {
  /** The API's role check (createAuthenticator(...) of edge/api/auth.ts). */
  requireRole: (...roles: Role[]) => PreHandler;
  lessons: Pick<LessonClock, 'startEarly' | 'extend' | 'startAdHoc' | 'endNow' | 'current'>;
  datasets: Pick<Datasets, 'active' | 'history'>;
  store: Pick<Store, 'recordAudit'>;
  clock: Clock;
  /** Dedup by commandId, the API's command ledger (edge/api/command-ledger.ts); without it commandId is only audited. */
  ledger?: {
    once(
      key: { commandId: string; actor: string; action: string; target: string },
      action: () => Promise<{ status: number; body: unknown }>,
    ): Promise<{ status: number; body: unknown; replayed: boolean }>;
  };
}

const commandId = z.string().min(1).max(64).optional();
const bodies = {
  'start-early': z.object({ lessonId: z.string().min(1).max(200), commandId }).strict(),
  extend: z.object({ minutes: z.number().int().min(1).max(120), commandId }).strict(),
  'ad-hoc': adHocInput.extend({ commandId }).strict(),
  end: z.object({ commandId }).strict(),
};
type Action = keyof typeof bodies;

const STATUS: Record<string, number> = { 'no-lesson': 409, 'not-next': 409, stopped: 503, invalid: 400 };

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ error: { code, message } });
}

export function registerLessonOverrideRoutes(app: FastifyInstance, deps: LessonOverrideRouteDeps): void {
  const operator = deps.requireRole('teacher', 'technician');

  const run = (action: Action, body: unknown): Promise<LessonOccurrence> => {
    const { lessons } = deps;
    switch (action) {
      case 'start-early':
        return lessons.startEarly(bodies['start-early'].parse(body).lessonId);
      case 'extend':
        return lessons.extend(bodies.extend.parse(body).minutes);
      case 'ad-hoc': {
        const { commandId: _c, ...input } = bodies['ad-hoc'].parse(body);
        return lessons.startAdHoc(input);
      }
      case 'end':
        return lessons.endNow();
    }
  };

  for (const action of Object.keys(bodies) as Action[]) {
    app.post(`/api/lessons/${action}`, { preHandler: operator }, async (req, reply) => {
      const parsed = bodies[action].safeParse(req.body ?? {});
      if (!parsed.success) {
        const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
        return sendError(reply, 400, 'invalid-request', message);
      }
      const principal = req.principal!;
      const apply = async (): Promise<{ status: number; body: unknown }> => {
        const data: Record<string, unknown> = parsed.data;
        let target = typeof data.lessonId === 'string' ? data.lessonId : (deps.lessons.current()?.lessonId ?? 'none');
        const audit = (result: 'ok' | 'refused' | 'error', error?: string) =>
          deps.store.recordAudit({
            actor: principal.username,
            role: principal.role,
            action: `lesson.${action}`,
            target,
            args: parsed.data,
            result,
            ...(error ? { error } : {}),
            ts: deps.clock.now(),
          });
        try {
          const lesson = await run(action, req.body ?? {});
          target = lesson.lessonId;
          await audit('ok');
          return { status: 200, body: { lesson } };
        } catch (err) {
          if (err instanceof LessonOverrideError) {
            await audit('refused', err.message);
            return { status: STATUS[err.code] ?? 409, body: { error: { code: err.code, message: err.message } } };
          }
          await audit('error', err instanceof Error ? err.message : String(err));
          throw err;
        }
      };
      const id = (parsed.data as { commandId?: string }).commandId;
      const r =
        id !== undefined && deps.ledger
          ? await deps.ledger.once({ commandId: id, actor: principal.username, action: `lesson.${action}`, target: 'lesson' }, apply)
          : { ...(await apply()), replayed: false };
      if (r.replayed) void reply.header('x-command-replayed', '1');
      return reply.code(r.status).send(r.body);
    });
  }

  app.get('/api/datasets', { preHandler: operator }, async () => {
    const info = (kind: 'timetable' | 'roster') => {
      const a = deps.datasets.active(kind);
      return a ? { version: a.version, source: a.source, importedAt: a.importedAt, checksum: a.checksum, counts: a.counts } : null;
    };
    return {
      timetable: info('timetable'),
      roster: info('roster'),
      history: { timetable: deps.datasets.history('timetable').slice(0, 10), roster: deps.datasets.history('roster').slice(0, 10) },
    };
  });
}
