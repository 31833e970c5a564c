import { afterEach, describe, expect, it } from 'vitest';
import type { CardRead } from '../../../drivers/contract.js';
import { DeviceError } from '../../../drivers/errors.js';
import { UidReaderSim } from '../../../drivers/sim/uid-reader.js';
import { FakeGpioBackend } from '../../../drivers/transports/gpio-fake.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { uidReaderDriver, uidReaderOptionsSchema, type UidReaderOptions } from '../../../drivers/uid-reader/driver.js';
import type { Clock } from '../../../edge/util/clock.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { UIDS } from './uid-reader-fixtures.js';

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
  sim: UidReaderSim;
  clock: ManualClock;
  driver: ReturnType<typeof uidReaderDriver.create>;
  cards: CardRead[];
  malformed: string[];
  online: [boolean, string | undefined][];
}

const rigs: Rig[] = [];

async function rig(options: Partial<UidReaderOptions> = {}): Promise<Rig> {
  const [host, device] = createMemoryPair('uid');
  const opts = uidReaderOptionsSchema.parse(options);
  const sim = new UidReaderSim(device, { encoding: opts.encoding, byteOrder: opts.byteOrder, terminator: opts.terminator, intervalMs: 1 });
  const clock = new ManualClock();
  const driver = uidReaderDriver.create({ deviceId: 'desk-reader', options: opts, transport: { type: 'bytes', transport: host }, logger: silentLogger(), clock });
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

describe('uid-reader options and definition', () => {
  it('defaults to hex, msb, crlf, 1500 ms debounce, any UID size', () => {
    expect(uidReaderOptionsSchema.parse({})).toEqual({ encoding: 'hex', byteOrder: 'msb', terminator: 'crlf', debounceMs: 1500 });
  });

  it('rejects unknown encodings, sizes, terminators and keys', () => {
    for (const bad of [{ encoding: 'base64' }, { uidBytes: 5 }, { terminator: 'nul' }, { byteorder: 'lsb' }, { debounceMs: -5 }]) {
      expect(uidReaderOptionsSchema.safeParse(bad).success).toBe(false);
    }
  });

  it('declares a card-reader capability and refuses a GPIO transport', () => {
    expect(uidReaderDriver.capabilities(uidReaderOptionsSchema.parse({}))).toEqual([{ type: 'card-reader', commands: {} }]);
    expect(() =>
      uidReaderDriver.create({
        deviceId: 'desk-reader',
        options: uidReaderOptionsSchema.parse({}),
        transport: { type: 'gpio', backend: new FakeGpioBackend(), chip: 'gpiochip0', line: 4 },
        logger: silentLogger(),
        clock: new ManualClock(),
      }),
    ).toThrow(/desk-reader: uid-reader needs a byte transport/);
  });
});

describe('uid-reader driver', () => {
  it.each([
    { encoding: 'hex', byteOrder: 'msb', terminator: 'crlf' },
    { encoding: 'hex', byteOrder: 'lsb', terminator: 'cr' },
    { encoding: 'decimal', byteOrder: 'lsb', terminator: 'crlf' },
    { encoding: 'decimal', byteOrder: 'msb', terminator: 'etx' },
    { encoding: 'hex', byteOrder: 'msb', terminator: 'lf' },
  ] as const)('reads canonical UIDs from a $encoding/$byteOrder/$terminator reader', async (fmt) => {
    const r = await rig({ ...fmt, uidBytes: undefined });
    await r.sim.present(UIDS.single.uid);
    await r.sim.present(UIDS.single2.uid);
    await r.sim.present(UIDS.double.uid);
    await settle();
    expect(r.cards.map((c) => c.uid)).toEqual([UIDS.single.uid, UIDS.single2.uid, UIDS.double.uid]);
    expect(r.cards.every((c) => c.format === 'iso14443' && c.ts === EPOCH)).toBe(true);
    expect(r.malformed).toEqual([]);
  });

  it('reports the printed decimal number in decimal mode, none in hex mode', async () => {
    const dec = await rig({ encoding: 'decimal', byteOrder: 'lsb' });
    await dec.sim.present(UIDS.single.uid);
    const hex = await rig();
    await hex.sim.present(UIDS.single.uid);
    await settle();
    expect(dec.cards).toEqual([{ uid: UIDS.single.uid, number: UIDS.single.decLsb, format: 'iso14443', ts: EPOCH }]);
    expect(hex.cards).toEqual([{ uid: UIDS.single.uid, format: 'iso14443', ts: EPOCH }]);
  });

  it('needs uidBytes for a 10-byte UID in decimal that happens to fit 7 bytes', async () => {
    const uid = '00000000000000000001'; // 10 bytes, value 1
    const guessed = await rig({ encoding: 'decimal', byteOrder: 'msb' });
    const told = await rig({ encoding: 'decimal', byteOrder: 'msb', uidBytes: 10 });
    await guessed.sim.present(uid);
    await told.sim.present(uid);
    await settle();
    expect(guessed.cards.map((c) => c.uid)).toEqual(['00000001']);
    expect(told.cards.map((c) => c.uid)).toEqual([uid]);
  });

  it('debounces a card held on the reader, and counts a new tap after debounceMs', async () => {
    const r = await rig({ debounceMs: 1500 });
    for (let i = 0; i < 5; i++) {
      await r.sim.present(UIDS.single.uid);
      await settle();
      r.clock.advance(1000); // 5 s of repeats, never 1.5 s apart
    }
    expect(r.cards).toHaveLength(1);
    r.clock.advance(1500);
    await r.sim.present(UIDS.single.uid);
    await settle();
    expect(r.cards.map((c) => c.ts)).toEqual([EPOCH, EPOCH + 6500]);
  });

  it('reports a different card at once; debounceMs 0 reports every line', async () => {
    const r = await rig();
    await r.sim.present(UIDS.single.uid);
    await r.sim.present(UIDS.single2.uid);
    await r.sim.present(UIDS.single.uid);
    const zero = await rig({ debounceMs: 0 });
    await zero.sim.present(UIDS.single.uid, 3);
    await settle();
    expect(r.cards.map((c) => c.uid)).toEqual([UIDS.single.uid, UIDS.single2.uid]);
    expect(zero.cards).toHaveLength(3);
  });

  it('emits malformed naming the device for bad lines and garbage, and keeps reading', async () => {
    const r = await rig();
    await r.sim.garbage('04A32B1\r\n'); // odd digits
    await r.sim.garbage([0xff, 0xfe, 0x0d, 0x0a]);
    await r.sim.garbage('HELLO\r\n');
    await r.sim.present(UIDS.single.uid);
    await settle();
    expect(r.malformed).toEqual([
      'desk-reader: odd number of hex digits (7): "04A32B1"',
      'desk-reader: non-printable bytes in line (3 byte(s): fffe0d)',
      'desk-reader: not a hex UID: "HELLO"',
    ]);
    expect(r.cards.map((c) => c.uid)).toEqual([UIDS.single.uid]);
  });

  it('follows the transport down and up, and drops a line cut by the outage', async () => {
    const r = await rig();
    expect(r.online).toEqual([[true, undefined]]);
    await r.sim.garbage('04A3');
    await settle();
    r.host.setUnplugged(true);
    await settle();
    expect(r.online.at(-1)).toEqual([false, 'uid (host end) unplugged']);
    r.host.setUnplugged(false);
    await settle();
    expect(r.online.at(-1)).toEqual([true, undefined]);
    await r.sim.present(UIDS.single2.uid);
    await settle();
    expect(r.cards.map((c) => c.uid)).toEqual([UIDS.single2.uid]); // not "04A3C45F5E2A"
    expect(r.malformed).toEqual([]);
    expect(r.online).toHaveLength(3);
  });

  it('rejects every command as unsupported, naming device and command', async () => {
    const r = await rig();
    const err = await r.driver.execute('refresh', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect(err).toMatchObject({ code: 'unsupported', device: 'desk-reader', command: 'refresh' });
  });
});
