/**
 * gpio-relay driver on the fake GPIO backend: levels written (active-high and
 * active-low), pulses timed with fake timers, pulse mode, a line that cannot
 * be opened at first, read-back checking.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createGpioRelayDriver, gpioRelayDriver, gpioRelayOptionsSchema, type GpioRelayDriver } from '../../../drivers/gpio-relay/driver.js';
import { FakeGpioBackend } from '../../../drivers/transports/gpio-fake.js';
import type { GpioBackend, GpioOutput } from '../../../drivers/transports/gpio.js';
import { DeviceError, DeviceOfflineError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

const CHIP = 'gpiochip0';
const LINE = 17;
const cleanup: Array<() => Promise<void>> = [];

function relay(backend: GpioBackend, options: Record<string, unknown> = {}): { driver: GpioRelayDriver; states: StatePatch[]; online: Array<[boolean, string | undefined]> } {
  const driver = createGpioRelayDriver(
    {
      deviceId: 'lights',
      options: gpioRelayOptionsSchema.parse(options),
      transport: { type: 'gpio', backend, chip: CHIP, line: LINE },
      logger: silentLogger(),
      clock: systemClock,
    },
    { reopen: { initialMs: 100, maxMs: 100 } },
  );
  const states: StatePatch[] = [];
  const online: Array<[boolean, string | undefined]> = [];
  driver.on('state', (p) => states.push(p));
  driver.on('online', (o, why) => online.push([o, why]));
  cleanup.push(() => driver.close());
  return { driver, states, online };
}

/** Fake backend whose write timestamps follow the (possibly fake) Date clock. */
const fakeGpio = (): FakeGpioBackend => new FakeGpioBackend({ nowNs: () => BigInt(Date.now()) * 1_000_000n });
const levels = (gpio: FakeGpioBackend): number[] => gpio.writes(CHIP, LINE).map((w) => w.level);

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  vi.useRealTimers();
});

