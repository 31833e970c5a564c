/**
 * The edge's HTTP API (fastify): `/health` (no auth), `/metrics`
 * (Prometheus text), and authenticated JSON routes to list devices, send a
 * command and run a scene; the kiosk UI under `/kiosk/`, its routes and its
 * live WebSocket (kiosk-routes.ts, kiosk-live.ts; docs/kiosk.md); recording
 * commands (recording-routes.ts). A device command with an `id` is applied
 * once per id (command-ledger.ts).
 */
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { z } from 'zod';
import { join } from 'node:path';
import type { DeviceSupervisor } from '../devices/supervisor.js';
import type { EdgeConfig } from '../config/schema.js';
import type { AlertMessage } from '../schemas/bus.js';
import { packageInfo } from '../util/package-info.js';
import { CommandLedger } from './command-ledger.js';
import { KioskLive, type BusSubscribe } from './kiosk-live.js';
import { registerKioskRoutes } from './kiosk-routes.js';
import { KioskSessions } from './kiosk-sessions.js';
import { registerKioskStatic } from './kiosk-static.js';
import { registerRecordingRoutes } from './recording-routes.js';
import { statusFor } from './status.js';
import type { SceneRunner } from '../scenes/scenes.js';
import type { Metrics } from '../metrics.js';
import type { Store } from '../store/index.js';
import type { CredentialStore } from '../security/credentials.js';
import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';
import { createAuthenticator } from './auth.js';
import type { Classroom } from '../classroom.js';
import type { RecorderControl } from '../recording/types.js';
import { registerLessonRoutes } from './lesson-routes.js';
import { registerLessonOverrideRoutes } from '../lessons/routes.js';

export interface ApiDeps {
  roomId: string;
  classroom: Classroom;
  roomName: string;
  timeZone: string;
  version: string;
  devices: DeviceSupervisor;
  scenes: SceneRunner;
  store: Store;
  metrics: Metrics;
  credentials: CredentialStore;
  logger: Logger;
  clock: Clock;
  startedAt: number;
  /** The district link, when configured: its stats are part of /health. */
  sync?: { stats(): object } | null;
  /** Which configuration is in force (the file's or a pushed version): part of /health. */
  configStatus?: () => object;
  config: EdgeConfig;
  raiseAlert(alert: Omit<AlertMessage, 'id' | 'ts'>): Promise<void>;
  /** In-process subscription to the bus, for the kiosk's live channel. */
  subscribe?: BusSubscribe;
  /** The built kiosk UI (default: dist/kiosk/ui of the installation). */
  kioskUiDir?: string;
  /** The room's recorder (absent or null: the room records nothing): its routes, the kiosk's buttons, /health. */
  recorder?: RecorderControl | null;
}

const commandBody = z.object({
  id: z.string().min(1).max(64).optional(),
  command: z.string().min(1).max(64),
  args: z.record(z.string(), z.unknown()).default({}),
});

/**
 * /health's `recording` section: the recorder's own health, or an error
 * when it cannot say (health must answer whatever the recorder does). A
 * recorder in error, or a source in error, makes the service `degraded`.
 */
function recordingHealth(recorder: RecorderControl): { section: object; degraded: boolean } {
  try {
    const h = recorder.health();
    return { section: h, degraded: h.status === 'error' || Object.values(h.sources).some((s) => s.state === 'error') };
  } catch (e) {
    return { section: { status: 'error', error: e instanceof Error ? e.message : String(e) }, degraded: true };
  }
}

