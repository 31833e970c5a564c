/**
 * The onoff (sysfs) GPIO backend. No GPIO hardware exists on the development
 * machines, so: the chip-name mapping is tested on fake sysfs trees (shaped
 * like real kernels'), the onoff glue with an injected stand-in for the onoff
 * module, and the real onoff only for its graceful "not accessible" error.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GpioUnavailableError,
  OnoffGpioBackend,
  sysfsGpioNumber,
  type OnoffModule,
} from '../../../drivers/transports/gpio-onoff.js';

let root: string;

async function link(target: string, at: string): Promise<void> {
  await mkdir(dirname(at), { recursive: true });
  await symlink(relative(dirname(at), target), at);
}

/** A gpio device (chardev side) and its sysfs chip, like gpiolib registers them. */
async function addChip(
  sys: string,
  opts: { parent: string; chardev: string; base: number; ngpio: number; sysfs?: boolean },
): Promise<void> {
  const parent = join(sys, 'devices', opts.parent);
  const gdev = join(parent, opts.chardev);
  await mkdir(gdev, { recursive: true });
  await link(gdev, join(sys, 'bus', 'gpio', 'devices', opts.chardev));
  if (opts.sysfs === false) return;
  const chipDir = join(parent, 'gpio', `gpiochip${opts.base}`);
  await mkdir(chipDir, { recursive: true });
  await writeFile(join(chipDir, 'base'), `${opts.base}\n`);
  await writeFile(join(chipDir, 'ngpio'), `${opts.ngpio}\n`);
  await link(parent, join(chipDir, 'device'));
  await link(chipDir, join(sys, 'class', 'gpio', `gpiochip${opts.base}`));
}

async function sysfsRoot(name: string): Promise<string> {
  const sys = join(root, name);
  await mkdir(join(sys, 'class', 'gpio'), { recursive: true });
  await writeFile(join(sys, 'class', 'gpio', 'export'), '');
  return sys;
}

let modern: string;
let shared: string;
let legacy: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gpio-sysfs-'));
  // Raspberry Pi 5-like: chardev gpiochip0 has sysfs base 512; an I2C expander gpiochip1 at 570; gpiochip2 has no sysfs.
  modern = await sysfsRoot('modern');
  await addChip(modern, { parent: 'platform/soc/1f000d0000.gpio', chardev: 'gpiochip0', base: 512, ngpio: 54 });
  await addChip(modern, { parent: 'platform/soc/i2c-1/1-0020', chardev: 'gpiochip1', base: 570, ngpio: 8 });
  await addChip(modern, { parent: 'platform/soc/other', chardev: 'gpiochip2', base: 0, ngpio: 4, sysfs: false });
  // Two banks registered by one parent device.
  shared = await sysfsRoot('shared');
  await addChip(shared, { parent: 'platform/pio', chardev: 'gpiochip3', base: 632, ngpio: 32 });
  await addChip(shared, { parent: 'platform/pio', chardev: 'gpiochip2', base: 600, ngpio: 32 });
  // Old kernel without the chardev: only /sys/class/gpio/gpiochip<base>.
  legacy = await sysfsRoot('legacy');
  await mkdir(join(legacy, 'class', 'gpio', 'gpiochip0'), { recursive: true });
  await writeFile(join(legacy, 'class', 'gpio', 'gpiochip0', 'base'), '0\n');
  await writeFile(join(legacy, 'class', 'gpio', 'gpiochip0', 'ngpio'), '54\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('sysfsGpioNumber', () => {
  it('maps a chardev chip to its sysfs base through the parent device', async () => {
    expect(await sysfsGpioNumber('gpiochip0', 17, modern)).toBe(529);
    expect(await sysfsGpioNumber('gpiochip1', 3, modern)).toBe(573);
  });

  it('pairs several chips of one parent in order', async () => {
    expect(await sysfsGpioNumber('gpiochip2', 1, shared)).toBe(601);
    expect(await sysfsGpioNumber('gpiochip3', 1, shared)).toBe(633);
  });

  it('falls back to the sysfs directory name on kernels without the chardev', async () => {
    expect(await sysfsGpioNumber('gpiochip0', 4, legacy)).toBe(4);
  });

  it('names the chip and line when it cannot map them', async () => {
    await expect(sysfsGpioNumber('gpiochip0', 54, modern)).rejects.toThrow('gpio gpiochip0 line 54: chip has 54 lines (0..53)');
    await expect(sysfsGpioNumber('gpiochip7', 1, modern)).rejects.toThrow(
      'gpio gpiochip7 line 1: no such GPIO chip (known: gpiochip0, gpiochip1, gpiochip2)',
    );
    await expect(sysfsGpioNumber('gpiochip2', 1, modern)).rejects.toThrow('chip has no sysfs GPIO interface');
    await expect(sysfsGpioNumber('/dev/gpiochip0', 1, modern)).rejects.toThrow("chip must be named 'gpiochipN'");
    await expect(sysfsGpioNumber('gpiochip0', -1, modern)).rejects.toBeInstanceOf(GpioUnavailableError);
  });
});

