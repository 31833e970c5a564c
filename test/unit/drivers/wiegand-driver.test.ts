/**
 * The Wiegand driver against WiegandSim, which drives the D0/D1 lines of a
 * FakeGpioBackend with timestamped edges (no GPIO hardware exists on the
 * development machines; shared/PROTOCOLS.md). Fake timers run the 25 ms
 * end-of-frame timer.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CardRead } from '../../../drivers/contract.js';
import { DeviceError } from '../../../drivers/errors.js';
import { WiegandSim } from '../../../drivers/sim/wiegand.js';
import { FakeGpioBackend } from '../../../drivers/transports/gpio-fake.js';
import { createMemoryPair } from '../../../drivers/transports/memory.js';
import { wiegandDriver, wiegandOptionsSchema, type WiegandOptions } from '../../../drivers/wiegand/driver.js';
import type { Clock } from '../../../edge/util/clock.js';
import { silentLogger } from '../../../edge/util/logger.js';

const EPOCH = 1_767_225_600_000;
const CHIP = 'gpiochip0';
const D0 = 17;
const D1 = 27;

class ManualClock implements Clock {
  private t = 0;
  now(): number {
    return EPOCH + this.t;
  }
  monotonic(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

interface Rig {
  gpio: FakeGpioBackend;
  sim: WiegandSim;
  clock: ManualClock;
  driver: ReturnType<typeof wiegandDriver.create>;
  cards: CardRead[];
  malformed: string[];
  online: [boolean, string | undefined][];
}

const rigs: Rig[] = [];

function create(options: Partial<WiegandOptions> & { d1Line: number }, gpio = new FakeGpioBackend()): Rig {
  const clock = new ManualClock();
  const sim = new WiegandSim(gpio, { chip: CHIP, d0Line: options.d0Line ?? D0, d1Line: options.d1Line });
  const driver = wiegandDriver.create({
    deviceId: 'door-reader',
    options: wiegandOptionsSchema.parse(options),
    transport: { type: 'gpio', backend: gpio, chip: CHIP, line: D0 },
    logger: silentLogger(),
    clock,
  });
  const r: Rig = { gpio, sim, clock, driver, cards: [], malformed: [], online: [] };
  driver.on('card', (c) => r.cards.push(c));
  driver.on('malformed', (d) => r.malformed.push(d));
  driver.on('online', (on, reason) => r.online.push([on, reason]));
  rigs.push(r);
  return r;
}

async function rig(options: Partial<WiegandOptions> = {}): Promise<Rig> {
  const r = create({ d1Line: D1, ...options });
  await r.driver.open();
  return r;
}

/** Past the end-of-frame timer (25 ms + margin). */
const quiet = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(160);
};

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.driver.close();
  vi.useRealTimers();
});

describe('wiegand options and definition', () => {
  it('needs d1Line; defaults to auto format, 1500 ms debounce, 5-1000 us pulses', () => {
    expect(wiegandOptionsSchema.safeParse({}).success).toBe(false);
    expect(wiegandOptionsSchema.parse({ d1Line: 27 })).toEqual({
      d1Line: 27,
      format: 'auto',
      debounceMs: 1500,
      invert: false,
      pulseMinUs: 5,
      pulseMaxUs: 1000,
    });
    expect(wiegandOptionsSchema.safeParse({ d1Line: 27, format: 'w37' }).success).toBe(false);
    expect(wiegandOptionsSchema.safeParse({ d1Line: 27, pulseMinUs: 200, pulseMaxUs: 100 }).success).toBe(false);
  });

  it('refuses a byte transport and D0 = D1', () => {
    const base = { logger: silentLogger(), clock: new ManualClock(), deviceId: 'door-reader' };
    expect(() =>
      wiegandDriver.create({ ...base, options: wiegandOptionsSchema.parse({ d1Line: 1 }), transport: { type: 'bytes', transport: createMemoryPair()[0] } }),
    ).toThrow(/door-reader: wiegand needs a gpio transport/);
    expect(() =>
      wiegandDriver.create({
        ...base,
        options: wiegandOptionsSchema.parse({ d1Line: D0 }),
        transport: { type: 'gpio', backend: new FakeGpioBackend(), chip: CHIP, line: D0 },
      }),
    ).toThrow(/D0 and D1 must be different lines \(both are 17\)/);
  });
});