export function createApi(deps: ApiDeps) {
  const recorder = deps.recorder ?? null;
  const app = Fastify({
    // Typed as fastify's base logger so that route modules take a plain FastifyInstance.
    loggerInstance: deps.logger.child({ ns: 'edge:api' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    // On stop, close every connection, not only idle ones: browsers keep preconnected sockets that never send a
    // request, which Node would otherwise keep open for up to its 60 s headers timeout and hold the stop that long.
    forceCloseConnections: true,
  });
  const sessions = new KioskSessions({ store: deps.store, clock: deps.clock, logger: deps.logger, config: deps.config.kiosk });
  const requireRole = createAuthenticator({ ...deps, tokens: sessions });
  const operator = requireRole('technician', 'teacher');
  const ledger = new CommandLedger({ store: deps.store, clock: deps.clock, logger: deps.logger.child({ ns: 'edge:commands' }) });
  ledger.start();
  // The snapshot builder comes from the kiosk routes, registered below.
  const snapshotRef: { get: () => object } = { get: () => ({}) };
  const live = new KioskLive({
    roomId: deps.roomId,
    clock: deps.clock,
    logger: deps.logger,
    verify: (token) => sessions.verify(token),
    onRefused: () => deps.metrics.authFailures.inc({ surface: 'kiosk' }),
    onRejected: (kind, reason) => deps.metrics.messagesRejected.inc({ topic: kind, reason }),
    snapshot: () => snapshotRef.get(),
    subscribe: deps.subscribe,
    observeScenes: (fn) => deps.scenes.observe(fn),
  });
  app.addHook('onReady', async () => live.start(app.server));
  app.addHook('preClose', async () => {
    live.close();
    ledger.stop();
  });

  app.setErrorHandler((err: { statusCode?: number; message: string }, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, 'API error');
    void reply.code(status).send({ error: { code: status === 500 ? 'internal' : 'bad-request', message: err.message } });
  });

  // Always 200 while the service answers (the kiosk's outage page and supervisors probe it for 2xx); `status` says
  // 'degraded' when a part needs a technician (the recorder in error), and that part's section says why.
  app.get('/health', async () => {
    const devices = deps.devices.list();
    const rec = recorder ? recordingHealth(recorder) : null;
    return {
      status: rec?.degraded ? 'degraded' : 'ok',
      room: deps.roomId,
      version: deps.version,
      uptimeSeconds: Math.round((deps.clock.now() - deps.startedAt) / 1000),
      devices: { total: devices.length, online: devices.filter((d) => d.online).length },
      store: { lastSeq: deps.store.lastSeq() },
      ...(deps.sync ? { sync: deps.sync.stats() } : {}),
      // Ended lessons whose completeness receipt the district has not confirmed (sync/receipts.ts).
      lessons: { unconfirmed: deps.classroom.receipts.unconfirmed() },
      ...(deps.configStatus ? { config: deps.configStatus() } : {}),
      ...(rec ? { recording: rec.section } : {}),
    };
  });

  app.get('/metrics', async (_req, reply) => {
    const s = deps.store.stats();
    deps.metrics.storeBytes.set(s.fileBytes + s.walBytes);
    deps.metrics.eventLogLastSeq.set(s.lastSeq);
    void reply.header('content-type', deps.metrics.registry.contentType);
    return deps.metrics.registry.metrics();
  });

  app.get('/api/devices', { preHandler: operator }, async () => ({ devices: deps.devices.list() }));

  app.get<{ Params: { id: string } }>('/api/devices/:id', { preHandler: operator }, async (req, reply) => {
    const d = deps.devices.list().find((x) => x.deviceId === req.params.id);
    if (!d) return reply.code(404).send({ error: { code: 'unknown-device', message: `no device "${req.params.id}"` } });
    return d;
  });

  app.post<{ Params: { id: string } }>('/api/devices/:id/commands', { preHandler: operator }, async (req, reply) => {
    const body = commandBody.safeParse(req.body);
    if (!body.success) {
      const message = body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return reply.code(400).send({ error: { code: 'invalid-request', message } });
    }
    const principal = req.principal!;
    const run = async () => {
      const r = await deps.devices.execute(req.params.id, body.data.command, body.data.args, { username: principal.username, role: principal.role });
      return { status: statusFor(r), body: { id: body.data.id, ...r } };
    };
    const { id } = body.data;
    const r = id === undefined ? { ...(await run()), replayed: false } : await ledger.once({ commandId: id, actor: principal.username, action: 'device.command', target: req.params.id }, run);
    if (r.replayed) void reply.header('x-command-replayed', '1');
    return reply.code(r.status).send(r.body);
  });

  app.get('/api/scenes', { preHandler: operator }, async () => ({ scenes: deps.scenes.names() }));

  app.post<{ Params: { name: string } }>('/api/scenes/:name/run', { preHandler: operator }, async (req, reply) => {
    if (!deps.scenes.has(req.params.name)) {
      return reply.code(404).send({ error: { code: 'unknown-scene', message: `no scene "${req.params.name}"; scenes: ${deps.scenes.names().join(', ')}` } });
    }
    const principal = req.principal!;
    return deps.scenes.run(req.params.name, { username: principal.username, role: principal.role });
  });

  registerLessonRoutes(app, {
    requireRole,
    lessons: deps.classroom.lessons,
    attendance: deps.classroom.attendance,
    behaviour: deps.classroom.behaviour,
    syncState: (id) => deps.classroom.receipts.state(id),
    clock: deps.clock,
    roomId: deps.roomId,
    timeZone: deps.timeZone,
  });
  registerLessonOverrideRoutes(app, { requireRole, lessons: deps.classroom.lessons, datasets: deps.classroom.datasets, store: deps.store, clock: deps.clock, ledger });

  registerKioskStatic(app, deps.kioskUiDir ?? join(packageInfo().root, 'dist', 'kiosk', 'ui'));
  snapshotRef.get = registerKioskRoutes(app, {
    requireRole,
    sessions,
    ledger,
    live,
    config: deps.config,
    version: deps.version,
    classroom: deps.classroom,
    devices: deps.devices,
    scenes: deps.scenes,
    store: deps.store,
    clock: deps.clock,
    logger: deps.logger,
    raiseAlert: deps.raiseAlert,
    metrics: deps.metrics,
    recorder,
  });
  registerRecordingRoutes(app, { requireRole, ledger, recorder, store: deps.store, clock: deps.clock });

  /** Demo room and tests: drive a simulated device (present a card, silence a display). */
  app.post<{ Params: { id: string; action: string } }>('/api/sim/:id/:action', { preHandler: requireRole('technician') }, async (req, reply) => {
    const sim = deps.devices.simulator(req.params.id);
    if (!sim) return reply.code(404).send({ error: { code: 'not-simulated', message: `device "${req.params.id}" is not simulated` } });
    const action = sim.actions[req.params.action];
    if (!action) {
      return reply.code(404).send({ error: { code: 'unknown-action', message: `simulator has no action "${req.params.action}"; actions: ${Object.keys(sim.actions).join(', ')}` } });
    }
    try {
      await action((req.body ?? {}) as Record<string, unknown>);
    } catch (e) {
      return reply.code(400).send({ error: { code: 'invalid-request', message: (e as Error).message } });
    }
    return { ok: true };
  });

  return app;
}
