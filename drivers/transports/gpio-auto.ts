/**
 * Picks the GPIO backend for this machine (docs/gpio.md):
 * 1. chardev (gpio-chardev.ts) when a /dev/gpiochip* exists and gpiomon is
 *    on PATH: the kernel's current ABI, with kernel edge timestamps;
 * 2. else onoff/sysfs (gpio-onoff.ts) when /sys/class/gpio exists (older
 *    kernels, or a machine without the gpiod tools);
 * 3. else none: a backend whose every open rejects with a
 *    GpioUnavailableError saying what is missing, so that the service still
 *    starts and the GPIO devices show offline with that reason.
 * Detection is synchronous (a few stat calls) so it fits where transports
 * are built.
 */
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { GpioBackend, GpioInput, GpioOutput } from './gpio.js';
import { ChardevGpioBackend, type ChardevBackendOptions } from './gpio-chardev.js';
import { GpioUnavailableError, OnoffGpioBackend } from './gpio-onoff.js';
import type { Logger } from '../../edge/util/logger.js';

export type GpioBackendKind = 'chardev' | 'onoff' | 'none';

export interface GpioDetection {
  kind: GpioBackendKind;
  /** One sentence: why this backend, or what is missing. */
  reason: string;
  /** Character-device chips found, e.g. ['gpiochip0']. */
  chips: string[];
}

export interface GpioDetectOptions {
  /** Default '/dev'. */
  devDir?: string;
  /** Default '/sys'. */
  sysfsRoot?: string;
  /** Its PATH is searched for gpiomon (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Absolute path of an executable `name` on env.PATH, if any. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (!statSync(p).isFile()) continue;
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function chardevChips(devDir: string): string[] {
  try {
    return readdirSync(devDir)
      .filter((n) => /^gpiochip\d+$/.test(n))
      .sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
  } catch {
    return [];
  }
}

export function detectGpioBackend(opts: GpioDetectOptions = {}): GpioDetection {
  const devDir = opts.devDir ?? '/dev';
  const sysfs = join(opts.sysfsRoot ?? '/sys', 'class', 'gpio');
  const chips = chardevChips(devDir);
  const gpiomon = findOnPath('gpiomon', opts.env);
  if (chips.length > 0 && gpiomon) {
    return { kind: 'chardev', reason: `${chips.map((c) => join(devDir, c)).join(', ')} and ${gpiomon} found`, chips };
  }
  const hasSysfs = existsSync(sysfs);
  if (hasSysfs) {
    const why = chips.length > 0 ? 'gpiomon is not installed (Debian package gpiod)' : `no ${join(devDir, 'gpiochip*')}`;
    return { kind: 'onoff', reason: `${sysfs} found; chardev not used: ${why}`, chips };
  }
  const missing = [
    chips.length === 0 ? `no GPIO character device (${join(devDir, 'gpiochip*')})` : 'gpiomon is not installed (Debian package gpiod)',
    `no sysfs GPIO (${sysfs})`,
  ];
  return { kind: 'none', reason: `no usable GPIO backend: ${missing.join('; ')}`, chips };
}

/** A backend that refuses every line with the detection's reason. */
export class UnavailableGpioBackend implements GpioBackend {
  readonly name = 'none';
  constructor(readonly reason: string) {}

  async openInput(chip: string, line: number): Promise<GpioInput> {
    throw new GpioUnavailableError(chip, line, this.reason);
  }

  async openOutput(chip: string, line: number): Promise<GpioOutput> {
    throw new GpioUnavailableError(chip, line, this.reason);
  }
}

export interface AutoGpioOptions extends GpioDetectOptions {
  logger?: Logger;
  /** Options for the chardev backend when chosen (env defaults to `env`). */
  chardev?: Omit<ChardevBackendOptions, 'logger'>;
}

/** The best backend for this machine (see header); logs the choice once. */
export function autoGpioBackend(opts: AutoGpioOptions = {}): GpioBackend {
  const found = detectGpioBackend(opts);
  opts.logger?.info({ backend: found.kind, reason: found.reason }, 'GPIO backend selected');
  switch (found.kind) {
    case 'chardev':
      return new ChardevGpioBackend({ ...(opts.env ? { env: opts.env } : {}), ...opts.chardev, ...(opts.logger ? { logger: opts.logger } : {}) });
    case 'onoff':
      return new OnoffGpioBackend({ ...(opts.sysfsRoot ? { sysfsRoot: opts.sysfsRoot } : {}), ...(opts.logger ? { logger: opts.logger } : {}) });
    case 'none':
      return new UnavailableGpioBackend(found.reason);
  }
}