describe('wiegand driver', () => {
  it('reads the W26 fixture card (FC 123, card 4567) once the frame ends', async () => {
    const r = await rig();
    expect(r.online).toEqual([[true, undefined]]);
    r.clock.advance(5000);
    const edges = r.sim.present(123, 4567, 'w26');
    expect(edges.map((e) => (e.value === 0 ? (e.line === D1 ? '1' : '0') : '')).join('')).toBe('10111101100010001110101110');
    expect(r.cards).toEqual([]); // the frame is not over yet
    await quiet();
    expect(r.cards).toEqual([{ uid: '7B11D7', number: '123,04567', format: 'w26', ts: EPOCH + 5000 }]);
    expect(r.malformed).toEqual([]);
  });

  it('reads W34 with format auto and with format w34', async () => {
    for (const format of ['auto', 'w34'] as const) {
      const r = await rig({ format });
      r.sim.present(4660, 22136, 'w34');
      await quiet();
      expect(r.cards).toMatchObject([{ uid: '12345678', number: '04660,22136', format: 'w34' }]);
      await r.driver.close();
    }
  });

  it('uses d0Line from the options over the transport line', async () => {
    const r = await rig({ d0Line: 22, d1Line: 23 });
    r.sim.present(1, 2);
    await quiet();
    expect(r.cards).toMatchObject([{ uid: '010002' }]);
  });

  it('reads two cards presented back to back', async () => {
    const r = await rig();
    r.sim.present(123, 4567);
    r.sim.present(200, 65535);
    await quiet();
    expect(r.cards.map((c) => c.number)).toEqual(['123,04567', '200,65535']);
  });

  it('debounces a repeated card, and counts it again after debounceMs', async () => {
    const r = await rig({ debounceMs: 1500 });
    r.sim.present(123, 4567);
    await quiet();
    r.clock.advance(1000);
    r.sim.present(123, 4567);
    await quiet();
    expect(r.cards).toHaveLength(1);
    r.clock.advance(1500);
    r.sim.present(123, 4567);
    await quiet();
    expect(r.cards.map((c) => c.ts)).toEqual([EPOCH, EPOCH + 2500]);
  });

  it('reports bad parity, a truncated frame, a format mismatch and noise as malformed, then reads the next card', async () => {
    const r = await rig({ format: 'w26' });
    r.sim.sendBits('00111101100010001110101110'); // first (even parity) bit flipped
    r.sim.sendBits('1011110110001000111010111'); // 25 bits
    r.sim.present(1, 1, 'w34');
    r.sim.noise('short');
    r.sim.noise('long');
    r.sim.noise('both-low');
    r.sim.present(123, 4567);
    await quiet();
    expect(r.malformed).toEqual([
      'door-reader: w26: even parity (first bit) fails (bits 00111101100010001110101110)',
      'door-reader: wrong bit count: 25 bit(s), expected 26 (bits 1011110110001000111010111)',
      expect.stringMatching(/^door-reader: wrong bit count: 34 bit\(s\), expected 26/),
      'door-reader: noise: D0 pulse too short (1000 ns); D1 pulse too short (1000 ns) (4 edge(s))',
      'door-reader: noise: D0 pulse too long (5000 us) (2 edge(s))',
      'door-reader: noise: both lines low at once (4 edge(s))',
    ]);
    expect(r.cards).toMatchObject([{ uid: '7B11D7' }]);
  });

  it('reads inverted lines (idle low) with invert: true', async () => {
    const gpio = new FakeGpioBackend();
    const r = create({ d1Line: D1, invert: true }, gpio);
    gpio.setLevel(CHIP, D0, 0);
    gpio.setLevel(CHIP, D1, 0);
    await r.driver.open();
    const edges = r.sim.edgesFor([1, 0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0], 1_000_000_000n);
    for (const e of edges) gpio.replay(CHIP, e.line, [{ value: e.value === 1 ? 0 : 1, tsNs: e.tsNs }]);
    await quiet();
    expect(r.cards).toMatchObject([{ uid: '7B11D7', number: '123,04567' }]);
  });

  it('goes offline with the reason when a line cannot be opened, and retries until it can', async () => {
    const gpio = new FakeGpioBackend();
    gpio.failOpen(CHIP, D1, new Error('gpio gpiochip0 line 27: line busy'));
    const r = create({ d1Line: D1 }, gpio);
    await r.driver.open(); // never rejects
    expect(r.online).toEqual([[false, 'gpio gpiochip0 line 27: line busy']]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.online).toHaveLength(1); // logged and emitted once per outage
    gpio.failOpen(CHIP, D1, undefined);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(r.online).toEqual([
      [false, 'gpio gpiochip0 line 27: line busy'],
      [true, undefined],
    ]);
    r.sim.present(123, 4567);
    await quiet();
    expect(r.cards).toHaveLength(1);
  });

  it('stops listening when closed', async () => {
    const r = await rig();
    await r.driver.close();
    r.sim.present(123, 4567);
    await quiet();
    expect(r.cards).toEqual([]);
    expect(r.malformed).toEqual([]);
  });

  it('rejects every command as unsupported, naming device and command', async () => {
    const r = await rig();
    const err = await r.driver.execute('power', { on: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err).toMatchObject({ code: 'unsupported', device: 'door-reader', command: 'power' });
  });
});
