/**
 * Technicians' routes to the district's recordings (docs/sync.md, "Recording
 * uploads"), on the technician API's server, so they have its authentication
 * (sync/cloud/api.ts: Bearer; Basic under /fleet/ for the browser's player)
 * and the same school scope:
 *
 *   GET /api/rooms/:room/recordings?day=YYYY-MM-DD         the room's recordings of a local day
 *                                                          (default: today in the room's zone)
 *   GET /api/rooms/:room/recordings/:lesson/:source.mp4     the MP4, with range requests
 *   GET /fleet/rooms/:room/recordings/:lesson/:source.mp4   the same, for the fleet page's <video>
 *   GET /fleet/rooms/:room/recordings?day=&lang=            the fleet page's 录像 view
 *
 * `:lesson` is the lesson id URL-encoded as one path segment (its `/` as %2F).
 * A room outside the technician's scope is 403 (a media request is audited as
 * refused); an unknown or still uploading recording is 404. Every playback is
 * audited in cloud_audit (action `recording.play`), once per playback session
 * (sync/cloud/playback.ts), before any byte is sent.
 */
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DateTime } from 'luxon';
import type { Logger } from '../../edge/util/logger.js';
import { linkIdSchema } from '../protocol.js';
import { recordingMetadataSchema } from '../recording-protocol.js';
import type { CloudCommands } from './commands.js';
import { PlaybackSessions, sendMedia } from './playback.js';
import { renderRecordingsPage } from './recordings-page.js';
import type { RecordingRegistry } from './recordings-registry.js';
import type { Technician, Technicians } from './technicians.js';

export interface RecordingRoutesDeps {
  registry: RecordingRegistry;
  technicians: Technicians;
  commands: CloudCommands;
  /** The recordings directory (media paths are relative to it). */
  directory: string;
  zoneOf: (roomId: string) => string;
  now: () => number;
  monotonic?: () => number;
  logger: Logger;
}

