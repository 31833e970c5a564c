/**
 * When and how fast the edge uploads: the daily window in the room's zone (luxon; wrapping
 * midnight, DST), the token bucket on fake monotonic time, and the uploader on fake timers
 * (vi.useFakeTimers fakes setTimeout and Date; the uploader's `now` reads Date.now): nothing
 * is sent outside the window, a PATCH under way when it closes finishes its chunk and the
 * rest waits for the next opening; progress() per lesson.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DateTime } from 'luxon';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../../../edge/store/index.js';
import { MIGRATIONS, migrate } from '../../../edge/store/migrations.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { RecordingUploader } from '../../../sync/recording-upload.js';
import { TokenBucket, UploadWindow } from '../../../sync/recording-upload-pacing.js';
import type { CreateResult, HeadResult, PatchResult, TusTransport } from '../../../sync/tus-client.js';
import { fixedClock, tempDir, type TempDir } from '../store/helpers.js';

const ZONE = 'Asia/Shanghai';
const ROOM = 'jy-0101-r203';
const at = (iso: string, zone = ZONE) => DateTime.fromISO(iso, { zone }).toMillis();

describe('upload window', () => {
  it('is open between from and to in the room zone, wrapping midnight', () => {
    const w = new UploadWindow({ from: '18:00', to: '07:00' }, ZONE);
    expect(w.isOpen(at('2025-03-03T12:00'))).toBe(false);
    expect(w.isOpen(at('2025-03-03T17:59'))).toBe(false);
    expect(w.isOpen(at('2025-03-03T18:00'))).toBe(true);
    expect(w.isOpen(at('2025-03-04T02:00'))).toBe(true);
    expect(w.isOpen(at('2025-03-04T07:00'))).toBe(false);
    expect(w.msUntilOpen(at('2025-03-03T12:00'))).toBe(6 * 3_600_000);
    expect(w.msUntilOpen(at('2025-03-04T07:00'))).toBe(11 * 3_600_000);
    expect(w.msUntilOpen(at('2025-03-03T20:00'))).toBe(0);
    // 12:00 UTC is 20:00 in Shanghai: the zone, not the server's clock, decides.
    expect(w.isOpen(Date.parse('2025-03-03T12:00:00Z'))).toBe(true);
  });

  it('a day window; from == to is all day; DST days in a zone that has them', () => {
    const day = new UploadWindow({ from: '12:30', to: '13:30' }, ZONE);
    expect(day.isOpen(at('2025-03-03T12:29'))).toBe(false);
    expect(day.isOpen(at('2025-03-03T13:00'))).toBe(true);
    expect(day.msUntilOpen(at('2025-03-03T13:30'))).toBe(23 * 3_600_000);
    expect(new UploadWindow({ from: '00:00', to: '00:00' }, ZONE).isOpen(at('2025-03-03T09:00'))).toBe(true);
    // New York springs forward on 2025-03-09: 22:00 on the 8th to 01:00 on the 9th is 2 h of real time.
    const ny = new UploadWindow({ from: '01:00', to: '05:00' }, 'America/New_York');
    expect(ny.msUntilOpen(at('2025-03-08T22:00', 'America/New_York'))).toBe(3 * 3_600_000);
    expect(ny.msUntilOpen(at('2025-03-09T22:00', 'America/New_York'))).toBe(3 * 3_600_000);
    expect(() => new UploadWindow({ from: '25:00', to: '01:00' }, ZONE)).toThrow('HH:MM');
    expect(() => new UploadWindow({ from: '01:00', to: '02:00' }, 'Mars/Olympus')).toThrow('time zone');
  });
});

describe('token bucket', () => {
  it('100 MB at 1 MB/s takes about 100 s of (fake) time, whatever the read size', async () => {
    let t = 0;
    const bucket = new TokenBucket(1_000_000, { monotonic: () => t, sleep: async (ms) => void (t += ms) });
    let sent = 0;
    while (sent < 100_000_000) {
      const n = Math.min(65_536, 100_000_000 - sent);
      await bucket.take(n);
      sent += n;
    }
    // The first second's worth goes at once (the burst); the rest at the cap.
    expect(t / 1000).toBeGreaterThanOrEqual(98.9);
    expect(t / 1000).toBeLessThanOrEqual(100.1);
    // A single read larger than the bucket waits its debt off.
    const big = new TokenBucket(1000, { monotonic: () => t, sleep: async (ms) => void (t += ms) });
    const t0 = t;
    await big.take(5000);
    expect(t - t0).toBe(4000);
  });
});

class SlowFake implements TusTransport {
  calls: Array<{ what: string; at: number }> = [];
  data = Buffer.alloc(0);
  size = 0;
  onPatch: (() => void) | null = null;
  async create(meta: Record<string, string>, size: number): Promise<CreateResult> {
    this.calls.push({ what: 'create', at: Date.now() });
    this.size = size;
    return { kind: 'created', url: 'http://cloud/u/1' };
  }
  async head(): Promise<HeadResult> {
    this.calls.push({ what: 'head', at: Date.now() });
    return { kind: 'upload', offset: this.data.length, length: this.size };
  }
  async patch(_u: string, file: string, offset: number, end: number, _s: AbortSignal, onBytes: (n: number) => void): Promise<PatchResult> {
    this.calls.push({ what: `patch ${offset}-${end}`, at: Date.now() });
    this.onPatch?.();
    this.data = Buffer.concat([this.data, readFileSync(file).subarray(offset, end)]);
    onBytes(end - offset);
    const done = this.data.length >= this.size;
    return { offset: this.data.length, complete: done ? { sha256: createHash('sha256').update(this.data).digest('hex') } : null };
  }
}

let tmp: TempDir;
let store: Store | null = null;
afterEach(async () => {
  vi.useRealTimers();
  await store?.close();
  store = null;
  tmp?.remove();
});

function setup(fake: TusTransport, window = { from: '18:00', to: '07:00' }) {
  tmp = tempDir();
  // flushIntervalMs 0: the store commits on setImmediate, which the fake timers leave real.
  store = openStore({ path: tmp.file('edge.db'), roomId: ROOM, logger: silentLogger(), clock: fixedClock(), flushIntervalMs: 0 });
  const up = new RecordingUploader({ store, roomId: ROOM, transport: fake, logger: silentLogger(), chunkBytes: 1000, window, timeZone: ZONE, now: () => Date.now(), retry: { baseMs: 5, maxMs: 20 } });
  const data = randomBytes(3000);
  writeFileSync(tmp.file('a.mp4'), data);
  return { up, path: tmp.file('a.mp4'), sha256: createHash('sha256').update(data).digest('hex') };
}

describe('uploader in its window', () => {
  it('sends nothing outside the window and starts when it opens', async () => {
    vi.useFakeTimers({ now: at('2025-03-03T12:00'), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const fake = new SlowFake();
    const { up, path, sha256 } = setup(fake);
    await up.enqueue({ path, lessonId: `${ROOM}/2025-03-03/p1`, source: 'cam1', segment: 0, sha256 });
    up.start();
    expect(up.inWindow()).toBe(false);
    await vi.advanceTimersByTimeAsync(5 * 3_600_000 + 59 * 60_000);
    expect(fake.calls).toEqual([]);
    expect(up.progress()).toMatchObject({ pendingFiles: 1, pendingBytes: 3000, lessons: { [`${ROOM}/2025-03-03/p1`]: { files: 1, uploadedFiles: 0, uploadedBytes: 0 } } });
    await vi.advanceTimersByTimeAsync(61_000);
    await vi.waitFor(() => expect(up.segments('uploaded')).toHaveLength(1));
    expect(fake.calls.map((c) => c.what)).toEqual(['create', 'patch 0-1000', 'patch 1000-2000', 'patch 2000-3000']);
    expect(fake.calls[0]!.at).toBeGreaterThanOrEqual(at('2025-03-03T18:00'));
    await up.stop();
  });

  it('a PATCH under way when the window closes finishes its chunk; the rest waits for the next opening', async () => {
    vi.useFakeTimers({ now: at('2025-03-04T06:59:30'), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const fake = new SlowFake();
    const { up, path, sha256 } = setup(fake);
    // The first chunk takes a minute: the window closes (07:00) while it is sent.
    fake.onPatch = () => {
      fake.onPatch = null;
      vi.setSystemTime(Date.now() + 60_000);
    };
    await up.enqueue({ path, lessonId: `${ROOM}/2025-03-04/p0`, source: 'cam1', segment: 0, sha256 });
    up.start();
    await vi.advanceTimersByTimeAsync(1000);
    // The store commits on real setImmediate turns: wait (real time) for the chunk's offset to be saved.
    await vi.waitFor(() => expect(up.segments()[0]).toMatchObject({ state: 'pending', offset: 1000 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(fake.calls.map((c) => c.what)).toEqual(['create', 'patch 0-1000']);
    expect(up.progress().lessons[`${ROOM}/2025-03-04/p0`]).toEqual({ files: 1, uploadedFiles: 0, bytes: 3000, uploadedBytes: 1000 });
    await vi.advanceTimersByTimeAsync(10 * 3_600_000);
    expect(fake.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2 * 3_600_000);
    await vi.waitFor(() => expect(up.segments('uploaded')).toHaveLength(1));
    expect(fake.calls.map((c) => c.what)).toEqual(['create', 'patch 0-1000', 'head', 'patch 1000-2000', 'patch 2000-3000']);
    expect(fake.calls[2]!.at).toBeGreaterThanOrEqual(at('2025-03-04T18:00'));
    expect(up.counts.resumes).toBe(1);
    await up.stop();
  });

  it('progress lists lessons with pending files, or uploaded in the last 24 h', async () => {
    tmp = tempDir();
    store = openStore({ path: tmp.file('edge.db'), roomId: ROOM, logger: silentLogger(), clock: fixedClock() });
    let now = at('2025-03-05T12:00');
    const up = new RecordingUploader({ store, roomId: ROOM, transport: new SlowFake(), logger: silentLogger(), now: () => now });
    const insert = store.db.prepare(
      "INSERT INTO recording_uploads (path, lesson_id, source, segment, sha256, size, ext, started_at, duration_ms, state, offset, uploaded_at, created_at) VALUES (?, ?, 'cam1', 0, ?, ?, ?, 0, 0, ?, ?, ?, 0)",
    );
    const h = 'a'.repeat(64);
    insert.run('/r/old.mp4', 'old', h, 100, 'mp4', 'uploaded', 100, now - 25 * 3_600_000);
    insert.run('/r/y.mp4', 'yesterday', h, 100, 'mp4', 'uploaded', 100, now - 23 * 3_600_000);
    insert.run('/r/y.json', 'yesterday', h, 10, 'json', 'uploaded', 10, now - 23 * 3_600_000);
    insert.run('/r/n.mp4', 'now', h, 1000, 'mp4', 'pending', 400, null);
    insert.run('/r/n.json', 'now', h, 10, 'json', 'failed', 0, null);
    expect(up.progress()).toEqual({
      pendingFiles: 1,
      pendingBytes: 600,
      failedFiles: 1,
      lessons: { yesterday: { files: 2, uploadedFiles: 2, bytes: 110, uploadedBytes: 110 }, now: { files: 2, uploadedFiles: 0, bytes: 1010, uploadedBytes: 400 } },
    });
    now += 2 * 3_600_000;
    expect(Object.keys(up.progress().lessons)).toEqual(['now']);
  });
});

describe('store migration 9', () => {
  it('keeps queued rows and their ids, and lets the mp4 and the json of one segment both be queued', () => {
    tmp = tempDir();
    const db = new Database(tmp.file('edge.db'));
    const opts = { file: 'edge.db', logger: silentLogger(), now: () => 1 };
    migrate(db, { ...opts, migrations: MIGRATIONS.filter((m) => m.version <= 8) });
    const row = "INSERT INTO recording_uploads (id, path, lesson_id, source, segment, sha256, size, ext, started_at, duration_ms, state, offset, created_at) VALUES (?, ?, 'L', 'cam1', 0, ?, 5, ?, 0, 0, 'pending', 2, 0)";
    db.prepare(row).run(7, '/r/cam1.mp4', 'b'.repeat(64), 'mp4');
    expect(() => db.prepare(row).run(8, '/r/cam1.json', 'c'.repeat(64), 'json')).toThrow('UNIQUE');
    migrate(db, opts);
    expect(db.prepare('SELECT id, path, offset, state FROM recording_uploads').all()).toEqual([{ id: 7, path: '/r/cam1.mp4', offset: 2, state: 'pending' }]);
    db.prepare(row).run(8, '/r/cam1.json', 'c'.repeat(64), 'json');
    expect(() => db.prepare(row).run(9, '/r/cam1-again.json', 'd'.repeat(64), 'json')).toThrow('UNIQUE');
    expect(db.prepare("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recording_uploads' AND name = 'recording_uploads_state'").get()).toEqual({ n: 1 });
    db.close();
  });
});
