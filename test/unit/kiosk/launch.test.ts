import { EventEmitter } from 'node:events';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { kioskConfigFromProcess } from '../../../kiosk/main/app.js';
import { cmdKiosk, electronBinaryFromPackage, KioskLaunchError, launchKiosk, planKiosk, type LaunchOptions, type SpawnLike } from '../../../kiosk/main/launch.js';
import { KioskUrlError } from '../../../kiosk/main/window.js';

const URL_ = 'http://127.0.0.1:8080/kiosk/';
const ELECTRON = '/opt/ce/node_modules/electron/dist/electron';
const ENTRY = '/opt/ce/dist/kiosk/main/entry.js';

function opts(files: string[], extra: Partial<LaunchOptions> = {}): LaunchOptions {
  return {
    url: URL_,
    version: '0.1.0',
    spawn: () => {
      throw new Error('not spawned in this test');
    },
    exists: (p) => files.includes(p),
    env: { HOME: '/home/teacher', PATH: '/usr/bin', ELECTRON_RUN_AS_NODE: '1' },
    resolveElectron: () => ELECTRON,
    entryPath: ENTRY,
    isRoot: false,
    ...extra,
  };
}

const CHROMIUM_FLAGS = [
  '--kiosk',
  `--app=${URL_}`,
  '--no-first-run',
  '--disable-translate',
  '--disable-features=TranslateUI',
  '--noerrdialogs',
  '--disable-infobars',
  '--incognito',
  '--disable-background-networking',
  '--user-data-dir=/home/teacher/.cache/classroom-edge/kiosk-chromium',
  '--lang=zh-CN',
];

describe('planKiosk', () => {
  it('runs Electron with the kiosk entry when its binary exists, without ELECTRON_RUN_AS_NODE', () => {
    const plan = planKiosk(opts([ELECTRON, ENTRY, '/usr/bin/chromium']));
    expect(plan.kind).toBe('electron');
    expect(plan.command).toBe(ELECTRON);
    expect(plan.args).toEqual([ENTRY, `--kiosk-url=${URL_}`, '--kiosk-version=0.1.0', '--kiosk-locale=zh-CN']);
    expect(plan.env.ELECTRON_RUN_AS_NODE).toBeUndefined();
    expect(plan.env.HOME).toBe('/home/teacher');
    expect(plan.args).not.toContain('--no-sandbox');
  });

  it('the Electron switches are what the entry reads back', () => {
    const plan = planKiosk(opts([ELECTRON, ENTRY], { locale: 'en', url: 'http://127.0.0.1:9000/k/' }));
    expect(kioskConfigFromProcess([ELECTRON, ...plan.args], {})).toEqual({ url: 'http://127.0.0.1:9000/k/', production: true, version: '0.1.0', locale: 'en' });
  });

  it('falls back to Chromium with the kiosk flags when the Electron package is not installed', () => {
    const plan = planKiosk(opts(['/usr/bin/chromium'], { resolveElectron: () => undefined }));
    expect(plan.kind).toBe('chromium');
    expect(plan.command).toBe('/usr/bin/chromium');
    expect(plan.args).toEqual(CHROMIUM_FLAGS);
    expect(plan.warnings[0]).toMatch(/Electron not used: the optional dependency "electron" is not installed/);
  });

  it('falls back to Chromium when the Electron binary was never downloaded, or the entry is not built', () => {
    expect(planKiosk(opts(['/usr/bin/chromium'])).warnings[0]).toContain(`no Electron binary at ${ELECTRON}`);
    const unbuilt = planKiosk(opts([ELECTRON, '/usr/bin/chromium']));
    expect(unbuilt.kind).toBe('chromium');
    expect(unbuilt.warnings[0]).toContain(`${ENTRY} is not built`);
  });

  it('finds chromium-browser (Ubuntu name) and honours an explicit Chromium path', () => {
    expect(planKiosk(opts(['/usr/bin/chromium-browser'], { resolveElectron: () => undefined })).command).toBe('/usr/bin/chromium-browser');
    expect(planKiosk(opts(['/snap/bin/chromium', '/usr/bin/chromium'], { resolveElectron: () => undefined, chromiumPath: '/snap/bin/chromium' })).command).toBe(
      '/snap/bin/chromium',
    );
  });

  it('adds --no-sandbox only as root, with a warning', () => {
    const chromium = planKiosk(opts(['/usr/bin/chromium'], { resolveElectron: () => undefined, isRoot: true }));
    expect(chromium.args).toEqual([...CHROMIUM_FLAGS, '--no-sandbox']);
    expect(chromium.warnings.some((w) => w.startsWith('running as root'))).toBe(true);
    const electron = planKiosk(opts([ELECTRON, ENTRY], { isRoot: true }));
    expect(electron.args[0]).toBe('--no-sandbox');
  });

  it('uses XDG_CACHE_HOME for the Chromium profile when set', () => {
    const plan = planKiosk(opts(['/usr/bin/chromium'], { resolveElectron: () => undefined, env: { XDG_CACHE_HOME: '/var/cache/t' } }));
    expect(plan.args).toContain('--user-data-dir=/var/cache/t/classroom-edge/kiosk-chromium');
  });

  it('names both browsers when neither is present', () => {
    let error: unknown;
    try {
      planKiosk(opts([], { resolveElectron: () => undefined }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KioskLaunchError);
    const message = (error as Error).message;
    expect(message).toContain('Electron: the optional dependency "electron" is not installed');
    expect(message).toContain('Chromium: not found at /usr/bin/chromium or /usr/bin/chromium-browser');
    expect(message).toContain('apt install chromium');
  });

  it('refuses a kiosk URL that is not http(s)', () => {
    expect(() => planKiosk(opts([ELECTRON, ENTRY], { url: 'file:///tmp/x.html' }))).toThrow(KioskUrlError);
  });
});

describe('launchKiosk', () => {
  it('spawns the planned command with inherited stdio', () => {
    const calls: unknown[][] = [];
    const spawn: SpawnLike = (command, args, options) => {
      calls.push([command, args, options.stdio]);
      return Object.assign(new EventEmitter(), { kill: () => true });
    };
    const { plan } = launchKiosk(opts(['/usr/bin/chromium'], { resolveElectron: () => undefined, spawn }));
    expect(calls).toEqual([['/usr/bin/chromium', plan.args, 'inherit']]);
  });
});

describe('electronBinaryFromPackage', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function fakeInstall(withPathTxt: boolean) {
    dir = await mkdtemp(join(tmpdir(), 'ce-kiosk-'));
    const pkg = join(dir, 'node_modules', 'electron');
    await mkdir(join(pkg, 'dist'), { recursive: true });
    await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'electron', main: 'index.js' }));
    await writeFile(join(pkg, 'index.js'), 'module.exports = "";');
    if (withPathTxt) await writeFile(join(pkg, 'path.txt'), 'electron');
    return { pkg, resolve: createRequire(join(dir, 'app.js')).resolve };
  }

  it('finds dist/<path.txt> of the installed package', async () => {
    const { pkg, resolve } = await fakeInstall(true);
    expect(electronBinaryFromPackage(resolve, undefined, {})).toBe(join(pkg, 'dist', 'electron'));
    expect(electronBinaryFromPackage(resolve, undefined, { ELECTRON_OVERRIDE_DIST_PATH: '/opt/e' })).toBe('/opt/e/electron');
  });

  it('is undefined when the binary was never downloaded (no path.txt) or the package is absent', async () => {
    const { resolve } = await fakeInstall(false);
    expect(electronBinaryFromPackage(resolve, undefined, {})).toBeUndefined();
    const nowhere = createRequire(join(tmpdir(), 'no-such-dir', 'x.js')).resolve;
    expect(electronBinaryFromPackage(nowhere, undefined, {})).toBeUndefined();
  });
});

