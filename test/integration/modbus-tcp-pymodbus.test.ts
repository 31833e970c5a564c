/**
 * Modbus TCP against independent peers:
 * - Debian's python3-pymodbus 3.0 `StartTcpServer` on 127.0.0.1 with two
 *   unit ids (as a TCP-to-RTU gateway would serve them): our TcpTransport +
 *   modbus-tcp drivers sharing one connection read both units, get exception
 *   02 for an unmapped address and a timeout for an absent unit; the
 *   modbus-relay driver (MBAP framing) switches and reads pymodbus's coils.
 * - the npm `modbus-serial` client (an independent master) against our
 *   ModbusTcpServerSim, cross-checked request by request with the same
 *   client against pymodbus holding the same data.
 *
 * Needs python3-pymodbus for /usr/bin/python3: fails, loudly, when missing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import type { ModbusRTU as ModbusSerialClient } from 'modbus-serial/ModbusRTU.js';
import { createModbusTcpDriver, modbusTcpOptionsSchema, type ModbusTcpDriver } from '../../drivers/modbus-tcp/driver.js';
import { createModbusRelayDriver, modbusRelayOptionsSchema } from '../../drivers/modbus-relay/driver.js';
import { ModbusTcpServerSim } from '../../drivers/sim/modbus-tcp.js';
import { ModbusExceptionError } from '../../drivers/modbus/codec.js';
import { DeviceTimeoutError } from '../../drivers/errors.js';
import { TcpTransport } from '../../drivers/transports/tcp.js';
import { Mutex } from '../../drivers/util/mutex.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';
import { killGroupAndWait, PYTHON, requirePymodbus, startPeer, waitFor } from '../helpers/peers.js';

/** The same data in pymodbus and in our simulator. */
const UNIT1 = { input: { 1: 215, 2: 655 }, holding: { 0x100: 0x4000, 0x101: 0x43ce, 0x102: 7 }, coils: { 0: false, 1: false, 2: false, 3: false } };
const UNIT2 = { input: { 1: 0xff92, 2: 300 } };

const SERVER_PY = `
import sys, logging
from pymodbus.server import StartTcpServer
from pymodbus.datastore import ModbusSlaveContext, ModbusServerContext, ModbusSparseDataBlock
logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)
def block(d): return ModbusSparseDataBlock({int(k): int(v) for k, v in d.items()})
slaves = {
    1: ModbusSlaveContext(ir=block(${JSON.stringify(UNIT1.input)}), hr=block(${JSON.stringify(UNIT1.holding)}),
                          co=block(${JSON.stringify({ 0: 0, 1: 0, 2: 0, 3: 0 })}), zero_mode=True),
    2: ModbusSlaveContext(ir=block(${JSON.stringify(UNIT2.input)}), zero_mode=True),
}
StartTcpServer(context=ModbusServerContext(slaves=slaves, single=False), address=('127.0.0.1', int(sys.argv[1])))
`;

// modbus-serial is CommonJS (module.exports = the client class); its typings' default export does not match under NodeNext.
const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusSerialClient;

let dir = '';
let py: ChildProcess | undefined;
let pyPort = 0;
let sim: ModbusTcpServerSim;
const closers: Array<() => Promise<void>> = [];

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function transport(port: number): TcpTransport {
  const t = new TcpTransport({ host: '127.0.0.1', port, reconnect: { initialMs: 50, maxMs: 200 } });
  closers.push(() => t.stop());
  return t;
}

function sensor(t: TcpTransport, lock: Mutex, unitId: number, options: Record<string, unknown>): ModbusTcpDriver {
  const d = createModbusTcpDriver(
    {
      deviceId: `unit${unitId}`,
      options: modbusTcpOptionsSchema.parse({ unitId, pollSeconds: 3600, timeoutMs: 400, ...options }),
      transport: { type: 'bytes', transport: t },
      logger: silentLogger(),
      clock: systemClock,
    },
    { lock, ownsTransport: false },
  );
  closers.push(() => d.close());
  return d;
}

async function client(port: number): Promise<ModbusSerialClient> {
  const c = new ModbusRTU();
  await c.connectTCP('127.0.0.1', { port });
  c.setTimeout(1000);
  closers.push(() => new Promise<void>((r) => c.close(() => r())));
  return c;
}

