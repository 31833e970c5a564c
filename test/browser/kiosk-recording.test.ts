/**
 * The kiosk's recording controls end to end in Debian's Chromium
 * (playwright-core), against the embedded demo room (Wednesday 2026-11-25,
 * 10:12: the third lesson runs, two have ended) with a fake recorder at the
 * API boundary (test/unit/kiosk/fake-recorder.ts) that publishes the
 * retained `recording` message on the bus as the real one does. The teacher
 * starts recording (the button is disabled while the request is on its way;
 * 正在启动录制, then 录制中 with the time), a live push shows next to its
 * source, a source is interrupted (录制中断·重连中 and the reason below the top
 * bar) and then fails (录制异常, a technician was alerted), the teacher stops
 * after a confirmation (正在结束录制, then nothing), and the timetable shows
 * each lesson's upload. Screenshots at 1920x1080 and at 3840x2160 (a 4K
 * panel at device scale 1) go to test-results/kiosk/.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoConfigYaml } from '../../edge/config/demo.js';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { startService, type RunningService } from '../../edge/service.js';
import type { Clock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { FakeRecorder } from '../unit/kiosk/fake-recorder.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UI_DIR = join(ROOT, 'dist', 'kiosk', 'ui');
const SHOTS = join(ROOT, 'test-results', 'kiosk');
const ZONE = 'Asia/Shanghai';
const TOPIC = 'classroom/demo-room/recording';

class SettableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return performance.now();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const clock = new SettableClock(DateTime.fromISO('2026-11-25T10:12', { zone: ZONE }).toMillis());
const fake = new FakeRecorder({ sources: ['students', 'teacher'], liveTargets: { district: 'teacher' }, now: () => clock.now(), settleMs: 600 });
let dir: string;
let svc: RunningService;
let browser: Browser;
let page: Page;
let base: string;

const SIZES = { '1080p': { width: 1920, height: 1080 }, '4k': { width: 3840, height: 2160 }, '1280x800': { width: 1280, height: 800 } } as const;

type Box = { x: number; y: number; width: number; height: number };


/** The top bar's parts, the recording badges and the class panel's buttons must not overlap; every shown button is at least 64 px high. */
async function checkLayout(): Promise<void> {
  // Parts that are not shown (an empty #rec) have no box and cannot overlap.
  const shown = (parts: Array<readonly [string, Box | null]>) => parts.filter((p): p is readonly [string, Box] => p[1] !== null);
  const named = async (selectors: string[]) => shown(await Promise.all(selectors.map(async (s) => [s, await page.locator(s).boundingBox()] as const)));
  const recs = shown(await Promise.all((await page.locator('#rec > *').all()).map(async (l, i) => [`#rec > :nth-child(${i + 1})`, await l.boundingBox()] as const)));
  const groups = [await named(['#room', '#lesson-line', '#top-actions']), await named(['#rec', '#conn', '#lang', '#lock-btn']), await named(['#start', '#end', '#rec-btn']), recs];
  const overlap = (a: Box, b: Box) => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;
  for (const group of groups) {
    for (let i = 0; i < group.length; i++) {
      for (let j = i + 1; j < group.length; j++) expect(overlap(group[i]![1], group[j]![1]), `${group[i]![0]} overlaps ${group[j]![0]}`).toBe(false);
    }
  }
  for (const b of await page.locator('button:visible').all()) {
    const name = (await b.getAttribute('id')) ?? (await b.textContent());
    expect((await b.boundingBox())!.height, `${name}`).toBeGreaterThanOrEqual(64);
  }
}