describe('gpio-relay', () => {
  it('opens at the initial state without a glitch, online, state reported', async () => {
    const gpio = fakeGpio();
    const { driver, states, online } = relay(gpio);
    await driver.open();
    expect(gpio.writes(CHIP, LINE)).toMatchObject([{ value: 0, level: 0 }]);
    expect(states).toEqual([{ on: false }]);
    expect(online).toEqual([[true, undefined]]);
  });

  it('set on/off drives the line; active-low inverts the electrical level', async () => {
    const gpio = fakeGpio();
    const { driver } = relay(gpio, { activeLow: true, initial: 'on' });
    await driver.open();
    await expect(driver.execute('set', { on: false })).resolves.toEqual({ on: false });
    await expect(driver.execute('set', { on: true })).resolves.toEqual({ on: true });
    expect(gpio.writes(CHIP, LINE).map((w) => [w.value, w.level])).toEqual([
      [1, 0],
      [0, 1],
      [1, 0],
    ]);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ on: true });
  });

  it('pulse: on now, off after ms; the command answers at once', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = fakeGpio();
    const { driver, states } = relay(gpio);
    await driver.open();
    await expect(driver.execute('pulse', { ms: 500 })).resolves.toEqual({ on: true });
    await vi.advanceTimersByTimeAsync(499);
    expect(levels(gpio)).toEqual([0, 1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(levels(gpio)).toEqual([0, 1, 0]);
    const [, on, off] = gpio.writes(CHIP, LINE);
    expect(off!.tsNs - on!.tsNs).toBe(500_000_000n);
    expect(states.at(-1)).toEqual({ on: false });
  });

  it('pulse mode: set {on: true} is a pulse of pulseMs; set {on: false} stops it early', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = fakeGpio();
    const { driver } = relay(gpio, { pulseMs: 2000 });
    await driver.open();
    await driver.execute('set', { on: true });
    await vi.advanceTimersByTimeAsync(2000);
    expect(levels(gpio)).toEqual([0, 1, 0]);
    await driver.execute('set', { on: true });
    await vi.advanceTimersByTimeAsync(500);
    await driver.execute('set', { on: false });
    await vi.advanceTimersByTimeAsync(5000);
    expect(levels(gpio)).toEqual([0, 1, 0, 1, 0]);
    // A new pulse while one runs restarts the timer.
    await driver.execute('pulse', { ms: 1000 });
    await vi.advanceTimersByTimeAsync(800);
    await driver.execute('pulse', { ms: 1000 });
    await vi.advanceTimersByTimeAsync(800);
    expect(levels(gpio).at(-1)).toBe(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(levels(gpio).at(-1)).toBe(0);
  });

  it('pulse without ms and without pulseMs is refused; unknown commands are unsupported', async () => {
    const { driver } = relay(fakeGpio());
    await driver.open();
    const e1 = (await driver.execute('pulse', {}).catch((e: unknown) => e)) as DeviceError;
    expect(e1.code).toBe('invalid-args');
    expect(e1.message).toBe('lights: pulse: give "ms" (no default pulseMs configured)');
    expect(((await driver.execute('input', { source: 'x' }).catch((e: unknown) => e)) as DeviceError).code).toBe('unsupported');
    expect(((await driver.execute('set', { on: 'yes' }).catch((e: unknown) => e)) as DeviceError).code).toBe('invalid-args');
  });

  it('closing during a pulse switches the relay off', async () => {
    const gpio = fakeGpio();
    const { driver } = relay(gpio);
    await driver.open();
    await driver.execute('pulse', { ms: 60_000 });
    await driver.close();
    expect(levels(gpio)).toEqual([0, 1, 0]);
  });

  it('a line that cannot be opened: open rejects naming it, offline; retried until it opens', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const gpio = fakeGpio();
    gpio.failOpen(CHIP, LINE, new Error('EACCES: permission denied'));
    const { driver, states, online } = relay(gpio);
    await expect(driver.open()).rejects.toThrow('lights: gpio gpiochip0 line 17: EACCES: permission denied');
    expect(online).toEqual([[false, 'EACCES: permission denied']]);
    await expect(driver.execute('set', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    await vi.advanceTimersByTimeAsync(150);
    expect(online).toHaveLength(1); // still failing: not reported again
    gpio.failOpen(CHIP, LINE, undefined);
    await vi.advanceTimersByTimeAsync(150);
    expect(online.at(-1)).toEqual([true, undefined]);
    expect(states).toEqual([{ on: false }]);
    await expect(driver.execute('set', { on: true })).resolves.toEqual({ on: true });
  });

  it('a line that reads back something else than written is a protocol error naming the line', async () => {
    const stuck: GpioOutput = { write: async () => undefined, read: async () => 0, close: async () => undefined };
    const backend: GpioBackend = {
      name: 'stuck',
      openInput: async () => {
        throw new Error('no inputs');
      },
      openOutput: async () => stuck,
    };
    const { driver } = relay(backend);
    await driver.open();
    const err = (await driver.execute('set', { on: true }).catch((e: unknown) => e)) as DeviceError;
    expect(err.code).toBe('protocol');
    expect(err.message).toBe('lights: set: gpio gpiochip0 line 17 reads back 0 after writing 1');
  });

  it('capabilities: one output, no channels; pulse ms optional only with pulseMs', () => {
    const caps = gpioRelayDriver.capabilities(gpioRelayOptionsSchema.parse({}));
    expect(caps.map((c) => c.type)).toEqual(['relay', 'status']);
    expect(caps[0]?.commands.set?.args.safeParse({ on: true }).success).toBe(true);
    expect(caps[0]?.commands.set?.args.safeParse({ on: true, channel: '1' }).success).toBe(false);
    expect(caps[0]?.commands.pulse?.args.safeParse({}).success).toBe(false);
    const pulsed = gpioRelayDriver.capabilities(gpioRelayOptionsSchema.parse({ pulseMs: 1500 }));
    expect(pulsed[0]?.commands.pulse?.args.safeParse({}).success).toBe(true);
    expect(gpioRelayOptionsSchema.safeParse({ initial: 'maybe' }).success).toBe(false);
    expect(() =>
      createGpioRelayDriver({
        deviceId: 'x',
        options: gpioRelayOptionsSchema.parse({}),
        transport: { type: 'bytes', transport: undefined as never },
        logger: silentLogger(),
        clock: systemClock,
      }),
    ).toThrow('x: gpio-relay needs a gpio transport');
  });
});
