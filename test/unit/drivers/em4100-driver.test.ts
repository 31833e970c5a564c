import { afterEach, describe, expect, it } from 'vitest';
import type { CardRead } from '../../../drivers/contract.js';
import { em4100Driver, em4100OptionsSchema, type Em4100Options } from '../../../drivers/em4100/driver.js';
import { DeviceError } from '../../../drivers/errors.js';
import { Em4100Sim } from '../../../drivers/sim/em4100.js';
import { FakeGpioBackend } from '../../../drivers/transports/gpio-fake.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import type { Clock } from '../../../edge/util/clock.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { FIXTURES } from './em4100-fixtures.js';

const EPOCH = 1_767_225_600_000; // 2026-01-01T00:00:00Z

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

/** Let memory-pair deliveries (setImmediate) and microtasks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

interface Rig {
  host: MemoryEnd;
  sim: Em4100Sim;
  clock: ManualClock;
  driver: ReturnType<typeof em4100Driver.create>;
  cards: CardRead[];
  malformed: string[];
  online: [boolean, string | undefined][];
}

const rigs: Rig[] = [];

async function rig(options: Partial<Em4100Options> = {}): Promise<Rig> {
  const [host, device] = createMemoryPair('em4100');
  const opts = em4100OptionsSchema.parse(options);
  const sim = new Em4100Sim(device, { format: opts.format, intervalMs: 1 });
  const clock = new ManualClock();
  const driver = em4100Driver.create({
    deviceId: 'reader',
    options: opts,
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock,
  });
  const r: Rig = { host, sim, clock, driver, cards: [], malformed: [], online: [] };
  driver.on('card', (c) => r.cards.push(c));
  driver.on('malformed', (d) => r.malformed.push(d));
  driver.on('online', (on, reason) => r.online.push([on, reason]));
  await driver.open();
  await settle();
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('em4100 options and definition', () => {
  it('defaults to rdm6300 with a 1500 ms debounce', () => {
    expect(em4100OptionsSchema.parse({})).toEqual({ format: 'rdm6300', debounceMs: 1500 });
  });

  it('rejects unknown formats, negative debounce and unknown keys', () => {
    expect(em4100OptionsSchema.safeParse({ format: 'wiegand' }).success).toBe(false);
    expect(em4100OptionsSchema.safeParse({ debounceMs: -1 }).success).toBe(false);
    expect(em4100OptionsSchema.safeParse({ debouceMs: 100 }).success).toBe(false);
  });

  it('declares a card-reader capability with no commands', () => {
    expect(em4100Driver.capabilities(em4100OptionsSchema.parse({}))).toEqual([{ type: 'card-reader', commands: {} }]);
  });

  it('refuses a GPIO transport', () => {
    expect(() =>
      em4100Driver.create({
        deviceId: 'reader',
        options: em4100OptionsSchema.parse({}),
        transport: { type: 'gpio', backend: new FakeGpioBackend(), chip: 'gpiochip0', line: 4 },
        logger: silentLogger(),
        clock: new ManualClock(),
      }),
    ).toThrow(/reader: em4100 needs a byte transport/);
  });
});

describe('em4100 driver', () => {
  it('emits one card event for a card held on the reader, with UID, printed number and time', async () => {
    const r = await rig();
    r.clock.advance(5000);
    await r.sim.present(FIXTURES.rdm6300.uid, 5);
    await settle();
    expect(r.cards).toEqual([
      { uid: FIXTURES.rdm6300.uid, number: FIXTURES.rdm6300.number, format: 'rdm6300', ts: EPOCH + 5000 },
    ]);
  });

  it('keeps one presentation while frames keep coming, longer than debounceMs in total', async () => {
    const r = await rig({ debounceMs: 1500 });
    for (let i = 0; i < 10; i++) {
      await r.sim.present(FIXTURES.rdm6300.uid, 1);
      await settle();
      r.clock.advance(400); // 4 s of frames, never 1.5 s apart
    }
    expect(r.cards).toHaveLength(1);
  });

  it('counts the same card as a new tap only after debounceMs without frames', async () => {
    const r = await rig({ debounceMs: 1500 });
    await r.sim.present(FIXTURES.rdm6300.uid, 2);
    await settle();
    r.clock.advance(1499);
    await r.sim.present(FIXTURES.rdm6300.uid, 2);
    await settle();
    expect(r.cards).toHaveLength(1);
    r.clock.advance(1500);
    await r.sim.present(FIXTURES.rdm6300.uid, 2);
    await settle();
    expect(r.cards.map((c) => c.ts)).toEqual([EPOCH, EPOCH + 2999]);
  });

  it('reports a different card at once, and does not re-emit the first one held in between', async () => {
    const r = await rig({ debounceMs: 1500 });
    await r.sim.present('62E3086CED', 1);
    await r.sim.present('0102030405', 1);
    await r.sim.present('62E3086CED', 1);
    await settle();
    expect(r.cards.map((c) => c.uid)).toEqual(['62E3086CED', '0102030405']);
  });

  it.each([
    { format: 'em18' as const, fixture: FIXTURES.em18 },
    { format: 'binary' as const, fixture: FIXTURES.binary },
  ])('decodes the $format format', async ({ format, fixture }) => {
    const r = await rig({ format });
    await r.sim.present(fixture.uid, 3);
    await settle();
    expect(r.cards).toEqual([{ uid: fixture.uid, number: fixture.number, format, ts: EPOCH }]);
  });

  it('emits malformed (naming the device) for garbage and bad checksums, and keeps working', async () => {
    const r = await rig();
    await r.sim.garbage([0xff, 0xfe, 0x00]);
    await settle();
    const bad = Buffer.from(FIXTURES.rdm6300.bytes);
    bad[12] = 0x39;
    await r.sim.garbage(bad);
    await settle();
    await r.sim.present(FIXTURES.rdm6300.uid, 1);
    await settle();
    expect(r.malformed).toHaveLength(2);
    expect(r.malformed[0]).toMatch(/^reader: bytes outside a frame \(3 byte\(s\): fffe00\)$/);
    expect(r.malformed[1]).toMatch(/^reader: checksum mismatch/);
    expect(r.cards).toHaveLength(1);
  });

  it('follows the transport up and down, and drops a frame cut by the outage', async () => {
    const r = await rig();
    expect(r.online).toEqual([[true, undefined]]);
    const frame = FIXTURES.rdm6300.bytes;
    await r.sim.garbage(frame.subarray(0, 6));
    await settle();
    r.host.setUnplugged(true);
    await settle();
    expect(r.online.at(-1)).toEqual([false, 'em4100 (host end) unplugged']);
    r.host.setUnplugged(false);
    await settle();
    expect(r.online.at(-1)).toEqual([true, undefined]);
    await r.sim.garbage(frame.subarray(6));
    await r.sim.present(FIXTURES.rdm6300.uid, 1);
    await settle();
    expect(r.cards).toHaveLength(1);
    expect(r.malformed).toHaveLength(1); // the orphaned second half
    expect(r.online).toHaveLength(3);
  });

  it('rejects every command as unsupported, naming device and command', async () => {
    const r = await rig();
    const err = await r.driver.execute('power', { on: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err).toMatchObject({ code: 'unsupported', device: 'reader', command: 'power' });
    expect((err as Error).message).toMatch(/^reader: power: /);
  });
});
