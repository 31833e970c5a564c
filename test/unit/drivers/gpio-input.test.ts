/**
 * gpio-input driver on the fake GPIO backend, replaying timestamped edges:
 * bouncing buttons, spikes, PIR occupancy with its hold time, door contacts
 * (active-low), a line that cannot be opened at first; and a property test of
 * the debouncer against a reference model.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { createGpioInputDriver, gpioInputDriver, gpioInputOptionsSchema, type GpioInputDriver } from '../../../drivers/gpio-input/driver.js';
import { Debouncer } from '../../../drivers/gpio-input/debounce.js';
import { FakeGpioBackend, type FakeEdge } from '../../../drivers/transports/gpio-fake.js';
import { DeviceError } from '../../../drivers/errors.js';
import type { Reading, StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import type { Clock } from '../../../edge/util/clock.js';

const CHIP = 'gpiochip0';
const LINE = 4;
const ms = (n: number): bigint => BigInt(n) * 1_000_000n;
/** Edges at (ms, electrical level). */
const edges = (...pairs: Array<[number, 0 | 1]>): FakeEdge[] => pairs.map(([t, value]) => ({ value, tsNs: ms(t) }));
const clock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };
const cleanup: Array<() => Promise<void>> = [];

interface Events {
  states: StatePatch[];
  readings: Reading[];
  online: Array<[boolean, string | undefined]>;
}

function input(gpio: FakeGpioBackend, options: Record<string, unknown>): { driver: GpioInputDriver; ev: Events } {
  const driver = createGpioInputDriver(
    {
      deviceId: 'in1',
      options: gpioInputOptionsSchema.parse(options),
      transport: { type: 'gpio', backend: gpio, chip: CHIP, line: LINE },
      logger: silentLogger(),
      clock,
    },
    { reopen: { initialMs: 100, maxMs: 100 } },
  );
  const ev: Events = { states: [], readings: [], online: [] };
  driver.on('state', (p) => ev.states.push(p));
  driver.on('reading', (r) => ev.readings.push(r));
  driver.on('online', (o, why) => ev.online.push([o, why]));
  cleanup.push(() => driver.close());
  return { driver, ev };
}

const metrics = (ev: Events): string[] => ev.readings.map((r) => `${r.metric}=${r.value}`);

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
  vi.useRealTimers();
});

describe('gpio-input: button', () => {
  it('a bouncing press and release give one press (after 50 ms of calm) and one release', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = new FakeGpioBackend();
    const { driver, ev } = input(gpio, { role: 'button' });
    await driver.open();
    expect(ev.states).toEqual([{ pressed: false }]);
    expect(ev.online).toEqual([[true, undefined]]);
    gpio.replay(CHIP, LINE, edges([0, 1], [1, 0], [2, 1], [4, 0], [5, 1]));
    await vi.advanceTimersByTimeAsync(49);
    expect(ev.readings).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(metrics(ev)).toEqual(['press=1']);
    expect(ev.states.at(-1)).toEqual({ pressed: true, lastPress: Date.now() });
    gpio.replay(CHIP, LINE, edges([300, 0], [301, 1], [303, 0]));
    await vi.advanceTimersByTimeAsync(50);
    expect(ev.states.at(-1)).toEqual({ pressed: false });
    expect(metrics(ev)).toEqual(['press=1']);
  });

  it('a spike shorter than debounceMs is ignored', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = new FakeGpioBackend();
    const { driver, ev } = input(gpio, { role: 'button', debounceMs: 20 });
    await driver.open();
    gpio.replay(CHIP, LINE, edges([0, 1], [5, 0]));
    await vi.advanceTimersByTimeAsync(100);
    expect(ev.readings).toEqual([]);
    expect(ev.states).toEqual([{ pressed: false }]);
  });

  it('edges delivered in one burst are judged by their timestamps: a 200 ms press counts', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = new FakeGpioBackend();
    const { driver, ev } = input(gpio, { role: 'button' });
    await driver.open();
    gpio.replay(CHIP, LINE, edges([1000, 1], [1001, 0], [1002, 1], [1200, 0]));
    expect(metrics(ev)).toEqual(['press=1']);
    await vi.advanceTimersByTimeAsync(50);
    expect(ev.states.map((s) => s.pressed)).toEqual([false, true, false]);
  });

  it('a button held at open is not a press; refresh never makes one', async () => {
    const gpio = new FakeGpioBackend();
    gpio.setLevel(CHIP, LINE, 1);
    const { driver, ev } = input(gpio, { role: 'button' });
    await driver.open();
    expect(ev.states).toEqual([{ pressed: true }]);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ pressed: true });
    expect(ev.readings).toEqual([]);
  });
});

