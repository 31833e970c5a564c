/**
 * Recording uploads end to end over loopback: the reference cloud's API
 * (sync/cloud/api.ts with the technician hook, plus sync/cloud/recordings.ts)
 * in-process on a free port; tus-js-client as the independent tus client, and
 * the edge's own uploader (sync/recording-upload.ts) on a real edge store.
 * Test data: random bytes (8 MiB segments); the upload path does not look
 * inside the container.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import * as tus from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../edge/store/index.js';
import { hashPassword } from '../../edge/security/passwords.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { createCloudApi } from '../../sync/cloud/api.js';
import { CloudCommands } from '../../sync/cloud/commands.js';
import { recordingsConfigSchema, registerRecordings, type RecordingsEndpoint } from '../../sync/cloud/recordings.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { Technicians } from '../../sync/cloud/technicians.js';
import { encodeUploadMetadata, RECORDING_UPLOADS_PATH } from '../../sync/recording-protocol.js';
import { RecordingUploader } from '../../sync/recording-upload.js';
import { HttpTusTransport } from '../../sync/tus-client.js';
import { waitFor } from '../helpers/peers.js';

const ROOM = 'jy-0101-r203';
const OTHER = 'jy-0101-r204';
const SECRET = 'r203-upload-secret-0123456789';
const OTHER_SECRET = 'r204-upload-secret-0123456789';
const TECH_SECRET = 'wang-secret-0123456789';
const MiB = 2 ** 20;

let dir: string;
let recDir: string;
let hashes: { room: string; other: string; tech: string };
let cloudStore: CloudStore;
let cloud: { app: FastifyInstance; port: number; rec: RecordingsEndpoint };
let edgeStores: Store[] = [];

async function startApi(port = 0): Promise<{ app: FastifyInstance; port: number; rec: RecordingsEndpoint }> {
  const technicians = new Technicians([{ name: 'wang', tokenHash: hashes.tech, role: 'admin', schools: ['*'] }], []);
  const commands = new CloudCommands({ store: cloudStore, technicians, logger: silentLogger(), publish: async () => undefined, defaultTtlMs: 60_000 });
  const app = createCloudApi({ store: cloudStore, commands, technicians, logger: silentLogger() });
  const config = recordingsConfigSchema.parse({
    directory: recDir,
    maxUploadBytes: 32 * MiB,
    rooms: [
      { id: ROOM, uploadTokenHash: hashes.room },
      { id: OTHER, uploadTokenHash: hashes.other },
    ],
  });
  const rec = registerRecordings(app, { config, logger: silentLogger() });
  await app.listen({ port, host: '127.0.0.1' });
  const addr = app.server.address();
  return { app, port: typeof addr === 'object' && addr ? addr.port : port, rec };
}

const base = () => `http://127.0.0.1:${cloud.port}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function segmentFile(name: string, bytes: number): { path: string; data: Buffer; sha256: string } {
  const data = randomBytes(bytes);
  const path = join(dir, name);
  writeFileSync(path, data);
  return { path, data, sha256: sha(data) };
}

function meta(over: Record<string, string> = {}): Record<string, string> {
  return { roomId: ROOM, lessonId: `${ROOM}/2025-03-03/p1`, source: 'cam1', segment: '0', sha256: '0'.repeat(64), startedAt: '1741000000000', durationMs: '10000', ...over };
}

/** tus-js-client upload; resolves with the error's HTTP status (or null on success). */
function tusJs(data: Buffer, metadata: Record<string, string>, token: string | null, extra: Partial<tus.UploadOptions> = {}): Promise<{ status: number | null; url: string | null; body: string }> {
  return new Promise((resolve) => {
    const up = new tus.Upload(data, {
      endpoint: `${base()}${RECORDING_UPLOADS_PATH}`,
      metadata,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      chunkSize: 2 * MiB,
      retryDelays: [],
      onError: (err) => {
        const e = err as tus.DetailedError;
        resolve({ status: e.originalResponse?.getStatus() ?? -1, url: up.url, body: e.originalResponse?.getBody() ?? String(err) });
      },
      onSuccess: () => resolve({ status: null, url: up.url, body: '' }),
      ...extra,
    });
    up.start();
  });
}

