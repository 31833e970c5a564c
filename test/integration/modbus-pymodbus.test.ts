/**
 * The modbus-rtu driver against an independent peer: Debian's
 * python3-pymodbus 3.0 serial RTU server on one end of a socat pseudo-
 * terminal pair, our SerialTransport + driver on the other. Two unit ids on
 * one line, an exception reply for an unmapped address, and line noise that
 * makes pymodbus drop a request (recovered by the driver's retry).
 *
 * Needs socat and python3-pymodbus (run with /usr/bin/python3): the suite
 * fails, loudly, when either is missing.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModbusRtuDriver, modbusRtuOptionsSchema, type ModbusRtuDriver } from '../../drivers/modbus-rtu/driver.js';
import { ModbusExceptionError } from '../../drivers/modbus/codec.js';
import { DeviceTimeoutError } from '../../drivers/errors.js';
import { SerialTransport } from '../../drivers/transports/serial.js';
import { Mutex } from '../../drivers/util/mutex.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';
import { killGroupAndWait, PYTHON, requirePymodbus, startPeer, startPtyPair, waitFor } from '../helpers/peers.js';

const SERVER_PY = `
import sys, logging
from pymodbus.server import StartSerialServer
from pymodbus.datastore import ModbusSlaveContext, ModbusServerContext, ModbusSparseDataBlock
from pymodbus.transaction import ModbusRtuFramer
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
slaves = {
    # unit 1: XY-MD02 map (21.5 degC, 65.5 %RH) + CO2 412.5 ppm as float32, low word first
    1: ModbusSlaveContext(ir=ModbusSparseDataBlock({1: 215, 2: 655}),
                          hr=ModbusSparseDataBlock({0x100: 0x4000, 0x101: 0x43CE}), zero_mode=True),
    # unit 2: XY-MD02 map (-11.0 degC, 30.0 %RH)
    2: ModbusSlaveContext(ir=ModbusSparseDataBlock({1: 0xFF92, 2: 300}), zero_mode=True),
}
StartSerialServer(context=ModbusServerContext(slaves=slaves, single=False),
                  framer=ModbusRtuFramer, port=sys.argv[1], baudrate=9600)
`;

let dir = '';
const procs: ChildProcess[] = [];
let transport: SerialTransport;
const drivers: ModbusRtuDriver[] = [];
const lock = new Mutex();
let writes = 0;
let garbageNext: Buffer | undefined;

function driver(unitId: number, options: Record<string, unknown>): ModbusRtuDriver {
  const d = createModbusRtuDriver(
    {
      deviceId: `unit${unitId}`,
      options: modbusRtuOptionsSchema.parse({ unitId, pollSeconds: 3600, timeoutMs: 300, retries: 2, ...options }),
      transport: { type: 'bytes', transport },
      logger: silentLogger(),
      clock: systemClock,
    },
    { busLock: lock, ownsTransport: false },
  );
  drivers.push(d);
  return d;
}

/** Open a driver and let its opening poll finish, so counted requests are the test's own. */
async function openIdle(d: ModbusRtuDriver): Promise<void> {
  await d.open();
  await waitFor(() => !lock.locked, 5000, 'the opening poll');
}

beforeAll(async () => {
  requirePymodbus();
  dir = mkdtempSync(join(tmpdir(), 'ce-modbus-'));
  const a = join(dir, 'A');
  const b = join(dir, 'B');
  writeFileSync(join(dir, 'server.py'), SERVER_PY);
  procs.push(await startPtyPair(a, b));
  const server = startPeer('pymodbus RTU server', PYTHON, [join(dir, 'server.py'), b]);
  procs.push(server);

  transport = new SerialTransport({ path: a, baudRate: 9600 });
  // Count writes, and optionally put line noise in front of the next request.
  const realWrite = transport.write.bind(transport);
  transport.write = async (bytes: Uint8Array): Promise<void> => {
    writes++;
    const out = garbageNext ? Buffer.concat([garbageNext, bytes]) : bytes;
    garbageNext = undefined;
    return realWrite(out);
  };
  transport.start();
  await waitFor(() => transport.isUp, 5000, 'serial transport up');
  const probe = driver(1, { profile: 'xy-md02' });
  await probe.open();
  // The server opens its end asynchronously: wait until it answers.
  await waitFor(
    () => probe.execute('refresh', {}).then(() => true, () => false),
    15_000,
    'pymodbus server to answer',
    [server],
  );
}, 30_000);

afterAll(async () => {
  for (const d of drivers) await d.close();
  await transport?.stop();
  for (const p of procs.reverse()) await killGroupAndWait(p);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('modbus-rtu driver vs pymodbus RTU server over a pty pair', () => {
  it('reads two units on one line (int16 scaled, negative, float32 low word first)', async () => {
    const u1 = driver(1, {
      profile: 'xy-md02',
      registers: [{ metric: 'co2', unit: 'ppm', function: 3, address: 0x100, type: 'float32', wordOrder: 'little' }],
    });
    const u2 = driver(2, { profile: 'xy-md02' });
    await openIdle(u1);
    await openIdle(u2);
    const readings: string[] = [];
    u2.on('reading', (r) => readings.push(`${r.metric}=${r.value}${r.unit}`));
    const [r1, r2] = await Promise.all([u1.execute('refresh', {}), u2.execute('refresh', {})]);
    expect(r1).toEqual({ co2: 412.5, temperature: 21.5, humidity: 65.5 });
    expect(r2).toEqual({ temperature: -11, humidity: 30 });
    expect(readings).toEqual(['temperature=-11°C', 'humidity=30%RH']);
  });

  it('gets exception 02 (illegal data address) for an unmapped register', async () => {
    const d = driver(1, { registers: [{ metric: 'nothing', unit: '', function: 4, address: 0x50, type: 'int16' }] });
    await openIdle(d);
    const err = await d.execute('refresh', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as ModbusExceptionError).exceptionCode).toBe(2);
    expect((err as Error).message).toContain('illegal data address');
  });

  it('an absent unit id gets no reply: timeout after 1 + retries attempts', async () => {
    const d = driver(3, { profile: 'xy-md02', retries: 1, timeoutMs: 200 });
    await openIdle(d);
    writes = 0;
    await expect(d.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(writes).toBe(2);
  });

  it('line noise before a request: pymodbus drops it, the driver retries and reads', async () => {
    const d = driver(2, { profile: 'xy-md02' });
    await openIdle(d);
    writes = 0;
    garbageNext = Buffer.from([0x00, 0x01, 0x04, 0xff, 0x13]);
    const t0 = Date.now();
    await expect(d.execute('refresh', {})).resolves.toEqual({ temperature: -11, humidity: 30 });
    expect(writes).toBe(2); // the noisy request went unanswered, the retry was answered
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
  });
});
