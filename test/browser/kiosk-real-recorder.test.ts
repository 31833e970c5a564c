/**
 * The kiosk's 开始录制 / 停止录制 drive the real recorder: the demo room with
 * its ffmpeg test camera (the config `classroom-edge start` runs, on free
 * ports and 2 s segments), Debian's Chromium as the panel, real time (ffmpeg
 * records in real time). Outside a lesson the teacher's recording is an
 * unscheduled one; after 停止录制 and the confirmation, the store holds the
 * finished MP4.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoConfigYaml } from '../../edge/config/demo.js';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { probe } from '../../edge/recording/probe.js';
import { startService, type RunningService } from '../../edge/service.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { freePort } from '../helpers/rtsp-camera.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SHOTS = join(ROOT, 'test-results', 'kiosk');
let dir: string;
let svc: RunningService;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: test/setup/install-tools.mjs installs Debian's chromium (npm test runs it)`);
  if (!existsSync(join(ROOT, 'dist', 'kiosk', 'ui', 'recording-view.js'))) throw new Error('the kiosk UI is not built: run `npm run build`');
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ce-kiosk-real-rec-'));
  const [mqtt, ws, http] = [await freePort(), await freePort(), await freePort()];
  const yaml = demoConfigYaml(join(dir, 'demo'), { recording: { uploadTokenFile: join(dir, 'none.token') } })
    .replace('port: 1883, websocketPort: 8083', `port: ${mqtt}, websocketPort: ${ws}`)
    .replace('port: 8080', `port: ${http}`)
    .replace('segmentSeconds: 10', 'segmentSeconds: 2')
    // Only by hand: at any hour the suite runs (the demo timetable may have a lesson in progress), the teacher starts it.
    .replace('rule: { mode: all }', 'rule: { mode: none }')
    // No district here: without an upload section the finished file simply stays on the appliance.
    .replace(/^ {2}upload: .*\n/m, '');
  if (!yaml.includes('segmentSeconds: 2') || !yaml.includes('mode: none') || /^ {2}upload:/m.test(yaml)) throw new Error('the demo recording section changed');
  const registry = builtinDrivers();
  svc = await startService({ config: loadConfigText(yaml, '(demo with camera, test ports)', registry), registry, logger: silentLogger(), clock: systemClock, demo: true });
  const creds = readFileSync(join(dir, 'demo', 'secrets', 'initial-credentials.txt'), 'utf8');
  const kioskPassword = /username: kiosk\s+role:\s+\S+\s+password: (\S+)/.exec(creds)?.[1];
  if (!kioskPassword) throw new Error('no kiosk user in the first-start credentials');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  page = await browser.newPage({ viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 1, locale: 'zh-CN' });
  await page.goto(`http://127.0.0.1:${svc.ports.api}/kiosk/`);
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

describe('the kiosk with the real recorder', () => {
  it('开始录制 records the demo camera; 停止录制, confirmed, finishes one playable MP4', async () => {
    const btn = page.locator('#rec-btn');
    await page.locator('#rec-btn[data-rec-ctl="start"]:not([disabled])').waitFor();
    await btn.click();
    const badge = page.locator('#rec .rec.recording[data-source="demo-cam"]');
    await badge.waitFor({ timeout: 20_000 });
    expect(svc.recorder!.status().sources['demo-cam']!.state).toBe('recording');
    // The badge's time ticks with the recording.
    await expect.poll(async () => await badge.textContent(), { timeout: 15_000, interval: 200 }).toMatch(/录制中 00:0[3-9]/);
    await page.screenshot({ path: join(SHOTS, 'kiosk-real-recorder-recording.png') });

    await page.locator('#rec-btn[data-rec-ctl="stop"]:not([disabled])').waitFor();
    await btn.click();
    await page.click('#confirm-ok');
    await page.locator('#rec .rec').first().waitFor({ state: 'detached', timeout: 30_000 });
    await page.locator('#rec-btn[data-rec-ctl="start"]').waitFor();

    const rows = svc.store.db.prepare<[], { lesson_id: string; state: string; file: string; started_by: string }>('SELECT lesson_id, state, file, started_by FROM recordings').all();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ state: 'finished', started_by: 'kiosk' });
    expect(rows[0]!.lesson_id).toMatch(/^demo-room\/\d{4}-\d{2}-\d{2}\/(rec-\d{6}|adhoc-\d+|p\d)$/);
    const p = await probe(rows[0]!.file);
    expect(p.durationMs!).toBeGreaterThan(3000);
    expect(svc.store.db.prepare("SELECT actor, role, result FROM audit_log WHERE action IN ('recording.start', 'recording.stop') ORDER BY id").all()).toEqual([
      { actor: 'kiosk', role: 'teacher', result: 'ok' },
      { actor: 'kiosk', role: 'teacher', result: 'ok' },
    ]);
  }, 90_000);
});
