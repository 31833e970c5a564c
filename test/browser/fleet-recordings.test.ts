/**
 * The fleet page's 录像 view in Debian's Chromium (playwright-core), against the reference
 * cloud's real API in-process (SQLite): a recording uploaded by the edge's uploader (a real
 * H.264/AAC MP4 from ffmpeg and its sidecar) and a second one still uploading (sidecar only).
 * A technician logs in (Basic, as the page asks), follows the room's 录像 link, picks the
 * day in the date field, sees the lesson in the room's time zone with its gap and the
 * uploading marker, and plays the video: it decodes (readyState >= 2) and advances past
 * 0.5 s. The playback is audited once. Screenshots at 1920x1080 and 1366x768 go to
 * test-results/fleet/ (gitignored).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../edge/store/index.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { RecordingUploader } from '../../sync/recording-upload.js';
import { HttpTusTransport } from '../../sync/tus-client.js';
import { waitFor } from '../helpers/peers.js';
import { ROOM, ROOM_SECRET, WANG, makeMp4, makeSidecar, startCloud, writeSidecar, type TestCloud } from '../integration/recording-cloud-fixtures.js';

const CHROMIUM = '/usr/bin/chromium';

/** The HTMLVideoElement members used here (no DOM lib in this tsconfig). */
interface VideoLike {
  muted: boolean;
  play(): Promise<void>;
  readyState: number;
  currentTime: number;
  videoWidth: number;
  videoHeight: number;
  duration: number;
  error: { code: number } | null;
}
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(ROOT, 'test-results', 'fleet');
const LESSON = `${ROOM}/2025-03-03/p2`;
const LATER = `${ROOM}/2025-03-03/p3`;

let dir: string;
let store: CloudStore;
let cloud: TestCloud;
let edgeStore: Store;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ce-fleetrec-'));
  store = await CloudStore.open(join(dir, 'cloud.db'));
  cloud = await startCloud(store, join(dir, 'recordings'));
  const mp4 = makeMp4(join(dir, 'cam1.mp4'));
  // 08:30–09:15 in Shanghai (00:30Z), with a 12 s gap; the second lesson (10:00) has only its sidecar.
  const sc = writeSidecar(join(dir, 'cam1.json'), makeSidecar({
    lessonId: LESSON, source: 'cam1', media: mp4, startsAt: '2025-03-03T00:30:00.000Z', endsAt: '2025-03-03T01:15:00.000Z',
    gaps: [{ from: '2025-03-03T00:41:00.000Z', to: '2025-03-03T00:41:12.000Z', ms: 12_000, reason: 'camera reconnect' }],
  }));
  const later = writeSidecar(join(dir, 'cam1-later.json'), makeSidecar({ lessonId: LATER, source: 'cam1', media: mp4, startsAt: '2025-03-03T02:00:00.000Z', endsAt: '2025-03-03T02:45:00.000Z' }));
  edgeStore = openStore({ path: join(dir, 'edge.db'), roomId: ROOM, logger: silentLogger(), clock: systemClock });
  const up = new RecordingUploader({ store: edgeStore, roomId: ROOM, transport: new HttpTusTransport({ baseUrl: cloud.base, roomId: ROOM, token: ROOM_SECRET }), logger: silentLogger() });
  await up.enqueue({ path: mp4.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: mp4.sha256, ext: 'mp4', durationMs: 4000 });
  await up.enqueue({ path: sc.path, lessonId: LESSON, source: 'cam1', segment: 0, sha256: sc.sha256, ext: 'json' });
  await up.enqueue({ path: later.path, lessonId: LATER, source: 'cam1', segment: 0, sha256: later.sha256, ext: 'json' });
  up.start();
  await waitFor(() => up.segments('uploaded').length === 3, 15_000, 'the recordings uploaded');
  await up.stop();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await edgeStore?.close();
  await cloud?.app.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('fleet page: a room\'s recordings', () => {
  it.each([
    [1920, 1080],
    [1366, 768],
  ])('a technician finds the day\'s lessons and plays one (%ix%i)', async (width, height) => {
    const context = await browser.newContext({ viewport: { width, height }, httpCredentials: { username: WANG.name, password: WANG.secret }, locale: 'zh-CN' });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const auditBefore = (await store.db.all("SELECT id FROM cloud_audit WHERE action = 'recording.play'")).length;
    await page.goto(`${cloud.base}/fleet`);
    await page.getByRole('link', { name: '录像' }).click();
    await page.waitForURL(/\/fleet\/rooms\/jy-0101-r203\/recordings/);
    await page.locator('input[name="day"]').fill('2025-03-03');
    await page.getByRole('button', { name: '查看' }).click();
    await page.waitForURL(/day=2025-03-03/);
    const rows = page.locator('tbody tr');
    await expect.poll(() => rows.count()).toBe(2);
    // Times in the room's zone (08:30, not 00:30 UTC); the gap; the second lesson still uploading.
    expect(await rows.nth(0).innerText()).toMatch(/08:30–09:15\s+数学\s+初二\(3\)班\s+张老师\s+cam1\s+4 秒\s+08:41 中断 12 秒/);
    expect(await rows.nth(1).innerText()).toContain('10:00–10:45');
    expect(await rows.nth(1).innerText()).toContain('上传中');
    expect(await rows.nth(1).locator('video').count()).toBe(0);

    const video = rows.nth(0).locator('video');
    expect(await video.getAttribute('preload')).toBe('metadata');
    await video.evaluate(async (el) => {
      const v = el as unknown as VideoLike;
      v.muted = true;
      await v.play();
    });
    // Decoded (HAVE_CURRENT_DATA or more) and playing past half a second.
    await expect
      .poll(() => video.evaluate((el) => (el as unknown as VideoLike).readyState >= 2 && (el as unknown as VideoLike).currentTime > 0.5), { timeout: 15_000 })
      .toBe(true);
    const state = await video.evaluate((el) => {
      const v = el as unknown as VideoLike;
      return { w: v.videoWidth, h: v.videoHeight, error: v.error?.code ?? null, duration: v.duration };
    });
    expect(state).toMatchObject({ w: 320, h: 240, error: null });
    expect(state.duration).toBeCloseTo(4, 0);
    await page.screenshot({ path: join(SHOTS, `fleet-recordings-${width}x${height}.png`) });
    expect(errors).toEqual([]);
    const audit = await store.db.all<{ technician: string; outcome: string }>("SELECT technician, outcome FROM cloud_audit WHERE action = 'recording.play' ORDER BY id");
    // The first viewing is one audit row, however many range requests the player made; the second
    // context (same technician, within the session window) adds none.
    expect(audit.slice(auditBefore)).toEqual(auditBefore === 0 ? [{ technician: 'wang', outcome: 'played' }] : []);
    await context.close();
  }, 60_000);
});
