/**
 * The kiosk's Electron app: one instance, the locked-down window
 * (window.ts), quit when it closes. entry.ts calls this with the real
 * Electron module; tests call it with fakes.
 */
import type { ElectronLike } from './electron-like.js';
import type { HealthFetch, KioskLog } from './outage.js';
import { createKioskWindow, DEFAULT_KIOSK_URL, type KioskWindow } from './window.js';

export interface KioskAppConfig {
  url: string;
  production: boolean;
  version: string;
  locale: 'zh-CN' | 'en';
}

/** Switches the launcher passes to entry.js (and which entry.js reads back). */
export const URL_ARG = '--kiosk-url=';
export const VERSION_ARG = '--kiosk-version=';
export const LOCALE_ARG = '--kiosk-locale=';

function argValue(argv: readonly string[], prefix: string): string | undefined {
  const a = argv.find((x) => x.startsWith(prefix));
  return a === undefined ? undefined : a.slice(prefix.length);
}

export function parseLocale(value: string | undefined): 'zh-CN' | 'en' {
  return value === 'en' ? 'en' : 'zh-CN';
}

/**
 * The app's settings from its argv and environment: the URL from
 * `--kiosk-url=` or CLASSROOM_EDGE_KIOSK_URL (default the edge on loopback);
 * production unless CLASSROOM_EDGE_KIOSK_DEV=1 (devtools allowed).
 */
export function kioskConfigFromProcess(argv: readonly string[], env: NodeJS.ProcessEnv): KioskAppConfig {
  return {
    url: argValue(argv, URL_ARG) ?? env.CLASSROOM_EDGE_KIOSK_URL ?? DEFAULT_KIOSK_URL,
    production: env.CLASSROOM_EDGE_KIOSK_DEV !== '1',
    version: argValue(argv, VERSION_ARG) ?? '0.0.0',
    locale: parseLocale(argValue(argv, LOCALE_ARG) ?? env.CLASSROOM_EDGE_KIOSK_LOCALE),
  };
}

export interface StartKioskAppOptions {
  config: KioskAppConfig;
  preloadPath: string;
  fetch?: HealthFetch;
  log?: KioskLog;
}

/** Resolves to the window, or undefined when another kiosk instance already runs (this one quits). */
export async function startKioskApp(electron: ElectronLike, opts: StartKioskAppOptions): Promise<KioskWindow | undefined> {
  const { app } = electron;
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return undefined;
  }
  app.on('window-all-closed', () => app.quit());
  await app.whenReady();
  return createKioskWindow(electron, {
    url: opts.config.url,
    production: opts.config.production,
    preloadPath: opts.preloadPath,
    version: opts.config.version,
    locale: opts.config.locale,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
}
