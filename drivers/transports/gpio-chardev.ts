/**
 * GpioBackend on the GPIO character device (/dev/gpiochipN) through the
 * libgpiod 1.6 tools (Debian 12 package `gpiod`; man pages gpiomon(1),
 * gpioset(1), gpioget(1), "libgpiod v1.6.3"). The character device is the
 * kernel's current GPIO ABI; sysfs (gpio-onoff.ts) is deprecated.
 *
 * Inputs: one supervised gpiomon per line, or per group of lines that must
 * keep their edges in order (Wiegand D0/D1: openInputGroup),
 *   gpiomon --line-buffered --format='%o %e %s %n' [--active-low]
 *           [--rising-edge|--falling-edge] <chip> <line>...
 * prints one line per edge: offset, event type (1 rising, 0 falling = the
 * logical value after the edge), and the kernel timestamp as seconds and
 * nanoseconds, both printed with "%ld" (not zero-padded: "5 120 4500" is
 * 120 s + 4500 ns). The kernel stamps edges in its interrupt handler
 * (CLOCK_MONOTONIC since Linux 5.7), which makes Wiegand pulse timing usable.
 * `--line-buffered` matters: stdout to a pipe is otherwise block-buffered.
 * A gpiomon that exits is restarted with backoff; the outage is logged once,
 * the recovery once (after `stableMs` of running). gpioget reads the initial
 * level before gpiomon takes the line (and fails clearly on a wrong chip,
 * line or permission); then read() returns the level tracked from events.
 * Edge 'none' starts no gpiomon and runs gpioget on each read(). libgpiod
 * 1.6 has no debounce option: `debounceMs` drops an edge closer than that to
 * the previous delivered edge, here.
 *
 * Outputs: `gpioset --mode=signal [--active-low] <chip> <line>=<value>`
 * holds the value until SIGTERM (gpioset(1): the line "reverts to default
 * when the last process referencing [it] exits"). 1.6 cannot change a running
 * gpioset's value, so write() replaces the process: the line is released for
 * a few ms in between (docs/gpio.md). A write succeeds when the new gpioset
 * still runs after `settleMs`; a holder that dies is restarted with the last
 * value. read() returns the value last written (gpioget cannot request a held
 * line).
 *
 * The tools are found on the PATH of `env` (tests put fakes first on it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Edge, GpioBackend, GpioInput, GpioInputGroup, GpioLineEvent, GpioOutput } from './gpio.js';
import { GpioUnavailableError } from './gpio-onoff.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { Mutex } from '../util/mutex.js';
import { silentLogger, type Logger } from '../../edge/util/logger.js';

export const GPIOMON_FORMAT = '%o %e %s %n';

export interface GpiomonEvent {
  offset: number;
  /** Logical value after the edge: 1 rising, 0 falling. */
  value: 0 | 1;
  tsNs: bigint;
}

export type GpiomonParse = { ok: true; event: GpiomonEvent } | { ok: false; reason: string };

const GPIOMON_LINE = /^(\d{1,10}) ([01]) (\d{1,20}) (\d{1,9})$/;

/** Parse one line of `gpiomon --format='%o %e %s %n'` output; never throws. */
export function parseGpiomonLine(line: string): GpiomonParse {
  const m = GPIOMON_LINE.exec(line.trim());
  if (!m) return { ok: false, reason: `unexpected gpiomon output: ${JSON.stringify(line.slice(0, 80))}` };
  return {
    ok: true,
    event: { offset: Number(m[1]), value: m[2] === '1' ? 1 : 0, tsNs: BigInt(m[3]!) * 1_000_000_000n + BigInt(m[4]!) },
  };
}

export interface ChardevBackendOptions {
  logger?: Logger;
  /** Environment of the tools; its PATH finds them (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Restart delays of gpiomon/gpioset (default 250 ms doubling to 10 s). */
  restart?: BackoffOptions;
  /** Time a restarted process must run to count as recovered (default 10 s). */
  stableMs?: number;
  /** How long a new gpioset must stay up for a write to succeed (default 50 ms). */
  settleMs?: number;
  /** Timeout of a gpioget run (default 5 s). */
  toolTimeoutMs?: number;
}

