/**
 * The reference cloud's recording upload endpoint (docs/sync.md, "Recording
 * uploads"): tus 1.0.0 (@tus/server with @tus/file-store) mounted in the
 * cloud's fastify API under /api/recordings/uploads.
 *
 * - Authentication: `Authorization: Bearer {roomId}:{secret}`, the secret
 *   checked against the room's scrypt `uploadTokenHash` from the cloud config
 *   (one scrypt per new token, then cached under its SHA-256 for a few
 *   minutes, as for technicians). A room uploads only under its own id: the
 *   metadata's roomId must be the authenticated room (else 403), and an
 *   upload id carries its room (`{roomId}~{random}`), so another room's
 *   upload is 404. No anonymous request reaches tus.
 * - Creation is refused before tus sees it when the metadata is bad (400), too
 *   large (413), or the segment is already stored: same sha256 -> 200 with
 *   `Recording-Status: complete` (nothing created, nothing sent again),
 *   another sha256 -> 409.
 * - On completion the stored bytes are hashed; a mismatch deletes the upload
 *   and answers 460. A match moves the file to
 *   `{directory}/{roomId}/{lessonId}/{source}-{segment}.{ext}` and records it
 *   in that lesson directory's `.segments.json` (the index of stored files).
 * - A sidecar (`ext: json`, at most MAX_SIDECAR_BYTES) is validated before it
 *   is stored (recordingSidecarSchema; its room, lesson and source must be the
 *   upload's): malformed, it is refused with 400, counted, and deleted. Every
 *   stored file of a source then registers the recording with its lesson in
 *   the database (sync/cloud/recordings-registry.ts), whichever file came
 *   first; technicians list and play it (sync/cloud/recordings-routes.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileStore } from '@tus/file-store';
import { Server as TusServer, type Upload } from '@tus/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { IANAZone } from 'luxon';
import { verifyPassword } from '../../edge/security/passwords.js';
import type { Logger } from '../../edge/util/logger.js';
import { linkIdSchema } from '../protocol.js';
import {
  HASH_MISMATCH_STATUS,
  MAX_SIDECAR_BYTES,
  MetadataError,
  RECORDING_SHA256_HEADER,
  RECORDING_STATUS_HEADER,
  RECORDING_UPLOADS_PATH,
  TUS_VERSION,
  parseRecordingSidecar,
  parseUploadMetadata,
  recordingIndexKey,
  recordingRelativePath,
  validateRecordingMetadata,
  type RecordingMetadata,
} from '../recording-protocol.js';
import type { CloudCommands } from './commands.js';
import { RecordingRegistry } from './recordings-registry.js';
import { registerRecordingRoutes } from './recordings-routes.js';
import type { CloudStore } from './store.js';
import type { Technicians } from './technicians.js';

const zone = z.string().refine((z) => IANAZone.isValidZone(z), 'an IANA time zone, e.g. Asia/Shanghai');

export const recordingsConfigSchema = z
  .object({
    /** Finished segments go to {directory}/{roomId}/{lessonId}/; uploads in progress to {directory}/.incoming/. */
    directory: z.string().min(1),
    /** Largest segment accepted, in bytes (default 2 GiB). */
    maxUploadBytes: z.number().int().min(1).max(64 * 2 ** 30).default(2 * 2 ** 30),
    /** The district's time zone: recordings are listed by the lesson's local day and shown in it (a room may set its own). */
    timezone: zone.default('Asia/Shanghai'),
    /** Rooms allowed to upload, each with the scrypt hash of its upload token (`classroom-edge hash-password`). */
    rooms: z
      .array(
        z
          .object({
            id: linkIdSchema,
            uploadTokenHash: z.string().startsWith('scrypt$', 'a scrypt hash made by `classroom-edge hash-password`'),
            timezone: zone.optional(),
          })
          .strict(),
      )
      .min(1, 'list the rooms allowed to upload (no anonymous uploads)'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.rooms.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rooms', i, 'id'], message: `room ${r.id} appears twice` });
      seen.add(r.id);
    });
  });
export type RecordingsConfig = z.infer<typeof recordingsConfigSchema>;

