/**
 * The kiosk's own routes (issue 6, docs/kiosk.md). The UI (kiosk/ui) is
 * served under /kiosk/ (kiosk-static.ts); its live channel is the WebSocket
 * of kiosk-live.ts. Attendance corrections and behaviour awards use the
 * lesson routes (edge/api/lesson-routes.ts), already idempotent by commandId.
 *
 *   POST   /api/kiosk/pair            Basic auth of a teacher-role user, {label?}: a bearer token
 *   DELETE /api/kiosk/session         the kiosk unpairs itself (revokes its token)
 *   GET    /api/kiosk/sessions        technician: paired kiosks
 *   DELETE /api/kiosk/sessions/:id    technician: revoke one
 *   POST   /api/kiosk/unlock          {pin}: a teacher's PIN unlocks the controls (kiosk.pins)
 *   GET    /api/kiosk/snapshot        everything the UI shows (also sent on every live (re)connection)
 *   POST   /api/kiosk/class/start     {commandId, adHoc?}: 上课 — the next lesson starts now (or, with
 *                                      adHoc {classId, course, minutes, teacherId?}, an unscheduled session), class-start scene
 *   POST   /api/kiosk/class/end       {commandId}: 下课 — the lesson ends now, class-end scene
 *   POST   /api/kiosk/devices/:id/commands  {commandId, command, args}
 *   POST   /api/kiosk/help            {commandId, note?}: 报修, an alert and an audited event for the district
 *   (POST  /api/kiosk/recording       {commandId, source?, action}: recording-routes.ts)
 * Commands go through the CommandLedger: the same commandId is applied once.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Classroom } from '../classroom.js';
import type { EdgeConfig } from '../config/schema.js';
import type { DeviceSupervisor } from '../devices/supervisor.js';
import type { LessonOccurrence } from '../lessons/types.js';
import { LessonOverrideError } from '../lessons/clock.js';
import type { SceneRunner } from '../scenes/scenes.js';
import type { AlertMessage } from '../schemas/bus.js';
import { idSchema } from '../schemas/bus.js';
import type { Principal, Role } from '../security/credentials.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { Metrics } from '../metrics.js';
import type { RecorderControl } from '../recording/types.js';
import type { CommandLedger, LedgerReply } from './command-ledger.js';
import type { KioskLive } from './kiosk-live.js';
import type { KioskPrincipal, KioskSessions } from './kiosk-sessions.js';
import { statusFor } from './status.js';

type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface KioskRouteDeps {
  requireRole: ((...roles: Role[]) => PreHandler) & { authenticate(header: string | undefined): Promise<Principal | null> };
  sessions: KioskSessions;
  ledger: CommandLedger;
  live: KioskLive;
  config: EdgeConfig;
  version: string;
  classroom: Classroom;
  devices: DeviceSupervisor;
  scenes: SceneRunner;
  store: Store;
  clock: Clock;
  logger: Logger;
  raiseAlert(alert: Omit<AlertMessage, 'id' | 'ts'>): Promise<void>;
  metrics: Pick<Metrics, 'authFailures'>;
  /** The room's recorder (null: none): whether the kiosk offers start/stop, and the sources' labels. */
  recorder: RecorderControl | null;
}

const commandId = idSchema;
const pairBody = z.object({ label: z.string().trim().min(1).max(64).default('kiosk') }).strict();
const unlockBody = z.object({ pin: z.string().regex(/^\d{4,8}$/, '4 to 8 digits') }).strict();
const classBody = z.object({ commandId }).strict();
const classStartBody = z
  .object({
    commandId,
    adHoc: z.object({ classId: idSchema, course: z.string().trim().min(1).max(64), minutes: z.number().int().min(5).max(240), teacherId: idSchema.optional() }).strict().optional(),
  })
  .strict();
const deviceBody = z.object({ commandId, command: z.string().min(1).max(64), args: z.record(z.string(), z.unknown()).default({}) }).strict();
const helpBody = z.object({ commandId, note: z.string().trim().max(200).optional() }).strict();

function invalid(reply: FastifyReply, e: z.ZodError): FastifyReply {
  const message = e.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  return reply.code(400).send({ error: { code: 'invalid-request', message } });
}

