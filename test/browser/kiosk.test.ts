/**
 * Issue 6 end to end: the kiosk UI in Debian's Chromium (playwright-core),
 * against the embedded demo room on a settable clock (Wednesday 2026-11-25,
 * 07:52: the first lesson's attendance window is open). Steps as a
 * first-time teacher: pair, lock and unlock with a PIN, start the class
 * (scene progress, the panel switching on), a card tap on the simulated
 * reader marking a student live, a correction with its confirmation, a
 * praise, the language switch, a teacher-card unlock, an unknown card.
 * Then the edge service is stopped and started again (same data dir, same
 * ports) while two actions have lost their replies: the page shows the
 * outage, recovers without a reload, retries with the same command ids, and
 * the store holds each action once; the same for a lost reply across a
 * reload of the page. Then the class ends, an unscheduled session starts
 * when nothing is scheduled, a silent panel is named as not responding, and
 * a second kiosk locks itself when idle (fake page clock). Also: the recording
 * indicator from a retained `recording` message on the bus, and a group award
 * (多选) whose lost reply is retried with the same group command id.
 * Screenshots go to test-results/kiosk/ (gitignored).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DateTime } from 'luxon';
import { chromium, type Browser, type Page, type Route } from 'playwright-core';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupAwardId } from '../../edge/behaviour/service.js';
import { demoConfigYaml } from '../../edge/config/demo.js';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { hashPassword } from '../../edge/security/passwords.js';
import { startService, type RunningService } from '../../edge/service.js';
import type { Clock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UI_DIR = join(ROOT, 'dist', 'kiosk', 'ui');
const SHOTS = join(ROOT, 'test-results', 'kiosk');
const ZONE = 'Asia/Shanghai';
const DAY = '2026-11-25';
const PIN = '2468';

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

let dir: string;
let yaml: string;
let svc: RunningService | undefined;
let browser: Browser;
let page: Page;
let base: string;
let techAuth: string;
let kioskPassword: string;
let techPassword: string;
const clock = new SettableClock(DateTime.fromISO(`${DAY}T07:52`, { zone: ZONE }).toMillis());

async function start(): Promise<RunningService> {
  const registry = builtinDrivers();
  const config = loadConfigText(yaml, '(demo config, test ports)', registry);
  const s = await startService({ config, registry, logger: silentLogger(), clock, demo: true, timing: { lessonTickMs: 50, attendanceTickMs: 50 } });
  for (let i = 0; i < 100 && !(s.devices.get('panel')?.online && s.devices.get('reader')?.online); i++) await new Promise((r) => setTimeout(r, 50));
  return s;
}

const api = async (path: string, init: { method?: string; body?: unknown } = {}) => {
  const res = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: techAuth, 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
};

const present = (uid: string) => api('/api/sim/reader/present', { method: 'POST', body: { uid } });
const shot = (name: string) => page.screenshot({ path: join(SHOTS, `kiosk-${name}.png`) });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: test/setup/install-tools.mjs installs Debian's chromium (npm test runs it)`);
  if (!existsSync(join(UI_DIR, 'index.html')) || !existsSync(join(UI_DIR, 'main.js'))) throw new Error(`${UI_DIR} is not built: run \`npm run build\``);
  mkdirSync(SHOTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ce-kiosk-'));
  const [mqtt, ws, http] = [await freePort(), await freePort(), await freePort()];
  yaml =
    demoConfigYaml(join(dir, 'demo'))
      .replace('port: 1883, websocketPort: 8083', `port: ${mqtt}, websocketPort: ${ws}`)
      .replace('port: 8080', `port: ${http}`)
      // The demo config has no camera unless asked for: this test publishes the recording messages itself.
      .replace('options: { format: rdm6300 }', 'options: { format: rdm6300, debounceMs: 300 }') +
    `kiosk:\n  idleLockSeconds: 600\n  pins:\n    - { teacherId: t-wang, pinHash: ${JSON.stringify(await hashPassword(PIN))} }\n`;
  svc = await start();
  base = `http://127.0.0.1:${svc.ports.api}`;
  const creds = readFileSync(join(dir, 'demo', 'secrets', 'initial-credentials.txt'), 'utf8');
  const pw = (user: string) => {
    const m = new RegExp(`username: ${user}\\s+role:\\s+\\S+\\s+password: (\\S+)`).exec(creds);
    if (!m) throw new Error(`no ${user} in the first-start credentials`);
    return m[1]!;
  };
  techAuth = `Basic ${Buffer.from(`technician:${pw('technician')}`).toString('base64')}`;
  kioskPassword = pw('kiosk');
  techPassword = pw('technician');
  // The panel is off before the teacher arrives.
  await api('/api/devices/panel/commands', { method: 'POST', body: { command: 'power', args: { on: false } } });

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 }, locale: 'zh-CN' });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await svc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Current {
  phase: string;
  lesson: { lessonId: string; course: string; classId: string } | null;
  attendance: { students: Array<{ studentId: string; name: string; status: string | null }> } | null;
}

describe('the kiosk as a first-time teacher uses it', () => {
  let lessonId = '';
  let students: Array<{ studentId: string; name: string; uid: string }> = [];

  it('is served under /kiosk/ with the CSP and no way out of its directory', async () => {
    const res = await fetch(`${base}/kiosk/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('cache-control')).toBe('no-cache');
    for (const p of ['/kiosk/../package.json', '/kiosk/%2e%2e/%2e%2e/package.json', '/kiosk/..%2f..%2fpackage.json', '/kiosk/nope.js']) {
      expect((await fetch(`${base}${p}`)).status, p).toBe(404);
    }
  });

  it('pairs once with the kiosk credential, then unlocks with a teacher PIN', async () => {
    await page.goto(`${base}/kiosk/`);
    await page.locator('#pair-pass').waitFor();
    expect(await page.locator('#pair h2').textContent()).toBe('配对教室终端');
    await page.fill('#pair-pass', 'wrong-password');
    await page.click('#pair-submit');
    await page.locator('#pair .error').waitFor();
    await page.fill('#pair-pass', kioskPassword);
    await page.click('#pair-submit');
    await page.locator('#pair').waitFor({ state: 'hidden' });
    await page.locator('#conn.online').waitFor();

    await page.click('#lock-btn');
    await page.locator('#lock .pinpad').waitFor();
    await shot('lock');
    for (const d of '1111') await page.click(`#lock [data-key="${d}"]`);
    await page.click('#pin-ok');
    await page.locator('#lock .error').waitFor();
    expect(await page.locator('#lock .error').textContent()).toBe('密码错误，请重试');
    for (const d of PIN) await page.click(`#lock [data-key="${d}"]`);
    await page.click('#pin-ok');
    await page.locator('#lock').waitFor({ state: 'hidden' });
    expect(await page.locator('#toast').textContent()).toBe('王建国，欢迎！');
  });

  it('shows the coming lesson and starts the class with per-step progress; the panel switches on', async () => {
    const cur = (await api('/api/lessons/current')) as unknown as Current;
    expect(cur.phase).toBe('window-open');
    lessonId = cur.lesson!.lessonId;
    const roster = (await api('/api/kiosk/snapshot')) as unknown as { attendance: { students: Array<{ studentId: string; name: string }> } };
    const nums = roster.attendance.students.map((s) => s);
    // Demo cards: student s2026NNN has card 1A2B3C + NNN in hex (edge/lessons/demo-data.ts).
    students = nums.map((s) => ({ ...s, uid: `1A2B3C${Number(s.studentId.slice(5)).toString(16).toUpperCase().padStart(4, '0')}` }));
    expect(students.length).toBe(16);
    await page.locator('#lesson-course', { hasText: cur.lesson!.course }).waitFor();
    expect(await page.locator('#time-left').textContent()).toContain('考勤已开放');

    await page.click('[data-tab="devices"]');
    await page.locator('[data-device="panel"] [data-ctl="power-off"][aria-pressed="true"]').waitFor();
    await page.click('#start');
    await page.locator('.scene-run[data-scene="class-start"][data-done="1"]').waitFor();
    expect(await page.locator('.scene-run .step.ok').count()).toBe(2);
    expect(await page.locator('.scene-run .scene-ok').textContent()).toBe('全部完成');
    await page.locator('[data-device="panel"] [data-ctl="power-on"][aria-pressed="true"]').waitFor();
    await page.locator('[data-device="panel"] [data-ctl="input-hdmi1"][aria-pressed="true"]').waitFor();
    expect(svc!.devices.get('panel')?.state.power).toBe('on');
    expect(((await api('/api/lessons/current')) as unknown as Current).phase).toBe('in-progress');
  });

  it('marks a student present live when the card is tapped', async () => {
    await page.click('[data-tab="attendance"]');
    const s = students[0]!;
    await page.locator(`[data-student="${s.studentId}"][data-status="unmarked"]`).waitFor();
    await present(s.uid);
    await page.locator(`[data-student="${s.studentId}"][data-status="present"]`).waitFor({ timeout: 5000 });
    expect(await page.locator('[data-count="present"] b').textContent()).toBe('1');
    await present('DEADBEEF00');
    await page.locator('.unknown-card', { hasText: 'DEADBEEF00' }).waitFor();
  });

  it('corrects a mark only after the confirmation, and awards praise', async () => {
    const s = students[1]!;
    await page.click(`[data-student="${s.studentId}"]`);
    await page.click('[data-mark="late"]');
    await page.locator('#confirm-cancel').click();
    expect(await page.locator(`[data-student="${s.studentId}"]`).getAttribute('data-status')).toBe('unmarked');
    await page.click(`[data-student="${s.studentId}"]`);
    await page.click('[data-mark="late"]');
    expect(await page.locator('.confirm .question').textContent()).toBe(`将「${s.name}」的考勤改为「迟到」？`);
    await page.click('#confirm-ok');
    await page.locator(`[data-student="${s.studentId}"][data-status="late"]`).waitFor();
    const corr = svc!.store.db.prepare('SELECT new_status, actor FROM attendance_corrections WHERE lesson_id = ? AND student_id = ?').all(lessonId, s.studentId);
    expect(corr).toEqual([{ new_status: 'late', actor: 'kiosk' }]);

    await page.click(`[data-student="${s.studentId}"]`);
    await page.click('[data-category="answer"]');
    await page.locator(`[data-student="${s.studentId}"] .points.plus`, { hasText: '+1' }).waitFor();
    await shot('attendance');
  });

  it('shows clicker answers as they arrive', async () => {
    // Clickers publish answers on the bus (here as the technician, who may publish behaviour).
    const bus = await mqtt.connectAsync(`mqtt://127.0.0.1:${svc!.ports.mqtt}`, { username: 'technician', password: techPassword, reconnectPeriod: 0 });
    try {
      const answers: Array<[number, string]> = [[0, 'A'], [1, 'A'], [2, 'B']];
      for (const [i, answer] of answers) {
        const msg = { kind: 'answer', questionId: 'q1', answer, studentId: students[i]!.studentId, id: `clicker-${i}`, ts: clock.now() };
        await bus.publishAsync('classroom/demo-room/behaviour', JSON.stringify(msg), { qos: 1 });
      }
    } finally {
      await bus.endAsync();
    }
    await page.locator('#clicker [data-answer="A"]', { hasText: '2' }).waitFor();
    expect(await page.locator('#clicker [data-answer="B"]').textContent()).toBe('B 1');
    expect(await page.locator('#clicker .answered').textContent()).toBe('已答 3/16 人');
  });

  it('shows the recording state from the bus in the top bar: 录制中 with a ticking time, an error, nothing when idle', async () => {
    const topic = 'classroom/demo-room/recording';
    const rejected = async () => (await svc!.metrics.registry.metrics()).match(/classroom_edge_messages_rejected_total\{topic="recording",reason="(\w+)"\} (\d+)/g) ?? [];
    // No recorder has published: no indicator, and no start/stop buttons (no recording command exists yet).
    expect(await page.locator('#rec .rec').count()).toBe(0);
    expect(await page.locator('[data-rec-ctl]').count()).toBe(0);
    // As the recorder (supervised by the edge service) will publish it: retained, from the service itself.
    const since = clock.now() - 754_000;
    await svc!.broker.publish(topic, { sources: { main: { state: 'recording', lessonId, since } } }, { retain: true });
    const badge = page.locator('#rec .rec.recording[data-source="main"]');
    await badge.waitFor();
    expect(await badge.textContent()).toMatch(/^● 录制中 \d\d:\d\d$/);
    const seconds = (text: string | null) => {
      const [m, s] = (text ?? '').split(':').map(Number);
      return m! * 60 + s!;
    };
    const first = await page.locator('#rec .rec-time').textContent();
    expect(seconds(first)).toBeGreaterThanOrEqual(754);
    expect(seconds(first)).toBeLessThan(754 + 30);
    // It ticks (the page's clock; the edge's clock is held still in this test).
    await expect.poll(() => page.locator('#rec .rec-time').textContent(), { timeout: 5000 }).not.toBe(first);
    // The snapshot carries it, for a kiosk that connects later.
    expect(((await api('/api/kiosk/snapshot')) as { recording: unknown }).recording).toEqual({ sources: { main: { state: 'recording', lessonId, since } } });
    // Malformed messages are ignored (the indicator stays) and counted.
    await svc!.broker.publish(topic, { sources: { main: { state: 'paused', lessonId, since } } }, { retain: true });
    await svc!.broker.publish(topic, Buffer.from('not json'), { retain: true });
    await expect.poll(rejected).toEqual(['classroom_edge_messages_rejected_total{topic="recording",reason="schema"} 1', 'classroom_edge_messages_rejected_total{topic="recording",reason="json"} 1']);
    expect(await badge.isVisible()).toBe(true);
    await svc!.broker.publish(topic, { sources: { main: { state: 'error', lessonId, since } } }, { retain: true });
    await page.locator('#rec .rec.error[data-source="main"]').waitFor();
    expect(await page.locator('#rec .rec').allTextContents()).toEqual(['录制异常']);
    await shot('recording-error');
    await svc!.broker.publish(topic, { sources: { main: { state: 'idle', lessonId: null, since: null } } }, { retain: true });
    await page.locator('#rec .rec').first().waitFor({ state: 'detached' });
    expect(await page.locator('#rec').textContent()).toBe('');
  });

  it('switches to English and back at a touch', async () => {
    await page.click('#lang');
    expect(await page.locator('#start').textContent()).toBe('Start class');
    expect(await page.locator('[data-tab="attendance"]').textContent()).toBe('Attendance');
    expect(await page.locator('html').getAttribute('lang')).toBe('en');
    await shot('english');
    await page.click('#lang');
    expect(await page.locator('#start').textContent()).toBe('上课');
  });

  it('unlocks with a teacher card tap', async () => {
    await page.click('#lock-btn');
    await page.locator('#lock').waitFor();
    await present('7E10000002');
    await page.locator('#lock').waitFor({ state: 'hidden' });
    expect(await page.locator('#toast').textContent()).toBe('李秀英，欢迎！');
  });

  it('shows the room readings and sends a help request (报修) after a confirmation', async () => {
    await page.click('[data-tab="environment"]');
    await page.locator('[data-metric="temperature"] b').waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-metric="temperature"] span').textContent()).toBe('温度');
    await page.click('#help');
    expect(await page.locator('.confirm .question').textContent()).toBe('向技术人员发送报修请求？');
    await page.click('#confirm-ok');
    await page.locator('#toast', { hasText: '报修已发送' }).waitFor();
    await page.locator('.alerts [data-code="help-request"]').waitFor();
    const audit = svc!.store.db.prepare(`SELECT actor FROM audit_log WHERE action = 'kiosk.help-request'`).all();
    expect(audit).toEqual([{ actor: 'kiosk' }]);
    // A technician acknowledged it in the district (sync/alert-acks.ts puts this on the bus): the teacher sees it was seen.
    await svc!.broker.publish('classroom/demo-room/alert', { id: 'ack-1', ts: Date.now(), severity: 'info', code: 'help-acknowledged', message: 'technician wang has seen the help request' });
    expect(await page.locator('.alerts [data-code="help-acknowledged"] b').textContent()).toBe('技术人员已收到报修');
    await page.click('[data-tab="attendance"]');
  }, 30_000);

  it('survives a restart of the edge service: shows the outage, recovers without a reload, applies lost-reply retries once', async () => {
    const s = students[2]!;
    const seen = new Map<string, number>(); // command id -> attempts that reached the edge
    let firstPraise: string | undefined;
    let firstVolume: string | undefined;
    const applied: Array<{ which: string; status: number }> = [];
    // The first praise and the first volume command reach the edge, but their replies are lost.
    const loseReply = (which: 'praise' | 'volume') => async (route: Route) => {
      const id = (route.request().postDataJSON() as { commandId: string }).commandId;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      const first = which === 'praise' ? firstPraise === undefined : firstVolume === undefined;
      if (!first) return route.continue();
      if (which === 'praise') firstPraise = id;
      else firstVolume = id;
      const res = await route.fetch();
      applied.push({ which, status: res.status() });
      return route.abort('connectionreset');
    };
    await page.route('**/api/lessons/*/behaviour', loseReply('praise'));
    await page.route('**/api/kiosk/devices/panel/commands', loseReply('volume'));
    const reloads: string[] = [];
    page.on('framenavigated', (f) => reloads.push(f.url()));
    // Replies the page got for the retried commands, from the restarted service.
    let restartedAt = Infinity;
    const retried: Array<{ id: string; status: number; replayed: string | null; body: unknown }> = [];
    page.on('response', (res) => {
      const req = res.request();
      if (Date.now() < restartedAt || req.method() !== 'POST' || !/\/(behaviour|commands)$/.test(new URL(res.url()).pathname)) return;
      void res.json().then((body: unknown) => retried.push({ id: (req.postDataJSON() as { commandId: string }).commandId, status: res.status(), replayed: res.headers()['x-command-replayed'] ?? null, body }));
    });

    await page.click(`[data-student="${s.studentId}"]`);
    await page.click('[data-category="teamwork"]');
    await page.locator('#toast', { hasText: '网络中断' }).waitFor();
    await page.click('[data-tab="devices"]');
    const volume0 = svc!.devices.get('panel')?.state.volume as number;
    await page.click('[data-device="panel"] [data-ctl="volume-up"]');
    // Both reached the edge and were applied there before it stops.
    await expect.poll(() => applied.length).toBe(2);
    expect(applied.map((a) => a.status)).toEqual([201, 200]);
    await svc!.stop();
    svc = undefined;
    await page.locator('#outage').waitFor();
    await page.locator('#conn.offline').waitFor();
    expect(await page.locator('#outage').textContent()).toContain('教室服务暂时不可用');
    await shot('outage');
    restartedAt = Date.now();
    svc = await start();
    await page.locator('#outage').waitFor({ state: 'hidden', timeout: 20_000 });
    await page.locator('#conn.online').waitFor();
    // The retries went out with the same ids and were answered from the stored results.
    await expect.poll(() => retried.length, { timeout: 10_000 }).toBe(2);
    expect(retried.find((r) => r.id === firstPraise)).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(retried.find((r) => r.id === firstVolume)).toMatchObject({ status: 200, replayed: '1', body: { ok: true } });
    expect(seen.get(firstPraise!)).toBeGreaterThanOrEqual(2);
    const db = svc.store.db;
    expect(db.prepare('SELECT count(*) AS n FROM behaviour_events WHERE dedup_key = ?').get(`award:${firstPraise}`)).toEqual({ n: 1 });
    expect(db.prepare("SELECT count(*) AS n FROM behaviour_events WHERE student_id = ? AND kind = 'praise'").get(s.studentId)).toEqual({ n: 1 });
    expect(db.prepare('SELECT count(*) AS n FROM kiosk_commands WHERE command_id = ?').get(firstVolume)).toEqual({ n: 1 });
    expect(db.prepare(`SELECT count(*) AS n FROM audit_log WHERE action = 'device.command' AND args LIKE '%"volume"%'`).get()).toEqual({ n: 1 });
    // The stored reply of the volume command (the demo's simulated panel itself starts afresh with the service).
    const stored = db.prepare('SELECT status, response FROM kiosk_commands WHERE command_id = ?').get(firstVolume) as { status: number; response: string };
    expect(stored.status).toBe(200);
    expect(JSON.parse(stored.response)).toMatchObject({ ok: true, state: { volume: Math.min(100, volume0 + 5) } });
    // Nothing reloaded the page; the lesson and its marks are back.
    expect(reloads).toEqual([]);
    await page.click('[data-tab="attendance"]');
    await page.locator(`[data-student="${students[0]!.studentId}"][data-status="present"]`).waitFor();
    await page.locator(`[data-student="${s.studentId}"] .points.plus`, { hasText: '+1' }).waitFor();
    await page.unroute('**/api/lessons/*/behaviour');
    await page.unroute('**/api/kiosk/devices/panel/commands');
  }, 90_000);

  it('keeps a command whose reply was lost across a reload of the page, and it is applied once', async () => {
    const s = students[3]!;
    const attempts: string[] = [];
    const replies: Array<{ status: number; body: unknown }> = [];
    let lost = false;
    await page.route('**/api/lessons/*/behaviour', async (route) => {
      attempts.push((route.request().postDataJSON() as { commandId: string }).commandId);
      if (lost) {
        const res = await route.fetch();
        replies.push({ status: res.status(), body: await res.json() });
        return route.fulfill({ response: res });
      }
      lost = true;
      await route.fetch();
      return route.abort('connectionreset');
    });
    await page.click(`[data-student="${s.studentId}"]`);
    await page.click('[data-category="focus"]');
    await expect.poll(() => attempts.length).toBe(1);
    await page.reload(); // e.g. the Electron shell reloading the kiosk
    await page.locator('#lock').waitFor(); // a reloaded kiosk starts locked
    await expect.poll(() => replies.length, { timeout: 10_000 }).toBe(1);
    expect(attempts).toEqual([attempts[0], attempts[0]]);
    expect(replies[0]).toMatchObject({ status: 200, body: { duplicate: true } });
    expect(svc!.store.db.prepare("SELECT count(*) AS n FROM behaviour_events WHERE student_id = ? AND kind = 'praise'").get(s.studentId)).toEqual({ n: 1 });
    await page.unroute('**/api/lessons/*/behaviour');
    for (const d of PIN) await page.click(`#lock [data-key="${d}"]`);
    await page.click('#pin-ok');
    await page.locator('#lock').waitFor({ state: 'hidden' });
    await page.locator(`[data-student="${s.studentId}"] .points.plus`, { hasText: '+1' }).waitFor();
  });

  it('awards one category to three selected students in one action; a retried group command awards nobody twice', async () => {
    const group = students.slice(4, 7);
    const attempts: string[] = [];
    const replies: Array<{ status: number; body: unknown }> = [];
    // The edge applies the first attempt but its reply is lost: the page sends it again with the same group command id.
    await page.route('**/api/lessons/*/behaviour/students', async (route) => {
      attempts.push((route.request().postDataJSON() as { commandId: string }).commandId);
      const res = await route.fetch();
      if (attempts.length === 1) return route.abort('connectionreset');
      replies.push({ status: res.status(), body: await res.json() });
      return route.fulfill({ response: res });
    });
    await page.click('#group-select');
    for (const s of group) await page.click(`[data-student="${s.studentId}"]`);
    expect(await page.locator('#group-count').textContent()).toBe('已选 3 人');
    expect(await page.locator('[data-student][aria-pressed="true"]').count()).toBe(3);
    await shot('group-select');
    await page.click('#group-award');
    await page.click('.group-sheet [data-category="answer"]');
    expect(await page.locator('.confirm .question').textContent()).toBe('为 3 名学生记录「积极回答」？');
    await page.click('#confirm-ok');
    await expect.poll(() => replies.length, { timeout: 15_000 }).toBe(1);
    expect(attempts).toEqual([attempts[0], attempts[0]]);
    expect(replies[0]).toMatchObject({ status: 200, body: { awarded: 0, duplicates: 3 } });
    await page.locator('#toast', { hasText: '已为 3 名学生记录「积极回答」' }).waitFor();
    for (const s of group) await page.locator(`[data-student="${s.studentId}"] .points.plus`, { hasText: '+1' }).waitFor();
    expect(await page.locator(`[data-student="${students[7]!.studentId}"] .points`).count()).toBe(0);
    const db = svc!.store.db;
    const once = () => {
      for (const s of group) {
        expect(db.prepare('SELECT count(*) AS n FROM behaviour_events WHERE dedup_key = ?').get(`award:${groupAwardId(attempts[0]!, s.studentId)}`)).toEqual({ n: 1 });
        expect(db.prepare("SELECT count(*) AS n FROM behaviour_events WHERE student_id = ? AND kind = 'praise'").get(s.studentId)).toEqual({ n: 1 });
      }
    };
    once();
    // The same group command id once more (a later retry): nobody is awarded again.
    const again = await api(`/api/lessons/${encodeURIComponent(lessonId)}/behaviour/students`, {
      method: 'POST',
      body: { studentIds: group.map((s) => s.studentId), categoryId: 'answer', commandId: attempts[0] },
    });
    expect(again).toMatchObject({ awarded: 0, duplicates: 3 });
    once();
    await page.unroute('**/api/lessons/*/behaviour/students');
  }, 30_000);

  it('ends the class: the class-end scene runs and the panel switches off', async () => {
    await page.click('#end');
    await page.locator('.scene-run[data-scene="class-end"][data-done="1"]').waitFor();
    expect(await page.locator('.scene-run .scene-ok').textContent()).toBe('全部完成');
    expect(svc!.devices.get('panel')?.state.power).toBe('off');
    const cur = (await api('/api/lessons/current')) as unknown as Current;
    expect(cur.lesson?.lessonId ?? null).not.toBe(lessonId);
    await shot('class-ended');
  });

  it('starts an unscheduled session when nothing is scheduled', async () => {
    expect(await page.locator('#lesson-line strong').first().textContent()).toBe('当前没有课程');
    await page.click('#start');
    await page.locator('.adhoc').waitFor();
    await page.click('[data-class-id="g10-2"]');
    await page.click('[data-course="自习"]');
    await page.click('[data-minutes="40"]');
    await page.click('#adhoc-start');
    await page.locator('#lesson-course', { hasText: '自习' }).waitFor();
    expect(await page.locator('#lesson-line').textContent()).toContain('临时课程');
    // The teacher who unlocked last (王建国's PIN, after the reload) teaches it; the lesson clock ran class-start.
    expect(svc!.classroom.lessons.current()).toMatchObject({ adHoc: true, classId: 'g10-2', course: '自习', teacherId: 't-wang', endsAt: clock.now() + 40 * 60_000 });
    await page.locator('.scene-run[data-scene="class-start"][data-done="1"] .scene-ok').waitFor();
    await page.locator('[data-count="expected"] b', { hasText: '16' }).waitFor();
  });

  it('names the device that did not respond', async () => {
    // The panel stops answering (its simulator goes silent); 上课 runs the class-start scene.
    await api('/api/sim/panel/power-cut', { method: 'POST', body: { silent: true } });
    const before = await page.locator('.scene-run').getAttribute('data-run');
    await page.click('#start');
    await page.locator(`.scene-run[data-scene="class-start"][data-done="1"]:not([data-run="${before}"])`).waitFor({ timeout: 20_000 });
    expect(await page.locator('.scene-run .step.failed .step-state').first().textContent()).toBe('未响应');
    expect(await page.locator('.scene-run .failed-device').allTextContents()).toEqual(['交互平板未响应']);
    await shot('device-failed');
  }, 40_000);

  it('locks itself after kiosk.idleLockSeconds without a touch (a second kiosk, on a fake page clock)', async () => {
    const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await other.clock.install();
      await other.goto(`${base}/kiosk/`);
      await other.fill('#pair-pass', kioskPassword);
      await other.click('#pair-submit');
      await other.locator('#conn.online').waitFor();
      expect(await other.locator('#lock').isHidden()).toBe(true);
      await other.clock.fastForward(590_000);
      expect(await other.locator('#lock').isHidden()).toBe(true);
      await other.clock.fastForward(15_000);
      await other.locator('#lock .pinpad').waitFor();
    } finally {
      await other.close();
    }
  });
});
