/**
 * The kiosk's preload script (shared/DESIGN.md section 6: "kiosk renderer
 * sandboxed with no Node access").
 *
 * It runs in a sandboxed, context-isolated renderer, where Electron gives
 * preload scripts only a polyfilled `require` (for `electron`, `events`,
 * `timers`, `url`) and no ES modules. So this file is CommonJS (`.cts`,
 * emitted as `preload.cjs`) and self-contained: it imports nothing of ours.
 *
 * It exposes to the page, as `window.kiosk`, a tiny frozen object of plain
 * values (`version`, `locale`) and nothing that reaches Node, IPC or the
 * filesystem. The main process passes the values as renderer command-line
 * switches (`webPreferences.additionalArguments`), which the sandboxed
 * preload can read from `process.argv`.
 */

/** The one method of Electron's `contextBridge` used here. */
export interface ContextBridgeLike {
  exposeInMainWorld(apiKey: string, api: unknown): void;
}

export interface KioskApi {
  /** The classroom-edge version that launched the kiosk, e.g. "0.1.0". */
  readonly version: string;
  /** The UI language to start with: "zh-CN" (default) or "en". */
  readonly locale: 'zh-CN' | 'en';
}

export const VERSION_SWITCH = '--kiosk-version=';
export const LOCALE_SWITCH = '--kiosk-locale=';

function switchValue(argv: readonly string[], prefix: string): string | undefined {
  const arg = argv.find((a) => a.startsWith(prefix));
  return arg === undefined ? undefined : arg.slice(prefix.length);
}

/** The API values from the renderer's argv; anything unexpected falls back to a safe default. */
export function kioskApiFromArgv(argv: readonly string[]): KioskApi {
  const rawVersion = switchValue(argv, VERSION_SWITCH) ?? '';
  const version = /^[0-9A-Za-z.+-]{1,32}$/.test(rawVersion) ? rawVersion : '0.0.0';
  const locale = switchValue(argv, LOCALE_SWITCH) === 'en' ? 'en' : 'zh-CN';
  return Object.freeze({ locale, version });
}

/** Expose the kiosk API in the page's world as `window.kiosk`. */
export function exposeKioskApi(bridge: ContextBridgeLike, argv: readonly string[]): KioskApi {
  const api = kioskApiFromArgv(argv);
  bridge.exposeInMainWorld('kiosk', api);
  return api;
}

// In Electron's renderer (process.type === 'renderer') run for real; when a
// test imports this file under Node, only the functions above are used.
if ((process as { type?: string }).type === 'renderer') {
  const electron = require('electron') as { contextBridge: ContextBridgeLike };
  exposeKioskApi(electron.contextBridge, process.argv);
}
