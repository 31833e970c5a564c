/**
 * Modbus relay-board driver against the relay-board simulator over an
 * in-memory line (RTU, and MBAP framing for Ethernet boards), and sharing an
 * RS-485 line with a Modbus sensor.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createModbusRelayDriver,
  modbusRelayDriver,
  modbusRelayOptionsSchema,
  type ModbusRelayDriver,
} from '../../../drivers/modbus-relay/driver.js';
import { createModbusRtuDriver, modbusRtuOptionsSchema } from '../../../drivers/modbus-rtu/driver.js';
import { RelayBoardSim, type RelayBoardSimOptions } from '../../../drivers/sim/modbus-relay.js';
import { ModbusRtuSim } from '../../../drivers/sim/modbus-rtu.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import { ModbusExceptionError } from '../../../drivers/modbus/codec.js';
import { Mutex } from '../../../drivers/util/mutex.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Events {
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const cleanup: Array<() => Promise<void>> = [];

function driverOn(host: MemoryEnd, options: Record<string, unknown>, extras = {}): { driver: ModbusRelayDriver; ev: Events } {
  const driver = createModbusRelayDriver(
    {
      deviceId: 'relays',
      options: modbusRelayOptionsSchema.parse({ timeoutMs: 50, pollSeconds: 3600, ...options }),
      transport: { type: 'bytes', transport: host },
      logger: silentLogger(),
      clock: systemClock,
    },
    extras,
  );
  const ev: Events = { states: [], online: [], malformed: [] };
  driver.on('state', (p) => ev.states.push(p));
  driver.on('online', (o, why) => ev.online.push([o, why]));
  driver.on('malformed', (d) => ev.malformed.push(d));
  cleanup.push(() => driver.close());
  return { driver, ev };
}

function board(options: RelayBoardSimOptions): { host: MemoryEnd; sim: RelayBoardSim } {
  const [host, device] = createMemoryPair('rs485');
  const sim = new RelayBoardSim(device, options);
  cleanup.push(() => sim.close());
  return { host, sim };
}

function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('condition not met in time'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const ROOM = { lights: 0, screen: 1, curtain: 2, fan: 7 };

describe('modbus-relay driver (RTU)', () => {
  it('reads every channel on open (FC01 per run of coils), reports state and online', async () => {
    const { host, sim } = board({ unitId: 3, channels: ROOM });
    sim.switchByHand('screen', true);
    const { driver, ev } = driverOn(host, { unitId: 3, channels: ROOM });
    await driver.open();
    await until(() => ev.states.length === 1);
    expect(ev.states[0]).toEqual({ 'on.lights': false, 'on.screen': true, 'on.curtain': false, 'on.fan': false });
    expect(ev.online).toEqual([[true, undefined]]);
    expect(sim.requests).toEqual([
      { unitId: 3, fc: 1 },
      { unitId: 3, fc: 1 },
    ]);
  });

  it('set one channel (FC05) and all channels (FC0F + FC05 across the gap); state is what the board confirmed', async () => {
    const { host, sim } = board({ unitId: 3, channels: ROOM });
    const { driver, ev } = driverOn(host, { unitId: 3, channels: ROOM });
    await driver.open();
    await until(() => ev.states.length === 1);
    await expect(driver.execute('set', { on: true, channel: 'lights' })).resolves.toEqual({ 'on.lights': true });
    expect(sim.isOn('lights')).toBe(true);
    expect(sim.requests.at(-1)).toEqual({ unitId: 3, fc: 5 });
    await expect(driver.execute('set', { on: true })).resolves.toEqual({ 'on.lights': true, 'on.screen': true, 'on.curtain': true, 'on.fan': true });
    expect(sim.requests.slice(-2)).toEqual([
      { unitId: 3, fc: 15 },
      { unitId: 3, fc: 5 },
    ]);
    expect(['lights', 'screen', 'curtain', 'fan'].map((c) => sim.isOn(c))).toEqual([true, true, true, true]);
    await driver.execute('set', { on: false, channel: 'fan' });
    expect(ev.states.at(-1)).toEqual({ 'on.fan': false });
    expect(sim.isOn('fan')).toBe(false);
  });

  it('a relay switched by hand on the board shows up on refresh', async () => {
    const { host, sim } = board({ unitId: 1, channels: 4 });
    const { driver } = driverOn(host, { unitId: 1, channels: 4 });
    await driver.open();
    sim.switchByHand('3', true);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ 'on.1': false, 'on.2': false, 'on.3': true, 'on.4': false });
  });

  it('pulse: on at once, off after ms (timed by the driver), state follows', async () => {
    const { host, sim } = board({ unitId: 1, channels: ROOM });
    const { driver, ev } = driverOn(host, { unitId: 1, channels: ROOM });
    await driver.open();
    await expect(driver.execute('pulse', { ms: 120, channel: 'curtain' })).resolves.toEqual({ 'on.curtain': true });
    expect(sim.isOn('curtain')).toBe(true);
    await until(() => !sim.isOn('curtain'));
    const [on, off] = sim.history('curtain');
    expect(on?.on).toBe(true);
    expect(off?.on).toBe(false);
    expect(off!.at - on!.at).toBeGreaterThanOrEqual(115);
    expect(off!.at - on!.at).toBeLessThan(400);
    await until(() => ev.states.at(-1)?.['on.curtain'] === false);
  });

  it('pulse uses the configured pulseMs; without one, ms is required', async () => {
    const { host, sim } = board({ unitId: 1, channels: 2 });
    const { driver } = driverOn(host, { unitId: 1, channels: 2, pulseMs: 60 });
    await driver.open();
    await driver.execute('pulse', { channel: '2' });
    await until(() => sim.history('2').length === 2);
    expect(sim.history('1')).toEqual([]);
    const other = board({ unitId: 1, channels: 2 });
    const plain = driverOn(other.host, { unitId: 1, channels: 2 });
    await plain.driver.open();
    const err = (await plain.driver.execute('pulse', { channel: '1' }).catch((e: unknown) => e)) as DeviceError;
    expect(err.code).toBe('invalid-args');
    expect(err.message).toBe('relays: pulse: give "ms" (no default pulseMs configured)');
  });

  it('a set during a pulse cancels the pending off', async () => {
    const { host, sim } = board({ unitId: 1, channels: 1 });
    const { driver } = driverOn(host, { unitId: 1, channels: 1 });
    await driver.open();
    await driver.execute('pulse', { ms: 80, channel: '1' });
    await driver.execute('set', { on: true, channel: '1' });
    await new Promise((r) => setTimeout(r, 150));
    expect(sim.isOn('1')).toBe(true);
    expect(sim.history('1').map((h) => h.on)).toEqual([true, true]);
  });

  it('a command that fails during a pulse does not cancel the end of the pulse', async () => {
    const { host, sim } = board({ unitId: 1, channels: 1 });
    const { driver } = driverOn(host, { unitId: 1, channels: 1 });
    await driver.open();
    await driver.execute('pulse', { ms: 10_000, channel: '1' });
    sim.setSilent(true);
    await expect(driver.execute('set', { on: true, channel: '1' })).rejects.toBeInstanceOf(DeviceTimeoutError);
    sim.setSilent(false);
    await until(() => !sim.isOn('1'));
    expect(sim.history('1').map((h) => h.on)).toEqual([true, false]);
  });

  it('closing during a pulse switches the relay off first', async () => {
    const { host, sim } = board({ unitId: 1, channels: 1 });
    const { driver } = driverOn(host, { unitId: 1, channels: 1 }, { ownsTransport: false });
    await driver.open();
    await driver.execute('pulse', { ms: 10_000, channel: '1' });
    await driver.close();
    expect(sim.isOn('1')).toBe(false);
  });

  it('a channel on a coil the board lacks -> ModbusExceptionError 02; unknown channel -> invalid-args', async () => {
    const { host } = board({ unitId: 1, channels: 2 });
    const { driver } = driverOn(host, { unitId: 1, channels: { lamp: 0, ghost: 9 } });
    await driver.open();
    const err = await driver.execute('set', { on: true, channel: 'ghost' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as ModbusExceptionError).exceptionCode).toBe(2);
    expect((err as Error).message).toBe('relays: set: device refused: Modbus exception 2 (illegal data address) to function 5');
    const bad = (await driver.execute('set', { on: true, channel: 'nope' }).catch((e: unknown) => e)) as DeviceError;
    expect(bad.code).toBe('invalid-args');
    expect(bad.message).toBe('relays: set: no channel "nope" (channels: lamp, ghost)');
  });

  it('board without power: commands time out, offline after offlineAfter; back -> online', async () => {
    const { host, sim } = board({ unitId: 1, channels: 2 });
    const { driver, ev } = driverOn(host, { unitId: 1, channels: 2, retries: 1, offlineAfter: 2 });
    await driver.open();
    await until(() => ev.online.length === 1);
    sim.setSilent(true);
    const err = await driver.execute('set', { on: true, channel: '1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceTimeoutError);
    expect((err as Error).message).toBe('relays: set: no reply within 50 ms');
    await expect(driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(ev.online.at(-1)).toEqual([false, 'relays: refresh: no reply within 50 ms']);
    sim.setSilent(false);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ 'on.1': false, 'on.2': false });
    expect(ev.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('unplugged line -> DeviceOfflineError at once; replugged -> polled again', async () => {
    const { host } = board({ unitId: 1, channels: 1 });
    const { driver, ev } = driverOn(host, { unitId: 1, channels: 1, timeoutMs: 5000 });
    await driver.open();
    await until(() => ev.online.length === 1);
    host.setUnplugged(true);
    await expect(driver.execute('set', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    host.setUnplugged(false);
    await until(() => ev.online.length === 3 && ev.states.length === 2);
  });

  it('shares an RS-485 line with a Modbus sensor: one lock, no collisions', async () => {
    const [host, device] = createMemoryPair('rs485');
    const sim = new ModbusRtuSim(device, { units: { 1: { input: { 1: 215, 2: 400 } }, 5: { coils: { 0: false, 1: false } } }, replyDelayMs: 3 });
    cleanup.push(() => sim.close());
    const lock = new Mutex();
    const relays = driverOn(host, { unitId: 5, channels: 2 }, { lock, ownsTransport: false });
    const sensor = createModbusRtuDriver(
      {
        deviceId: 'air',
        options: modbusRtuOptionsSchema.parse({ unitId: 1, profile: 'xy-md02', pollSeconds: 3600, timeoutMs: 50 }),
        transport: { type: 'bytes', transport: host },
        logger: silentLogger(),
        clock: systemClock,
      },
      { busLock: lock, ownsTransport: false },
    );
    cleanup.push(() => sensor.close());
    await relays.driver.open();
    await sensor.open();
    const results = await Promise.all([
      relays.driver.execute('set', { on: true, channel: '2' }),
      sensor.execute('refresh', {}),
      relays.driver.execute('refresh', {}),
      sensor.execute('refresh', {}),
    ]);
    expect(results).toEqual([{ 'on.2': true }, { temperature: 21.5, humidity: 40 }, { 'on.1': false, 'on.2': true }, { temperature: 21.5, humidity: 40 }]);
    expect(sim.collisions).toBe(0);
    expect(relays.ev.malformed).toEqual([]);
  });

  it('options and capabilities', () => {
    const opts = modbusRelayOptionsSchema.parse({ unitId: 1, channels: { lights: 0, screen: 1 }, pulseMs: 500 });
    expect(modbusRelayDriver.capabilities(opts)).toMatchObject([
      { type: 'relay', meta: { channels: ['lights', 'screen'], pulseMs: 500 } },
      { type: 'status' },
    ]);
    const caps = modbusRelayDriver.capabilities(opts);
    expect(caps[0]?.commands.set?.args.safeParse({ on: true, channel: 'lights' }).success).toBe(true);
    expect(caps[0]?.commands.set?.args.safeParse({ on: true, channel: 'x' }).success).toBe(false);
    expect(caps[0]?.commands.pulse?.args.safeParse({}).success).toBe(true);
    expect(modbusRelayOptionsSchema.safeParse({ unitId: 0, channels: 2 }).success).toBe(false); // RTU broadcast address
    expect(modbusRelayOptionsSchema.safeParse({ unitId: 255, channels: 2, framing: 'tcp' }).success).toBe(true);
    expect(modbusRelayOptionsSchema.safeParse({ unitId: 1, channels: { a: 0, b: 0 } }).success).toBe(false);
    expect(modbusRelayOptionsSchema.safeParse({ unitId: 1, channels: {} }).success).toBe(false);
    expect(modbusRelayOptionsSchema.safeParse({ unitId: 1, channels: { 'bad name': 0 } }).success).toBe(false);
  });
});

describe('modbus-relay driver (Modbus TCP framing)', () => {
  it('switches and reads an Ethernet relay board over MBAP', async () => {
    const { host, sim } = board({ unitId: 255, channels: 8, framing: 'tcp' });
    const { driver, ev } = driverOn(host, { unitId: 255, channels: 8, framing: 'tcp' });
    await driver.open();
    await until(() => ev.states.length === 1);
    await driver.execute('set', { on: true });
    expect(sim.requests.at(-1)).toMatchObject({ unitId: 255, fc: 15 });
    await driver.execute('set', { on: false, channel: '8' });
    await expect(driver.execute('refresh', {})).resolves.toEqual({
      'on.1': true,
      'on.2': true,
      'on.3': true,
      'on.4': true,
      'on.5': true,
      'on.6': true,
      'on.7': true,
      'on.8': false,
    });
  });
});
