/**
 * The recordings directory's budget against a real store and real files:
 * the quota deletes the oldest uploaded recordings first, never one that is
 * not uploaded, and says why when it cannot make room; retention deletes
 * uploaded recordings past their days.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../../edge/store/index.js';
import { RecordingsRepo } from '../../../edge/recording/repo.js';
import { RecordingStorage } from '../../../edge/recording/storage.js';
import { silentLogger } from '../../../edge/util/logger.js';

const MiB = 2 ** 20;
const DAY = 86_400_000;
let dir: string;
let store: Store;
let repo: RecordingsRepo;
let now = Date.parse('2026-12-07T08:00:00Z');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ce-rec-storage-'));
  store = openStore({ path: join(dir, 'store.db'), roomId: 'r1', logger: silentLogger(), clock: { now: () => now, monotonic: () => performance.now() } });
  repo = new RecordingsRepo(store);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A finished recording of `mib` MiB on disk; uploaded `uploadedDaysAgo` days ago, or not uploaded. */
async function recording(lesson: string, mib: number, uploadedDaysAgo: number | null): Promise<{ id: number; file: string }> {
  const lessonId = `r1/2026-12-01/${lesson}`;
  const outDir = join(dir, 'recordings', 'lessons', lesson);
  mkdirSync(outDir, { recursive: true });
  const row = await repo.create({
    lessonId,
    source: 'cam',
    dir: () => join(dir, 'recordings', 'segments', lesson),
    outDir: () => outDir,
    lesson: { roomId: 'r1', lessonId, course: '数学', classId: 'c1', teacherId: null, startsAt: now, endsAt: now },
    startedBy: 'lesson-clock',
    startedAt: now,
  });
  const file = join(outDir, 'cam.mp4');
  writeFileSync(file, Buffer.alloc(mib * MiB, 1));
  writeFileSync(join(outDir, 'cam.json'), '{}');
  await repo.markFinished(row.id, { file, bytes: mib * MiB, sha256: 'a'.repeat(64), durationMs: 1000, gaps: 0 });
  if (uploadedDaysAgo !== null) await repo.markUploaded(row.id, now - uploadedDaysAgo * DAY);
  return { id: row.id, file };
}

const storage = (maxMiB: number, retentionDays = 3) =>
  new RecordingStorage({ directory: join(dir, 'recordings'), limits: { maxBytes: maxMiB * MiB, minFreeBytes: 0, retentionDays }, repo, logger: silentLogger(), now: () => now });

describe('RecordingStorage', () => {
  it('makes room by deleting the oldest uploaded recordings first, and only as many as needed', async () => {
    const old = await recording('p1', 30, 2);
    const newer = await recording('p2', 30, 1);
    const waiting = await recording('p3', 30, null);
    const s = storage(100);
    expect(await s.ensureRoom(20 * MiB)).toEqual({ ok: true });
    expect(existsSync(old.file)).toBe(false);
    expect(existsSync(old.file.replace('.mp4', '.json'))).toBe(false);
    expect(existsSync(newer.file)).toBe(true);
    expect(existsSync(waiting.file)).toBe(true);
    expect(repo.get(old.id)?.deletedAt).toBe(now);
    expect(repo.get(newer.id)?.deletedAt).toBeNull();
  });

  it('never deletes a recording that is not uploaded: it says why instead', async () => {
    const a = await recording('p1', 30, null);
    const b = await recording('p2', 30, null);
    const up = await recording('p3', 10, 1);
    const s = storage(70);
    const v = await s.ensureRoom(20 * MiB);
    expect(v.ok).toBe(false);
    expect(v.ok ? '' : v.reason).toMatch(/^the recordings use 60 MiB of their 70 MiB quota; nothing uploaded is left to delete \(2 finished recordings wait for upload and are kept\)$/);
    expect(existsSync(a.file) && existsSync(b.file)).toBe(true);
    // The uploaded one was tried first (deleted), the others were kept.
    expect(existsSync(up.file)).toBe(false);
  });

  it('keeps free space on the file system above minFreeBytes', async () => {
    const s = new RecordingStorage({ directory: join(dir, 'recordings'), limits: { maxBytes: 2 ** 40, minFreeBytes: 2 ** 50, retentionDays: 3 }, repo, logger: silentLogger(), now: () => now });
    const v = await s.ensureRoom(0);
    expect(v.ok ? '' : v.reason).toMatch(/^only .* free on the disk \(at least 1048576.0 GiB must stay free\); nothing uploaded is left to delete$/);
  });

  it('retention deletes uploaded recordings past their days, not newer ones, not unuploaded ones', async () => {
    const old = await recording('p1', 1, 4);
    const recent = await recording('p2', 1, 2);
    const waiting = await recording('p3', 1, null);
    now += 0;
    expect(await storage(100, 3).applyRetention()).toBe(1);
    expect(existsSync(old.file)).toBe(false);
    expect(existsSync(recent.file)).toBe(true);
    expect(existsSync(waiting.file)).toBe(true);
  });
});