/** The path of a recording's MP4 under `/api` or `/fleet`. */
export function recordingMediaPath(prefix: '/api' | '/fleet', roomId: string, lessonId: string, source: string): string {
  return `${prefix}/rooms/${encodeURIComponent(roomId)}/recordings/${encodeURIComponent(lessonId)}/${encodeURIComponent(source)}.mp4`;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A valid local day, or null; absent: today in `zone`. */
export function dayParam(raw: unknown, zone: string, now: number): string | null {
  if (raw === undefined || raw === '') return DateTime.fromMillis(now, { zone }).toISODate()!;
  if (typeof raw !== 'string' || !DAY.test(raw) || !DateTime.fromISO(raw, { zone }).isValid) return null;
  return raw;
}

export function registerRecordingRoutes(app: FastifyInstance, deps: RecordingRoutesDeps): void {
  const log = deps.logger.child({ ns: 'cloud:recordings' });
  const sessions = new PlaybackSessions(deps.monotonic);
  const root = path.resolve(deps.directory);
  const bad = (reply: FastifyReply, message: string) => reply.code(400).send({ error: { code: 'bad-request', message } });
  const forbidden = (reply: FastifyReply, tech: Technician, room: string) =>
    reply.code(403).send({ error: { code: 'forbidden', message: `room ${room} is outside the scope of ${tech.name}` } });

  app.get('/api/rooms/:room/recordings', async (req, reply) => {
    const tech = req.technician!;
    const room = linkIdSchema.safeParse((req.params as { room?: unknown }).room);
    if (!room.success) return bad(reply, 'invalid room id');
    if (!deps.technicians.inScope(tech, room.data)) return forbidden(reply, tech, room.data);
    const zone = deps.zoneOf(room.data);
    const day = dayParam((req.query as { day?: unknown }).day, zone, deps.now());
    if (!day) return bad(reply, 'day: YYYY-MM-DD');
    const recordings = (await deps.registry.list(room.data, day)).map((r) => ({
      ...r,
      mediaUrl: r.status === 'ready' ? recordingMediaPath('/api', r.roomId, r.lessonId, r.source) : null,
    }));
    // Lessons, classes and teachers of a school: not for a shared cache.
    void reply.header('cache-control', 'no-store');
    return { roomId: room.data, day, timeZone: zone, recordings };
  });

  const media = async (req: FastifyRequest, reply: FastifyReply) => {
    const tech = req.technician!;
    const p = req.params as { room?: unknown; lesson?: unknown; file?: unknown };
    const room = linkIdSchema.safeParse(p.room);
    const lesson = recordingMetadataSchema.shape.lessonId.safeParse(p.lesson);
    const file = typeof p.file === 'string' && p.file.endsWith('.mp4') ? linkIdSchema.safeParse(p.file.slice(0, -4)) : null;
    if (!room.success || !lesson.success || !file?.success) return bad(reply, 'expected /rooms/{room}/recordings/{url-encoded lesson id}/{source}.mp4');
    const what = { lessonId: lesson.data, source: file.data };
    if (!deps.technicians.inScope(tech, room.data)) {
      await deps.commands.audit({ technician: tech.name, role: tech.role, roomId: room.data, action: 'recording.play', commandId: null, outcome: 'refused', detail: JSON.stringify({ ...what, reason: 'outside scope' }) });
      return forbidden(reply, tech, room.data);
    }
    const rec = await deps.registry.get(room.data, lesson.data, file.data);
    if (!rec?.mediaPath) return reply.code(404).send({ error: { code: 'not-found', message: rec ? 'the recording is still uploading' : 'no such recording' } });
    const abs = path.resolve(root, ...rec.mediaPath.split('/'));
    if (!abs.startsWith(root + path.sep)) {
      log.error({ room: room.data, ...what }, 'a registered media path leaves the recordings directory: refused');
      return reply.code(404).send({ error: { code: 'not-found', message: 'no such recording' } });
    }
    // Audited before a byte goes out: no viewing without its row.
    if (sessions.touch(tech.name, JSON.stringify([room.data, lesson.data, file.data]))) {
      await deps.commands.audit({
        technician: tech.name,
        role: tech.role,
        roomId: room.data,
        action: 'recording.play',
        commandId: null,
        outcome: 'played',
        detail: JSON.stringify({ ...what, sha256: rec.sha256, range: req.headers.range ?? null }),
      });
      log.info({ technician: tech.name, room: room.data, ...what }, 'recording played (audited)');
    }
    return sendMedia(req, reply, abs, `"${rec.sha256}"`);
  };
  app.get('/api/rooms/:room/recordings/:lesson/:file', media);
  app.get('/fleet/rooms/:room/recordings/:lesson/:file', media);

  app.get('/fleet/rooms/:room/recordings', async (req, reply) => {
    const tech = req.technician!;
    const q = req.query as { day?: unknown; lang?: unknown };
    const lang = q.lang === 'en' ? 'en' : 'zh-CN';
    const room = linkIdSchema.safeParse((req.params as { room?: unknown }).room);
    const zone = room.success ? deps.zoneOf(room.data) : 'UTC';
    const day = dayParam(q.day, zone, deps.now());
    const page = (status: number, html: { csp: string; body: string }) =>
      reply.code(status).header('content-security-policy', html.csp).header('x-content-type-options', 'nosniff').header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html.body);
    if (!room.success || !day) return page(400, renderRecordingsPage({ lang, error: 'bad-request' }));
    if (!deps.technicians.inScope(tech, room.data)) return page(403, renderRecordingsPage({ lang, error: 'forbidden' }));
    const recordings = await deps.registry.list(room.data, day);
    return page(200, renderRecordingsPage({ lang, roomId: room.data, day, zone, recordings, mediaPath: (r) => recordingMediaPath('/fleet', r.roomId, r.lessonId, r.source) }));
  });
}
