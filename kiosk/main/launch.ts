/**
 * `classroom-edge kiosk [--url URL]`: start the kiosk browser
 * (shared/DESIGN.md section 1; docs/kiosk.md).
 *
 * Electron when it is installed (an optional dependency: the package must
 * resolve and its downloaded binary exist), running dist/kiosk/main/entry.js;
 * otherwise Debian's Chromium in kiosk mode (`--kiosk --app=URL`), which has
 * the same renderer sandbox but none of our window hardening (docs/kiosk.md
 * says what differs). Neither: an error naming both and how to get one.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCALE_ARG, parseLocale, URL_ARG, VERSION_ARG } from './app.js';
import { DEFAULT_KIOSK_URL, kioskOrigin, KioskUrlError } from './window.js';

export const CHROMIUM_CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export interface ChildLike {
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  kill(signal?: NodeJS.Signals): boolean;
}

export type SpawnLike = (command: string, args: string[], options: { stdio: 'inherit'; env: NodeJS.ProcessEnv }) => ChildLike;

export interface LaunchOptions {
  url: string;
  version?: string;
  locale?: 'zh-CN' | 'en';
  /** An Electron binary to use instead of the installed package's. */
  electronPath?: string;
  /** A Chromium binary to use instead of /usr/bin/chromium(-browser). */
  chromiumPath?: string;
  spawn: SpawnLike;
  exists: (path: string) => boolean;
  env: NodeJS.ProcessEnv;
  /** Where the installed Electron binary would be (default: electronBinaryFromPackage()). */
  resolveElectron?: () => string | undefined;
  /** The compiled Electron entry (default: entry.js next to this module). */
  entryPath?: string;
  /** Running as root (default: process.getuid() === 0). */
  isRoot?: boolean;
}

export interface KioskPlan {
  kind: 'electron' | 'chromium';
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Things the operator should know (printed by cmdKiosk). */
  warnings: string[];
}

export class KioskLaunchError extends Error {}

/**
 * The installed Electron binary, as the `electron` package itself finds it
 * (its index.js: `dist/` + the name in `path.txt`, written when the binary
 * was downloaded; ELECTRON_OVERRIDE_DIST_PATH replaces `dist/`). Undefined
 * when the package does not resolve or its binary was never downloaded.
 * Whether the file exists is checked by the caller.
 */
export function electronBinaryFromPackage(
  resolve: (id: string) => string = createRequire(import.meta.url).resolve,
  readText: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  let dir: string;
  try {
    dir = dirname(resolve('electron'));
  } catch {
    return undefined;
  }
  let executable: string | undefined;
  try {
    executable = readText(join(dir, 'path.txt')).trim() || undefined;
  } catch {
    executable = undefined;
  }
  if (env.ELECTRON_OVERRIDE_DIST_PATH) return join(env.ELECTRON_OVERRIDE_DIST_PATH, executable ?? 'electron');
  return executable === undefined ? undefined : join(dir, 'dist', executable);
}

/** Chromium's profile directory: under XDG_CACHE_HOME (or ~/.cache), else the temp dir. */
export function chromiumUserDataDir(env: NodeJS.ProcessEnv): string {
  const cache = env.XDG_CACHE_HOME || (env.HOME ? join(env.HOME, '.cache') : undefined);
  return cache ? join(cache, 'classroom-edge', 'kiosk-chromium') : join(tmpdir(), 'classroom-edge-kiosk-chromium');
}

// Chromium (and Electron, which is Chromium) refuses to start as root unless
// its sandbox is switched off with --no-sandbox. We pass it only then, and warn:
// the kiosk should run as an unprivileged desktop user (docs/kiosk.md).
const ROOT_WARNING = 'running as root: passing --no-sandbox (Chromium refuses to run as root with its sandbox); run the kiosk as an unprivileged user instead';