export interface SegmentRecord {
  source: string;
  segment: number;
  sha256: string;
  size: number;
  ext: string;
  startedAt: number;
  durationMs: number;
  path: string;
  uploadId: string;
  receivedAt: number;
}

export interface RecordingCounts {
  authFailures: number;
  rejected: number;
  hashMismatches: number;
  conflicts: number;
  duplicates: number;
  completed: number;
  bytesCompleted: number;
  malformedSidecars: number;
}

const CACHE_MS = 5 * 60_000;
const INDEX_FILE = '.segments.json';

/** Room upload tokens: `Bearer {roomId}:{secret}`. */
export class RoomUploadTokens {
  private readonly hashes: Map<string, string>;
  private readonly cache = new Map<string, { room: string; until: number }>();
  constructor(rooms: RecordingsConfig['rooms'], private readonly monotonic: () => number = () => performance.now()) {
    this.hashes = new Map(rooms.map((r) => [r.id, r.uploadTokenHash]));
  }

  async authenticate(header: string | undefined | null): Promise<string | null> {
    if (!header?.startsWith('Bearer ')) return null;
    const token = header.slice(7).trim();
    const colon = token.indexOf(':');
    if (colon <= 0 || token.length > 512) return null;
    const room = token.slice(0, colon);
    const hash = this.hashes.get(room);
    if (!hash) return null;
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.monotonic();
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.room;
    if (!(await verifyPassword(token.slice(colon + 1), hash))) return null;
    if (this.cache.size > 1000) this.cache.clear();
    this.cache.set(key, { room, until: now + CACHE_MS });
    return room;
  }
}

/** The per-lesson JSON index, one read-modify-write at a time per lesson directory. */
export class SegmentIndex {
  private readonly chains = new Map<string, Promise<unknown>>();
  constructor(private readonly directory: string) {}

  lessonDir(roomId: string, lessonId: string): string {
    return path.join(this.directory, roomId, ...lessonId.split('/'));
  }

  /** The media of (source, segment) and its sidecar are two keys (recordingIndexKey). */
  static key(source: string, segment: number, ext: RecordingMetadata['ext'] = 'mp4'): string {
    return recordingIndexKey({ source, segment, ext });
  }

  async read(roomId: string, lessonId: string): Promise<Record<string, SegmentRecord>> {
    try {
      const parsed = JSON.parse(await readFile(path.join(this.lessonDir(roomId, lessonId), INDEX_FILE), 'utf8')) as { segments?: Record<string, SegmentRecord> };
      return parsed.segments ?? {};
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw e;
    }
  }

  /** Runs fn with the lesson's index; `save` writes it atomically (temp file + rename). */
  async withLesson<T>(roomId: string, lessonId: string, fn: (segments: Record<string, SegmentRecord>, save: () => Promise<void>) => Promise<T>): Promise<T> {
    const dir = this.lessonDir(roomId, lessonId);
    const prev = this.chains.get(dir) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(async () => {
      const segments = await this.read(roomId, lessonId);
      const save = async () => {
        await mkdir(dir, { recursive: true });
        const tmp = path.join(dir, `${INDEX_FILE}.${process.pid}.tmp`);
        await writeFile(tmp, JSON.stringify({ roomId, lessonId, segments }, null, 1));
        await rename(tmp, path.join(dir, INDEX_FILE));
      };
      return fn(segments, save);
    });
    this.chains.set(dir, run);
    try {
      return await run;
    } finally {
      if (this.chains.get(dir) === run) this.chains.delete(dir);
    }
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const ID = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})~([0-9a-f]{32})$/;

export interface RecordingsDeps {
  config: RecordingsConfig;
  logger: Logger;
  now?: () => number;
  /** With store, technicians and commands (audit): recordings are registered and technicians list and play them. */
  store?: CloudStore;
  technicians?: Technicians;
  commands?: CloudCommands;
  /** Monotonic ms (the playback audit's dedup window). */
  monotonic?: () => number;
}

export interface RecordingsEndpoint {
  counts: RecordingCounts;
  index: SegmentIndex;
  tus: TusServer;
  registry: RecordingRegistry | null;
}