/** Stand-in for the onoff module, recording what the backend asks of it. */
function fakeOnoff(accessible = true) {
  const made: { num: number; direction: string; edge: string | undefined; options: object | undefined }[] = [];
  const watchers: ((err: Error | null | undefined, value: 0 | 1) => void)[] = [];
  const calls: string[] = [];
  class Gpio {
    static accessible = accessible;
    constructor(num: number, direction: string, edge?: string, options?: object) {
      made.push({ num, direction, edge, options });
    }
    async read(): Promise<0 | 1> {
      return 1;
    }
    async write(v: 0 | 1): Promise<void> {
      calls.push(`write ${v}`);
    }
    watch(cb: (err: Error | null | undefined, value: 0 | 1) => void): void {
      watchers.push(cb);
    }
    unwatchAll(): void {
      calls.push('unwatchAll');
    }
    unexport(): void {
      calls.push('unexport');
    }
  }
  const mod = { Gpio, default: { Gpio } } as unknown as OnoffModule;
  return { mod, made, watchers, calls };
}

describe('OnoffGpioBackend', () => {
  it('opens an active-low output released (electrical high) on the mapped sysfs number', async () => {
    const fake = fakeOnoff();
    const gpio = new OnoffGpioBackend({ sysfsRoot: modern, load: async () => fake.mod });
    const out = await gpio.openOutput('gpiochip0', 17, { activeLow: true });
    expect(fake.made).toEqual([{ num: 529, direction: 'high', edge: undefined, options: { activeLow: true } }]);
    await out.write(1);
    await out.close();
    expect(fake.calls).toEqual(['write 1', 'unexport']);
    await gpio.openOutput('gpiochip0', 18, { initial: 1 });
    expect(fake.made[1]).toMatchObject({ num: 530, direction: 'high' });
    await gpio.openOutput('gpiochip0', 19);
    expect(fake.made[2]).toMatchObject({ num: 531, direction: 'low' });
  });

  it('opens inputs with edge and debounce and timestamps edge events', async () => {
    const fake = fakeOnoff();
    const gpio = new OnoffGpioBackend({ sysfsRoot: modern, load: async () => fake.mod });
    const input = await gpio.openInput('gpiochip1', 2, 'falling', { debounceMs: 10 });
    expect(fake.made).toEqual([{ num: 572, direction: 'in', edge: 'falling', options: { activeLow: false, debounceTimeout: 10 } }]);
    const events: { value: number; tsNs: bigint }[] = [];
    input.onEdge((e) => events.push(e));
    const before = process.hrtime.bigint();
    fake.watchers[0]!(null, 0);
    fake.watchers[0]!(new Error('EIO'), 1); // an error is logged, not delivered
    expect(events).toHaveLength(1);
    expect(events[0]!.value).toBe(0);
    expect(events[0]!.tsNs).toBeGreaterThanOrEqual(before);
    expect(await input.read()).toBe(1);
    await input.close();
    expect(fake.calls).toEqual(['unwatchAll', 'unexport']);
  });

  it('fails gracefully when onoff cannot be loaded or reports sysfs inaccessible', async () => {
    const broken = new OnoffGpioBackend({ sysfsRoot: modern, load: async () => Promise.reject(new Error('epoll.node not built')) });
    await expect(broken.openInput('gpiochip0', 4, 'both')).rejects.toThrow(
      'gpio gpiochip0 line 4: onoff could not be loaded: epoll.node not built',
    );
    const denied = new OnoffGpioBackend({ sysfsRoot: modern, load: async () => fakeOnoff(false).mod });
    await expect(denied.openOutput('gpiochip0', 4)).rejects.toThrow('onoff reports sysfs GPIO is not accessible');
  });

  it('with the real onoff on this machine (no sysfs GPIO), rejects with a clear error', async () => {
    // Precondition of this test: the machine has no sysfs GPIO (shared/PROTOCOLS.md). Fail loudly if that changes.
    expect(existsSync('/sys/class/gpio')).toBe(false);
    const gpio = new OnoffGpioBackend();
    const err = await gpio.openOutput('gpiochip0', 17, { activeLow: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpioUnavailableError);
    expect((err as GpioUnavailableError).message).toBe(
      'gpio gpiochip0 line 17: sysfs GPIO is not accessible (/sys/class/gpio/export missing or not writable; kernel without CONFIG_GPIO_SYSFS, or missing permissions)',
    );
    // The real module loads lazily and agrees that sysfs GPIO is unusable here.
    const real = new OnoffGpioBackend({ sysfsRoot: modern });
    await expect(real.openInput('gpiochip0', 4, 'both')).rejects.toThrow('onoff reports sysfs GPIO is not accessible');
  });
});
