/**
 * Reading a register map around refused registers (drivers/modbus/register-reader.ts),
 * against a fake ModbusClient that answers like a unit with a sparse register
 * table (exception 02 for any read that touches a missing address), with a
 * fake clock and a captured logger.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DriverEmitter, type Reading, type StatePatch } from '../../../drivers/contract.js';
import { DeviceTimeoutError } from '../../../drivers/errors.js';
import type { ModbusClient } from '../../../drivers/modbus/client.js';
import { ModbusExceptionError, type ModbusRequest, type ModbusResponse } from '../../../drivers/modbus/codec.js';
import { Reachability } from '../../../drivers/modbus/poller.js';
import { metricErrorKey, RegisterReader } from '../../../drivers/modbus/register-reader.js';
import { registerSpecSchema, type RegisterSpec } from '../../../drivers/modbus/registers.js';
import type { ByteTransport } from '../../../drivers/transports/types.js';
import { createLogger } from '../../../edge/util/logger.js';

const T0 = Date.UTC(2026, 11, 7, 8, 0, 0);

/** A unit's register table behind the ModbusClient interface. */
class FakeUnit implements ModbusClient {
  readonly transport = {} as ByteTransport; // never touched by the reader
  readonly input = new Map<number, number>();
  readonly requests: string[] = [];
  silent = false;
  /** Exception for a read of more registers than this (0 = no limit). */
  maxQuantity = 0;
  /** Exception code for a missing address (02 by default; 0x0B plays a gateway whose target is dead). */
  missingCode = 2;
  /** Answer the next request with exception 06 SERVER DEVICE BUSY. */
  busyOnce = false;

  async request(command: string, req: ModbusRequest): Promise<ModbusResponse> {
    if (req.fc !== 4) throw new Error(`unexpected function ${req.fc}`);
    this.requests.push(`${req.address.toString(16)}x${req.quantity}`);
    if (this.silent) throw new DeviceTimeoutError('air', command, 40);
    if (this.busyOnce) {
      this.busyOnce = false;
      throw new ModbusExceptionError('air', command, 4, 6);
    }
    if (this.maxQuantity && req.quantity > this.maxQuantity) throw new ModbusExceptionError('air', command, 4, 3);
    const registers: number[] = [];
    for (let a = req.address; a < req.address + req.quantity; a++) {
      const v = this.input.get(a);
      if (v === undefined) throw new ModbusExceptionError('air', command, 4, this.missingCode);
      registers.push(v);
    }
    return { fc: 4, registers };
  }
  attach(): void {}
  detach(): void {}
  linkDown(): void {}
}

const spec = (metric: string, address: number): RegisterSpec => registerSpecSchema.parse({ metric, unit: 'u', function: 4, address, type: 'uint16' });
/** co2 (0x0100), voc (0x0101), temp (0x0102): one block of three. */
const MAP = [spec('co2', 0x100), spec('voc', 0x101), spec('temp', 0x102)];

function setup(specs: RegisterSpec[] = MAP, offlineAfter = 2) {
  const unit = new FakeUnit();
  let wall = T0;
  let mono = 0;
  const clock = { now: () => wall, monotonic: () => mono };
  const advance = (ms: number): void => {
    wall += ms;
    mono += ms;
  };
  const logs: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
      done();
    },
  });
  const log = createLogger({ level: 'info', destination: sink });
  const emitter = new DriverEmitter();
  const states: StatePatch[] = [];
  const readings: Reading[] = [];
  const online: boolean[] = [];
  const faults: Array<string | null> = [];
  emitter.on('fault', (e) => faults.push(e ? e.message : null));
  emitter.on('state', (p) => states.push(p));
  emitter.on('reading', (r) => readings.push(r));
  emitter.on('online', (o) => online.push(o));
  const reader = new RegisterReader({
    device: 'air',
    client: unit,
    specs,
    emitter,
    reachability: new Reachability(emitter, log, offlineAfter),
    clock,
    log,
    retryRefusedMs: 60_000,
  });
  const warnings = () => logs.filter((l) => l.level === 40).map((l) => l.msg);
  const infos = () => logs.filter((l) => l.level === 30 && l.msg !== 'unit reachable').map((l) => l.msg);
  return { unit, reader, advance, logs, warnings, infos, states, readings, online, faults };
}