function sendLedger(reply: FastifyReply, r: LedgerReply & { replayed: boolean }): FastifyReply {
  if (r.replayed) reply.header('x-command-replayed', '1');
  return reply.code(r.status).send(r.body);
}

/** Registers the routes; returns the snapshot builder (for the live channel). */
/**
 * A lesson's district sync as the kiosk's timetable shows it (its completeness
 * receipt, sync/receipts.ts): nothing before the lesson has ended or when the
 * room has no district link (every lesson would stay "pending" forever),
 * otherwise the state of its latest receipt.
 */
export function kioskLessonSync(
  linked: boolean,
  lesson: { lessonId: string; endsAt: number },
  now: number,
  stateOf: (lessonId: string) => 'pending' | 'complete' | 'incomplete',
): 'pending' | 'complete' | 'incomplete' | null {
  if (!linked || lesson.endsAt > now) return null;
  return stateOf(lesson.lessonId);
}

export function registerKioskRoutes(app: FastifyInstance, deps: KioskRouteDeps): () => object {
  const { sessions, ledger, classroom, devices, scenes, config, clock } = deps;
  const teacher = deps.requireRole('teacher', 'technician');
  const technician = deps.requireRole('technician');
  const log = deps.logger.child({ ns: 'edge:kiosk' });
  const autoScenes = config.lessons.autoScenes;

  const withNames = (l: LessonOccurrence | null) => {
    if (!l) return null;
    const roster = classroom.roster();
    return { ...l, className: roster.className(l.classId) ?? null, teacherName: l.teacherId ? (roster.teacher(l.teacherId)?.name ?? null) : null };
  };

  const latestReadings = () =>
    deps.store.db
      .prepare<[], { device: string; metric: string; value: number; unit: string; ts: number }>(
        `SELECT r.device, r.metric, r.value, r.unit, r.ts FROM sensor_readings r
         JOIN (SELECT device, metric, max(id) AS id FROM sensor_readings GROUP BY device, metric) m ON m.id = r.id`,
      )
      .all();

  const snapshot = () => {
    const now = clock.now();
    const labels = new Map((config.recording?.sources ?? []).map((s) => [s.id, s.label ?? null]));
    const recordingSources = (deps.recorder?.sources() ?? []).map((id) => ({ id, label: labels.get(id) ?? null }));
    const { lessons, attendance, behaviour } = classroom;
    const current = lessons.current();
    const next = lessons.next();
    let lesson = current;
    let phase: 'in-progress' | 'window-open' | 'none' = current ? 'in-progress' : 'none';
    if (!current && next && now >= attendance.windowOpensAt(next)) {
      lesson = next;
      phase = 'window-open';
    }
    const syncOf = (l: { lessonId: string; endsAt: number }) => kioskLessonSync(Boolean(config.cloud), l, now, (id) => classroom.receipts.state(id));
    const today = lessons.lessonsOn(lessons.today()).map((l) => ({ ...withNames(l)!, counts: attendance.counts(l.lessonId) ?? null, sync: syncOf(l) }));
    return {
      serverNow: now,
      version: deps.version,
      room: { id: config.room.id, name: config.room.name, timeZone: config.room.timezone },
      kiosk: {
        idleLockSeconds: config.kiosk.idleLockSeconds,
        pinUnlock: config.kiosk.pins.length > 0,
        ventilation: config.kiosk.ventilation,
        // Start/stop buttons: the room allows them and has something to record (POST /api/kiosk/recording).
        recordingControl: config.kiosk.recordingControl && recordingSources.length > 0,
        // The teacher sees a source's label (教师特写) rather than its id.
        recordingSources,
      },
      categories: config.behaviour.categories,
      classes: classroom.roster().classes(),
      devices: devices.list(),
      phase,
      lesson: withNames(lesson),
      next: withNames(next),
      attendance: lesson ? (attendance.summary(lesson.lessonId) ?? null) : null,
      behaviour: lesson ? (behaviour.summary(lesson.lessonId) ?? null) : null,
      today,
      sensors: latestReadings(),
      alerts: deps.live.recentAlerts(),
      scene: deps.live.recentScene(),
      /** The latest `recording` message from the bus (per source: state, since, reason, live push; uploads); null: none published yet. */
      // Before the channel has seen one (the recorder published before the API subscribed), the recorder's own.
      recording: deps.live.recentRecording() ?? deps.recorder?.status() ?? null,
    };
  };

  // --- pairing and sessions ---

  app.post('/api/kiosk/pair', async (req, reply) => {
    const header = req.headers.authorization;
    const principal = header?.startsWith('Basic ') ? await deps.requireRole.authenticate(header) : null;
    if (!principal) {
      deps.metrics.authFailures.inc({ surface: 'kiosk' });
      log.warn({ ip: req.ip }, 'kiosk pairing refused: wrong user name or password');
    }
    if (!principal) return reply.code(401).send({ error: { code: 'unauthorized', message: 'the kiosk user name and password are wrong' } });
    if (principal.role !== 'teacher') {
      return reply.code(403).send({ error: { code: 'forbidden', message: `a kiosk pairs with a teacher-role user; ${principal.username} is ${principal.role}` } });
    }
    const body = pairBody.safeParse(req.body ?? {});
    if (!body.success) return invalid(reply, body.error);
    const s = await sessions.pair(principal, body.data.label);
    await deps.store.recordAudit({ actor: principal.username, role: principal.role, action: 'kiosk.pair', target: s.sessionId, args: { label: body.data.label }, result: 'ok', ts: clock.now() });
    return reply.code(201).send({ ...s, username: principal.username });
  });

  app.delete('/api/kiosk/session', { preHandler: teacher }, async (req, reply) => {
    const p = req.principal as KioskPrincipal;
    if (!p.sessionId) return reply.code(400).send({ error: { code: 'not-a-kiosk', message: 'only a paired kiosk (bearer token) can unpair itself' } });
    await sessions.revoke(p.sessionId);
    return { ok: true };
  });

  app.get('/api/kiosk/sessions', { preHandler: technician }, async () => ({ sessions: sessions.list() }));

  app.delete<{ Params: { id: string } }>('/api/kiosk/sessions/:id', { preHandler: technician }, async (req, reply) => {
    const ok = await sessions.revoke(req.params.id);
    const p = req.principal!;
    await deps.store.recordAudit({ actor: p.username, role: p.role, action: 'kiosk.revoke', target: req.params.id, args: {}, result: ok ? 'ok' : 'refused', ts: clock.now() });
    return ok ? { ok } : reply.code(404).send({ error: { code: 'unknown-session', message: `no active kiosk session ${req.params.id}` } });
  });

  app.post('/api/kiosk/unlock', { preHandler: teacher }, async (req, reply) => {
    const body = unlockBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error);
    const p = req.principal as KioskPrincipal;
    const r = await sessions.unlockWithPin(p.sessionId ?? p.username, body.data.pin);
    if (!r.ok) {
      const status = r.code === 'too-many-attempts' ? 429 : r.code === 'no-pins' ? 409 : 403;
      return reply.code(status).send({ error: { code: r.code, message: r.code, ...(r.retryAfterMs ? { retryAfterMs: r.retryAfterMs } : {}) } });
    }
    const t = classroom.roster().teacher(r.teacherId);
    return { teacherId: r.teacherId, name: t?.name ?? null };
  });

  app.get('/api/kiosk/snapshot', { preHandler: teacher }, async () => snapshot());

  // --- commands (idempotent by commandId) ---

  const actorOf = (req: FastifyRequest) => ({ username: req.principal!.username, role: req.principal!.role });

  /** Run a scene for the kiosk: its reply is the scene's result (per step). */
  const runScene = async (name: string, actor: { username: string; role: string }) => {
    if (!scenes.has(name)) return null;
    return scenes.run(name, actor);
  };

  app.post('/api/kiosk/class/start', { preHandler: teacher }, async (req, reply) => {
    const body = classStartBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error);
    const actor = actorOf(req);
    const r = await ledger.once({ commandId: body.data.commandId, actor: actor.username, action: 'kiosk.class-start', target: 'class-start' }, async () => {
      const { lessons, attendance } = classroom;
      let lesson = lessons.current();
      let started = false;
      const next = lessons.next();
      const adHoc = body.data.adHoc;
      if (!lesson && adHoc) {
        // No lesson now: the teacher starts an unscheduled session (the room is free, or 走班 changed).
        try {
          lesson = await lessons.startAdHoc(adHoc);
          started = true;
        } catch (e) {
          if (!(e instanceof LessonOverrideError)) throw e;
          await deps.store.recordAudit({ actor: actor.username, role: actor.role, action: 'lesson.ad-hoc', target: adHoc.classId, args: { ...adHoc, via: 'kiosk' }, result: 'refused', error: e.message, ts: clock.now() });
          return { status: 409, body: { error: { code: e.code, message: e.message } } };
        }
        await deps.store.recordAudit({ actor: actor.username, role: actor.role, action: 'lesson.ad-hoc', target: lesson.lessonId, args: { ...adHoc, via: 'kiosk' }, result: 'ok', ts: clock.now() });
      } else if (!lesson && next && clock.now() >= attendance.windowOpensAt(next)) {
        try {
          lesson = await lessons.startEarly(next.lessonId);
          started = true;
        } catch (e) {
          if (!(e instanceof LessonOverrideError)) throw e;
          log.warn({ err: e.message }, 'class start: the next lesson could not start early');
        }
        await deps.store.recordAudit({ actor: actor.username, role: actor.role, action: 'lesson.start-early', target: next.lessonId, args: { via: 'kiosk' }, result: started ? 'ok' : 'refused', ts: clock.now() });
      }
      // A lesson that just started runs class-start by itself (lessons.autoScenes); otherwise the kiosk runs it.
      const scene = started && autoScenes ? { runBy: 'lesson-clock' as const } : { runBy: 'kiosk' as const, result: await runScene('class-start', actor) };
      return { status: 200, body: { lesson: withNames(lesson), started, scene } };
    });
    return sendLedger(reply, r);
  });

  app.post('/api/kiosk/class/end', { preHandler: teacher }, async (req, reply) => {
    const body = classBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error);
    const actor = actorOf(req);
    const r = await ledger.once({ commandId: body.data.commandId, actor: actor.username, action: 'kiosk.class-end', target: 'class-end' }, async () => {
      const { lessons } = classroom;
      const cur = lessons.current();
      let ended: LessonOccurrence | null = null;
      if (cur) {
        ended = await lessons.endNow();
        await deps.store.recordAudit({ actor: actor.username, role: actor.role, action: 'lesson.end', target: cur.lessonId, args: { via: 'kiosk' }, result: 'ok', ts: clock.now() });
      }
      const scene = ended && autoScenes ? { runBy: 'lesson-clock' as const } : { runBy: 'kiosk' as const, result: await runScene('class-end', actor) };
      return { status: 200, body: { lesson: withNames(ended), ended: ended !== null, scene } };
    });
    return sendLedger(reply, r);
  });

  app.post<{ Params: { id: string } }>('/api/kiosk/devices/:id/commands', { preHandler: teacher }, async (req, reply) => {
    const body = deviceBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error);
    const actor = actorOf(req);
    const { commandId: id, command, args } = body.data;
    const r = await ledger.once({ commandId: id, actor: actor.username, action: 'device.command', target: req.params.id }, async () => {
      const res = await devices.execute(req.params.id, command, args, actor);
      return { status: statusFor(res), body: { id, ...res } };
    });
    return sendLedger(reply, r);
  });

  app.post('/api/kiosk/help', { preHandler: teacher }, async (req, reply) => {
    const body = helpBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error);
    const actor = actorOf(req);
    const r = await ledger.once({ commandId: body.data.commandId, actor: actor.username, action: 'kiosk.help', target: config.room.id }, async () => {
      const lessonId = classroom.lessons.current()?.lessonId ?? null;
      const ts = clock.now();
      // The audit entry is an event-log row: it goes up to the district with the next sync.
      await deps.store.recordAudit({ actor: actor.username, role: actor.role, action: 'kiosk.help-request', target: config.room.id, args: { lessonId, note: body.data.note ?? null }, result: 'ok', ts });
      await deps.raiseAlert({
        severity: 'warning',
        code: 'help-request',
        message: `help requested from the kiosk of ${config.room.name}${body.data.note ? `: ${body.data.note}` : ''}`,
        data: { by: actor.username, lessonId, ...(body.data.note ? { note: body.data.note } : {}) },
      });
      return { status: 201, body: { ok: true, ts } };
    });
    return sendLedger(reply, r);
  });
  return snapshot;
}
