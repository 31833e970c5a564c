/**
 * Modbus RTU driver against the simulator over an in-memory line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createModbusRtuDriver,
  modbusRtuDriver,
  modbusRtuOptionsSchema,
  type ModbusRtuDriver,
} from '../../../drivers/modbus-rtu/driver.js';
import { ModbusRtuSim } from '../../../drivers/sim/modbus-rtu.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import { ModbusExceptionError } from '../../../drivers/modbus/codec.js';
import { Mutex } from '../../../drivers/util/mutex.js';
import type { Reading, StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Events {
  states: StatePatch[];
  readings: Reading[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const cleanup: Array<() => Promise<void>> = [];

function driverOn(host: MemoryEnd, options: Record<string, unknown>, extras = {}): { driver: ModbusRtuDriver; ev: Events } {
  const driver = createModbusRtuDriver(
    {
      deviceId: `air${String(options.unitId)}`,
      options: modbusRtuOptionsSchema.parse({ timeoutMs: 40, pollSeconds: 3600, ...options }),
      transport: { type: 'bytes', transport: host },
      logger: silentLogger(),
      clock: systemClock,
    },
    extras,
  );
  const ev: Events = { states: [], readings: [], online: [], malformed: [] };
  driver.on('state', (p) => ev.states.push(p));
  driver.on('reading', (r) => ev.readings.push(r));
  driver.on('online', (o, why) => ev.online.push([o, why]));
  driver.on('malformed', (d) => ev.malformed.push(d));
  cleanup.push(() => driver.close());
  return { driver, ev };
}

function line(units: ConstructorParameters<typeof ModbusRtuSim>[1]['units'], replyDelayMs = 0): { host: MemoryEnd; sim: ModbusRtuSim } {
  const [host, device] = createMemoryPair('rs485');
  const sim = new ModbusRtuSim(device, { units, replyDelayMs });
  cleanup.push(() => sim.close());
  return { host, sim };
}

function until(cond: () => boolean, ms = 2000): Promise<void> {
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
  vi.useRealTimers();
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('modbus-rtu driver', () => {
  it('polls an XY-MD02 profile on open: one FC04 read, readings and state, online', async () => {
    const { host, sim } = line({ 1: { input: { 1: 0xff92, 2: 655 } } }); // -11.0 °C, 65.5 %RH
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02' });
    expect(driver.readPlan.map((b) => b.request)).toEqual([{ fc: 4, address: 1, quantity: 2 }]);
    await driver.open();
    await until(() => ev.states.length > 0);
    expect(ev.states[0]).toEqual({ temperature: -11, humidity: 65.5 });
    expect(ev.readings.map((r) => [r.metric, r.value, r.unit])).toEqual([
      ['temperature', -11, '°C'],
      ['humidity', 65.5, '%RH'],
    ]);
    expect(ev.readings[0]!.ts).toBeGreaterThan(Date.now() - 5000);
    expect(ev.online).toEqual([[true, undefined]]);
    expect(sim.log).toEqual([{ unitId: 1, fc: 4 }]);
  });

  it('refresh reads again and sees runtime changes (float32, little word order, holding registers)', async () => {
    const { host, sim } = line({ 7: { holding: { 0x100: 0, 0x101: 0 } } });
    sim.setValue(7, 'holding', 0x100, 'float32', 412.5, 'little');
    const { driver } = driverOn(host, {
      unitId: 7,
      registers: [{ metric: 'co2', unit: 'ppm', function: 3, address: 0x100, type: 'float32', wordOrder: 'little' }],
    });
    await driver.open();
    await expect(driver.execute('refresh', {})).resolves.toEqual({ co2: 412.5 });
    sim.setValue(7, 'holding', 0x100, 'float32', 980.25, 'little');
    await expect(driver.execute('refresh', {})).resolves.toEqual({ co2: 980.25 });
  });

  it('an unmapped address -> ModbusExceptionError (illegal data address); the unit is still online', async () => {
    const { host } = line({ 1: { input: { 1: 100 } } });
    const { driver, ev } = driverOn(host, {
      unitId: 1,
      registers: [{ metric: 'x', unit: '', function: 4, address: 0x50, type: 'int16' }],
    });
    await driver.open();
    const err = await driver.execute('refresh', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as ModbusExceptionError).exceptionCode).toBe(2);
    expect((err as Error).message).toMatch(/^air1: refresh: .*illegal data address/);
    expect(ev.online.at(-1)).toEqual([true, undefined]);
  });

  it('one refused block does not hide the others', async () => {
    const { host } = line({ 1: { input: { 1: 250 } } });
    const { driver } = driverOn(host, {
      unitId: 1,
      registers: [
        { metric: 't', unit: '°C', function: 4, address: 1, type: 'int16', scale: 0.1 },
        { metric: 'missing', unit: '', function: 4, address: 9, type: 'int16' },
      ],
    });
    await driver.open();
    await expect(driver.execute('refresh', {})).resolves.toEqual({ t: 25 });
  });

  it('a missing register inside a block: the others are still read, the missing one is in state and metricErrors', async () => {
    const { host, sim } = line({ 1: { input: { 0x100: 412, 0x102: 215 } } }); // no 0x0101
    const { driver, ev } = driverOn(host, {
      unitId: 1,
      registers: [
        { metric: 'co2', unit: 'ppm', function: 4, address: 0x100, type: 'uint16' },
        { metric: 'voc', unit: 'ppb', function: 4, address: 0x101, type: 'uint16' },
        { metric: 'temp', unit: '°C', function: 4, address: 0x102, type: 'int16', scale: 0.1 },
      ],
    });
    expect(driver.readPlan.map((b) => b.request)).toEqual([{ fc: 4, address: 0x100, quantity: 3 }]);
    await driver.open();
    await until(() => ev.states.length > 0);
    expect(ev.states[0]).toMatchObject({ co2: 412, temp: 21.5, voc: null, 'error:voc': expect.stringMatching(/^0x0101 FC04: exception 02 ILLEGAL DATA ADDRESS since /) });
    expect(driver.metricErrors.voc).toMatchObject({ address: '0x0101', function: 4, exception: 2, name: 'ILLEGAL DATA ADDRESS' });
    expect(driver.readPlan.map((b) => b.request)).toEqual([
      { fc: 4, address: 0x100, quantity: 1 },
      { fc: 4, address: 0x102, quantity: 1 },
    ]);
    expect(ev.online).toEqual([[true, undefined]]);
    // refresh tries the refused register again at once: once it exists, it recovers.
    sim.units.setRegister(1, 'input', 0x101, 77);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ voc: 77, co2: 412, temp: 21.5 });
    expect(ev.states.at(-1)).toEqual({ voc: 77, 'error:voc': null, co2: 412, temp: 21.5 });
    expect(driver.metricErrors).toEqual({});
  });

  it('silent unit -> timeout after 1 + retries attempts, offline after offlineAfter polls, back online on reply', async () => {
    const { host, sim } = line({ 1: { input: { 1: 10, 2: 20 } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02', retries: 2, offlineAfter: 2 });
    await driver.open();
    await until(() => ev.online.length === 1);
    sim.setSilent(1, true);
    const e1 = await driver.execute('refresh', {}).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceTimeoutError);
    expect((e1 as Error).message).toBe('air1: refresh: no reply within 40 ms');
    expect(ev.online).toEqual([[true, undefined]]);
    await expect(driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(ev.online.at(-1)?.[0]).toBe(false);
    sim.setSilent(1, false);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 1, humidity: 2 });
    expect(ev.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('a dropped request is retried: the reply to the retry is accepted', async () => {
    const { host } = line({ 1: { input: { 1: 10, 2: 20 } } });
    // Swallow requests on demand, like pymodbus does with a request behind line noise.
    let swallow = 0;
    let writes = 0;
    const realWrite = host.write.bind(host);
    host.write = async (bytes: Uint8Array): Promise<void> => {
      writes++;
      if (swallow > 0) {
        swallow--;
        return;
      }
      return realWrite(bytes);
    };
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02', retries: 2 });
    await driver.open();
    await until(() => ev.states.length === 1);
    swallow = 2;
    writes = 0;
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 1, humidity: 2 });
    expect(writes).toBe(3);
    swallow = 3;
    writes = 0;
    await expect(driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(writes).toBe(3); // 1 + retries, then give up
  });

  it('garbage before a reply is reported as malformed and the reply still decoded', async () => {
    const { host, sim } = line({ 1: { input: { 1: 10, 2: 20 } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02' });
    await driver.open();
    await until(() => ev.states.length === 1);
    sim.garbageBeforeNextReply(Buffer.from([0x00, 0x01, 0x04, 0xff, 0x13]));
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 1, humidity: 2 });
    expect(ev.malformed).toEqual(['skipped 5 byte(s) before reply: 00 01 04 FF 13']);
  });

  it('two units on one line, one shared bus lock: requests never overlap', async () => {
    const { host, sim } = line({ 1: { input: { 1: 215, 2: 400 } }, 2: { input: { 1: 0xffec, 2: 900 } } }, 5);
    const lock = new Mutex();
    const a = driverOn(host, { unitId: 1, profile: 'xy-md02' }, { busLock: lock, ownsTransport: false });
    const b = driverOn(host, { unitId: 2, profile: 'xy-md02' }, { busLock: lock, ownsTransport: false });
    await a.driver.open();
    await b.driver.open();
    const results = await Promise.all([
      a.driver.execute('refresh', {}),
      b.driver.execute('refresh', {}),
      a.driver.execute('refresh', {}),
      b.driver.execute('refresh', {}),
    ]);
    expect(results).toEqual([
      { temperature: 21.5, humidity: 40 },
      { temperature: -2, humidity: 90 },
      { temperature: 21.5, humidity: 40 },
      { temperature: -2, humidity: 90 },
    ]);
    expect(sim.collisions).toBe(0);
    expect(a.ev.malformed).toEqual([]);
    expect(b.ev.malformed).toEqual([]);
    expect(sim.log.length).toBeGreaterThanOrEqual(4);
    await a.driver.close();
    expect(host.isUp).toBe(true); // the line belongs to whoever shares it
  });

  it('transport down -> DeviceOfflineError at once and online false', async () => {
    const { host } = line({ 1: { input: { 1: 1, 2: 2 } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02', timeoutMs: 5000 });
    await driver.open();
    await until(() => ev.online.length === 1);
    host.setUnplugged(true);
    await expect(driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(ev.online.at(-1)).toEqual([false, 'transport down: rs485 (host end) unplugged']);
    host.setUnplugged(false);
    await until(() => ev.online.length === 3);
    expect(ev.online.at(-1)?.[0]).toBe(true);
  });

  it('polls every pollSeconds', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { host, sim } = line({ 1: { input: { 1: 200, 2: 500 } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02', pollSeconds: 30 });
    await driver.open();
    await until(() => ev.states.length === 1);
    sim.setRegister(1, 'input', 1, 0xfffb); // -0.5 °C
    vi.advanceTimersByTime(30_000);
    await until(() => ev.states.length === 2);
    expect(ev.states[1]).toEqual({ temperature: -0.5, humidity: 50 });
  });

  it('only refresh is a command', async () => {
    const { host } = line({ 1: { input: { 1: 1, 2: 2 } } });
    const { driver } = driverOn(host, { unitId: 1, profile: 'xy-md02' });
    await driver.open();
    expect(((await driver.execute('power', { on: true }).catch((e: unknown) => e)) as DeviceError).code).toBe('unsupported');
    expect(((await driver.execute('refresh', { x: 1 }).catch((e: unknown) => e)) as DeviceError).code).toBe('invalid-args');
    expect(modbusRtuDriver.capabilities(modbusRtuOptionsSchema.parse({ unitId: 1, profile: 'xy-md02' }))).toMatchObject([
      { type: 'sensor', meta: { metric: 'temperature', unit: '°C' } },
      { type: 'sensor', meta: { metric: 'humidity', unit: '%RH' } },
      { type: 'status' },
    ]);
  });
});