describe('RegisterReader: a refused register inside a block', () => {
  it('isolates the refused entry in the same poll: the good values flow, the bad one is reported once', async () => {
    const t = setup();
    t.unit.input.set(0x100, 412).set(0x102, 215); // 0x0101 does not exist
    await expect(t.reader.read('poll')).resolves.toEqual({ co2: 412, temp: 215 });
    expect(t.unit.requests).toEqual(['100x3', '100x1', '101x1', '102x1']);
    expect(t.readings.map((r) => `${r.metric}=${r.value}`)).toEqual(['co2=412', 'temp=215']);
    expect(t.states).toEqual([
      { co2: 412, voc: null, [metricErrorKey('voc')]: '0x0101 FC04: exception 02 ILLEGAL DATA ADDRESS since 2026-12-07T08:00:00.000Z', temp: 215 },
    ]);
    expect(t.reader.metricErrors).toEqual({
      voc: {
        address: '0x0101',
        function: 4,
        exception: 2,
        name: 'ILLEGAL DATA ADDRESS',
        since: T0,
        failures: 1,
        message: 'air: poll: device refused: Modbus exception 2 (illegal data address) to function 4 reading "voc" at 0x0101',
      },
    });
    expect(t.warnings()).toEqual([
      'air: metric "voc" (FC04 0x0101) refused: exception 02 ILLEGAL DATA ADDRESS; reading the other registers around it, retrying it alone every 60 s',
    ]);
    expect(t.logs.find((l) => l.level === 40)).toMatchObject({ metric: 'voc', address: '0x0101', function: 4, exception: 2, exceptionName: 'ILLEGAL DATA ADDRESS' });
    expect(t.online).toEqual([true]);
    // The next polls read around it.
    expect(t.reader.readPlan.map((b) => `${b.request.address.toString(16)}x${b.request.quantity}`)).toEqual(['100x1', '102x1']);
  });

  it('reads around it every poll, retries it alone once a minute, silently while it is still refused', async () => {
    const t = setup();
    t.unit.input.set(0x100, 412).set(0x102, 215);
    await t.reader.read('poll');
    t.unit.requests.length = 0;
    t.states.length = 0;
    for (let i = 0; i < 3; i++) {
      t.advance(10_000);
      await expect(t.reader.read('poll')).resolves.toEqual({ co2: 412, temp: 215 });
    }
    expect(t.unit.requests).toEqual(['100x1', '102x1', '100x1', '102x1', '100x1', '102x1']);
    expect(t.states).toEqual([{ co2: 412, temp: 215 }, { co2: 412, temp: 215 }, { co2: 412, temp: 215 }]);
    t.unit.requests.length = 0;
    t.advance(30_000); // 60 s since the refusal
    await t.reader.read('poll');
    expect(t.unit.requests).toEqual(['101x1', '100x1', '102x1']);
    expect(t.reader.metricErrors.voc).toMatchObject({ failures: 2, since: T0 });
    expect(t.states.at(-1)).toEqual({ co2: 412, temp: 215 }); // no error key again: the state already holds it
    expect(t.warnings()).toHaveLength(1);
  });

  it('recovers by itself when the register answers again: one log line, error key cleared, one block again', async () => {
    const t = setup();
    t.unit.input.set(0x100, 412).set(0x102, 215);
    await t.reader.read('poll');
    t.unit.input.set(0x101, 77);
    t.advance(30_000);
    await t.reader.read('poll'); // not due yet
    expect(t.reader.metricErrors.voc).toBeDefined();
    t.advance(30_000);
    t.unit.requests.length = 0;
    await expect(t.reader.read('poll')).resolves.toEqual({ voc: 77, co2: 412, temp: 215 });
    expect(t.unit.requests).toEqual(['101x1', '100x1', '102x1']);
    expect(t.states.at(-1)).toEqual({ voc: 77, [metricErrorKey('voc')]: null, co2: 412, temp: 215 });
    expect(t.reader.metricErrors).toEqual({});
    expect(t.infos()).toEqual(['air: metric "voc" (FC04 0x0101) answers again']);
    expect(t.warnings()).toHaveLength(1);
    // The device's lastError: set once with the metric and its address, cleared when it answers again.
    expect(t.faults).toHaveLength(2);
    expect(t.faults[0]).toMatch(/reading "voc" at 0x0101/);
    expect(t.faults[1]).toBeNull();
    t.unit.requests.length = 0;
    await t.reader.read('poll');
    expect(t.unit.requests).toEqual(['100x3']);
  });

  it('refresh retries refused entries at once; a map the unit refuses entirely rejects naming metric and address', async () => {
    const t = setup([spec('co2', 0x100)]);
    const err = await t.reader.read('refresh').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as Error).message).toBe('air: refresh: device refused: Modbus exception 2 (illegal data address) to function 4 reading "co2" at 0x0100');
    expect(t.online).toEqual([true]); // it answered: reachable
    t.unit.input.set(0x100, 400);
    await expect(t.reader.read('refresh')).resolves.toEqual({ co2: 400 });
    expect(t.infos()).toEqual(['air: metric "co2" (FC04 0x0100) answers again']);
  });

  it('a different exception for a known bad entry is logged once more and updates the state; since is kept', async () => {
    const t = setup();
    t.unit.input.set(0x100, 412).set(0x102, 215);
    await t.reader.read('poll');
    t.unit.missingCode = 4;
    t.advance(60_000);
    await t.reader.read('poll');
    expect(t.reader.metricErrors.voc).toMatchObject({ exception: 4, name: 'SERVER DEVICE FAILURE', since: T0, failures: 2 });
    expect(t.states.at(-1)?.[metricErrorKey('voc')]).toBe('0x0101 FC04: exception 04 SERVER DEVICE FAILURE since 2026-12-07T08:00:00.000Z');
    expect(t.warnings()).toHaveLength(2);
    expect(t.warnings()[1]).toContain('exception 04 SERVER DEVICE FAILURE');
  });
});