type Ctx = Required<Omit<ChardevBackendOptions, 'logger'>> & { log: Logger };

const CHIP = /^[A-Za-z0-9_.:-]+$/;
const STDERR_KEEP = 1024;
const MAX_PARTIAL = 256;

function checkLine(chip: string, line: number): void {
  if (!CHIP.test(chip)) throw new GpioUnavailableError(chip, line, 'chip must be a name like gpiochip0 or a number');
  if (!Number.isInteger(line) || line < 0) throw new GpioUnavailableError(chip, line, 'line must be an integer >= 0');
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Run a tool to completion; resolves with its output, rejects with GpioUnavailableError on failure. */
function runTool(ctx: Ctx, chip: string, line: number, cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: ctx.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), ctx.toolTimeoutMs);
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-STDERR_KEEP)));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const detail = e.code === 'ENOENT' ? `${cmd} not found on PATH (install the Debian package gpiod)` : `${cmd}: ${e.message}`;
      reject(new GpioUnavailableError(chip, line, detail));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new GpioUnavailableError(chip, line, `${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${err.trim() || 'no message'}`));
    });
  });
}

/** Stop a child: SIGTERM, then SIGKILL after 1 s; resolves when it has exited. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 1000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * A long-running tool (gpiomon, gpioset) restarted with backoff when it
 * exits on its own; outage and recovery are logged once each.
 */
class Supervised {
  child: ChildProcess | undefined;
  starts = 0;
  private stopped = false;
  private failing = false;
  private stderr = '';
  private readonly backoff: Backoff;
  private restartTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly what: string,
    private readonly command: () => { cmd: string; args: string[] },
    private readonly onStdout?: (chunk: string) => void,
  ) {
    this.backoff = new Backoff(ctx.restart);
  }

  start(): ChildProcess {
    const { cmd, args } = this.command();
    this.starts++;
    this.stderr = '';
    const child = spawn(cmd, args, { env: this.ctx.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (s: string) => this.onStdout?.(s));
    child.stderr?.on('data', (b: Buffer) => (this.stderr = (this.stderr + b.toString()).slice(-STDERR_KEEP)));
    let ended = false;
    const end = (why: string): void => {
      if (ended) return;
      ended = true;
      this.ended(child, why);
    };
    child.on('error', (e: NodeJS.ErrnoException) =>
      end(e.code === 'ENOENT' ? `${cmd} not found on PATH (install the Debian package gpiod)` : e.message),
    );
    child.on('close', (code, signal) => end(signal ? `killed by ${signal}` : `exit ${code}`));
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      if (this.child !== child || this.stopped) return;
      this.backoff.reset();
      if (this.failing) {
        this.failing = false;
        this.ctx.log.info({ what: this.what }, 'gpio tool running again');
      }
    }, this.ctx.stableMs);
    this.stableTimer.unref?.();
    return child;
  }

  /** Exited (or died) early? */
  get alive(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null && c.pid !== undefined;
  }

  get lastStderr(): string {
    return this.stderr.trim();
  }

  /** Stop for good (or until start() is called again). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.stableTimer);
    const child = this.child;
    this.child = undefined;
    if (child) await stopChild(child);
  }

  /** Replace the running process with a new one (gpioset with another value). */
  async replace(): Promise<ChildProcess> {
    const child = this.child;
    this.child = undefined;
    clearTimeout(this.restartTimer);
    if (child) await stopChild(child);
    this.stopped = false;
    return this.start();
  }

  private ended(child: ChildProcess, why: string): void {
    if (this.child !== child || this.stopped) return; // stopped or replaced on purpose
    this.child = undefined;
    const delay = this.backoff.next();
    const fields = { what: this.what, why, stderr: this.lastStderr || undefined, retryMs: delay };
    if (!this.failing) {
      this.failing = true;
      this.ctx.log.warn(fields, 'gpio tool exited; restarting with backoff');
    } else {
      this.ctx.log.debug(fields, 'gpio tool exited again');
    }
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) this.start();
    }, delay);
    this.restartTimer.unref?.();
  }
}