beforeAll(async () => {
  requirePymodbus();
  dir = mkdtempSync(join(tmpdir(), 'ce-mbtcp-'));
  writeFileSync(join(dir, 'server.py'), SERVER_PY);
  pyPort = await freePort();
  py = startPeer('pymodbus TCP server', PYTHON, [join(dir, 'server.py'), String(pyPort)]);
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(pyPort, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    15_000,
    'pymodbus TCP server to listen',
    [py],
  );
  sim = await ModbusTcpServerSim.listen({ units: { 1: UNIT1, 2: UNIT2 } });
}, 30_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await sim?.close();
  await killGroupAndWait(py);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('modbus-tcp driver vs pymodbus TCP server', () => {
  it('two units on one connection (one lock): int16 scaled, negative, float32 low word first', async () => {
    const t = transport(pyPort);
    const lock = new Mutex();
    const u1 = sensor(t, lock, 1, {
      profile: 'xy-md02',
      registers: [{ metric: 'co2', unit: 'ppm', function: 3, address: 0x100, type: 'float32', wordOrder: 'little' }],
    });
    const u2 = sensor(t, lock, 2, { profile: 'xy-md02' });
    await u1.open();
    await u2.open();
    t.start();
    await waitFor(() => t.isUp, 5000, 'tcp connection');
    const [r1, r2, r1b] = await Promise.all([u1.execute('refresh', {}), u2.execute('refresh', {}), u1.execute('refresh', {})]);
    expect(r1).toEqual({ co2: 412.5, temperature: 21.5, humidity: 65.5 });
    expect(r2).toEqual({ temperature: -11, humidity: 30 });
    expect(r1b).toEqual(r1);
  });

  it('exception 02 for an unmapped register; no reply for an absent unit (timeout after 1 + retries)', async () => {
    const t = transport(pyPort);
    const lock = new Mutex();
    const bad = sensor(t, lock, 1, { registers: [{ metric: 'nothing', unit: '', function: 4, address: 0x50, type: 'int16' }] });
    const absent = sensor(t, lock, 3, { profile: 'xy-md02', retries: 1, timeoutMs: 200 });
    await bad.open();
    await absent.open();
    t.start();
    await waitFor(() => t.isUp && !lock.locked, 5000, 'connection and opening polls');
    const err = await bad.execute('refresh', {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as ModbusExceptionError).exceptionCode).toBe(2);
    await expect(absent.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    // The connection is still good for the other unit.
    await expect(bad.execute('refresh', {})).rejects.toBeInstanceOf(ModbusExceptionError);
  });

  it('modbus-relay (framing tcp) switches and reads pymodbus coils', async () => {
    const t = transport(pyPort);
    const relays = createModbusRelayDriver(
      {
        deviceId: 'relays',
        options: modbusRelayOptionsSchema.parse({ unitId: 1, channels: { lights: 0, screen: 1, curtain: 2, fan: 3 }, framing: 'tcp', pollSeconds: 3600, timeoutMs: 400 }),
        transport: { type: 'bytes', transport: t },
        logger: silentLogger(),
        clock: systemClock,
      },
      { ownsTransport: false },
    );
    closers.push(() => relays.close());
    await relays.open();
    await waitFor(() => t.isUp, 5000, 'tcp connection');
    await relays.execute('set', { on: true }); // FC0F over all four
    await relays.execute('set', { on: false, channel: 'screen' }); // FC05
    await expect(relays.execute('refresh', {})).resolves.toEqual({ 'on.lights': true, 'on.screen': false, 'on.curtain': true, 'on.fan': true });
    await relays.execute('pulse', { ms: 100, channel: 'screen' });
    await expect(relays.execute('refresh', {})).resolves.toMatchObject({ 'on.screen': true });
    await new Promise((r) => setTimeout(r, 300));
    await expect(relays.execute('refresh', {})).resolves.toMatchObject({ 'on.screen': false });
    await relays.execute('set', { on: false });
  });
});

describe('our Modbus TCP simulator vs the modbus-serial client, cross-checked with pymodbus', () => {
  /** Run the same requests against a server; collect what the client saw (data or exception code). */
  async function script(port: number): Promise<unknown[]> {
    const c = await client(port);
    const out: unknown[] = [];
    // Reads give { data, buffer }, writes the echo ({ address, state } / { address, length }).
    const step = async (fn: () => Promise<object>): Promise<void> => {
      try {
        const r = (await fn()) as Record<string, unknown>;
        out.push('data' in r ? r.data : r);
      } catch (e) {
        out.push({ modbusCode: (e as { modbusCode?: number }).modbusCode ?? `no code: ${String(e)}` });
      }
    };
    c.setID(1);
    await step(() => c.readInputRegisters(1, 2));
    await step(() => c.readHoldingRegisters(0x100, 3));
    await step(() => c.readInputRegisters(0x50, 1)); // unmapped -> exception 02
    await step(() => c.readCoils(0, 4));
    await step(() => c.writeCoil(2, true));
    await step(() => c.writeCoils(0, [true, false, true, true]));
    await step(() => c.readCoils(0, 4));
    await step(() => c.writeCoil(9, true)); // no such coil -> exception 02
    await step(() => c.writeRegisters(0x102, [42]));
    await step(() => c.readHoldingRegisters(0x102, 1));
    await step(() => c.writeCoils(0, [false, false, false, false]));
    c.setID(2);
    await step(() => c.readInputRegisters(1, 2));
    return out;
  }

  it('answers every request as pymodbus does', async () => {
    const ours = await script(sim.port);
    const theirs = await script(pyPort);
    expect(ours).toEqual(theirs);
    // And the answers are the data both hold, not two identical failures.
    expect(ours[0]).toEqual([215, 655]);
    expect(ours[1]).toEqual([0x4000, 0x43ce, 7]);
    expect(ours[2]).toEqual({ modbusCode: 2 });
    expect(ours[4]).toEqual({ address: 2, state: true });
    expect(ours[5]).toEqual({ address: 0, length: 4 });
    expect((ours[6] as boolean[]).slice(0, 4)).toEqual([true, false, true, true]);
    expect(ours[7]).toEqual({ modbusCode: 2 });
    expect(ours[9]).toEqual([42]);
    expect(ours[11]).toEqual([0xff92, 300]);
  });
});