describe('RegisterReader: what is not an address problem', () => {
  it('a block read without any reply is not split: retries and offline as before, no metric error', async () => {
    const t = setup();
    t.unit.input.set(0x100, 1).set(0x101, 2).set(0x102, 3);
    await t.reader.read('poll');
    t.unit.silent = true;
    t.unit.requests.length = 0;
    await expect(t.reader.read('poll')).rejects.toBeInstanceOf(DeviceTimeoutError);
    await expect(t.reader.read('poll')).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(t.unit.requests).toEqual(['100x3', '100x3']);
    expect(t.online).toEqual([true, false]);
    expect(t.reader.metricErrors).toEqual({});
    t.unit.silent = false;
    await expect(t.reader.read('poll')).resolves.toEqual({ co2: 1, voc: 2, temp: 3 });
    expect(t.online).toEqual([true, false, true]);
  });

  it('a gateway exception (0B, target unit dead) is no answer either: not split, counts towards offline', async () => {
    const t = setup();
    t.unit.missingCode = 0x0b;
    await expect(t.reader.read('poll')).rejects.toMatchObject({ exceptionCode: 0x0b });
    await expect(t.reader.read('poll')).rejects.toMatchObject({ exceptionCode: 0x0b });
    expect(t.unit.requests).toEqual(['100x3', '100x3']);
    expect(t.online).toEqual([false]);
    expect(t.reader.metricErrors).toEqual({});
  });

  it('a unit that refuses the block but answers every register alone is read one by one from then on, logged once', async () => {
    const t = setup();
    t.unit.input.set(0x100, 1).set(0x101, 2).set(0x102, 3);
    t.unit.maxQuantity = 1;
    await expect(t.reader.read('poll')).resolves.toEqual({ co2: 1, voc: 2, temp: 3 });
    await expect(t.reader.read('poll')).resolves.toEqual({ co2: 1, voc: 2, temp: 3 });
    expect(t.unit.requests).toEqual(['100x3', '100x1', '101x1', '102x1', '100x1', '101x1', '102x1']);
    expect(t.reader.metricErrors).toEqual({});
    expect(t.warnings()).toEqual([
      'air: unit refuses the block read FC04 0x0100 x3 (ILLEGAL DATA VALUE) but answers each register alone: reading them one by one',
    ]);
  });

  it('a block refused once with 06 (busy) is read entry by entry in that poll only', async () => {
    const t = setup();
    t.unit.input.set(0x100, 1).set(0x101, 2).set(0x102, 3);
    t.unit.busyOnce = true;
    await expect(t.reader.read('poll')).resolves.toEqual({ co2: 1, voc: 2, temp: 3 });
    await expect(t.reader.read('poll')).resolves.toEqual({ co2: 1, voc: 2, temp: 3 });
    expect(t.unit.requests).toEqual(['100x3', '100x1', '101x1', '102x1', '100x3']);
    expect(t.warnings()).toEqual([]);
  });

  it('a timeout while isolating stops the isolation of that block; nothing is marked bad for it', async () => {
    const t = setup();
    t.unit.input.set(0x100, 412).set(0x102, 215);
    const realRequest = t.unit.request.bind(t.unit);
    let n = 0;
    t.unit.request = async (command, req) => {
      if (++n === 2) {
        t.unit.requests.push('lost');
        throw new DeviceTimeoutError('air', command, 40);
      }
      return realRequest(command, req);
    };
    await expect(t.reader.read('poll')).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(t.unit.requests).toEqual(['100x3', 'lost']);
    expect(t.reader.metricErrors).toEqual({});
    expect(t.online).toEqual([true]); // the block's exception was an answer
  });
});
