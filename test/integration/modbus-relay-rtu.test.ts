/**
 * Relay boards over Modbus RTU against independent peers, on socat pseudo-
 * terminal pairs at 9600 baud:
 * - our modbus-relay driver (SerialTransport) against Debian's
 *   python3-pymodbus 3.0 RTU server holding four coils for unit 3;
 * - the npm `modbus-serial` master (`connectRTUBuffered`) against our relay
 *   board simulator (RelayBoardSim on a SerialTransport), request by request
 *   the same as against the pymodbus server.
 *
 * Needs socat and python3-pymodbus for /usr/bin/python3: fails, loudly, when
 * either is missing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusRTU as ModbusSerialClient } from 'modbus-serial/ModbusRTU.js';
import { createModbusRelayDriver, modbusRelayOptionsSchema } from '../../drivers/modbus-relay/driver.js';
import { RelayBoardSim } from '../../drivers/sim/modbus-relay.js';
import { SerialTransport } from '../../drivers/transports/serial.js';
import { ModbusExceptionError } from '../../drivers/modbus/codec.js';
import { Mutex } from '../../drivers/util/mutex.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';
import { killGroupAndWait, PYTHON, requirePymodbus, startPeer, startPtyPair, waitFor } from '../helpers/peers.js';

// modbus-serial is CommonJS (module.exports = the client class); its typings' default export does not match under NodeNext.
const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusSerialClient;

const SERVER_PY = `
import sys, logging
from pymodbus.server import StartSerialServer
from pymodbus.datastore import ModbusSlaveContext, ModbusServerContext, ModbusSparseDataBlock
from pymodbus.transaction import ModbusRtuFramer
logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)
slaves = {3: ModbusSlaveContext(co=ModbusSparseDataBlock({0: 0, 1: 0, 2: 0, 3: 0}), zero_mode=True)}
StartSerialServer(context=ModbusServerContext(slaves=slaves, single=False), framer=ModbusRtuFramer, port=sys.argv[1], baudrate=9600)
`;

let dir = '';
const procs: ChildProcess[] = [];
let pyServer: ChildProcess;
const closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  requirePymodbus();
  dir = mkdtempSync(join(tmpdir(), 'ce-relay-'));
  writeFileSync(join(dir, 'server.py'), SERVER_PY);
  procs.push(await startPtyPair(join(dir, 'pyA'), join(dir, 'pyB')));
  procs.push(await startPtyPair(join(dir, 'simA'), join(dir, 'simB')));
  pyServer = startPeer('pymodbus RTU server', PYTHON, [join(dir, 'server.py'), join(dir, 'pyB')]);
  procs.push(pyServer);
}, 30_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  for (const p of procs.reverse()) await killGroupAndWait(p);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function serialClient(path: string, unit: number): Promise<ModbusSerialClient> {
  const c = new ModbusRTU();
  await c.connectRTUBuffered(path, { baudRate: 9600 });
  c.setID(unit);
  c.setTimeout(1000);
  return c;
}

const closeClient = (c: ModbusSerialClient): Promise<void> => new Promise<void>((r) => c.close(() => r()));

/** The same coil requests against a server; what the master saw (data, echo or exception code). */
async function script(c: ModbusSerialClient): Promise<unknown[]> {
  const out: unknown[] = [];
  const step = async (fn: () => Promise<object>): Promise<void> => {
    try {
      const r = (await fn()) as Record<string, unknown>;
      out.push('data' in r ? r.data : r);
    } catch (e) {
      out.push({ modbusCode: (e as { modbusCode?: number }).modbusCode ?? `no code: ${String(e)}` });
    }
  };
  await step(() => c.readCoils(0, 4));
  await step(() => c.writeCoil(1, true));
  await step(() => c.writeCoils(0, [true, true, false, true]));
  await step(() => c.readCoils(0, 4));
  await step(() => c.writeCoil(9, true)); // the board has no coil 9 -> exception 02
  await step(() => c.readCoils(2, 5)); // runs past coil 3 -> exception 02
  await step(() => c.writeCoils(0, [false, false, false, false]));
  await step(() => c.readCoils(0, 4));
  return out;
}

