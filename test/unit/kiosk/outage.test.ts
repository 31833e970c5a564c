import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OUTAGE_URL, outagePageCsp, outagePageHtml } from '../../../kiosk/main/outage.js';
import { createKioskWindow } from '../../../kiosk/main/window.js';
import { fakeElectron } from './fakes.js';

const URL_ = 'http://127.0.0.1:8080/kiosk/';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A kiosk window whose health probe answers from `healthy()`; records probe times. */
function open(healthy: () => boolean) {
  const f = fakeElectron();
  const probes: { url: string; at: number }[] = [];
  const logs: string[] = [];
  const kw = createKioskWindow(f.electron, {
    url: URL_,
    production: true,
    preloadPath: '/p/preload.cjs',
    fetch: async (url) => {
      probes.push({ url, at: Date.now() });
      if (!healthy()) throw new Error('ECONNREFUSED');
      return { ok: true };
    },
    log: (level, m) => logs.push(`${level}: ${m}`),
  });
  return { ...f, kw, win: f.window(), probes, logs, t0: Date.now() };
}

describe('outage page', () => {
  it('is a data: URL with the zh-CN notice and English below, and nothing remote', () => {
    expect(OUTAGE_URL.startsWith('data:text/html;charset=utf-8,')).toBe(true);
    const html = decodeURIComponent(OUTAGE_URL.slice('data:text/html;charset=utf-8,'.length));
    expect(html).toBe(outagePageHtml());
    const zh = html.indexOf('服务正在重启，请稍候…');
    const en = html.indexOf('The classroom service is restarting, please wait…');
    expect(zh).toBeGreaterThan(0);
    expect(en).toBeGreaterThan(zh);
    expect(html).not.toMatch(/\b(src|href)=|url\(|@import|https?:\/\//i);
    expect(html).not.toMatch(/<script/i);
  });

  it("has a CSP that allows only its own inline style, by that style's hash", () => {
    const html = outagePageHtml();
    const style = /<style>(.*)<\/style>/.exec(html)?.[1] ?? '';
    const hash = createHash('sha256').update(style, 'utf8').digest('base64');
    expect(outagePageCsp()).toBe(`default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'; form-action 'none'`);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${outagePageCsp()}">`);
  });
});

describe('outage handling', () => {
  it('shows the outage page when the kiosk URL fails, probes /health 1, 2, 4, 8, 15, 15 s apart, reloads once health answers', async () => {
    let up = false;
    const { win, probes, kw, logs, t0 } = open(() => up);
    win.failLoad(URL_);
    expect(win.loads).toEqual([URL_, OUTAGE_URL]);
    expect(kw.recovery.state()).toBe('outage');

    await vi.advanceTimersByTimeAsync(999);
    expect(probes).toEqual([]);
    await vi.advanceTimersByTimeAsync(1 + 2_000 + 4_000 + 8_000 + 15_000 + 15_000);
    expect(probes.map((p) => p.at - t0)).toEqual([1_000, 3_000, 7_000, 15_000, 30_000, 45_000]);
    expect(probes.every((p) => p.url === 'http://127.0.0.1:8080/health')).toBe(true);
    expect(win.loads).toEqual([URL_, OUTAGE_URL]); // no reload while health is down

    up = true;
    await vi.advanceTimersByTimeAsync(15_000);
    expect(win.loads).toEqual([URL_, OUTAGE_URL, URL_]);
    win.finishLoad();
    expect(kw.recovery.state()).toBe('ready');
    expect(logs.filter((l) => l.startsWith('warn: kiosk page unavailable'))).toHaveLength(1);
    expect(logs.filter((l) => l === 'info: kiosk page loaded again')).toHaveLength(1);

    // Up again: no more probes.
    const n = probes.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probes).toHaveLength(n);
  });

  it('treats a non-2xx health answer as down', async () => {
    const f = fakeElectron();
    let status = 503;
    createKioskWindow(f.electron, {
      url: URL_,
      production: true,
      preloadPath: '/p',
      fetch: async () => ({ ok: status < 300 }),
      log: () => undefined,
    });
    const win = f.window();
    win.failLoad(URL_);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(win.loads).toEqual([URL_, OUTAGE_URL]);
    status = 200;
    await vi.advanceTimersByTimeAsync(2_000);
    expect(win.loads).toEqual([URL_, OUTAGE_URL, URL_]);
  });

  it('reloads after a renderer crash once health answers', async () => {
    const { win, kw } = open(() => true);
    win.finishLoad();
    expect(kw.recovery.state()).toBe('ready');
    win.webContents.emit('render-process-gone', {}, { reason: 'crashed', exitCode: 139 });
    expect(win.loads).toEqual([URL_, OUTAGE_URL]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(win.loads).toEqual([URL_, OUTAGE_URL, URL_]);
  });

  it('keeps backing off when the reload after a healthy probe fails again, and resets once the page loads', async () => {
    const { win, kw } = open(() => true);
    win.failLoad(URL_);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(win.loads).toHaveLength(3);
    win.failLoad(URL_); // health said yes, the page still failed
    expect(kw.recovery.pendingDelayMs()).toBe(2_000);
    await vi.advanceTimersByTimeAsync(2_000);
    win.finishLoad();
    win.failLoad(URL_); // a later, new outage starts at 1 s again
    expect(kw.recovery.pendingDelayMs()).toBe(1_000);
  });

  it('ignores aborted loads, subframe failures, failures of other URLs and the outage page loading', async () => {
    const { win, kw, probes } = open(() => true);
    win.failLoad(URL_, -3);
    win.failLoad(URL_, -102, false);
    win.failLoad('https://example.com/', -102);
    expect(kw.recovery.state()).toBe('loading');
    win.failLoad(URL_);
    win.failLoad(URL_); // a second report of the same outage does not stack probes
    expect(win.loads).toEqual([URL_, OUTAGE_URL]);
    win.finishLoad(); // the outage page finished loading: still an outage
    expect(kw.recovery.state()).toBe('outage');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(probes).toHaveLength(1);
  });

  it('gives up a hanging probe after its timeout and tries again later', async () => {
    const f = fakeElectron();
    let calls = 0;
    createKioskWindow(f.electron, {
      url: URL_,
      production: true,
      preloadPath: '/p',
      log: () => undefined,
      fetch: (_url, init) => {
        calls++;
        return new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      },
    });
    const win = f.window();
    win.failLoad(URL_);
    await vi.advanceTimersByTimeAsync(1_000 + 3_000 + 2_000);
    expect(calls).toBe(2);
    expect(win.loads).toEqual([URL_, OUTAGE_URL]);
  });

  it('stops probing when the window is closed', async () => {
    const { win, probes } = open(() => false);
    win.failLoad(URL_);
    win.emit('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(probes).toEqual([]);
  });
});
