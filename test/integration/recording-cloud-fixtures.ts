/**
 * Fixtures for the recording cloud tests (test/integration/recording-cloud*.test.ts,
 * test/browser/fleet-recordings.test.ts): real MP4s made by Debian's ffmpeg, sidecars
 * shaped as the recorder writes them (RecordingSidecar), and the reference cloud's real
 * fastify API in-process (technician hook, fleet page, upload endpoint, recordings routes)
 * on a CloudStore of either backend.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { RecordingSidecar } from '../../edge/recording/types.js';
import { hashPassword } from '../../edge/security/passwords.js';
import { silentLogger } from '../../edge/util/logger.js';
import { createCloudApi } from '../../sync/cloud/api.js';
import { CloudCommands } from '../../sync/cloud/commands.js';
import { registerFleet } from '../../sync/cloud/fleet.js';
import { recordingsConfigSchema, registerRecordings, type RecordingsEndpoint } from '../../sync/cloud/recordings.js';
import type { CloudStore } from '../../sync/cloud/store.js';
import { Technicians } from '../../sync/cloud/technicians.js';

export const ROOM = 'jy-0101-r203';
export const ZONE = 'Asia/Shanghai';
export const ROOM_SECRET = 'r203-upload-secret-0123456789';
/** wang: technician of school jy-0101 (the room's); li: of jy-0202 (another school). */
export const WANG = { name: 'wang', secret: 'wang-secret-0123456789' };
export const LI = { name: 'li', secret: 'li-secret-0123456789' };
export const bearer = (t: { name: string; secret: string }) => `Bearer ${t.name}:${t.secret}`;
export const basic = (t: { name: string; secret: string }) => `Basic ${Buffer.from(`${t.name}:${t.secret}`).toString('base64')}`;

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A real H.264/AAC faststart MP4 (testsrc2 + sine), as the recorder finishes one. */
export function makeMp4(path: string, opts: { seconds?: number; size?: string; bitrate?: string } = {}): { path: string; bytes: number; sha256: string } {
  execFileSync('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${opts.size ?? '320x240'}:rate=25`,
    '-f', 'lavfi', '-i', 'sine',
    '-t', String(opts.seconds ?? 4),
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', ...(opts.bitrate ? ['-b:v', opts.bitrate] : []),
    '-c:a', 'aac', '-movflags', '+faststart', path,
  ]);
  const data = readFileSync(path);
  return { path, bytes: data.length, sha256: sha256(data) };
}

/** A sidecar for `media` as edge/recording writes it; lesson times are ISO strings in UTC. */
export function makeSidecar(o: {
  lessonId: string;
  source: string;
  media: { bytes: number; sha256: string };
  startsAt: string;
  endsAt: string;
  durationMs?: number;
  gaps?: RecordingSidecar['gaps'];
}): RecordingSidecar {
  return {
    version: 1,
    roomId: ROOM,
    lessonId: o.lessonId,
    course: '数学',
    classId: 'c8-3',
    className: '初二(3)班',
    teacherId: 't-zhang',
    teacherName: '张老师',
    lesson: { startsAt: o.startsAt, endsAt: o.endsAt },
    source: { id: o.source, kind: 'testsrc', label: '教师特写' },
    sources: [o.source],
    recorded: { from: o.startsAt, to: o.endsAt, mediaMs: o.durationMs ?? 4000 },
    file: { name: `${o.source}.mp4`, bytes: o.media.bytes, sha256: o.media.sha256, durationMs: o.durationMs ?? 4000, video: 'h264', audio: 'aac' },
    gaps: o.gaps ?? [],
    segments: [{ index: 0, file: 'seg-000000.ts', run: 0, from: o.startsAt, to: o.endsAt, bytes: o.media.bytes, sha256: o.media.sha256 }],
  };
}

export function writeSidecar(path: string, s: unknown): { path: string; bytes: number; sha256: string } {
  const data = Buffer.from(JSON.stringify(s, null, 1));
  writeFileSync(path, data);
  return { path, bytes: data.length, sha256: sha256(data) };
}

export interface TestCloud {
  app: FastifyInstance;
  port: number;
  base: string;
  rec: RecordingsEndpoint;
}

let hashes: { room: string; wang: string; li: string } | null = null;

/** The cloud API with the recordings registered on `store`; `port` to restart on the same one. */
export async function startCloud(store: CloudStore, directory: string, port = 0): Promise<TestCloud> {
  hashes ??= { room: await hashPassword(ROOM_SECRET), wang: await hashPassword(WANG.secret), li: await hashPassword(LI.secret) };
  const technicians = new Technicians(
    [
      { name: WANG.name, tokenHash: hashes.wang, role: 'technician', schools: ['jy-0101'] },
      { name: LI.name, tokenHash: hashes.li, role: 'technician', schools: ['jy-0202'] },
    ],
    [{ id: ROOM, school: 'jy-0101' }],
  );
  const logger = silentLogger();
  const commands = new CloudCommands({ store, technicians, logger, publish: async () => undefined, defaultTtlMs: 60_000 });
  const app = createCloudApi({ store, commands, technicians, logger });
  registerFleet(app, { store, commands, technicians });
  const config = recordingsConfigSchema.parse({ directory, maxUploadBytes: 64 * 2 ** 20, timezone: ZONE, rooms: [{ id: ROOM, uploadTokenHash: hashes.room }] });
  const rec = registerRecordings(app, { config, logger, store, technicians, commands });
  await app.listen({ port, host: '127.0.0.1' });
  const addr = app.server.address();
  const p = typeof addr === 'object' && addr ? addr.port : port;
  return { app, port: p, base: `http://127.0.0.1:${p}`, rec };
}