/** The same screen at 1920x1080 and at 3840x2160 (device scale 1), each checked for overlaps and touch targets. */
async function shots(name: string): Promise<void> {
  for (const [size, viewport] of Object.entries(SIZES)) {
    await page.setViewportSize(viewport);
    await checkLayout();
    await page.screenshot({ path: join(SHOTS, `kiosk-recording-${name}-${size}.png`) });
  }
  await page.setViewportSize(SIZES['1080p']);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: test/setup/install-tools.mjs installs Debian's chromium (npm test runs it)`);
  if (!existsSync(join(UI_DIR, 'index.html')) || !existsSync(join(UI_DIR, 'recording-view.js'))) throw new Error(`${UI_DIR} is not built (or is older than the recording view): run \`npm run build\``);
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ce-kiosk-rec-'));
  const [mqtt, ws, http] = [await freePort(), await freePort(), await freePort()];
  // The demo config without its camera: the fake is the room's only recorder.
  const yaml = demoConfigYaml(join(dir, 'demo'))
    .replace('port: 1883, websocketPort: 8083', `port: ${mqtt}, websocketPort: ${ws}`)
    .replace('port: 8080', `port: ${http}`);
  const registry = builtinDrivers();
  const config = loadConfigText(yaml, '(demo config, test ports)', registry);
  svc = await startService({ config, registry, logger: silentLogger(), clock, demo: true, timing: { lessonTickMs: 50, attendanceTickMs: 50 }, recorder: fake });
  fake.publish = (msg) => svc.broker.publish(TOPIC, msg, { retain: true });
  fake.audit = (a) => svc.store.recordAudit(a);
  await fake.publish(fake.status());
  base = `http://127.0.0.1:${svc.ports.api}`;
  const creds = readFileSync(join(dir, 'demo', 'secrets', 'initial-credentials.txt'), 'utf8');
  const kioskPassword = /username: kiosk\s+role:\s+\S+\s+password: (\S+)/.exec(creds)?.[1];
  if (!kioskPassword) throw new Error('no kiosk user in the first-start credentials');

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  page = await browser.newPage({ viewport: SIZES['1080p'], deviceScaleFactor: 1, locale: 'zh-CN' });
  await page.goto(`${base}/kiosk/`);
  await page.fill('#pair-pass', kioskPassword);
  await page.click('#pair-submit');
  await page.locator('#pair').waitFor({ state: 'hidden' });
  await page.locator('#conn.online').waitFor();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await svc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the kiosk drives the recorder', () => {
  const badge = (source: string) => page.locator(`#rec .rec[data-source="${source}"]`);

  it('offers 开始录制; a touch starts every source once, the button disabled until the edge answers', async () => {
    const btn = page.locator('#rec-btn');
    await page.locator('#rec-btn[data-rec-ctl="start"]').waitFor();
    expect(await btn.textContent()).toBe('开始录制');
    expect(await page.locator('#rec .rec').count()).toBe(0);
    let release: () => void = () => undefined;
    fake.gate = new Promise<void>((resolve) => (release = resolve));
    await btn.click();
    // The recorder has published "starting" but not answered yet: the badges show it, the button waits.
    await badge('teacher').and(page.locator('.starting')).waitFor();
    expect(await page.locator('#rec .rec').allTextContents()).toEqual(['正在启动录制 students', '正在启动录制 teacher']);
    expect(await btn.isDisabled()).toBe(true);
    await btn.click({ force: true }); // a second touch while disabled sends nothing
    fake.gate = null;
    release();
    await page.locator('#rec .rec.recording[data-source="teacher"]').waitFor();
    await page.locator('#rec .rec.recording[data-source="students"]').waitFor();
    expect(await badge('teacher').textContent()).toMatch(/^● 录制中 \d\d:\d\d teacher$/);
    await page.locator('#rec-btn[data-rec-ctl="stop"]:not([disabled])').waitFor();
    expect(await btn.textContent()).toBe('停止录制');
    expect(fake.calls).toEqual([{ op: 'start', by: { username: 'kiosk', role: 'teacher' } }]);
    expect(svc.store.db.prepare(`SELECT count(*) AS n FROM kiosk_commands WHERE action = 'recording.start'`).get()).toEqual({ n: 1 });
    expect(svc.store.db.prepare(`SELECT actor, result FROM audit_log WHERE action = 'recording.start'`).all()).toEqual([{ actor: 'kiosk', result: 'ok' }]);
  });

  it('shows the live push next to its source', async () => {
    await fake.set('teacher', { live: { state: 'live', target: 'district', since: clock.now(), reason: null } });
    const live = page.locator('#rec .rec-live[data-source="teacher"]');
    await live.waitFor();
    expect(await live.textContent()).toBe('直播中');
    // Right after its source's badge.
    const parts = await Promise.all((await page.locator('#rec > *').all()).map(async (l) => `${await l.getAttribute('data-source')}:${await l.getAttribute('class')}`));
    expect(parts).toEqual(['students:rec recording', 'teacher:rec recording', 'teacher:rec-live live']);
    await shots('recording');
  });

  it('shows an interrupted source with the reason under the top bar, and a live push reconnecting', async () => {
    await fake.set('students', { state: 'degraded', reason: 'camera 10.0.0.21 did not answer for 5 s (RTSP timeout); reconnecting' });
    await fake.set('teacher', { live: { state: 'retrying', target: 'district', since: clock.now(), reason: 'media server refused' } });
    await badge('students').and(page.locator('.degraded')).waitFor();
    expect(await badge('students').textContent()).toBe('录制中断·重连中 students');
    expect(await page.locator('#rec .rec-live[data-source="teacher"]').textContent()).toBe('直播重连中');
    const notice = page.locator('#rec-notice .rec-notice[data-source="students"]');
    expect(await notice.locator('b').textContent()).toBe('students：录制画面中断，正在自动重连，已录制的内容已保存');
    expect(await notice.locator('.rec-reason').textContent()).toBe('原因：camera 10.0.0.21 did not answer for 5 s (RTSP timeout); reconnecting');
    await shots('degraded');
  });

  it('shows a failed source: 录制异常, and a line that says a technician was alerted', async () => {
    await fake.set('students', { state: 'error', reason: 'the camera refused the login (401)' });
    await badge('students').and(page.locator('.error')).waitFor();
    expect(await badge('students').textContent()).toBe('录制异常 students');
    const notice = page.locator('#rec-notice .rec-notice.error');
    await notice.waitFor();
    expect(await notice.textContent()).toBe('students：无法录制，已通知技术人员原因：the camera refused the login (401)');
    expect(await page.locator('#rec-notice .rec-notice.degraded').count()).toBe(0);
    // The teacher can still stop the source that records.
    expect(await page.locator('#rec-btn').getAttribute('data-rec-ctl')).toBe('stop');
    await shots('error');
  });

  it('stops only after the confirmation: 正在结束录制, then the recording badges go', async () => {
    await page.click('#rec-btn');
    expect(await page.locator('.confirm .question').textContent()).toBe('停止录制本节课？录像将保存并上传。');
    await page.click('#confirm-cancel');
    expect(fake.calls.filter((c) => c.op === 'stop')).toEqual([]);
    await page.click('#rec-btn');
    await page.click('#confirm-ok');
    await badge('teacher').and(page.locator('.stopping')).waitFor();
    expect(await badge('teacher').textContent()).toBe('正在结束录制 teacher');
    await page.locator('#toast', { hasText: '录制已停止，录像将自动上传' }).waitFor();
    await badge('teacher').waitFor({ state: 'detached' });
    expect(await page.locator('#rec .rec-live').count()).toBe(0);
    expect(fake.calls.filter((c) => c.op === 'stop')).toEqual([{ op: 'stop', by: { username: 'kiosk', role: 'teacher' } }]);
    // The failed source stays shown until the recorder says otherwise; the teacher can start again.
    expect(await page.locator('#rec .rec').allTextContents()).toEqual(['录制异常 students']);
    await page.locator('#rec-btn[data-rec-ctl="start"]:not([disabled])').waitFor();
    await fake.set('students', { state: 'idle', lessonId: null, since: null, reason: null });
    await page.locator('#rec .rec').first().waitFor({ state: 'detached' });
    await page.locator('#rec-notice .rec-notice').first().waitFor({ state: 'detached' });
  });

  it("shows each lesson's upload on its timetable line", async () => {
    const token = (await page.evaluate('localStorage.getItem("classroom-edge.kiosk.token")')) as string;
    const snap = (await (await fetch(`${base}/api/kiosk/snapshot`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      today: Array<{ lessonId: string; period: number | null }>;
    };
    const [p1, p2, p3] = snap.today.filter((l) => l.period !== null).map((l) => l.lessonId);
    await fake.setUpload({
      pendingFiles: 3,
      pendingBytes: 3_000_000,
      failedFiles: 0,
      lessons: {
        [p1!]: { files: 2, uploadedFiles: 2, bytes: 2_000_000, uploadedBytes: 2_000_000 },
        [p2!]: { files: 2, uploadedFiles: 0, bytes: 2_000_000, uploadedBytes: 910_000 },
        [p3!]: { files: 2, uploadedFiles: 0, bytes: 2_000_000, uploadedBytes: 0 },
      },
    });
    await page.click('[data-tab="timetable"]');
    const pill = (id: string) => page.locator(`.timetable li[data-lesson="${id}"] [data-upload]`);
    await pill(p2!).waitFor();
    expect(await pill(p1!).textContent()).toBe('录像已上传');
    expect(await pill(p2!).textContent()).toBe('录像上传中 45%');
    expect(await pill(p3!).textContent()).toBe('录像待上传');
    expect(await page.locator('.timetable [data-upload]').count()).toBe(3);
    await shots('timetable');
    await page.click('#lang');
    expect(await pill(p2!).textContent()).toBe('Uploading video 45%');
    expect(await page.locator('#rec-btn').textContent()).toBe('Start recording');
    await page.click('#lang');
  });
});