describe('cmdKiosk', () => {
  function fakeChild() {
    const kills: string[] = [];
    const child = Object.assign(new EventEmitter(), {
      kill: (s?: NodeJS.Signals) => {
        kills.push(s ?? 'SIGTERM');
        return true;
      },
    });
    return { child, kills };
  }

  it('uses the default URL, starts Chromium when Electron is absent, and returns its exit code', async () => {
    const { child } = fakeChild();
    const lines: string[] = [];
    let spawned: string[] = [];
    const done = cmdKiosk(
      {},
      {
        env: { HOME: '/home/t' },
        exists: (p) => p === '/usr/bin/chromium',
        resolveElectron: () => undefined,
        isRoot: false,
        spawn: (_c, args) => {
          spawned = args;
          return child;
        },
        err: (l) => lines.push(l),
        onSignal: () => () => undefined,
      },
    );
    child.emit('exit', 3, null);
    expect(await done).toBe(3);
    expect(spawned).toContain('--app=http://127.0.0.1:8080/kiosk/');
    expect(lines).toContain('kiosk: starting Chromium (/usr/bin/chromium)');
  });

  it('passes a stop signal on to the browser and exits 0 when it stops', async () => {
    const { child, kills } = fakeChild();
    let signal: ((s: NodeJS.Signals) => void) | undefined;
    let unsubscribed = false;
    const done = cmdKiosk(
      { url: 'http://127.0.0.1:8080/kiosk/' },
      {
        env: {},
        exists: (p) => p === '/usr/bin/chromium',
        resolveElectron: () => undefined,
        spawn: () => child,
        err: () => undefined,
        onSignal: (h) => {
          signal = h;
          return () => void (unsubscribed = true);
        },
      },
    );
    signal?.('SIGTERM');
    expect(kills).toEqual(['SIGTERM']);
    child.emit('exit', null, 'SIGTERM');
    expect(await done).toBe(0);
    expect(unsubscribed).toBe(true);
  });

  it('prints the error naming both browsers and returns 1 when neither is present', async () => {
    const lines: string[] = [];
    const code = await cmdKiosk({ url: URL_ }, { env: {}, exists: () => false, resolveElectron: () => undefined, err: (l) => lines.push(l) });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^kiosk: no kiosk browser: Electron: .*; Chromium: not found at/);
  });

  it('returns 1 for a bad --url', async () => {
    const lines: string[] = [];
    expect(await cmdKiosk({ url: 'ftp://x/' }, { env: {}, exists: () => true, err: (l) => lines.push(l) })).toBe(1);
    expect(lines[0]).toContain('must be http: or https:');
  });
});