/** Thrown inside tus hooks: tus answers with status_code and body. */
const fail = (status_code: number, body: string) => ({ status_code, body: body.endsWith('\n') ? body : `${body}\n` });

/**
 * Registers the tus endpoint on the cloud's fastify API. Its routes carry
 * `config.roomAuth`, so the technician hook (sync/cloud/api.ts) leaves them to
 * the room-token check here.
 */
export function registerRecordings(app: FastifyInstance, deps: RecordingsDeps): RecordingsEndpoint {
  const { config } = deps;
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ ns: 'cloud:recordings' });
  const counts: RecordingCounts = { authFailures: 0, rejected: 0, hashMismatches: 0, conflicts: 0, duplicates: 0, completed: 0, bytesCompleted: 0, malformedSidecars: 0 };
  const tokens = new RoomUploadTokens(config.rooms);
  const index = new SegmentIndex(config.directory);
  const incoming = path.join(config.directory, '.incoming');
  const datastore = new FileStore({ directory: incoming });
  const zones = new Map(config.rooms.map((r) => [r.id, r.timezone ?? config.timezone]));
  const registry = deps.store ? new RecordingRegistry(deps.store.db, config.directory, (room) => zones.get(room) ?? config.timezone) : null;
  /** Under the lesson's lock: the file's source registered (a failure is logged; the next file or resend repairs it). */
  const reconcile = async (meta: RecordingMetadata, segments: Record<string, SegmentRecord>) => {
    if (!registry) return;
    try {
      const status = await registry.reconcile(meta.roomId, meta.lessonId, meta.source, segments);
      if (status) log.info({ roomId: meta.roomId, lessonId: meta.lessonId, source: meta.source, status }, 'recording registered with its lesson');
    } catch (err) {
      log.error({ err, roomId: meta.roomId, lessonId: meta.lessonId, source: meta.source }, 'could not register a recording; a resend of its files repairs it');
    }
  };

  const finish = async (upload: Upload): Promise<{ headers: Record<string, string> }> => {
    const m = ID.exec(upload.id);
    let meta: RecordingMetadata;
    try {
      meta = validateRecordingMetadata(upload.metadata ?? {});
    } catch (e) {
      await datastore.remove(upload.id).catch(() => undefined);
      counts.rejected++;
      throw fail(400, e instanceof Error ? e.message : String(e));
    }
    if (!m || m[1] !== meta.roomId) {
      await datastore.remove(upload.id).catch(() => undefined);
      counts.rejected++;
      throw fail(403, 'the upload does not belong to its metadata room');
    }
    const file = path.join(incoming, upload.id);
    const digest = await sha256File(file);
    const where = { roomId: meta.roomId, lessonId: meta.lessonId, source: meta.source, segment: meta.segment, uploadId: upload.id };
    if (digest !== meta.sha256) {
      await datastore.remove(upload.id);
      counts.hashMismatches++;
      log.warn({ ...where, declared: meta.sha256, received: digest }, 'recording segment rejected: sha256 mismatch, upload deleted');
      throw fail(HASH_MISMATCH_STATUS, `sha256 mismatch: declared ${meta.sha256}, the stored bytes hash to ${digest}; the upload was deleted`);
    }
    if (meta.ext === 'json') {
      try {
        const sc = parseRecordingSidecar(await readFile(file, 'utf8'));
        if (sc.roomId !== meta.roomId || sc.lessonId !== meta.lessonId || sc.source.id !== meta.source) {
          throw new MetadataError(`sidecar: names ${sc.roomId} ${sc.lessonId} ${sc.source.id}, the upload is of ${meta.roomId} ${meta.lessonId} ${meta.source}`);
        }
      } catch (e) {
        await datastore.remove(upload.id);
        counts.malformedSidecars++;
        log.warn({ ...where, reason: e instanceof Error ? e.message : String(e) }, 'recording sidecar refused: malformed, upload deleted');
        throw fail(400, e instanceof Error ? e.message : String(e));
      }
    }
    return index.withLesson(meta.roomId, meta.lessonId, async (segments, save) => {
      const key = SegmentIndex.key(meta.source, meta.segment, meta.ext);
      const existing = segments[key];
      if (existing) {
        await datastore.remove(upload.id);
        if (existing.sha256 !== meta.sha256) {
          counts.conflicts++;
          log.warn({ ...where, stored: existing.sha256, declared: meta.sha256 }, 'recording segment conflict: stored with another sha256');
          throw fail(409, `segment ${key} of lesson ${meta.lessonId} is already stored with sha256 ${existing.sha256}`);
        }
        counts.duplicates++;
        log.info(where, 'recording segment uploaded again: already stored, duplicate dropped');
        await reconcile(meta, segments);
        return { headers: { [RECORDING_STATUS_HEADER]: 'complete', [RECORDING_SHA256_HEADER]: existing.sha256 } };
      }
      const rel = recordingRelativePath(meta);
      const dest = path.join(config.directory, ...rel.split('/'));
      await mkdir(path.dirname(dest), { recursive: true });
      // Move first, index second: a crash between them leaves a file the edge uploads again (same bytes), never an index entry without its file.
      await rename(file, dest);
      segments[key] = {
        source: meta.source,
        segment: meta.segment,
        sha256: digest,
        size: upload.size ?? upload.offset,
        ext: meta.ext,
        startedAt: meta.startedAt,
        durationMs: meta.durationMs,
        path: rel,
        uploadId: upload.id,
        receivedAt: now(),
      };
      await save();
      await datastore.configstore.delete(upload.id);
      await reconcile(meta, segments);
      counts.completed++;
      counts.bytesCompleted += upload.size ?? 0;
      log.info({ ...where, size: upload.size, path: rel }, 'recording segment stored');
      return { headers: { [RECORDING_STATUS_HEADER]: 'complete', [RECORDING_SHA256_HEADER]: digest } };
    });
  };

  const tus = new TusServer({
    path: RECORDING_UPLOADS_PATH,
    datastore,
    maxSize: config.maxUploadBytes,
    relativeLocation: true,
    disableTerminationForFinishedUploads: true,
    exposedHeaders: [RECORDING_STATUS_HEADER, RECORDING_SHA256_HEADER],
    // The fastify handler checked the metadata and the room before tus runs; the id carries the room.
    namingFunction: (_req, metadata) => {
      const room = linkIdSchema.safeParse(metadata?.roomId);
      if (!room.success) throw fail(400, 'metadata roomId is missing or invalid');
      return `${room.data}~${randomBytes(16).toString('hex')}`;
    },
    onUploadCreate: async (req, upload) => {
      // tus parsed the header itself: check again what it will store.
      const room = await tokens.authenticate(req.headers.get('authorization'));
      let meta: RecordingMetadata;
      try {
        meta = validateRecordingMetadata(upload.metadata ?? {});
      } catch (e) {
        throw fail(400, e instanceof Error ? e.message : String(e));
      }
      if (!room || meta.roomId !== room) throw fail(403, 'a room uploads only its own recordings');
      return {};
    },
    onUploadFinish: async (_req, upload) => finish(upload),
  });

  const refuse = (reply: FastifyReply, status: number, message: string) =>
    reply.code(status).header('Tus-Resumable', TUS_VERSION).send({ error: { code: status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 409 ? 'conflict' : 'bad-request', message } });

  /** Creation: every decision that does not need tus, taken before tus creates anything. */
  const checkCreation = async (req: FastifyRequest, reply: FastifyReply, room: string): Promise<boolean> => {
    let meta: RecordingMetadata;
    try {
      meta = validateRecordingMetadata(parseUploadMetadata(req.headers['upload-metadata'] as string | undefined));
    } catch (e) {
      counts.rejected++;
      const message = e instanceof MetadataError ? e.message : String(e);
      log.warn({ room, reason: message }, 'recording upload refused: bad metadata');
      await refuse(reply, 400, message);
      return false;
    }
    const where = { room, lessonId: meta.lessonId, source: meta.source, segment: meta.segment };
    if (meta.roomId !== room) {
      counts.rejected++;
      log.warn({ ...where, claimed: meta.roomId }, 'recording upload refused: a room uploading for another room');
      await refuse(reply, 403, `room ${room} may upload only its own recordings, not those of ${meta.roomId}`);
      return false;
    }
    const length = Number(req.headers['upload-length']);
    if (!/^[0-9]+$/.test(String(req.headers['upload-length'] ?? '')) || !Number.isSafeInteger(length)) {
      counts.rejected++;
      await refuse(reply, 400, 'Upload-Length is required (deferred lengths are not accepted)');
      return false;
    }
    if (length > (meta.ext === 'json' ? Math.min(MAX_SIDECAR_BYTES, config.maxUploadBytes) : config.maxUploadBytes)) {
      counts.rejected++;
      log.warn({ ...where, length }, 'recording upload refused: larger than maxUploadBytes');
      await refuse(reply, 413, `the ${meta.ext === 'json' ? 'sidecar' : 'segment'} is ${length} bytes; at most ${meta.ext === 'json' ? MAX_SIDECAR_BYTES : config.maxUploadBytes} are accepted`);
      return false;
    }
    const existing = (await index.read(meta.roomId, meta.lessonId))[SegmentIndex.key(meta.source, meta.segment, meta.ext)];
    if (!existing) return true;
    if (existing.sha256 === meta.sha256) {
      counts.duplicates++;
      await index.withLesson(meta.roomId, meta.lessonId, (segments) => reconcile(meta, segments));
      log.info(where, 'recording segment already stored with this sha256: answered complete');
      await reply
        .code(200)
        .headers({ 'Tus-Resumable': TUS_VERSION, [RECORDING_STATUS_HEADER]: 'complete', [RECORDING_SHA256_HEADER]: existing.sha256, 'Upload-Offset': String(existing.size) })
        .send({ status: 'complete', path: existing.path, sha256: existing.sha256, size: existing.size });
      return false;
    }
    counts.conflicts++;
    log.warn({ ...where, stored: existing.sha256, declared: meta.sha256 }, 'recording upload refused: segment stored with another sha256');
    await refuse(reply, 409, `segment ${meta.source}-${meta.segment} of lesson ${meta.lessonId} is already stored with another sha256 (${existing.sha256})`);
    return false;
  };

  app.register(async (scope) => {
    // tus reads PATCH bodies from the raw request: no parsing, no body limit here (maxUploadBytes applies).
    scope.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null));
    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const room = await tokens.authenticate(req.headers.authorization);
      if (!room) {
        counts.authFailures++;
        log.warn({ ip: req.ip, method: req.method }, 'recording upload without a valid room token');
        return refuse(reply.header('www-authenticate', 'Bearer realm="classroom-cloud recordings"'), 401, 'a valid room upload token is required (Authorization: Bearer roomId:secret)');
      }
      if (req.method === 'GET') return refuse(reply, 405, 'uploads are write-only');
      const id = (req.params as { '*'?: string })['*'];
      if (id !== undefined && id !== '') {
        const m = ID.exec(id);
        if (!m || m[1] !== room) return reply.code(404).header('Tus-Resumable', TUS_VERSION).send({ error: { code: 'not-found', message: 'no such upload' } });
      } else if (req.method === 'POST' && !(await checkCreation(req, reply, room))) {
        return reply;
      }
      reply.hijack();
      await tus.handle(req.raw, reply.raw);
      return reply;
    };
    const routeConfig = { roomAuth: true };
    scope.route({ method: ['POST', 'OPTIONS'], url: RECORDING_UPLOADS_PATH, config: routeConfig, handler });
    scope.route({ method: ['GET', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS'], url: `${RECORDING_UPLOADS_PATH}/*`, config: routeConfig, exposeHeadRoute: false, handler });
  });

  if (registry && deps.technicians && deps.commands) {
    registerRecordingRoutes(app, { registry, technicians: deps.technicians, commands: deps.commands, directory: config.directory, zoneOf: registry.zoneOf, ...(deps.monotonic ? { monotonic: deps.monotonic } : {}), now, logger: deps.logger });
  }
  return { counts, index, tus, registry };
}
