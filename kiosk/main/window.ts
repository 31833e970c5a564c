/**
 * The kiosk window: a fullscreen, locked-down Electron BrowserWindow showing
 * the kiosk UI that the edge service serves on loopback (shared/DESIGN.md
 * sections 1 and 6; docs/kiosk.md explains each setting).
 *
 * Written against `ElectronLike` (electron-like.ts) so that every setting is
 * unit-tested with fakes; entry.ts passes the real Electron module.
 */
import type { BrowserWindowLike, ElectronLike, KioskWindowOptions, NavigationEvent } from './electron-like.js';
import { createRecovery, type HealthFetch, type KioskLog, type Recovery } from './outage.js';

/** Sent on every response of the kiosk origin (the UI talks to the edge's API and MQTT-over-WebSocket on loopback). */
export const KIOSK_CSP = [
  "default-src 'self'",
  "connect-src 'self' ws://127.0.0.1:*",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export const DEFAULT_KIOSK_URL = 'http://127.0.0.1:8080/kiosk/';

export interface KioskWindowOpts {
  /** The kiosk UI, http(s). */
  url: string;
  /** Production: no devtools, no context menu, no application menu (and so no reload/devtools shortcuts). */
  production: boolean;
  /** Absolute path of the compiled preload script (dist/kiosk/preload/preload.cjs). */
  preloadPath: string;
  /** Probed during an outage; default: the kiosk origin's /health. */
  healthUrl?: string;
  /** Exposed to the page as window.kiosk.version. */
  version?: string;
  /** Exposed to the page as window.kiosk.locale. */
  locale?: 'zh-CN' | 'en';
  fetch?: HealthFetch;
  log?: KioskLog;
  /** Outage backoff (default 1 s doubling to 15 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

export interface KioskWindow {
  window: BrowserWindowLike;
  recovery: Recovery;
  /** The exact BrowserWindow options used. */
  options: KioskWindowOptions;
}

export class KioskUrlError extends Error {}

/** The kiosk URL's origin; only http(s) URLs are accepted (a file: or data: origin would be "null" and match anything opaque). */
export function kioskOrigin(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KioskUrlError(`kiosk URL "${url}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new KioskUrlError(`kiosk URL "${url}" must be http: or https:`);
  return u.origin;
}

function sameOrigin(target: string | undefined, origin: string): boolean {
  if (!target) return false;
  try {
    return new URL(target).origin === origin;
  } catch {
    return false;
  }
}

export function kioskWindowOptions(opts: Pick<KioskWindowOpts, 'production' | 'preloadPath' | 'version' | 'locale'>): KioskWindowOptions {
  return {
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
      devTools: !opts.production,
      preload: opts.preloadPath,
      spellcheck: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      // Read by the sandboxed preload from process.argv (kiosk/preload/preload.cts).
      additionalArguments: [`--kiosk-version=${opts.version ?? '0.0.0'}`, `--kiosk-locale=${opts.locale ?? 'zh-CN'}`],
    },
  };
}

const defaultLog: KioskLog = (level, message) => process.stderr.write(`kiosk ${level}: ${message}\n`);

/** Call after `app.whenReady()`. */
export function createKioskWindow(electron: ElectronLike, opts: KioskWindowOpts): KioskWindow {
  const origin = kioskOrigin(opts.url);
  const log = opts.log ?? defaultLog;
  const session = electron.session.defaultSession;

  // CSP on every response of the kiosk origin. A policy the server sends too
  // is kept after ours: several policies are all enforced, so it can only
  // tighten ours. Other origins are left alone (navigation to them is refused below).
  session.webRequest.onHeadersReceived((details, callback) => {
    if (!sameOrigin(details.url, origin)) {
      callback({});
      return;
    }
    const headers: Record<string, string[]> = {};
    const serverCsp: string[] = [];
    for (const [name, values] of Object.entries(details.responseHeaders ?? {})) {
      if (name.toLowerCase() === 'content-security-policy') serverCsp.push(...values);
      else headers[name] = values;
    }
    headers['Content-Security-Policy'] = [KIOSK_CSP, ...serverCsp];
    callback({ responseHeaders: headers });
  });

  // No camera, microphone, notifications, geolocation, clipboard, HID... for anyone.
  session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);

  if (opts.production) electron.Menu.setApplicationMenu(null);

  const options = kioskWindowOptions(opts);
  const win = new electron.BrowserWindow(options);
  const wc = win.webContents;

  const guardNavigation = (kind: string) => (event: NavigationEvent, legacyUrl?: string) => {
    const target = event.url ?? legacyUrl;
    if (!sameOrigin(target, origin)) {
      event.preventDefault();
      log('warn', `${kind} to ${target ?? '(unknown)'} refused: not ${origin}`);
    }
  };
  wc.on('will-navigate', guardNavigation('navigation'));
  wc.on('will-redirect', guardNavigation('redirect'));
  wc.setWindowOpenHandler(({ url }) => {
    log('warn', `new window for ${url} refused`);
    return { action: 'deny' };
  });
  wc.on('will-attach-webview', (event) => event.preventDefault());

  if (opts.production) {
    wc.on('devtools-opened', () => wc.closeDevTools());
    wc.on('context-menu', (event) => event.preventDefault());
  }

  const recovery = createRecovery({
    kioskUrl: opts.url,
    healthUrl: opts.healthUrl ?? `${origin}/health`,
    load: (url) => {
      // A failed load is reported by did-fail-load; the promise's rejection is not news.
      win.loadURL(url).catch(() => undefined);
    },
    fetch: opts.fetch ?? ((url, init) => fetch(url, init)),
    log,
    ...(opts.initialDelayMs !== undefined ? { initialDelayMs: opts.initialDelayMs } : {}),
    ...(opts.maxDelayMs !== undefined ? { maxDelayMs: opts.maxDelayMs } : {}),
  });

  wc.on('did-fail-load', (_event, errorCode, errorDescription, validatedURL, isMainFrame) => {
    // -3 is ERR_ABORTED: a load superseded by another (ours), not an outage.
    if (!isMainFrame || errorCode === -3 || !sameOrigin(validatedURL, origin)) return;
    recovery.failed(`${errorDescription || 'load failed'} (${errorCode})`);
  });
  wc.on('render-process-gone', (_event, details) => recovery.failed(`renderer gone: ${details.reason}`));
  wc.on('did-finish-load', () => recovery.loaded(wc.getURL()));
  win.on('closed', () => recovery.stop());

  recovery.start();
  return { window: win, recovery, options };
}
