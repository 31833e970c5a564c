/**
 * The kiosk's Electron main process: `electron dist/kiosk/main/entry.js
 * --kiosk-url=URL` (launch.ts builds this command). It only runs inside
 * Electron; everything it does is in app.ts and window.ts, tested with fakes.
 */
import { fileURLToPath } from 'node:url';
import { kioskConfigFromProcess, startKioskApp } from './app.js';
import type { ElectronLike } from './electron-like.js';

// A variable specifier: Electron is an optional dependency without installed
// types, and this module is only ever evaluated by Electron.
const specifier = 'electron';
const mod = (await import(specifier)) as { default?: unknown };
const electron = (mod.default ?? mod) as ElectronLike;

await startKioskApp(electron, {
  config: kioskConfigFromProcess(process.argv, process.env),
  // Sandboxed preloads must be CommonJS: preload.cts compiles to preload.cjs.
  preloadPath: fileURLToPath(new URL('../preload/preload.cjs', import.meta.url)),
});
