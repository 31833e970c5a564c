/**
 * Finished recordings from the edge's uploader to the district's player, on both cloud
 * database backends: the reference cloud's real fastify API in-process (technician hook,
 * upload endpoint, recordings routes), the edge's own uploader on a real edge store, a real
 * H.264/AAC MP4 made by ffmpeg. The sidecar registers the recording with its lesson (either
 * order of the two files; "uploading" until both are there), the technician lists a day and
 * plays the MP4 with range requests, scoped to their school and audited once per playback.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../edge/store/index.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import type { CloudStore } from '../../sync/cloud/store.js';
import { RecordingUploader } from '../../sync/recording-upload.js';
import { HttpTusTransport } from '../../sync/tus-client.js';
import { BACKENDS, useCloudDb } from '../helpers/cloud-db.js';
import { waitFor } from '../helpers/peers.js';
import { LI, ROOM, ROOM_SECRET, WANG, basic, bearer, makeMp4, makeSidecar, sha256, startCloud, writeSidecar, type TestCloud } from './recording-cloud-fixtures.js';

let dir: string;
let mp4: { path: string; bytes: number; sha256: string };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ce-reccloud-'));
  mp4 = makeMp4(join(dir, 'cam1.mp4'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(BACKENDS)('recordings registered and played (%s)', (backend) => {
  const db = useCloudDb(backend);
  let store: CloudStore;
  let cloud: TestCloud;
  let edgeStore: Store;
  let recDir: string;

  const uploader = (name: string) => {
    edgeStore = openStore({ path: join(dir, `${backend}-${name}.db`), roomId: ROOM, logger: silentLogger(), clock: systemClock });
    return new RecordingUploader({
      store: edgeStore,
      roomId: ROOM,
      transport: new HttpTusTransport({ baseUrl: cloud.base, roomId: ROOM, token: ROOM_SECRET, idleTimeoutMs: 5000 }),
      logger: silentLogger(),
      chunkBytes: 64 * 1024,
      retry: { baseMs: 20, maxMs: 100 },
    });
  };
  const get = (path: string, auth: string | null, headers: Record<string, string> = {}) => fetch(`${cloud.base}${path}`, { headers: { ...(auth ? { Authorization: auth } : {}), ...headers } });
  const playRows = async () =>
    store.db.all<{ technician: string; room_id: string; outcome: string; detail: string }>("SELECT technician, room_id, outcome, detail FROM cloud_audit WHERE action = 'recording.play' ORDER BY id");

  beforeAll(async () => {
    recDir = mkdtempSync(join(dir, `${backend}-rec-`));
    store = await db.open(dir);
    cloud = await startCloud(store, recDir);
  });
  afterAll(async () => {
    await cloud?.app.close();
    await store?.close();
  });
  afterEach(async () => {
    await edgeStore?.close();
  });

  it('sidecar first: "uploading" until the MP4 is stored, then listed on the local day and played with ranges, audited once', async () => {
    // 07:30 in Shanghai is 23:30 UTC the day before: the list is by the room's local date.
    const lessonId = `${ROOM}/2025-03-03/p1`;
    const sc = writeSidecar(join(dir, `${backend}-cam1.json`), makeSidecar({
      lessonId, source: 'cam1', media: mp4, startsAt: '2025-03-02T23:30:00.000Z', endsAt: '2025-03-03T00:15:00.000Z',
      gaps: [{ from: '2025-03-02T23:40:00.000Z', to: '2025-03-02T23:40:12.000Z', ms: 12_000, reason: 'camera reconnect' }],
    }));
    const up = uploader('a');
    await up.enqueue({ path: sc.path, lessonId, source: 'cam1', segment: 0, sha256: sc.sha256, ext: 'json' });
    up.start();
    await waitFor(() => up.segments('uploaded').length === 1, 10_000, 'the sidecar uploaded');
    let list = (await (await get(`/api/rooms/${ROOM}/recordings?day=2025-03-03`, bearer(WANG))).json()) as { timeZone: string; recordings: Array<Record<string, unknown>> };
    expect(list.timeZone).toBe('Asia/Shanghai');
    expect(list.recordings).toEqual([expect.objectContaining({ lessonId, source: 'cam1', status: 'uploading', mediaUrl: null, course: '数学', className: '初二(3)班', teacherName: '张老师' })]);
    expect((await (await get(`/api/rooms/${ROOM}/recordings?day=2025-03-02`, bearer(WANG))).json()) as unknown).toMatchObject({ recordings: [] });

    // The same (lesson, source, segment) as mp4: a second queue entry (migration 9), then registered.
    await up.enqueue({ path: mp4.path, lessonId, source: 'cam1', segment: 0, sha256: mp4.sha256, ext: 'mp4', durationMs: 4000 });
    await waitFor(() => up.segments('uploaded').length === 2, 10_000, 'the mp4 uploaded');
    await up.stop();
    expect(up.progress()).toMatchObject({ pendingFiles: 0, pendingBytes: 0, failedFiles: 0, lessons: { [lessonId]: { files: 2, uploadedFiles: 2, bytes: mp4.bytes + sc.bytes, uploadedBytes: mp4.bytes + sc.bytes } } });
    list = (await (await get(`/api/rooms/${ROOM}/recordings?day=2025-03-03`, bearer(WANG))).json()) as typeof list;
    const r = list.recordings[0]!;
    expect(r).toMatchObject({ day: '2025-03-03', status: 'ready', bytes: mp4.bytes, sha256: mp4.sha256, durationMs: 4000, gaps: [{ ms: 12_000, reason: 'camera reconnect' }] });
    expect(r.startsAt).toBe(Date.parse('2025-03-02T23:30:00.000Z'));
    const url = r.mediaUrl as string;
    expect(url).toBe(`/api/rooms/${ROOM}/recordings/${encodeURIComponent(lessonId)}/cam1.mp4`);

    const before = (await playRows()).length;
    const whole = Buffer.from(await (await get(url, bearer(WANG))).arrayBuffer());
    expect(sha256(whole)).toBe(mp4.sha256);
    const part = await get(url, bearer(WANG), { Range: 'bytes=100-1099' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1099/${mp4.bytes}`);
    expect(part.headers.get('accept-ranges')).toBe('bytes');
    // Minors' videos and a school's lesson list are never kept by a browser or proxy cache.
    expect(part.headers.get('cache-control')).toBe('no-store');
    expect((await get(`/api/rooms/${ROOM}/recordings?day=2025-03-03`, bearer(WANG))).headers.get('cache-control')).toBe('no-store');
    expect(Buffer.from(await part.arrayBuffer()).equals(readFileSync(mp4.path).subarray(100, 1100))).toBe(true);
    const tail = await get(url, bearer(WANG), { Range: 'bytes=-10' });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(readFileSync(mp4.path).subarray(mp4.bytes - 10))).toBe(true);
    const beyond = await get(url, bearer(WANG), { Range: `bytes=${mp4.bytes}-` });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${mp4.bytes}`);
    // The fleet page's URL takes the browser's Basic credentials; the API's does not.
    const viaFleet = await get(url.replace('/api/', '/fleet/'), basic(WANG), { Range: 'bytes=0-1' });
    expect(viaFleet.status).toBe(206);
    expect((await get(url, basic(WANG))).status).toBe(401);
    expect((await get(url, null)).status).toBe(401);
    // Another school's technician: 403, audited as refused; never a byte.
    const other = await get(url, bearer(LI), { Range: 'bytes=0-99' });
    expect(other.status).toBe(403);
    expect((await get(`/api/rooms/${ROOM}/recordings?day=2025-03-03`, bearer(LI))).status).toBe(403);
    // One playback session of wang (six requests), one refusal of li.
    const rows = (await playRows()).slice(before);
    expect(rows.map((x) => [x.technician, x.room_id, x.outcome])).toEqual([
      ['wang', ROOM, 'played'],
      ['li', ROOM, 'refused'],
    ]);
    expect(JSON.parse(rows[0]!.detail)).toMatchObject({ lessonId, source: 'cam1', sha256: mp4.sha256 });
    expect((await get(`/api/rooms/${ROOM}/recordings/${encodeURIComponent(lessonId)}/cam9.mp4`, bearer(WANG))).status).toBe(404);
    expect((await get(`/api/rooms/${ROOM}/recordings?day=2025-13-40`, bearer(WANG))).status).toBe(400);
  });

  it('MP4 first, then the sidecar: registered ready; a malformed sidecar is refused with 400, counted and deleted', async () => {
    const lessonId = `${ROOM}/2025-03-03/p2`;
    const up = uploader('b');
    await up.enqueue({ path: mp4.path, lessonId, source: 'cam2', segment: 0, sha256: mp4.sha256, ext: 'mp4' });
    up.start();
    await waitFor(() => up.segments('uploaded').length === 1, 10_000, 'the mp4 uploaded');
    // An MP4 alone names no lesson: not listed yet.
    const none = (await (await get(`/api/rooms/${ROOM}/recordings?day=2025-03-03`, bearer(WANG))).json()) as { recordings: Array<{ lessonId: string }> };
    expect(none.recordings.filter((x) => x.lessonId === lessonId)).toEqual([]);

    const good = makeSidecar({ lessonId, source: 'cam2', media: mp4, startsAt: '2025-03-03T01:00:00.000Z', endsAt: '2025-03-03T01:45:00.000Z' });
    const bad = writeSidecar(join(dir, `${backend}-bad.json`), { ...good, file: { ...good.file, sha256: 'not-a-hash' } });
    const malformedBefore = cloud.rec.counts.malformedSidecars;
    await up.enqueue({ path: bad.path, lessonId, source: 'cam2', segment: 1, sha256: bad.sha256, ext: 'json' });
    await waitFor(() => up.segments('failed').length === 1, 10_000, 'the bad sidecar refused');
    expect(up.segments('failed')[0]!.lastError).toMatch(/400.*file\.sha256/);
    expect(cloud.rec.counts.malformedSidecars).toBe(malformedBefore + 1);
    expect((await cloud.rec.index.read(ROOM, lessonId))['cam2-1.json']).toBeUndefined();

    const sc = writeSidecar(join(dir, `${backend}-cam2.json`), good);
    await up.enqueue({ path: sc.path, lessonId, source: 'cam2', segment: 0, sha256: sc.sha256, ext: 'json' });
    await waitFor(() => up.segments('uploaded').length === 2, 10_000, 'the sidecar uploaded');
    await up.stop();
    const index = await cloud.rec.index.read(ROOM, lessonId);
    expect(Object.keys(index).sort()).toEqual(['cam2-0', 'cam2-0.json']);
    const row = await store.db.get<{ day: string; media_path: string; course: string; class_id: string; teacher_id: string; sha256: string }>(
      'SELECT day, media_path, course, class_id, teacher_id, sha256 FROM recordings WHERE room_id = ? AND lesson_id = ? AND source = ?',
      [ROOM, lessonId, 'cam2'],
    );
    expect(row).toEqual({ day: '2025-03-03', media_path: `${ROOM}/${lessonId}/cam2-0.mp4`, course: '数学', class_id: 'c8-3', teacher_id: 't-zhang', sha256: mp4.sha256 });
    expect(sha256(readFileSync(join(recDir, ...row!.media_path.split('/'))))).toBe(mp4.sha256);
  });
});
