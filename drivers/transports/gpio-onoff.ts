/**
 * GpioBackend on the `onoff` package, i.e. the kernel's sysfs GPIO ABI
 * (/sys/class/gpio; obsolete but still enabled on many kernels).
 *
 * Chip naming. Config names a line as `{ chip: 'gpiochipN', line }`, with N the
 * character-device chip (/dev/gpiochipN, as `gpiodetect` lists it). sysfs
 * numbers lines globally: line L of a chip is GPIO `base + L`, and the sysfs
 * chip directory is named after its *base* (/sys/class/gpio/gpiochip<base>),
 * which differs from the chardev N on many kernels (e.g. Raspberry Pi OS with
 * kernel 6.6: /dev/gpiochip0 is /sys/class/gpio/gpiochip512). So:
 * 1. If /sys/bus/gpio/devices/gpiochipN exists (kernels with the chardev),
 *    take its parent device and find the /sys/class/gpio/gpiochip* whose
 *    `device` link points to that same device (or to the gpio device itself);
 *    several chips on one parent are matched in order (chardev N vs base).
 * 2. Otherwise (old kernels without the chardev) 'gpiochipN' is taken to be
 *    the sysfs directory name itself.
 * The line number is then checked against `ngpio` and added to `base`.
 *
 * onoff is imported lazily, so a machine without sysfs GPIO (or without the
 * epoll native module) still starts; opening a line there rejects with a
 * GpioUnavailableError that names the chip and line.
 *
 * Limits: sysfs gives no kernel timestamps, so edge events carry the time the
 * callback ran (process.hrtime.bigint()); userspace sysfs is too slow for
 * Wiegand pulses (shared/PROTOCOLS.md). Output direction 'high'/'low' is the
 * kernel's raw (electrical) level, so the initial logical value is inverted
 * here for activeLow lines: an active-low relay starts released, no glitch.
 */
import { access, constants, readFile, readdir, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Edge, GpioBackend, GpioInput, GpioOutput } from './gpio.js';
import { silentLogger, type Logger } from '../../edge/util/logger.js';

export type OnoffModule = typeof import('onoff');

export class GpioUnavailableError extends Error {
  override readonly name = 'GpioUnavailableError';
  constructor(
    readonly chip: string,
    readonly line: number,
    detail: string,
  ) {
    super(`gpio ${chip} line ${line}: ${detail}`);
  }
}

const CHIP_NAME = /^gpiochip(\d+)$/;

async function tryRealpath(p: string): Promise<string | undefined> {
  try {
    return await realpath(p);
  } catch {
    return undefined;
  }
}

async function readInt(p: string): Promise<number> {
  const n = Number.parseInt((await readFile(p, 'utf8')).trim(), 10);
  if (!Number.isInteger(n)) throw new Error(`${p} does not hold an integer`);
  return n;
}

const byNumber = (a: string, b: string): number =>
  Number(CHIP_NAME.exec(a)?.[1] ?? 0) - Number(CHIP_NAME.exec(b)?.[1] ?? 0);

/** Find the /sys/class/gpio chip directory for a chardev chip name (see header). */
async function sysfsChipDir(chip: string, line: number, sysfsRoot: string): Promise<string> {
  const classDir = join(sysfsRoot, 'class', 'gpio');
  const busDir = join(sysfsRoot, 'bus', 'gpio', 'devices');
  const sysChips = (await readdir(classDir).catch(() => [] as string[])).filter((n) => CHIP_NAME.test(n));
  const gdev = await tryRealpath(join(busDir, chip));
  if (!gdev) {
    const busExists = (await tryRealpath(busDir)) !== undefined;
    if (!busExists && sysChips.includes(chip)) return join(classDir, chip);
    const known = busExists ? (await readdir(busDir).catch(() => [] as string[])).filter((n) => CHIP_NAME.test(n)) : sysChips;
    throw new GpioUnavailableError(chip, line, `no such GPIO chip (known: ${known.sort(byNumber).join(', ') || 'none'})`);
  }
  const parent = dirname(gdev);
  const matches: { dir: string; base: number }[] = [];
  for (const name of sysChips) {
    const dev = await tryRealpath(join(classDir, name, 'device'));
    if (dev === parent || dev === gdev) {
      matches.push({ dir: join(classDir, name), base: await readInt(join(classDir, name, 'base')) });
    }
  }
  if (matches.length === 0) throw new GpioUnavailableError(chip, line, 'chip has no sysfs GPIO interface');
  if (matches.length === 1) return matches[0]!.dir;
  // Several sysfs chips share this parent: pair them in order (chardev N, sysfs base).
  const siblings: string[] = [];
  for (const name of (await readdir(busDir)).filter((n) => CHIP_NAME.test(n))) {
    const real = await tryRealpath(join(busDir, name));
    if (real && dirname(real) === parent) siblings.push(name);
  }
  siblings.sort(byNumber);
  matches.sort((a, b) => a.base - b.base);
  const match = matches[siblings.indexOf(chip)];
  if (!match || siblings.length !== matches.length) {
    throw new GpioUnavailableError(chip, line, 'cannot tell which sysfs chip this is');
  }
  return match.dir;
}

