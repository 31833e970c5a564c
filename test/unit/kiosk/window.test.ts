import { afterEach, describe, expect, it, vi } from 'vitest';
import { createKioskWindow, KIOSK_CSP, KioskUrlError } from '../../../kiosk/main/window.js';
import { fakeElectron, FakeEvent } from './fakes.js';

const URL_ = 'http://127.0.0.1:8080/kiosk/';
const PRELOAD = '/opt/classroom-edge/dist/kiosk/preload/preload.cjs';

function open(production = true) {
  const f = fakeElectron();
  const logs: string[] = [];
  const kw = createKioskWindow(f.electron, {
    url: URL_,
    production,
    preloadPath: PRELOAD,
    version: '1.2.3',
    locale: 'en',
    fetch: async () => ({ ok: false }),
    log: (level, m) => logs.push(`${level}: ${m}`),
  });
  return { ...f, kw, logs, win: f.window() };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('createKioskWindow: window settings', () => {
  it('passes exactly the locked-down BrowserWindow options', () => {
    const { win } = open(true);
    expect(win.options).toEqual({
      fullscreen: true,
      kiosk: true,
      autoHideMenuBar: true,
      backgroundColor: '#f4f6f8',
      title: 'classroom-edge',
      webPreferences: {
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        nodeIntegrationInSubFrames: false,
        webviewTag: false,
        devTools: false,
        preload: PRELOAD,
        spellcheck: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        experimentalFeatures: false,
        navigateOnDragDrop: false,
        safeDialogs: true,
        additionalArguments: ['--kiosk-version=1.2.3', '--kiosk-locale=en'],
      },
    });
  });

  it('allows devtools only outside production', () => {
    expect(open(false).win.options.webPreferences.devTools).toBe(true);
    expect(open(true).win.options.webPreferences.devTools).toBe(false);
  });

  it('loads the kiosk URL first', () => {
    const { win } = open();
    expect(win.loads).toEqual([URL_]);
  });

  it('refuses a kiosk URL that is not http(s)', () => {
    const f = fakeElectron();
    for (const url of ['file:///etc/passwd', 'data:text/html,x', 'not a url']) {
      expect(() => createKioskWindow(f.electron, { url, production: true, preloadPath: PRELOAD })).toThrow(KioskUrlError);
    }
  });
});

describe('createKioskWindow: Content-Security-Policy', () => {
  it('is the exact policy', () => {
    expect(KIOSK_CSP).toBe(
      "default-src 'self'; connect-src 'self' ws://127.0.0.1:*; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
        "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
  });

  it('is added to every response of the kiosk origin, other headers kept', () => {
    const { session } = open();
    for (const url of [URL_, 'http://127.0.0.1:8080/kiosk/app.js', 'http://127.0.0.1:8080/api/devices']) {
      const r = session.respond(url, { 'Content-Type': ['text/html'] });
      expect(r.responseHeaders).toEqual({ 'Content-Type': ['text/html'], 'Content-Security-Policy': [KIOSK_CSP] });
    }
  });

  it('keeps a policy the server sends (after ours: both are enforced) and leaves one header', () => {
    const { session } = open();
    const r = session.respond(URL_, { 'content-security-policy': ["script-src 'none'"] });
    expect(r.responseHeaders).toEqual({ 'Content-Security-Policy': [KIOSK_CSP, "script-src 'none'"] });
  });

  it('leaves responses of other origins alone (the port is part of the origin)', () => {
    const { session } = open();
    expect(session.respond('http://127.0.0.1:9999/', { a: ['b'] })).toEqual({});
    expect(session.respond('https://example.com/', { a: ['b'] })).toEqual({});
  });
});

describe('createKioskWindow: navigation, windows, webviews, permissions', () => {
  it('allows navigation and redirects within the kiosk origin', () => {
    const wc = open().win.webContents;
    expect(wc.navigate('will-navigate', 'http://127.0.0.1:8080/kiosk/lesson')).toBe(false);
    expect(wc.navigate('will-redirect', 'http://127.0.0.1:8080/kiosk/login')).toBe(false);
  });

  it('prevents navigation and redirects to any other origin', () => {
    const { win, logs } = open();
    const wc = win.webContents;
    for (const target of ['https://example.com/', 'http://127.0.0.1:8081/kiosk/', 'http://localhost:8080/kiosk/', 'file:///etc/passwd', 'javascript:alert(1)', 'garbage']) {
      expect(wc.navigate('will-navigate', target), target).toBe(true);
      expect(wc.navigate('will-redirect', target), target).toBe(true);
    }
    expect(logs.some((l) => l.includes('navigation to https://example.com/ refused'))).toBe(true);
  });

  it('uses the event url when Electron no longer passes the second argument', () => {
    const wc = open().win.webContents;
    const e = new FakeEvent('https://example.com/');
    wc.emit('will-navigate', e);
    expect(e.prevented).toBe(true);
  });

  it('denies every new window, same origin included', () => {
    const wc = open().win.webContents;
    expect(wc.openHandler?.({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
    expect(wc.openHandler?.({ url: URL_ })).toEqual({ action: 'deny' });
  });

  it('prevents attaching webviews', () => {
    const wc = open().win.webContents;
    const e = new FakeEvent();
    wc.emit('will-attach-webview', e);
    expect(e.prevented).toBe(true);
  });

  it('denies every permission request and check', () => {
    const { session } = open();
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'fullscreen', 'hid']) {
      const answers: boolean[] = [];
      session.requestHandler?.({}, permission, (g) => answers.push(g));
      expect(answers, permission).toEqual([false]);
      expect(session.checkHandler?.({}, permission), permission).toBe(false);
    }
  });
});

describe('createKioskWindow: production lock-down', () => {
  it('closes devtools when they open, disables the context menu and removes the application menu', () => {
    const { win, menus } = open(true);
    win.webContents.emit('devtools-opened');
    expect(win.webContents.devToolsClosed).toBe(1);
    const e = new FakeEvent();
    win.webContents.emit('context-menu', e);
    expect(e.prevented).toBe(true);
    expect(menus).toEqual([null]);
  });

  it('leaves devtools, context menu and application menu alone in development', () => {
    const { win, menus } = open(false);
    win.webContents.emit('devtools-opened');
    expect(win.webContents.devToolsClosed).toBe(0);
    expect(win.webContents.count('context-menu')).toBe(0);
    expect(menus).toEqual([]);
  });
});
