/**
 * The reference cloud's technician HTTP API (fastify; docs/sync.md,
 * "Technician API"). Every route needs `Authorization: Bearer name:secret`
 * (sync/cloud/technicians.ts); there is no anonymous route. A technician sees
 * and commands only the rooms of their schools; a refusal is 403 with the
 * reason, and refused commands are audited like accepted ones.
 *
 *   GET  /api/rooms                   rooms in scope: online/offline (up/status), sync (acked seq,
 *                                     last batch), device health (telemetry)
 *   GET  /api/rooms/:room/devices     the room's devices as their telemetry last said
 *   POST /api/rooms/:room/commands    {command, args?, ttlMs?} -> 202 {id, status: pending};
 *                                     ?wait=ms (at most maxWaitMs) answers 200 with the result if it came
 *   POST /api/rooms/:room/alerts/:id/ack  acknowledges an alert of the room (it is no longer open)
 *   GET  /api/commands/:id            a command and its result
 *   GET  /api/audit?limit=N           the cloud audit of the technician's rooms, newest first
 *   GET  /fleet                       the fleet page (sync/cloud/fleet.ts), when registered
 *   /api/recordings/uploads/*         recording uploads (sync/cloud/recordings.ts), when registered:
 *                                     authenticated by a room upload token instead
 *   GET  /api/rooms/:room/recordings[/:lesson/:source.mp4]  recordings of a day, playback with ranges
 *                                     (sync/cloud/recordings-routes.ts), when registered
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Logger } from '../../edge/util/logger.js';
import { commandNameSchema, districtTopics, linkIdSchema, telemetrySchema, statusSchema } from '../protocol.js';
import { acknowledgeAlert, alertAckMessage, openAlerts, type AlertAck, type Audit, type RoomAlerts } from './alerts.js';
import type { CloudCommands, CommandRecord } from './commands.js';
import type { CloudStore } from './store.js';
import type { Technician, Technicians } from './technicians.js';

export interface CloudApiDeps {
  store: CloudStore;
  commands: CloudCommands;
  technicians: Technicians;
  logger: Logger;
  now?: () => number;
  maxWaitMs?: number;
  maxTtlMs?: number;
  /** HTTPS (PEM contents); plain HTTP only for loopback tests. */
  https?: { cert: Buffer; key: Buffer } | null;
}

export interface DeviceHealth {
  deviceId: string;
  online: boolean | null;
  lastError: unknown;
  state: unknown;
  ts: number | null;
}

export interface RoomSummary {
  roomId: string;
  school: string | null;
  online: boolean;
  statusAt: number | null;
  sync: { storeId: string | null; ackedSeq: number; lastBatchAt: number | null; sinceLastBatchMs: number | null };
  devices: { total: number; online: number; offline: number; withError: number };
  /** Lessons by the state of their latest completeness receipt (sync/cloud/receipts.ts). */
  lessons: { complete: number; incomplete: number; pending: number };
  /** The room's open alerts (not acknowledged by a technician; sync/cloud/alerts.ts), newest first, and help requests among them. */
  alerts: RoomAlerts;
}

async function roomLessons(store: CloudStore, roomId: string): Promise<RoomSummary['lessons']> {
  // The latest revision of each lesson's receipt decides its state.
  const rows = await store.db.all<{ state: string; n: number }>(
    `SELECT state, COUNT(*) AS n FROM receipts r WHERE room_id = ?
       AND revision = (SELECT MAX(revision) FROM receipts r2 WHERE r2.room_id = r.room_id AND r2.store_id = r.store_id AND r2.lesson_id = r.lesson_id)
     GROUP BY state`,
    [roomId],
  );
  const out = { complete: 0, incomplete: 0, pending: 0 };
  for (const r of rows) if (r.state in out) out[r.state as keyof typeof out] = Number(r.n);
  return out;
}

const commandBody = z
  .object({
    command: commandNameSchema,
    args: z.record(z.string(), z.unknown()).default({}),
    ttlMs: z.number().int().min(1000).optional(),
  })
  .strict();