describe('gpio-input: motion (PIR)', () => {
  it('occupied on motion, kept for holdSeconds after the last motion, renewed by new motion', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = new FakeGpioBackend();
    const { driver, ev } = input(gpio, { role: 'motion', holdSeconds: 60 });
    await driver.open();
    expect(ev.states).toEqual([{ motion: false, occupied: false }]);
    expect(metrics(ev)).toEqual(['occupancy=0']);
    gpio.replay(CHIP, LINE, edges([0, 1])); // no debounce for PIR: at once
    expect(ev.states.at(-1)).toEqual({ motion: true, occupied: true });
    gpio.replay(CHIP, LINE, edges([3000, 0]));
    await vi.advanceTimersByTimeAsync(40_000);
    gpio.replay(CHIP, LINE, edges([43_000, 1], [46_000, 0])); // someone moves again
    await vi.advanceTimersByTimeAsync(59_000);
    expect(ev.states.at(-1)).toEqual({ motion: false });
    expect(metrics(ev)).toEqual(['occupancy=0', 'occupancy=1']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(ev.states.at(-1)).toEqual({ occupied: false });
    expect(metrics(ev)).toEqual(['occupancy=0', 'occupancy=1', 'occupancy=0']);
  });
});

describe('gpio-input: door', () => {
  it('reed contact to 3.3 V with a pull-down (active-low: pin low = open): state and a reading on each change, and at open', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const gpio = new FakeGpioBackend();
    gpio.setLevel(CHIP, LINE, 1); // contact closed to 3.3 V: door shut
    const { driver, ev } = input(gpio, { role: 'door', activeLow: true });
    await driver.open();
    expect(ev.states).toEqual([{ open: false }]);
    gpio.replay(CHIP, LINE, edges([0, 0], [2, 1], [3, 0]));
    await vi.advanceTimersByTimeAsync(50);
    expect(ev.states.at(-1)).toEqual({ open: true });
    expect(metrics(ev)).toEqual(['door-open=0', 'door-open=1']);
    gpio.replay(CHIP, LINE, edges([5000, 1]));
    await vi.advanceTimersByTimeAsync(50);
    expect(metrics(ev)).toEqual(['door-open=0', 'door-open=1', 'door-open=0']);
    expect(ev.readings.at(-1)).toEqual({ metric: 'door-open', value: 0, unit: '', ts: Date.now() });
  });
});

describe('gpio-input: lifecycle', () => {
  it('a line that cannot be opened: rejects, offline, retried; then reports the level found', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const gpio = new FakeGpioBackend();
    gpio.failOpen(CHIP, LINE, new Error('no such GPIO chip'));
    const { driver, ev } = input(gpio, { role: 'door' });
    await expect(driver.open()).rejects.toThrow('in1: gpio gpiochip0 line 4: no such GPIO chip');
    expect(ev.online).toEqual([[false, 'no such GPIO chip']]);
    expect(((await driver.execute('refresh', {}).catch((e: unknown) => e)) as DeviceError).code).toBe('offline');
    gpio.failOpen(CHIP, LINE, undefined);
    gpio.setLevel(CHIP, LINE, 1);
    await vi.advanceTimersByTimeAsync(150);
    expect(ev.online.at(-1)).toEqual([true, undefined]);
    expect(ev.states).toEqual([{ open: true }]);
  });

  it('after close, edges are not reported; commands and capabilities', async () => {
    const gpio = new FakeGpioBackend();
    const { driver, ev } = input(gpio, { role: 'motion' });
    await driver.open();
    await driver.close();
    gpio.replay(CHIP, LINE, edges([0, 1]));
    expect(ev.states).toHaveLength(1);
    expect(((await driver.execute('set', { on: true }).catch((e: unknown) => e)) as DeviceError).code).toBe('unsupported');
    expect(gpioInputDriver.capabilities(gpioInputOptionsSchema.parse({ role: 'button' }))).toMatchObject([
      { type: 'binary-input', meta: { role: 'button', state: 'pressed', metric: 'press' } },
      { type: 'status' },
    ]);
    expect(gpioInputOptionsSchema.safeParse({ role: 'smoke' }).success).toBe(false);
  });
});

describe('Debouncer (property)', () => {
  /** Reference: a level counts when it held ≥ debounce until the next edge (or is the last edge) and differs from the last counted. */
  function reference(start: 0 | 1, evs: Array<{ value: 0 | 1; t: number }>, debounce: number): Array<0 | 1> {
    const out: Array<0 | 1> = [];
    let stable = start;
    evs.forEach((e, i) => {
      const next = evs[i + 1];
      const held = debounce === 0 || next === undefined || next.t - e.t >= debounce;
      if (held && e.value !== stable) {
        stable = e.value;
        out.push(stable);
      }
    });
    return out;
  }

  it('commits exactly the levels that held for debounceMs, never the same level twice', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    fc.assert(
      fc.property(
        fc.constantFrom(0 as const, 1 as const),
        fc.array(fc.tuple(fc.constantFrom(0 as const, 1 as const), fc.nat({ max: 120 })), { maxLength: 30 }),
        fc.constantFrom(0, 5, 20, 50),
        (start, raw, debounce) => {
          let t = 0;
          const evs = raw.map(([value, gap]) => ({ value, t: (t += gap) }));
          const got: Array<0 | 1> = [];
          const d = new Debouncer(debounce, (v) => got.push(v));
          d.reset(start);
          for (const e of evs) d.edge({ value: e.value, tsNs: ms(e.t) });
          vi.advanceTimersByTime(debounce + 1);
          d.stop();
          expect(got).toEqual(reference(start, evs, debounce));
        },
      ),
      { numRuns: 5000, seed: 0x44424e43 },
    );
  });
});