describe('modbus-relay driver vs pymodbus RTU server (coils)', () => {
  it('reads, switches one and all relays, pulses; exception 02 for a missing coil', async () => {
    const transport = new SerialTransport({ path: join(dir, 'pyA'), baudRate: 9600 });
    const relays = createModbusRelayDriver({
      deviceId: 'relays',
      options: modbusRelayOptionsSchema.parse({ unitId: 3, channels: { lights: 0, screen: 1, curtain: 2, fan: 3 }, pollSeconds: 3600, timeoutMs: 300 }),
      transport: { type: 'bytes', transport },
      logger: silentLogger(),
      clock: systemClock,
    });
    closers.push(() => relays.close());
    await relays.open();
    // The server opens its end asynchronously: wait until it answers.
    await waitFor(() => relays.execute('refresh', {}).then(() => true, () => false), 15_000, 'pymodbus RTU server to answer', [pyServer]);
    await expect(relays.execute('set', { on: true, channel: 'screen' })).resolves.toEqual({ 'on.screen': true });
    await expect(relays.execute('set', { on: true })).resolves.toEqual({ 'on.lights': true, 'on.screen': true, 'on.curtain': true, 'on.fan': true });
    await relays.execute('set', { on: false, channel: 'lights' });
    await expect(relays.execute('refresh', {})).resolves.toEqual({ 'on.lights': false, 'on.screen': true, 'on.curtain': true, 'on.fan': true });
    await relays.execute('set', { on: false });
    await relays.execute('pulse', { ms: 150, channel: 'curtain' });
    await expect(relays.execute('refresh', {})).resolves.toMatchObject({ 'on.curtain': true });
    await new Promise((r) => setTimeout(r, 400));
    await expect(relays.execute('refresh', {})).resolves.toMatchObject({ 'on.curtain': false });

    const ghost = createModbusRelayDriver({
      deviceId: 'ghost',
      options: modbusRelayOptionsSchema.parse({ unitId: 3, channels: { nothing: 9 }, pollSeconds: 3600, timeoutMs: 300 }),
      transport: { type: 'bytes', transport },
      line: { lock: new Mutex(), shared: true },
      logger: silentLogger(),
      clock: systemClock,
    });
    await ghost.open();
    const err = await ghost.execute('set', { on: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModbusExceptionError);
    expect((err as ModbusExceptionError).exceptionCode).toBe(2);
    await ghost.close();
    await relays.close(); // releases pyA for the next test
  });
});

describe('our relay-board simulator vs the modbus-serial RTU master, cross-checked with pymodbus', () => {
  it('answers every coil request as pymodbus does', async () => {
    const transport = new SerialTransport({ path: join(dir, 'simA'), baudRate: 9600 });
    const board = new RelayBoardSim(transport, { unitId: 3, channels: 4 });
    closers.push(() => board.close());
    await waitFor(() => transport.isUp, 5000, 'simulator serial port');

    const toSim = await serialClient(join(dir, 'simB'), 3);
    const ours = await script(toSim);
    await closeClient(toSim);
    const toPy = await serialClient(join(dir, 'pyA'), 3);
    const theirs = await script(toPy);
    await closeClient(toPy);

    expect(ours).toEqual(theirs);
    expect((ours[0] as boolean[]).slice(0, 4)).toEqual([false, false, false, false]);
    expect(ours[1]).toEqual({ address: 1, state: true });
    expect((ours[3] as boolean[]).slice(0, 4)).toEqual([true, true, false, true]);
    expect(ours[4]).toEqual({ modbusCode: 2 });
    expect(ours[5]).toEqual({ modbusCode: 2 });
    expect(board.isOn('4')).toBe(false);
    expect(board.history('2').map((h) => h.on)).toEqual([true, true, false]);
  });
});