/**
 * One gpiomon watching one line, or several lines of a chip at once (one
 * process, one event queue: gpiomon(1) takes several offsets and prints
 * their events in the kernel's order). As a GpioInput it is the first line.
 */
export class ChardevInput implements GpioInput, GpioInputGroup {
  private readonly levels = new Map<number, 0 | 1>();
  private readonly listeners: ((e: GpioLineEvent) => void)[] = [];
  private readonly proc: Supervised | undefined;
  private partial = '';
  private readonly lastDeliveredNs = new Map<number, bigint>();
  private closed = false;
  /** Lines of gpiomon output that could not be parsed. */
  unparsed = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly chip: string,
    readonly lines: readonly number[],
    edge: Edge,
    private readonly opts: { activeLow: boolean; debounceNs: bigint },
    initial: readonly (0 | 1)[],
  ) {
    lines.forEach((l, i) => this.levels.set(l, initial[i] ?? 1));
    if (edge === 'none') return;
    const args = ['--line-buffered', `--format=${GPIOMON_FORMAT}`];
    if (opts.activeLow) args.push('--active-low');
    if (edge === 'rising') args.push('--rising-edge');
    if (edge === 'falling') args.push('--falling-edge');
    args.push(chip, ...lines.map(String));
    this.proc = new Supervised(ctx, `gpiomon ${chip} ${lines.join(',')}`, () => ({ cmd: 'gpiomon', args }), (s) => this.onOutput(s));
    this.proc.start();
  }

  private get line(): number {
    return this.lines[0]!;
  }

  /** How many times gpiomon was started (1 + restarts). */
  get starts(): number {
    return this.proc?.starts ?? 0;
  }

  /** pid of the running gpiomon, if any. */
  get pid(): number | undefined {
    return this.proc?.alive ? this.proc.child?.pid : undefined;
  }

  async read(line: number = this.line): Promise<0 | 1> {
    const level = this.levels.get(line);
    if (level === undefined) throw new GpioUnavailableError(this.chip, line, 'not a line of this input');
    if (this.closed) throw new GpioUnavailableError(this.chip, line, 'input closed');
    if (this.proc) return level;
    return readLine(this.ctx, this.chip, line, this.opts.activeLow);
  }

  onEdge(listener: (e: GpioLineEvent) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.length = 0;
    await this.proc?.stop();
  }

  private onOutput(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_PARTIAL) this.partial = '';
    for (const l of lines) {
      if (l.trim() === '') continue;
      const parsed = parseGpiomonLine(l);
      if (!parsed.ok || !this.levels.has(parsed.event.offset)) {
        if (this.unparsed++ === 0) {
          this.ctx.log.warn({ chip: this.chip, lines: this.lines, output: l.slice(0, 80) }, 'unexpected gpiomon output (logged once)');
        }
        continue;
      }
      this.deliver(parsed.event);
    }
  }

  private deliver(ev: GpiomonEvent): void {
    this.levels.set(ev.offset, ev.value);
    const last = this.lastDeliveredNs.get(ev.offset);
    if (last !== undefined && ev.tsNs - last < this.opts.debounceNs) return;
    this.lastDeliveredNs.set(ev.offset, ev.tsNs);
    const event: GpioLineEvent = { line: ev.offset, value: ev.value, tsNs: ev.tsNs };
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (e) {
        this.ctx.log.error({ chip: this.chip, line: ev.offset, err: errText(e) }, 'gpio edge listener failed');
      }
    }
  }
}

async function readLine(ctx: Ctx, chip: string, line: number, activeLow: boolean): Promise<0 | 1> {
  const out = await runTool(ctx, chip, line, 'gpioget', [...(activeLow ? ['--active-low'] : []), chip, String(line)]);
  const v = out.trim();
  if (v !== '0' && v !== '1') throw new GpioUnavailableError(chip, line, `gpioget printed ${JSON.stringify(v.slice(0, 40))}`);
  return v === '1' ? 1 : 0;
}

