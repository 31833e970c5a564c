/**
 * The edge uploader's queue state machine against a small in-memory tus
 * server (a fake TusTransport): resume from the server's offset, restart,
 * backoff, permanent refusals, completion only with the echoed sha256,
 * retention.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { RecordingUploader, SegmentConflictError } from '../../../sync/recording-upload.js';
import { UploadHttpError, type CreateResult, type HeadResult, type PatchResult, type TusTransport } from '../../../sync/tus-client.js';
import { waitFor } from '../../helpers/peers.js';
import { fixedClock, tempDir, type TempDir } from '../store/helpers.js';

const ROOM = 'jy-0101-r203';
const LESSON = `${ROOM}/2025-03-03/p1`;

class FakeTus implements TusTransport {
  uploads = new Map<string, { size: number; data: Buffer; meta: Record<string, string> }>();
  calls: string[] = [];
  /** Faults, consumed in order: thrown instead of answering the named call. */
  faults: Array<{ on: 'create' | 'head' | 'patch'; error: Error; afterBytes?: number }> = [];
  /** Segments the "cloud" already holds, by lessonId/source/segment -> sha256. */
  stored = new Map<string, string>();
  echoWrongHash = false;
  private n = 0;

  private fault(on: 'create' | 'head' | 'patch') {
    const i = this.faults.findIndex((f) => f.on === on);
    return i < 0 ? null : this.faults.splice(i, 1)[0]!;
  }
  async create(meta: Record<string, string>, size: number, _s?: AbortSignal): Promise<CreateResult> {
    this.calls.push('create');
    const f = this.fault('create');
    if (f) throw f.error;
    const key = `${meta.lessonId}/${meta.source}/${meta.segment}`;
    const held = this.stored.get(key);
    if (held !== undefined && held === meta.sha256) return { kind: 'complete', sha256: held };
    if (held) throw new UploadHttpError(409, 'stored with another sha256', 'creating the upload');
    const url = `http://cloud/u/${++this.n}`;
    this.uploads.set(url, { size, data: Buffer.alloc(0), meta });
    return { kind: 'created', url };
  }
  async head(url: string, _s?: AbortSignal): Promise<HeadResult> {
    this.calls.push('head');
    const f = this.fault('head');
    if (f) throw f.error;
    const u = this.uploads.get(url);
    return u ? { kind: 'upload', offset: u.data.length, length: u.size } : { kind: 'gone' };
  }
  async patch(url: string, file: string, offset: number, end: number, _s: AbortSignal, onBytes: (n: number) => void): Promise<PatchResult> {
    this.calls.push(`patch ${offset}-${end}`);
    const u = this.uploads.get(url);
    if (!u) throw new UploadHttpError(404, 'no such upload', 'patch');
    if (offset !== u.data.length) throw new UploadHttpError(409, 'offset mismatch', 'patch');
    const bytes = readFileSync(file).subarray(offset, end);
    const f = this.fault('patch');
    const take = f ? Math.min(f.afterBytes ?? 0, bytes.length) : bytes.length;
    u.data = Buffer.concat([u.data, bytes.subarray(0, take)]);
    onBytes(take);
    if (f) throw f.error;
    if (u.data.length < u.size) return { offset: u.data.length, complete: null };
    const digest = createHash('sha256').update(u.data).digest('hex');
    this.uploads.delete(url);
    if (digest !== u.meta.sha256) throw new UploadHttpError(460, 'sha256 mismatch', 'patch');
    this.stored.set(`${u.meta.lessonId}/${u.meta.source}/${u.meta.segment}`, digest);
    return { offset: u.size, complete: { sha256: this.echoWrongHash ? 'f'.repeat(64) : digest } };
  }
}

let tmp: TempDir;
const open: Array<{ store: Store; up: RecordingUploader }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.up.stop();
    await o.store.close();
  }
  tmp?.remove();
});

