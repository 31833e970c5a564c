/**
 * GPIO backend auto-detection on temp directories shaped like /dev, /sys and
 * PATH (the development machines have no GPIO chip and no sysfs GPIO).
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoGpioBackend, detectGpioBackend, findOnPath, UnavailableGpioBackend } from '../../../drivers/transports/gpio-auto.js';
import { ChardevGpioBackend } from '../../../drivers/transports/gpio-chardev.js';
import { GpioUnavailableError, OnoffGpioBackend } from '../../../drivers/transports/gpio-onoff.js';

let root: string;
let dev: string; // with gpiochip0, gpiochip1
let emptyDev: string;
let sys: string; // with class/gpio
let emptySys: string;
let bin: string; // with an executable gpiomon
let noBin: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gpio-auto-'));
  dev = join(root, 'dev');
  emptyDev = join(root, 'dev-empty');
  sys = join(root, 'sys');
  emptySys = join(root, 'sys-empty');
  bin = join(root, 'bin');
  noBin = join(root, 'nobin');
  for (const d of [dev, emptyDev, join(sys, 'class', 'gpio'), emptySys, bin, noBin]) await mkdir(d, { recursive: true });
  for (const c of ['gpiochip10', 'gpiochip0', 'gpiochip1']) await writeFile(join(dev, c), '');
  await writeFile(join(dev, 'ttyS0'), '');
  await writeFile(join(bin, 'gpiomon'), '#!/bin/sh\n');
  await chmod(join(bin, 'gpiomon'), 0o755);
  await writeFile(join(noBin, 'gpiomon'), 'not executable');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('findOnPath', () => {
  it('finds executables only', () => {
    expect(findOnPath('gpiomon', { PATH: `${noBin}:${bin}` })).toBe(join(bin, 'gpiomon'));
    expect(findOnPath('gpiomon', { PATH: noBin })).toBeUndefined();
    expect(findOnPath('gpiomon', {})).toBeUndefined();
  });
});

describe('detectGpioBackend', () => {
  it('picks chardev when a chip exists and gpiomon is installed', () => {
    expect(detectGpioBackend({ devDir: dev, sysfsRoot: sys, env: { PATH: bin } })).toEqual({
      kind: 'chardev',
      reason: `${join(dev, 'gpiochip0')}, ${join(dev, 'gpiochip1')}, ${join(dev, 'gpiochip10')} and ${join(bin, 'gpiomon')} found`,
      chips: ['gpiochip0', 'gpiochip1', 'gpiochip10'],
    });
  });

  it('falls back to onoff when gpiomon is missing or there is no chip, saying why', () => {
    expect(detectGpioBackend({ devDir: dev, sysfsRoot: sys, env: { PATH: noBin } })).toMatchObject({
      kind: 'onoff',
      reason: expect.stringMatching(/chardev not used: gpiomon is not installed \(Debian package gpiod\)$/),
    });
    expect(detectGpioBackend({ devDir: emptyDev, sysfsRoot: sys, env: { PATH: bin } })).toMatchObject({
      kind: 'onoff',
      reason: expect.stringMatching(/chardev not used: no .*gpiochip\*$/),
    });
  });

  it('says what is missing when nothing is usable', () => {
    expect(detectGpioBackend({ devDir: emptyDev, sysfsRoot: emptySys, env: { PATH: bin } })).toEqual({
      kind: 'none',
      reason: `no usable GPIO backend: no GPIO character device (${join(emptyDev, 'gpiochip*')}); no sysfs GPIO (${join(emptySys, 'class', 'gpio')})`,
      chips: [],
    });
    expect(detectGpioBackend({ devDir: dev, sysfsRoot: emptySys, env: { PATH: noBin } }).reason).toMatch(
      /gpiomon is not installed \(Debian package gpiod\); no sysfs GPIO/,
    );
  });
});

describe('autoGpioBackend', () => {
  it('builds the detected backend', () => {
    expect(autoGpioBackend({ devDir: dev, sysfsRoot: sys, env: { PATH: bin } })).toBeInstanceOf(ChardevGpioBackend);
    expect(autoGpioBackend({ devDir: emptyDev, sysfsRoot: sys, env: { PATH: bin } })).toBeInstanceOf(OnoffGpioBackend);
  });

  it('without GPIO, returns a backend whose opens fail with the reason', async () => {
    const b = autoGpioBackend({ devDir: emptyDev, sysfsRoot: emptySys, env: { PATH: bin } });
    expect(b).toBeInstanceOf(UnavailableGpioBackend);
    expect(b.name).toBe('none');
    const err = await b.openInput('gpiochip0', 17, 'both').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpioUnavailableError);
    expect((err as Error).message).toMatch(/^gpio gpiochip0 line 17: no usable GPIO backend: no GPIO character device/);
    await expect(b.openOutput('gpiochip0', 4)).rejects.toThrow(/^gpio gpiochip0 line 4: no usable GPIO backend/);
  });
});