declare module 'fastify' {
  interface FastifyRequest {
    technician?: Technician;
  }
  interface FastifyContextConfig {
    /** The route checks a room's credential itself (sync/cloud/recordings.ts), not a technician's. */
    roomAuth?: boolean;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export async function roomDevices(store: CloudStore, roomId: string): Promise<DeviceHealth[]> {
  return (await store.roomStatus(roomId))
    .filter((r) => r.key.startsWith('device:'))
    .map((r) => {
      const t = telemetrySchema.safeParse(parseJson(r.payload));
      const s = (t.success ? t.data.state : null) as { online?: unknown; lastError?: unknown; state?: unknown } | null;
      return {
        deviceId: r.key.slice('device:'.length),
        online: typeof s?.online === 'boolean' ? s.online : null,
        lastError: s?.lastError ?? null,
        state: s?.state ?? s ?? null,
        ts: r.ts,
      };
    });
}

export async function roomSummary(store: CloudStore, technicians: Technicians, roomId: string, now: number): Promise<RoomSummary> {
  const statusRow = (await store.roomStatus(roomId)).find((r) => r.key === 'status');
  const status = statusRow ? statusSchema.safeParse(parseJson(statusRow.payload)) : null;
  const sync = await store.db.get<{ store_id: string; acked_seq: number; last_seen: number }>(
    'SELECT store_id, acked_seq, last_seen FROM rooms WHERE room_id = ? ORDER BY last_seen DESC LIMIT 1',
    [roomId],
  );
  const devices = await roomDevices(store, roomId);
  return {
    roomId,
    school: technicians.schoolOf(roomId),
    online: status?.success === true && status.data.state === 'online',
    statusAt: status?.success ? (status.data.ts ?? statusRow?.ts ?? null) : null,
    sync: {
      storeId: sync?.store_id ?? null,
      ackedSeq: sync?.acked_seq ?? 0,
      lastBatchAt: sync?.last_seen ?? null,
      sinceLastBatchMs: sync ? Math.max(0, now - sync.last_seen) : null,
    },
    devices: {
      total: devices.length,
      online: devices.filter((d) => d.online === true).length,
      offline: devices.filter((d) => d.online === false).length,
      withError: devices.filter((d) => d.lastError !== null && d.lastError !== undefined).length,
    },
    lessons: await roomLessons(store, roomId),
    alerts: await openAlerts(store, roomId, now),
  };
}

/** Alert ids are the edge's UUIDs; anything printable and short is accepted, so older ids still work. */
export const alertIdSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.:-]+$/);

/**
 * An acknowledgement as the API and the fleet page both make it: refused (and audited) outside the
 * technician's scope, 404 for a room or alert the cloud does not hold.
 */
export async function acknowledgeAlertInScope(
  deps: Pick<CloudApiDeps, 'store' | 'commands' | 'technicians'>,
  tech: Technician,
  roomId: string,
  alertId: string,
  now: number,
): Promise<{ ok: true; ack: AlertAck } | { ok: false; status: 403 | 404; reason: string }> {
  const audit: Audit = (e, q) => deps.commands.audit(e, q);
  if (!deps.technicians.inScope(tech, roomId)) {
    const reason = `room ${roomId} is outside the scope of ${tech.name}`;
    await audit({ technician: tech.name, role: tech.role, roomId, action: 'alert.ack', commandId: null, outcome: 'refused', detail: `${alertId}: ${reason}` });
    return { ok: false, status: 403, reason };
  }
  const out = await acknowledgeAlert(deps.store, audit, tech, roomId, alertId, now);
  // The room hears of the first acknowledgement only (after the commit): the teacher who asked for help learns it was seen.
  if (out.ok && !out.ack.already) deps.commands.notifyRoom(districtTopics(roomId).alertAcks, alertAckMessage(out.ack, out.code));
  return out.ok ? { ok: true, ack: out.ack } : out;
}

