/**
 * Recording commands (docs/kiosk.md "Recording indicator", docs/recording.md):
 * the kiosk's start/stop and the technicians' routes, all driving the
 * recorder through its control surface (edge/recording/types.ts,
 * RecorderControl). The recorder publishes its state on the bus's retained
 * `recording` topic; the kiosk sees the change there (kiosk-live.ts), so the
 * replies here only say what the action did.
 *
 *   POST /api/kiosk/recording                  {commandId, source?, action}: teacher (and technician), once per commandId
 *   GET  /api/recording                        technician: sources, status (the bus message) and health
 *   POST /api/recording/start|stop             technician: {source?, commandId?}
 *   POST /api/recording/live/:target/start|stop technician: {commandId?}
 *
 * Every command is audited (who, what, result), refusals and failures too:
 * the recorder audits what it is asked with the `by` it is given (as the
 * device supervisor audits device commands), so the routes audit only what
 * never reaches it or what it could not finish: `no-recorder`, and a thrown
 * error. Auditing here as well would write every action twice. A refusal (unknown source, no recorder, a full disk...) is an answer and is
 * kept by the command ledger like any reply; a thrown error is a 500 and is
 * not kept (nothing was acknowledged), so a retry runs it again.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { RecorderControl, RecordingAction, RecordingActionResult, RecordingActor } from '../recording/types.js';
import { idSchema } from '../schemas/bus.js';
import type { Role } from '../security/credentials.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { CommandLedger, LedgerReply } from './command-ledger.js';

type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

export interface RecordingRouteDeps {
  requireRole: (...roles: Role[]) => PreHandler;
  ledger: Pick<CommandLedger, 'once'>;
  /** The room's recorder; null when the config has no recording section. */
  recorder: RecorderControl | null;
  store: Pick<Store, 'recordAudit'>;
  clock: Clock;
}

const action = z.enum(['start', 'stop']);
const kioskBody = z.object({ commandId: idSchema, source: idSchema.optional(), action }).strict();
const techCommandId = z.string().min(1).max(64).optional();
const techBody = z.object({ source: idSchema.optional(), commandId: techCommandId }).strict();
const liveBody = z.object({ commandId: techCommandId }).strict();

const NO_RECORDER: RecordingActionResult = {
  ok: false,
  sources: {},
  error: { code: 'no-recorder', message: 'this room has no recorder (no recording section in its configuration)' },
};

/**
 * HTTP status of a recorder's answer: an unknown source or live target is
 * 404; every other refusal (no recorder, a full disk, nothing to stop...) is
 * a 409, a conflict with the room's state rather than a bad request.
 */
export function recordingStatusFor(r: RecordingActionResult): number {
  if (r.ok) return 200;
  const code = r.error?.code ?? '';
  if (code.startsWith('unknown-')) return 404;
  return 409;
}

function invalid(reply: FastifyReply, e: z.ZodError): FastifyReply {
  const message = e.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
  return reply.code(400).send({ error: { code: 'invalid-request', message } });
}

function send(reply: FastifyReply, r: LedgerReply & { replayed: boolean }): FastifyReply {
  if (r.replayed) void reply.header('x-command-replayed', '1');
  return reply.code(r.status).send(r.body);
}

interface Command {
  /** Audit and ledger action, as the recorder names it: recording.start, recording.stop, recording.live.start... */
  name: string;
  /** Audit and ledger target: the source, the live target, or `*` (every source). */
  target: string;
  args: Record<string, unknown>;
  by: RecordingActor;
  run(recorder: RecorderControl): Promise<RecordingActionResult>;
}

export function registerRecordingRoutes(app: FastifyInstance, deps: RecordingRouteDeps): void {
  const { recorder, ledger, store, clock } = deps;
  const teacher = deps.requireRole('teacher', 'technician');
  const technician = deps.requireRole('technician');

  /** Runs one command against the recorder (which audits it); no recorder or a thrown error is audited here. */
  const apply = async (c: Command): Promise<LedgerReply> => {
    const audit = (result: 'refused' | 'error', error: string) =>
      store.recordAudit({ actor: c.by.username, role: c.by.role, action: c.name, target: c.target, args: c.args, result, error: error.slice(0, 2000), ts: clock.now() });
    if (!recorder) {
      await audit('refused', NO_RECORDER.error!.message);
      return { status: recordingStatusFor(NO_RECORDER), body: NO_RECORDER };
    }
    try {
      const r = await c.run(recorder);
      return { status: recordingStatusFor(r), body: r };
    } catch (e) {
      await audit('error', e instanceof Error ? e.message : String(e));
      throw e;
    }
  };

  /** With a command id: once per id (the ledger); without (technicians' scripts): every time. */
  const once = async (commandId: string | undefined, c: Command) =>
    commandId === undefined ? { ...(await apply(c)), replayed: false } : ledger.once({ commandId, actor: c.by.username, action: c.name, target: c.target }, () => apply(c));

  const actorOf = (req: FastifyRequest): RecordingActor => ({ username: req.principal!.username, role: req.principal!.role });

  const recordCommand = (act: RecordingAction, source: string | undefined, by: RecordingActor, via: 'kiosk' | 'api'): Command => ({
    name: `recording.${act}`,
    target: source ?? '*',
    args: { source: source ?? null, via },
    by,
    run: (rec) => (act === 'start' ? rec.start({ ...(source ? { source } : {}), by }) : rec.stop({ ...(source ? { source } : {}), by })),
  });

  app.post('/api/kiosk/recording', { preHandler: teacher }, async (req, reply) => {
    const body = kioskBody.safeParse(req.body);
    if (!body.success) return invalid(reply, body.error);
    const { commandId, source, action: act } = body.data;
    return send(reply, await once(commandId, recordCommand(act, source, actorOf(req), 'kiosk')));
  });

  app.get('/api/recording', { preHandler: technician }, async (_req, reply) => {
    if (!recorder) return reply.code(409).send(NO_RECORDER);
    return { sources: recorder.sources(), status: recorder.status(), health: recorder.health() };
  });

  for (const act of action.options) {
    app.post(`/api/recording/${act}`, { preHandler: technician }, async (req, reply) => {
      const body = techBody.safeParse(req.body ?? {});
      if (!body.success) return invalid(reply, body.error);
      return send(reply, await once(body.data.commandId, recordCommand(act, body.data.source, actorOf(req), 'api')));
    });

    app.post<{ Params: { target: string } }>(`/api/recording/live/:target/${act}`, { preHandler: technician }, async (req, reply) => {
      const target = idSchema.safeParse(req.params.target);
      if (!target.success) return reply.code(400).send({ error: { code: 'invalid-request', message: `target: ${target.error.issues.map((i) => i.message).join('; ')}` } });
      const body = liveBody.safeParse(req.body ?? {});
      if (!body.success) return invalid(reply, body.error);
      const by = actorOf(req);
      return send(
        reply,
        await once(body.data.commandId, { name: `recording.live.${act}`, target: target.data, args: { target: target.data, via: 'api' }, by, run: (rec) => rec.live({ target: target.data, action: act, by }) }),
      );
    });
  }
}