export function planKiosk(opts: LaunchOptions): KioskPlan {
  kioskOrigin(opts.url); // throws KioskUrlError for a non-http(s) URL
  const isRoot = opts.isRoot ?? process.getuid?.() === 0;
  const warnings = isRoot ? [ROOT_WARNING] : [];
  const sandboxArgs = isRoot ? ['--no-sandbox'] : [];
  const entryPath = opts.entryPath ?? fileURLToPath(new URL('./entry.js', import.meta.url));

  // Electron
  let electronWhy: string;
  const electron = opts.electronPath ?? (opts.resolveElectron ?? (() => electronBinaryFromPackage()))();
  if (electron === undefined) {
    electronWhy = 'the optional dependency "electron" is not installed or its binary was never downloaded';
  } else if (!opts.exists(electron)) {
    electronWhy = `no Electron binary at ${electron}`;
  } else if (!opts.exists(entryPath)) {
    electronWhy = `Electron found at ${electron} but the kiosk entry ${entryPath} is not built (npm run build)`;
  } else {
    const env = { ...opts.env };
    delete env.ELECTRON_RUN_AS_NODE; // would make Electron a plain Node and ignore the window
    return {
      kind: 'electron',
      command: electron,
      args: [
        ...sandboxArgs,
        entryPath,
        `${URL_ARG}${opts.url}`,
        `${VERSION_ARG}${opts.version ?? '0.0.0'}`,
        `${LOCALE_ARG}${parseLocale(opts.locale)}`,
      ],
      env,
      warnings,
    };
  }

  // Chromium
  const candidates = opts.chromiumPath ? [opts.chromiumPath] : CHROMIUM_CANDIDATES;
  const chromium = candidates.find((p) => opts.exists(p));
  if (chromium === undefined) {
    throw new KioskLaunchError(
      `no kiosk browser: Electron: ${electronWhy}; Chromium: not found at ${candidates.join(' or ')}. ` +
        'Install Chromium (Debian: apt install chromium) or Electron (npm install electron, with its binary download allowed).',
    );
  }
  return {
    kind: 'chromium',
    command: chromium,
    args: [
      '--kiosk',
      `--app=${opts.url}`,
      '--no-first-run',
      '--disable-translate',
      '--disable-features=TranslateUI',
      '--noerrdialogs',
      '--disable-infobars',
      '--incognito',
      '--disable-background-networking',
      `--user-data-dir=${chromiumUserDataDir(opts.env)}`,
      `--lang=${parseLocale(opts.locale)}`,
      ...sandboxArgs,
    ],
    env: { ...opts.env },
    warnings: [`Electron not used: ${electronWhy}`, ...warnings],
  };
}

export function launchKiosk(opts: LaunchOptions): { plan: KioskPlan; child: ChildLike } {
  const plan = planKiosk(opts);
  const child = opts.spawn(plan.command, plan.args, { stdio: 'inherit', env: plan.env });
  return { plan, child };
}

export interface CmdKioskArgs {
  /** Default: CLASSROOM_EDGE_KIOSK_URL, else http://127.0.0.1:8080/kiosk/. */
  url?: string | undefined;
  version?: string | undefined;
  /** Default: CLASSROOM_EDGE_KIOSK_LOCALE, else zh-CN. */
  locale?: string | undefined;
}

export interface CmdKioskDeps {
  spawn?: SpawnLike;
  exists?: (path: string) => boolean;
  env?: NodeJS.ProcessEnv;
  resolveElectron?: () => string | undefined;
  entryPath?: string;
  isRoot?: boolean;
  err?: (line: string) => void;
  /** Signals to pass on to the browser (default SIGTERM, SIGINT on this process). */
  onSignal?: (handler: (signal: NodeJS.Signals) => void) => () => void;
}

function processSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}

/** The `kiosk` command: start the browser, wait for it, return its exit code. */
export async function cmdKiosk(args: CmdKioskArgs, deps: CmdKioskDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const err = deps.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let launched: ReturnType<typeof launchKiosk>;
  try {
    launched = launchKiosk({
      url: args.url ?? env.CLASSROOM_EDGE_KIOSK_URL ?? DEFAULT_KIOSK_URL,
      version: args.version ?? '0.0.0',
      locale: parseLocale(args.locale ?? env.CLASSROOM_EDGE_KIOSK_LOCALE),
      spawn: deps.spawn ?? (nodeSpawn as SpawnLike),
      exists: deps.exists ?? existsSync,
      env,
      ...(deps.resolveElectron ? { resolveElectron: deps.resolveElectron } : {}),
      ...(deps.entryPath ? { entryPath: deps.entryPath } : {}),
      ...(deps.isRoot !== undefined ? { isRoot: deps.isRoot } : {}),
    });
  } catch (e) {
    if (e instanceof KioskLaunchError || e instanceof KioskUrlError) {
      err(`kiosk: ${e.message}`);
      return 1;
    }
    throw e;
  }
  const { plan, child } = launched;
  for (const w of plan.warnings) err(`kiosk: ${w}`);
  err(`kiosk: starting ${plan.kind === 'electron' ? 'Electron' : 'Chromium'} (${plan.command})`);
  let stopping = false;
  const offSignal = (deps.onSignal ?? processSignals)((signal) => {
    stopping = true;
    child.kill(signal);
  });
  try {
    return await new Promise<number>((resolve) => {
      child.on('error', (e) => {
        err(`kiosk: could not start ${plan.command}: ${e.message}`);
        resolve(1);
      });
      child.on('exit', (code, signal) => {
        if (stopping) return resolve(0); // we were asked to stop, and passed it on
        if (code !== 0) err(`kiosk: ${plan.kind} exited with ${code ?? signal}`);
        resolve(code ?? 1);
      });
    });
  } finally {
    offSignal();
  }
}