export class ChardevOutput implements GpioOutput {
  private value: 0 | 1;
  private readonly lock = new Mutex();
  private readonly proc: Supervised;
  private closed = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly chip: string,
    private readonly line: number,
    activeLow: boolean,
    initial: 0 | 1,
  ) {
    this.value = initial;
    const prefix = ['--mode=signal', ...(activeLow ? ['--active-low'] : []), chip];
    this.proc = new Supervised(ctx, `gpioset ${chip} ${line}`, () => ({ cmd: 'gpioset', args: [...prefix, `${line}=${this.value}`] }));
  }

  /** Start holding the initial value; rejects if gpioset does not stay up. */
  async begin(): Promise<void> {
    await this.settle(await this.proc.replace());
  }

  get pid(): number | undefined {
    return this.proc.alive ? this.proc.child?.pid : undefined;
  }

  write(value: 0 | 1): Promise<void> {
    return this.lock.runExclusive(async () => {
      if (this.closed) throw new GpioUnavailableError(this.chip, this.line, 'output closed');
      if (value === this.value && this.proc.alive) return;
      this.value = value;
      await this.settle(await this.proc.replace());
    });
  }

  async read(): Promise<0 | 1> {
    if (this.closed) throw new GpioUnavailableError(this.chip, this.line, 'output closed');
    return this.value;
  }

  async close(): Promise<void> {
    await this.lock.runExclusive(async () => {
      this.closed = true;
      await this.proc.stop();
    });
  }

  private async settle(child: ChildProcess): Promise<void> {
    await new Promise((r) => setTimeout(r, this.ctx.settleMs));
    if (this.proc.child === child && this.proc.alive) return;
    await this.proc.stop();
    throw new GpioUnavailableError(this.chip, this.line, `gpioset did not hold the line: ${this.proc.lastStderr || 'it exited at once'}`);
  }
}

export class ChardevGpioBackend implements GpioBackend {
  readonly name = 'chardev (gpiod tools)';
  private readonly ctx: Ctx;

  constructor(opts: ChardevBackendOptions = {}) {
    this.ctx = {
      log: (opts.logger ?? silentLogger()).child({ backend: this.name }),
      env: opts.env ?? process.env,
      restart: opts.restart ?? { initialMs: 250, maxMs: 10_000 },
      stableMs: opts.stableMs ?? 10_000,
      settleMs: opts.settleMs ?? 50,
      toolTimeoutMs: opts.toolTimeoutMs ?? 5000,
    };
  }

  async openInput(
    chip: string,
    line: number,
    edge: Edge,
    opts: { activeLow?: boolean; debounceMs?: number } = {},
  ): Promise<ChardevInput> {
    checkLine(chip, line);
    const activeLow = opts.activeLow ?? false;
    const initial = await readLine(this.ctx, chip, line, activeLow);
    const debounceNs = BigInt(Math.round((opts.debounceMs ?? 0) * 1e6));
    return new ChardevInput(this.ctx, chip, [line], edge, { activeLow, debounceNs }, [initial]);
  }

  /** Several lines of one chip watched by a single gpiomon: their edges arrive in kernel order. */
  async openInputGroup(chip: string, lines: readonly number[], edge: Edge, opts: { activeLow?: boolean } = {}): Promise<ChardevInput> {
    if (lines.length === 0) throw new GpioUnavailableError(chip, -1, 'no lines given');
    for (const line of lines) checkLine(chip, line);
    if (new Set(lines).size !== lines.length) throw new GpioUnavailableError(chip, lines[0]!, `lines repeat: ${lines.join(', ')}`);
    const activeLow = opts.activeLow ?? false;
    const initial: (0 | 1)[] = [];
    for (const line of lines) initial.push(await readLine(this.ctx, chip, line, activeLow));
    return new ChardevInput(this.ctx, chip, lines, edge, { activeLow, debounceNs: 0n }, initial);
  }

  async openOutput(chip: string, line: number, opts: { activeLow?: boolean; initial?: 0 | 1 } = {}): Promise<ChardevOutput> {
    checkLine(chip, line);
    const output = new ChardevOutput(this.ctx, chip, line, opts.activeLow ?? false, opts.initial ?? 0);
    await output.begin();
    return output;
  }
}