function edge(name: string, opts: Partial<ConstructorParameters<typeof RecordingUploader>[0]> = {}): { store: Store; up: RecordingUploader } {
  const store = openStore({ path: join(dir, `${name}.db`), roomId: ROOM, logger: silentLogger(), clock: systemClock });
  edgeStores.push(store);
  const up = new RecordingUploader({
    store,
    roomId: ROOM,
    transport: new HttpTusTransport({ baseUrl: base(), roomId: ROOM, token: SECRET, idleTimeoutMs: 5000 }),
    logger: silentLogger(),
    chunkBytes: MiB,
    retry: { baseMs: 50, maxMs: 200 },
    ...opts,
  });
  return { store, up };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ce-rec-'));
  recDir = join(dir, 'recordings');
  hashes = { room: await hashPassword(SECRET), other: await hashPassword(OTHER_SECRET), tech: await hashPassword(TECH_SECRET) };
  cloudStore = await CloudStore.open(join(dir, 'cloud.db'));
  cloud = await startApi();
});

afterAll(async () => {
  await cloud?.app.close();
  for (const s of edgeStores) await s.close();
  await cloudStore?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('recording upload endpoint (tus)', () => {
  it('takes an 8 MiB segment from tus-js-client, verifies its sha256 and stores it under room/lesson/source-segment', async () => {
    const f = segmentFile('tusjs-0.mp4', 8 * MiB);
    const r = await tusJs(f.data, meta({ sha256: f.sha256 }), `${ROOM}:${SECRET}`);
    expect(r).toMatchObject({ status: null });
    const stored = join(recDir, ROOM, ROOM, '2025-03-03', 'p1', 'cam1-0.mp4');
    expect(sha(readFileSync(stored))).toBe(f.sha256);
    const index = await cloud.rec.index.read(ROOM, `${ROOM}/2025-03-03/p1`);
    expect(index['cam1-0']).toMatchObject({ sha256: f.sha256, size: 8 * MiB, path: `${ROOM}/${ROOM}/2025-03-03/p1/cam1-0.mp4` });
    // Nothing left in the incoming area.
    expect(readdirSync(join(recDir, '.incoming'))).toEqual([]);

    // The same segment again, same sha256: answered complete, nothing created.
    const again = await fetch(`${base()}${RECORDING_UPLOADS_PATH}`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${ROOM}:${SECRET}`, 'Upload-Length': String(8 * MiB), 'Upload-Metadata': encodeUploadMetadata(meta({ sha256: f.sha256 })) },
    });
    expect(again.status).toBe(200);
    expect(again.headers.get('recording-status')).toBe('complete');
    expect(readdirSync(join(recDir, '.incoming'))).toEqual([]);
    // Another sha256 for the same segment: a conflict.
    const conflict = await tusJs(randomBytes(1000), meta({ sha256: 'a'.repeat(64) }), `${ROOM}:${SECRET}`);
    expect(conflict.status).toBe(409);
    expect(sha(readFileSync(stored))).toBe(f.sha256);
  });

  it('refuses anonymous requests, technician tokens, wrong secrets, and a room uploading for another room', async () => {
    const data = randomBytes(100_000);
    const m = meta({ lessonId: `${ROOM}/2025-03-03/p2`, sha256: sha(data) });
    const before = cloud.rec.counts.authFailures;
    expect((await tusJs(data, m, null)).status).toBe(401);
    expect((await tusJs(data, m, `wang:${TECH_SECRET}`)).status).toBe(401);
    expect((await tusJs(data, m, `${ROOM}:wrong-secret`)).status).toBe(401);
    expect(cloud.rec.counts.authFailures).toBe(before + 3);
    // r204 authenticates, but declares r203's room: 403.
    const other = await tusJs(data, m, `${OTHER}:${OTHER_SECRET}`);
    expect(other.status).toBe(403);
    expect(other.body).toContain('only its own recordings');
    // A room token does not open the technician API.
    expect((await fetch(`${base()}/api/rooms`, { headers: { Authorization: `Bearer ${ROOM}:${SECRET}` } })).status).toBe(401);

    // r203 starts an upload (creation only); r204 cannot see or write it.
    const created = await fetch(`${base()}${RECORDING_UPLOADS_PATH}`, {
      method: 'POST',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${ROOM}:${SECRET}`, 'Upload-Length': String(data.length), 'Upload-Metadata': encodeUploadMetadata(m) },
    });
    expect(created.status).toBe(201);
    const url = new URL(created.headers.get('location')!, base()).toString();
    const head = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${OTHER}:${OTHER_SECRET}` } });
    expect(head.status).toBe(404);
    const patch = await fetch(url, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${OTHER}:${OTHER_SECRET}`, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: data,
    });
    expect(patch.status).toBe(404);
    const own = await fetch(url, { method: 'HEAD', headers: { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${ROOM}:${SECRET}` } });
    expect(own.headers.get('upload-offset')).toBe('0');
    // Bad metadata: a clear 400 naming the field.
    const bad = await tusJs(data, { ...m, lessonId: '../../etc' }, `${ROOM}:${SECRET}`);
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('lessonId');
  });

  it('rejects and deletes an upload whose bytes do not match the declared sha256 (tus-js-client and the edge uploader)', async () => {
    const f = segmentFile('wrong-hash.mp4', 3 * MiB);
    const lessonId = `${ROOM}/2025-03-03/p3`;
    const before = cloud.rec.counts.hashMismatches;
    const r = await tusJs(f.data, meta({ lessonId, sha256: 'b'.repeat(64) }), `${ROOM}:${SECRET}`);
    expect(r.status).toBe(460);
    expect(r.body).toContain('sha256 mismatch');

    const { up } = edge('wrong-hash', { retry: { baseMs: 20, maxMs: 50, maxHashMismatches: 2 } });
    await up.enqueue({ path: f.path, lessonId, source: 'cam1', segment: 1, sha256: 'c'.repeat(64) });
    up.start();
    await waitFor(() => up.segments('failed').length === 1, 10_000, 'the segment marked failed');
    await up.stop();
    expect(up.segments('failed')[0]!.lastError).toContain('sha256 mismatch');
    expect(cloud.rec.counts.hashMismatches).toBe(before + 3);
    expect(existsSync(join(recDir, ROOM, ROOM, '2025-03-03', 'p3'))).toBe(false);
    // No upload of lesson p3 is left in the incoming area (test 2's open upload of p2 is).
    const infos = readdirSync(join(recDir, '.incoming')).filter((n) => n.endsWith('.json'));
    const lessons = infos.map((n) => (JSON.parse(readFileSync(join(recDir, '.incoming', n), 'utf8')) as { metadata: { lessonId: string } }).metadata.lessonId);
    expect(lessons).toEqual([`${ROOM}/2025-03-03/p2`]);
  });
});

describe('edge uploader', () => {
  it('uploads its queue and, cut mid-transfer, resumes from the server offset without sending everything again', async () => {
    const a = segmentFile('cut-0.mp4', 8 * MiB);
    const b = segmentFile('cut-1.mp4', 2 * MiB);
    const lessonId = `${ROOM}/2025-03-03/p4`;
    const { up } = edge('cut');
    let cut = false;
    up.on('progress', (p: { segment: number; bytes: number }) => {
      if (!cut && p.segment === 0 && p.bytes > 3.5 * MiB) {
        cut = true;
        cloud.app.server.closeAllConnections();
      }
    });
    await up.enqueue({ path: a.path, lessonId, source: 'cam1', segment: 0, sha256: a.sha256, durationMs: 10_000 });
    await up.enqueue({ path: b.path, lessonId, source: 'cam1', segment: 1, sha256: b.sha256, durationMs: 10_000 });
    up.start();
    await waitFor(() => up.segments('uploaded').length === 2, 20_000, 'both segments uploaded');
    await up.stop();
    expect(cut).toBe(true);
    expect(up.counts.resumes).toBeGreaterThanOrEqual(1);
    // At most the chunk under way when the connection was cut is sent twice.
    expect(up.counts.bytesSent).toBeGreaterThanOrEqual(10 * MiB);
    expect(up.counts.bytesSent).toBeLessThanOrEqual(10 * MiB + 1 * MiB);
    const dest = join(recDir, ROOM, ROOM, '2025-03-03', 'p4');
    expect(sha(readFileSync(join(dest, 'cam1-0.mp4')))).toBe(a.sha256);
    expect(sha(readFileSync(join(dest, 'cam1-1.mp4')))).toBe(b.sha256);
    // Default retention: the local files are kept.
    expect(existsSync(a.path) && existsSync(b.path)).toBe(true);
  });

  it('resumes after the cloud and the edge restart, from the offset the server kept', async () => {
    const f = segmentFile('restart-0.mp4', 8 * MiB);
    const lessonId = `${ROOM}/2025-03-03/p5`;
    const first = edge('restart');
    let stopping: Promise<void> | null = null;
    first.up.on('progress', (p: { bytes: number }) => {
      if (!stopping && p.bytes >= 5 * MiB) stopping = Promise.all([first.up.stop(), cloud.app.close()]).then(() => undefined);
    });
    await first.up.enqueue({ path: f.path, lessonId, source: 'cam2', segment: 0, sha256: f.sha256 });
    first.up.start();
    await waitFor(() => stopping !== null, 10_000, 'the cut');
    await stopping;
    const sentBefore = first.up.counts.bytesSent;
    const held = first.up.segments()[0]!;
    expect(held.state).toBe('pending');
    expect(held.uploadUrl).not.toBeNull();
    cloud = await startApi(cloud.port);
    // A new uploader on the same store file: the edge after a restart.
    await first.store.close();
    edgeStores = edgeStores.filter((s) => s !== first.store);
    const second = edge('restart');
    second.up.start();
    await waitFor(() => second.up.segments('uploaded').length === 1, 20_000, 'the segment uploaded after the restart');
    await second.up.stop();
    expect(second.up.counts.resumes).toBe(1);
    expect(sentBefore).toBeGreaterThanOrEqual(4 * MiB);
    expect(second.up.counts.bytesSent).toBeLessThanOrEqual(8 * MiB - sentBefore + MiB);
    expect(sha(readFileSync(join(recDir, ROOM, ROOM, '2025-03-03', 'p5', 'cam2-0.mp4')))).toBe(f.sha256);
  });

  it('a segment the cloud already holds is marked uploaded without sending it; retention decides deletion', async () => {
    const f = segmentFile('dup-0.mp4', MiB);
    const lessonId = `${ROOM}/2025-03-03/p6`;
    expect((await tusJs(f.data, meta({ lessonId, sha256: f.sha256 }), `${ROOM}:${SECRET}`)).status).toBeNull();
    const { up } = edge('dup', { retention: (s) => s.lessonId === lessonId });
    await up.enqueue({ path: f.path, lessonId, source: 'cam1', segment: 0, sha256: f.sha256 });
    up.start();
    await waitFor(() => up.segments('uploaded').length === 1, 10_000, 'uploaded');
    await up.stop();
    expect(up.counts.bytesSent).toBe(0);
    expect(existsSync(f.path)).toBe(false);
    expect(up.segments()[0]!.deletedAt).not.toBeNull();
  });
});
