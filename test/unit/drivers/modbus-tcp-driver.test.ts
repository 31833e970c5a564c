/**
 * Modbus TCP driver against the Modbus TCP simulator: over an in-memory pair
 * (one connection, as the demo room runs it) and over a real socket
 * (TcpTransport to ModbusTcpServerSim on 127.0.0.1).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createModbusTcpDriver, modbusTcpDriver, modbusTcpOptionsSchema, type ModbusTcpDriver } from '../../../drivers/modbus-tcp/driver.js';
import { ModbusTcpServerSim, ModbusTcpSim, type ModbusTcpSimOptions } from '../../../drivers/sim/modbus-tcp.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { TcpTransport } from '../../../drivers/transports/tcp.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import { ModbusExceptionError } from '../../../drivers/modbus/codec.js';
import { Mutex } from '../../../drivers/util/mutex.js';
import type { ByteTransport } from '../../../drivers/transports/types.js';
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

function driverOn(transport: ByteTransport, options: Record<string, unknown>, extras = {}): { driver: ModbusTcpDriver; ev: Events } {
  const driver = createModbusTcpDriver(
    {
      deviceId: `meter${String(options.unitId ?? 255)}`,
      options: modbusTcpOptionsSchema.parse({ timeoutMs: 60, pollSeconds: 3600, ...options }),
      transport: { type: 'bytes', transport },
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

function link(options: ModbusTcpSimOptions): { host: MemoryEnd; sim: ModbusTcpSim } {
  const [host, device] = createMemoryPair('modbus-tcp');
  const sim = new ModbusTcpSim(device, options);
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
  vi.useRealTimers();
  for (const c of cleanup.splice(0).reverse()) await c();
});

const co2 = { metric: 'co2', unit: 'ppm', function: 4, address: 0x100, type: 'float32', wordOrder: 'little' };

describe('modbus-tcp driver over one connection', () => {
  it('polls on open with unit id 255 by default: readings, state, online; transaction ids count up', async () => {
    const { host, sim } = link({ units: { 255: { input: { 1: 0xff92, 2: 655 } } } });
    const { driver, ev } = driverOn(host, { profile: 'xy-md02' }, { firstTransactionId: 0xfffe });
    await driver.open();
    await until(() => ev.states.length > 0);
    expect(ev.states[0]).toEqual({ temperature: -11, humidity: 65.5 });
    expect(ev.readings.map((r) => `${r.metric}=${r.value}${r.unit}`)).toEqual(['temperature=-11°C', 'humidity=65.5%RH']);
    expect(ev.online).toEqual([[true, undefined]]);
    await driver.execute('refresh', {});
    await driver.execute('refresh', {});
    expect(sim.log).toEqual([
      { transactionId: 0xfffe, unitId: 255, fc: 4 },
      { transactionId: 0xffff, unitId: 255, fc: 4 },
      { transactionId: 0, unitId: 255, fc: 4 },
    ]);
  });

  it('float32 little word order in holding and input registers, changes seen on refresh', async () => {
    const { host, sim } = link({ units: { 1: { input: { 0x100: 0, 0x101: 0 }, holding: { 7: 0 } } } });
    const { driver } = driverOn(host, {
      unitId: 1,
      registers: [co2, { metric: 'setpoint', unit: '°C', function: 3, address: 7, type: 'int16', scale: 0.5 }],
    });
    await driver.open();
    sim.units.setRegister(1, 'input', 0x100, 0x4000); // 412.5 as float32, low word first
    sim.units.setRegister(1, 'input', 0x101, 0x43ce);
    sim.units.setRegister(1, 'holding', 7, 44);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ setpoint: 22, co2: 412.5 });
  });

  it('an unmapped address -> ModbusExceptionError 02 naming device and command; still online', async () => {
    const { host } = link({ units: { 1: { input: { 1: 5 } } } });
    const { driver, ev } = driverOn(host, { unitId: 1, registers: [{ metric: 'x', unit: '', function: 4, address: 0x50, type: 'int16' }] });
    await driver.open();
    const err = await driver.execute('refresh', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as ModbusExceptionError).exceptionCode).toBe(2);
    expect((err as Error).message).toBe('meter1: refresh: device refused: Modbus exception 2 (illegal data address) to function 4 reading "x" at 0x0050');
    expect(driver.metricErrors.x).toMatchObject({ address: '0x0050', function: 4, exception: 2, name: 'ILLEGAL DATA ADDRESS' });
    expect(ev.online.at(-1)).toEqual([true, undefined]);
  });

  it('no reply: 1 + retries attempts with new transaction ids, then DeviceTimeoutError; offline after offlineAfter', async () => {
    const { host, sim } = link({ units: { 1: { input: { 1: 1, 2: 2 } } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02', retries: 2, offlineAfter: 2 }, { firstTransactionId: 10 });
    await driver.open();
    await until(() => ev.online.length === 1);
    sim.units.setSilent(1, true);
    const err = await driver.execute('refresh', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceTimeoutError);
    expect((err as Error).message).toBe('meter1: refresh: no reply within 60 ms');
    expect(sim.log.map((l) => l.transactionId)).toEqual([10, 11, 12, 13]);
    expect(ev.online).toEqual([[true, undefined]]);
    await expect(driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(ev.online.at(-1)?.[0]).toBe(false);
    sim.units.setSilent(1, false);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 0.1, humidity: 0.2 });
    expect(ev.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('a late reply to a timed-out transaction is dropped (not malformed); the retry is answered', async () => {
    const { host, sim } = link({ units: { 1: { input: { 1: 1, 2: 2 } } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02', retries: 2 }, { firstTransactionId: 100 });
    await driver.open();
    await until(() => ev.states.length === 1);
    // The driver waits 60 ms: attempt 1 (tid 101) times out; its reply (at 90 ms) lands while
    // attempt 2 (tid 102, sent at 60 ms, answered at 110 ms) waits.
    sim.delayNextReply(90);
    sim.delayNextReply(50);
    const wire: number[] = [];
    host.on('data', (c) => wire.push(c.readUInt16BE(0)));
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 0.1, humidity: 0.2 });
    expect(wire).toEqual([101, 102]);
    expect(sim.log.map((l) => l.transactionId)).toEqual([100, 101, 102]);
    expect(ev.malformed).toEqual([]);
  });

  it('garbage before a reply is reported as malformed and the reply still decoded', async () => {
    const { host, sim } = link({ units: { 1: { input: { 1: 10, 2: 20 } } } });
    const { driver, ev } = driverOn(host, { unitId: 1, profile: 'xy-md02' });
    await driver.open();
    await until(() => ev.states.length === 1);
    sim.garbageBeforeNextReply(Buffer.from([0xde, 0xad, 0x00, 0x00]));
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 1, humidity: 2 });
    expect(ev.malformed).toEqual(['skipped 4 byte(s) before reply: DE AD 00 00']);
  });

  it('behind a gateway: exception 0B for a dead unit counts as no answer (offline), other units unaffected', async () => {
    const { host, sim } = link({ units: { 1: { input: { 1: 1, 2: 2 } }, 2: { input: { 1: 3, 2: 4 } } }, gateway: true });
    const lock = new Mutex();
    const a = driverOn(host, { unitId: 1, profile: 'xy-md02', offlineAfter: 1 }, { lock, ownsTransport: false });
    const b = driverOn(host, { unitId: 2, profile: 'xy-md02', offlineAfter: 1 }, { lock, ownsTransport: false });
    await a.driver.open();
    await b.driver.open();
    await until(() => a.ev.online.length === 1 && b.ev.online.length === 1);
    sim.units.setSilent(1, true);
    const err = await a.driver.execute('refresh', {}).catch((e: unknown) => e);
    expect((err as ModbusExceptionError).exceptionCode).toBe(0x0b);
    expect(a.ev.online.at(-1)?.[0]).toBe(false);
    await expect(b.driver.execute('refresh', {})).resolves.toEqual({ temperature: 0.3, humidity: 0.4 });
    expect(b.ev.online).toEqual([[true, undefined]]);
    // Two units, one connection, one lock: concurrent refreshes take turns and all succeed.
    sim.units.setSilent(1, false);
    const all = await Promise.all([a.driver.execute('refresh', {}), b.driver.execute('refresh', {}), a.driver.execute('refresh', {})]);
    expect(all).toEqual([
      { temperature: 0.1, humidity: 0.2 },
      { temperature: 0.3, humidity: 0.4 },
      { temperature: 0.1, humidity: 0.2 },
    ]);
    await a.driver.close();
    expect(host.isUp).toBe(true);
  });

  it('link down -> DeviceOfflineError at once, online false; back up -> polled and online', async () => {
    const { host } = link({ units: { 255: { input: { 1: 1, 2: 2 } } } });
    const { driver, ev } = driverOn(host, { profile: 'xy-md02', timeoutMs: 5000 });
    await driver.open();
    await until(() => ev.online.length === 1);
    host.setUnplugged(true);
    await expect(driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(ev.online.at(-1)).toEqual([false, 'transport down: modbus-tcp (host end) unplugged']);
    host.setUnplugged(false);
    await until(() => ev.online.length === 3);
    expect(ev.online.at(-1)?.[0]).toBe(true);
    expect(ev.states.length).toBe(2);
  });

  it('polls every pollSeconds', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { host, sim } = link({ units: { 255: { input: { 1: 200, 2: 500 } } } });
    const { driver, ev } = driverOn(host, { profile: 'xy-md02', pollSeconds: 10 });
    await driver.open();
    await until(() => ev.states.length === 1);
    sim.units.setRegister(255, 'input', 1, 0xfffb);
    vi.advanceTimersByTime(10_000);
    await until(() => ev.states.length === 2);
    expect(ev.states[1]).toEqual({ temperature: -0.5, humidity: 50 });
  });

  it('options, capabilities and commands', async () => {
    expect(modbusTcpOptionsSchema.safeParse({ unitId: 1 }).success).toBe(false); // no register map
    expect(modbusTcpOptionsSchema.safeParse({ unitId: 256, profile: 'xy-md02' }).success).toBe(false);
    expect(modbusTcpOptionsSchema.parse({ profile: 'xy-md02' })).toMatchObject({ unitId: 255, timeoutMs: 1000, retries: 1, pollSeconds: 30 });
    expect(modbusTcpDriver.multidrop).toBe(true);
    expect(modbusTcpDriver.capabilities(modbusTcpOptionsSchema.parse({ registers: [co2] }))).toMatchObject([
      { type: 'sensor', meta: { metric: 'co2', unit: 'ppm' } },
      { type: 'status' },
    ]);
    const { host } = link({ units: { 255: { input: { 1: 1, 2: 2 } } } });
    const { driver } = driverOn(host, { profile: 'xy-md02' });
    await driver.open();
    expect(((await driver.execute('power', { on: true }).catch((e: unknown) => e)) as DeviceError).code).toBe('unsupported');
    expect(((await driver.execute('refresh', { x: 1 }).catch((e: unknown) => e)) as DeviceError).code).toBe('invalid-args');
  });
});

describe('modbus-tcp driver over a real socket', () => {
  it('TcpTransport to ModbusTcpServerSim: reads, survives the server dropping the connection', async () => {
    const server = await ModbusTcpServerSim.listen({ units: { 255: { input: { 1: 215, 2: 400 } } } });
    cleanup.push(() => server.close());
    const transport = new TcpTransport({ host: '127.0.0.1', port: server.port, reconnect: { initialMs: 20, maxMs: 100 } });
    const { driver, ev } = driverOn(transport, { profile: 'xy-md02', timeoutMs: 500 });
    await driver.open();
    await until(() => ev.states.length === 1);
    expect(ev.states[0]).toEqual({ temperature: 21.5, humidity: 40 });
    expect(server.connections).toBe(1);
    server.dropConnections(); // the device reboots
    await until(() => ev.online.some(([o]) => !o));
    await until(() => ev.online.at(-1)?.[0] === true && ev.states.length === 2);
    server.units.setRegister(255, 'input', 1, 230);
    await expect(driver.execute('refresh', {})).resolves.toEqual({ temperature: 23, humidity: 40 });
    expect(ev.online.map((o) => o[0])).toEqual([true, false, true]);
  });
});