/** Global sysfs GPIO number of `line` on chardev chip `chip` (e.g. 'gpiochip0'). */
export async function sysfsGpioNumber(chip: string, line: number, sysfsRoot = '/sys'): Promise<number> {
  if (!CHIP_NAME.test(chip)) throw new GpioUnavailableError(chip, line, "chip must be named 'gpiochipN'");
  if (!Number.isInteger(line) || line < 0) throw new GpioUnavailableError(chip, line, 'line must be an integer >= 0');
  const dir = await sysfsChipDir(chip, line, sysfsRoot);
  const base = await readInt(join(dir, 'base'));
  const ngpio = await readInt(join(dir, 'ngpio'));
  if (line >= ngpio) throw new GpioUnavailableError(chip, line, `chip has ${ngpio} lines (0..${ngpio - 1})`);
  return base + line;
}

export interface OnoffBackendOptions {
  /** Root of sysfs used to map chip names (default '/sys'; tests point it at a fake tree). */
  sysfsRoot?: string;
  logger?: Logger;
  /** How to load onoff (default: dynamic import). */
  load?: () => Promise<OnoffModule>;
}

export class OnoffGpioBackend implements GpioBackend {
  readonly name = 'onoff (sysfs)';
  private readonly sysfsRoot: string;
  private readonly log: Logger;
  private readonly load: () => Promise<OnoffModule>;

  constructor(opts: OnoffBackendOptions = {}) {
    this.sysfsRoot = opts.sysfsRoot ?? '/sys';
    this.log = (opts.logger ?? silentLogger()).child({ backend: this.name });
    this.load = opts.load ?? (() => import('onoff'));
  }

  async openInput(
    chip: string,
    line: number,
    edge: Edge,
    opts: { activeLow?: boolean; debounceMs?: number } = {},
  ): Promise<GpioInput> {
    const { Gpio, num } = await this.prepare(chip, line);
    const gpio = this.construct(chip, line, () =>
      new Gpio(num, 'in', edge, {
        activeLow: opts.activeLow ?? false,
        ...(opts.debounceMs ? { debounceTimeout: opts.debounceMs } : {}),
      }),
    );
    return {
      read: () => gpio.read(),
      onEdge: (listener) => {
        gpio.watch((err, value) => {
          if (err) {
            this.log.warn({ chip, line, err: err.message }, 'gpio edge error');
            return;
          }
          listener({ value, tsNs: process.hrtime.bigint() });
        });
      },
      close: async () => {
        gpio.unwatchAll();
        gpio.unexport();
      },
    };
  }

  async openOutput(chip: string, line: number, opts: { activeLow?: boolean; initial?: 0 | 1 } = {}): Promise<GpioOutput> {
    const { Gpio, num } = await this.prepare(chip, line);
    const activeLow = opts.activeLow ?? false;
    const initial = opts.initial ?? 0;
    const level = activeLow ? 1 - initial : initial;
    const gpio = this.construct(chip, line, () => new Gpio(num, level === 1 ? 'high' : 'low', undefined, { activeLow }));
    return {
      write: (value) => gpio.write(value),
      read: () => gpio.read(),
      close: async () => {
        gpio.unexport();
      },
    };
  }

  private async prepare(chip: string, line: number): Promise<{ Gpio: OnoffModule['Gpio']; num: number }> {
    try {
      await access(join(this.sysfsRoot, 'class', 'gpio', 'export'), constants.W_OK);
    } catch {
      throw new GpioUnavailableError(
        chip,
        line,
        `sysfs GPIO is not accessible (${join(this.sysfsRoot, 'class', 'gpio', 'export')} missing or not writable; kernel without CONFIG_GPIO_SYSFS, or missing permissions)`,
      );
    }
    const num = await sysfsGpioNumber(chip, line, this.sysfsRoot);
    let mod: OnoffModule;
    try {
      mod = await this.load();
    } catch (e) {
      throw new GpioUnavailableError(chip, line, `onoff could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!mod.Gpio.accessible) throw new GpioUnavailableError(chip, line, 'onoff reports sysfs GPIO is not accessible');
    return { Gpio: mod.Gpio, num };
  }

  private construct<T>(chip: string, line: number, make: () => T): T {
    try {
      return make();
    } catch (e) {
      throw new GpioUnavailableError(chip, line, `cannot export: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