export function createCloudApi(deps: CloudApiDeps): FastifyInstance {
  const now = deps.now ?? Date.now;
  const maxWaitMs = deps.maxWaitMs ?? 30_000;
  const maxTtlMs = deps.maxTtlMs ?? 10 * 60_000;
  const log = deps.logger.child({ ns: 'cloud:api' });
  const app = Fastify({ bodyLimit: 64 * 1024, ...(deps.https ? { https: deps.https } : {}) });
  const counts = { authFailures: 0 };

  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) log.error({ err }, 'API error');
    void reply.code(status).send({ error: { code: status === 500 ? 'internal' : 'bad-request', message: err.message } });
  });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (req.routeOptions.config?.roomAuth === true) return;
    const page = req.url === '/fleet' || req.url.startsWith('/fleet/') || req.url.startsWith('/fleet?');
    const tech = await deps.technicians.authenticate(req.headers.authorization, { basic: page });
    if (!tech) {
      counts.authFailures++;
      log.warn({ ip: req.ip, url: req.url }, 'technician API request without a valid token');
      await reply
        .code(401)
        .header('www-authenticate', page ? 'Basic realm="classroom-cloud fleet", charset="UTF-8"' : 'Bearer realm="classroom-cloud"')
        .send({ error: { code: 'unauthorized', message: 'a valid technician token is required (Authorization: Bearer name:secret)' } });
      return reply;
    }
    req.technician = tech;
  });

  const forbidden = (reply: FastifyReply, reason: string) => reply.code(403).send({ error: { code: 'forbidden', message: reason } });
  const roomParam = (req: FastifyRequest) => linkIdSchema.safeParse((req.params as { room?: unknown }).room);
  const view = (c: CommandRecord) => c;
  const acknowledge = (tech: Technician, roomId: string, alertId: string) => acknowledgeAlertInScope(deps, tech, roomId, alertId, now());

  app.get('/api/rooms', async (req) => {
    const tech = req.technician!;
    const t = now();
    const rooms = await Promise.all(
      (await deps.commands.knownRooms()).filter((r) => deps.technicians.inScope(tech, r)).map((r) => roomSummary(deps.store, deps.technicians, r, t)),
    );
    return { rooms };
  });

  app.get('/api/rooms/:room/devices', async (req, reply) => {
    const tech = req.technician!;
    const room = roomParam(req);
    if (!room.success) return reply.code(400).send({ error: { code: 'bad-request', message: 'invalid room id' } });
    if (!deps.technicians.inScope(tech, room.data)) return forbidden(reply, `room ${room.data} is outside the scope of ${tech.name}`);
    if (!(await deps.commands.knownRooms()).includes(room.data)) return reply.code(404).send({ error: { code: 'not-found', message: `room ${room.data} is unknown` } });
    return { roomId: room.data, devices: await roomDevices(deps.store, room.data) };
  });

  app.post('/api/rooms/:room/commands', async (req, reply) => {
    const tech = req.technician!;
    const room = roomParam(req);
    if (!room.success) return reply.code(400).send({ error: { code: 'bad-request', message: 'invalid room id' } });
    const body = commandBody.safeParse(req.body ?? {});
    if (!body.success) {
      const why = body.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
      return reply.code(400).send({ error: { code: 'bad-request', message: why } });
    }
    const wait = Math.min(Math.max(0, Number((req.query as { wait?: string }).wait ?? 0) || 0), maxWaitMs);
    const ttl = Math.min(body.data.ttlMs ?? 60_000, maxTtlMs);
    const out = await deps.commands.issue(tech, room.data, body.data.command, body.data.args, ttl);
    if (!out.ok) return reply.code(out.status).send({ error: { code: out.status === 403 ? 'forbidden' : 'not-found', message: out.reason } });
    const cmd = wait > 0 ? await deps.commands.wait(out.command.id, wait) : out.command;
    return reply.code(cmd && cmd.status !== 'pending' ? 200 : 202).send(view(cmd ?? out.command));
  });

  app.post('/api/rooms/:room/alerts/:alert/ack', async (req, reply) => {
    const tech = req.technician!;
    const room = roomParam(req);
    const alertId = alertIdSchema.safeParse((req.params as { alert?: unknown }).alert);
    if (!room.success || !alertId.success) return reply.code(400).send({ error: { code: 'bad-request', message: !room.success ? 'invalid room id' : 'invalid alert id' } });
    const out = await acknowledge(tech, room.data, alertId.data);
    if (!out.ok) return reply.code(out.status).send({ error: { code: out.status === 403 ? 'forbidden' : 'not-found', message: out.reason } });
    return out.ack;
  });

  app.get('/api/commands/:id', async (req, reply) => {
    const tech = req.technician!;
    const id = z.uuid().safeParse((req.params as { id?: unknown }).id);
    const cmd = id.success ? await deps.commands.get(id.data) : null;
    // Out of scope looks like absent: ids of other schools' commands are not confirmed.
    if (!cmd || !deps.technicians.inScope(tech, cmd.roomId)) return reply.code(404).send({ error: { code: 'not-found', message: 'no such command' } });
    const wait = Math.min(Math.max(0, Number((req.query as { wait?: string }).wait ?? 0) || 0), maxWaitMs);
    return view((wait > 0 ? await deps.commands.wait(cmd.id, wait) : cmd) ?? cmd);
  });

  app.get('/api/audit', async (req) => {
    const tech = req.technician!;
    const limit = Math.min(Math.max(1, Number((req.query as { limit?: string }).limit ?? 100) || 100), 1000);
    const all = tech.schools.includes('*');
    const rooms = all ? null : new Set((await deps.commands.knownRooms()).filter((r) => deps.technicians.inScope(tech, r)));
    return { entries: await deps.commands.auditEntries({ limit, rooms, technician: tech.name }) };
  });

  return app;
}
