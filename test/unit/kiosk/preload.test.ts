/**
 * The preload runs the way Electron runs a sandboxed preload: compiled to
 * CommonJS, wrapped in Electron's sandbox function
 * (require, process, Buffer, global, setImmediate, clearImmediate, exports, module),
 * with a `require` that, like Electron's polyfill, knows only a few modules.
 */
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import type { ContextBridgeLike } from '../../../kiosk/preload/preload.cjs';
import { kioskWindowOptions } from '../../../kiosk/main/window.js';

const source = readFileSync(new URL('../../../kiosk/preload/preload.cts', import.meta.url), 'utf8');
const compiled = ts.transpileModule(source, {
  fileName: 'preload.cts',
  compilerOptions: { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022 },
}).outputText;

interface Run {
  exposed: { key: string; api: unknown }[];
  required: string[];
}

function runPreload(processLike: { type?: string; argv: string[] }): Run {
  const exposed: Run['exposed'] = [];
  const required: string[] = [];
  const contextBridge: ContextBridgeLike = { exposeInMainWorld: (key, api) => void exposed.push({ key, api }) };
  const sandboxRequire = (id: string) => {
    required.push(id);
    if (id === 'electron') return { contextBridge, ipcRenderer: { send: () => undefined } };
    if (['events', 'timers', 'url'].includes(id)) return {};
    throw new Error(`module not found: ${id} (sandboxed preloads cannot require it)`);
  };
  const wrapper = `(function(require, process, Buffer, global, setImmediate, clearImmediate, exports, module) {\n${compiled}\n})`;
  const fn = runInNewContext(wrapper, {}) as (...a: unknown[]) => void;
  const exports = {};
  fn(sandboxRequire, processLike, undefined, {}, undefined, undefined, exports, { exports });
  return { exposed, required };
}

describe('kiosk preload', () => {
  it('compiles to a CommonJS script (no import/export statements, which a sandboxed preload cannot run)', () => {
    expect(compiled).not.toMatch(/^\s*(import|export)\s/m);
    expect(compiled).toContain('exports.exposeKioskApi');
  });

  it('exposes window.kiosk with only version and locale, frozen plain strings, from the main process switches', () => {
    const argv = ['/opt/electron', '--type=renderer', ...kioskWindowOptions({ production: true, preloadPath: '/p', version: '1.2.3', locale: 'en' }).webPreferences.additionalArguments];
    const { exposed, required } = runPreload({ type: 'renderer', argv });
    expect(exposed).toHaveLength(1);
    expect(exposed[0]?.key).toBe('kiosk');
    const api = exposed[0]?.api as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual(['locale', 'version']);
    expect(api).toEqual({ locale: 'en', version: '1.2.3' });
    expect(Object.values(api).every((v) => typeof v === 'string')).toBe(true);
    expect(Object.isFrozen(api)).toBe(true);
    expect(required).toEqual(['electron']);
  });

  it('defaults to zh-CN and a placeholder version when the switches are missing or odd', () => {
    const { exposed } = runPreload({ type: 'renderer', argv: ['--kiosk-locale=fr', '--kiosk-version=<script>'] });
    expect(exposed[0]?.api).toEqual({ locale: 'zh-CN', version: '0.0.0' });
  });

  it('does nothing outside an Electron renderer (so tests and Node can load it)', () => {
    const { exposed, required } = runPreload({ argv: [] });
    expect(exposed).toEqual([]);
    expect(required).toEqual([]);
  });
});