function setup(fake: FakeTus, extra: Partial<ConstructorParameters<typeof RecordingUploader>[0]> = {}) {
  tmp ??= tempDir();
  const store = openStore({ path: tmp.file('edge.db'), roomId: ROOM, logger: silentLogger(), clock: fixedClock() });
  const up = new RecordingUploader({ store, roomId: ROOM, transport: fake, logger: silentLogger(), chunkBytes: 1000, retry: { baseMs: 5, maxMs: 20 }, ...extra });
  open.push({ store, up });
  return { store, up };
}

function file(name: string, size: number) {
  const data = randomBytes(size);
  const path = tmp.file(name);
  writeFileSync(path, data);
  return { path, sha256: createHash('sha256').update(data).digest('hex') };
}

describe('recording upload queue', () => {
  it('enqueue is idempotent for the same sha256 and refuses another sha256 for the same segment', async () => {
    tmp = tempDir();
    const { up } = setup(new FakeTus());
    const f = file('a.mp4', 10);
    const one = await up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: f.sha256 });
    const two = await up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: f.sha256 });
    expect(two.id).toBe(one.id);
    expect(one).toMatchObject({ state: 'pending', size: 10, offset: 0, uploadUrl: null });
    await expect(up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: 'a'.repeat(64) })).rejects.toThrow(SegmentConflictError);
    await expect(up.enqueue({ path: f.path, lessonId: '../x', source: 'cam1', segment: 1, sha256: f.sha256 })).rejects.toThrow('lessonId');
    await expect(up.enqueue({ path: tmp.file('missing'), lessonId: LESSON, source: 'cam1', segment: 2, sha256: f.sha256 })).rejects.toThrow('ENOENT');
    expect(up.segments()).toHaveLength(1);
  });

  it('a cut mid-chunk is retried from the offset the server reports (HEAD), not from zero', async () => {
    tmp = tempDir();
    const fake = new FakeTus();
    fake.faults.push({ on: 'patch', error: new Error('ECONNRESET'), afterBytes: 400 });
    const { up } = setup(fake);
    const f = file('a.mp4', 2500);
    await up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: f.sha256 });
    up.start();
    await waitFor(() => up.segments('uploaded').length === 1, 5000, 'uploaded');
    expect(fake.calls).toEqual(['create', 'patch 0-1000', 'head', 'patch 400-1400', 'patch 1400-2400', 'patch 2400-2500']);
    expect(up.counts).toMatchObject({ bytesSent: 2500, resumes: 1, retries: 1, uploaded: 1 });
    expect(up.segments()[0]).toMatchObject({ offset: 2500, lastError: null });
  });

  it('after a restart a new uploader on the same store resumes the stored upload URL', async () => {
    tmp = tempDir();
    const fake = new FakeTus();
    const a = setup(fake);
    const f = file('a.mp4', 3000);
    await a.up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: f.sha256 });
    // The first PATCH goes through, then the edge dies: the server holds 1000 bytes.
    const origPatch = fake.patch.bind(fake);
    let patches = 0;
    fake.patch = async (...args) => {
      patches++;
      if (patches >= 2) throw new Error('process killed');
      return origPatch(...args);
    };
    a.up.start();
    await waitFor(() => patches >= 2, 5000, 'the second patch');
    await a.up.stop();
    expect(a.up.segments()[0]).toMatchObject({ state: 'pending', offset: 1000 });
    await a.store.close();
    open.splice(0);
    fake.patch = origPatch;
    fake.calls = [];
    const b = setup(fake);
    b.up.start();
    await waitFor(() => b.up.segments('uploaded').length === 1, 5000, 'uploaded after restart');
    expect(fake.calls).toEqual(['head', 'patch 1000-2000', 'patch 2000-3000']);
    expect(b.up.counts.bytesSent).toBe(2000);
  });

  it('an upload the server lost (HEAD 404) is created again; 401 and 5xx are retried, not failed', async () => {
    tmp = tempDir();
    const fake = new FakeTus();
    fake.faults.push({ on: 'create', error: new UploadHttpError(401, 'bad token', 'creating') });
    fake.faults.push({ on: 'create', error: new UploadHttpError(503, 'busy', 'creating') });
    fake.faults.push({ on: 'patch', error: new Error('ETIMEDOUT'), afterBytes: 500 });
    const { up } = setup(fake);
    const f = file('a.mp4', 800);
    await up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: f.sha256 });
    const head = fake.head.bind(fake);
    fake.head = async (url: string, s?: AbortSignal) => {
      fake.uploads.delete(url); // the cloud lost its incoming area
      return head(url, s);
    };
    up.start();
    await waitFor(() => up.segments('uploaded').length === 1, 5000, 'uploaded');
    expect(fake.calls).toEqual(['create', 'create', 'create', 'patch 0-800', 'head', 'create', 'patch 0-800']);
    expect(up.counts.retries).toBe(3);
  });

  it('permanent refusals mark the segment failed with the reason; other segments go on', async () => {
    tmp = tempDir();
    const fake = new FakeTus();
    const { up } = setup(fake, { retry: { baseMs: 5, maxMs: 20, maxHashMismatches: 2 } });
    const conflict = file('c.mp4', 100);
    const forbidden = file('f.mp4', 100);
    const wrongHash = file('w.mp4', 100);
    const ok = file('ok.mp4', 100);
    fake.stored.set(`${LESSON}/cam1/0`, 'e'.repeat(64));
    await up.enqueue({ path: conflict.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: conflict.sha256 });
    await up.enqueue({ path: forbidden.path, lessonId: LESSON, source: 'cam1', segment: 1, sha256: forbidden.sha256 });
    await up.enqueue({ path: wrongHash.path, lessonId: LESSON, source: 'cam1', segment: 2, sha256: 'd'.repeat(64) });
    await up.enqueue({ path: ok.path, lessonId: LESSON, source: 'cam1', segment: 3, sha256: ok.sha256 });
    const gone = file('gone.mp4', 100);
    await up.enqueue({ path: gone.path, lessonId: LESSON, source: 'cam1', segment: 4, sha256: gone.sha256 });
    writeFileSync(gone.path, 'changed');
    const create = fake.create.bind(fake);
    fake.create = async (meta: Record<string, string>, size: number, s?: AbortSignal) => {
      if (meta.segment === '1') throw new UploadHttpError(403, 'a room uploads only its own recordings', 'creating');
      return create(meta, size, s);
    };
    up.start();
    await waitFor(() => up.segments('pending').length === 0, 5000, 'queue settled');
    const bySeg = Object.fromEntries(up.segments().map((s) => [s.segment, s]));
    expect(bySeg[0]).toMatchObject({ state: 'failed', lastError: expect.stringContaining('409') });
    expect(bySeg[1]).toMatchObject({ state: 'failed', lastError: expect.stringContaining('403') });
    expect(bySeg[2]).toMatchObject({ state: 'failed', attempts: 2, lastError: expect.stringContaining('460') });
    expect(bySeg[3]).toMatchObject({ state: 'uploaded' });
    expect(bySeg[4]).toMatchObject({ state: 'failed', lastError: expect.stringContaining('changed size') });
    expect(up.counts).toMatchObject({ failed: 4, uploaded: 1, hashMismatches: 2 });
  });

  it('is not marked uploaded unless the server echoes the sha256; deletion only when retention allows', async () => {
    tmp = tempDir();
    const fake = new FakeTus();
    fake.echoWrongHash = true;
    let allow = false;
    const { up } = setup(fake, { retention: () => allow, retry: { baseMs: 1000, maxMs: 1000 } });
    const f = file('a.mp4', 500);
    await up.enqueue({ path: f.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: f.sha256 });
    up.start();
    await waitFor(() => up.counts.retries >= 1, 5000, 'a retry');
    expect(up.segments()[0]!.state).toBe('pending');
    expect(up.segments()[0]!.lastError).toContain('expected');
    fake.echoWrongHash = false;
    // The retry's create finds the segment stored: complete without sending again.
    await waitFor(() => up.segments('uploaded').length === 1, 5000, 'uploaded');
    expect(existsSync(f.path)).toBe(true);
    allow = true;
    expect(await up.applyRetention()).toBe(1);
    expect(existsSync(f.path)).toBe(false);
    expect(up.segments()[0]!.deletedAt).not.toBeNull();
  });
});
