/**
 * A register the unit does not have, inside a block of good ones, against
 * Debian's python3-pymodbus 3.0 as the unit: over RTU (StartSerialServer on
 * a socat pty pair) and over TCP (StartTcpServer on 127.0.0.1), both served
 * by the same poller (drivers/modbus/register-reader.ts).
 *
 * The map is three adjacent input registers: co2 0x0100, voc 0x0101, temp
 * 0x0102. pymodbus's ModbusSparseDataBlock without 0x0101 answers the
 * three-register block read with exception 02 (checked from the driver's
 * debug log line of the block), and the reads alone of 0x0100 and 0x0102
 * normally. Then 0x0101 starts answering (RTU: pymodbus restarted with it;
 * TCP: added to the running server) and the metric recovers by itself.
 *
 * Needs socat and python3-pymodbus (run with /usr/bin/python3): the suite
 * fails, loudly, when either is missing.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatePatch } from '../../drivers/contract.js';
import { createModbusRtuDriver, modbusRtuOptionsSchema } from '../../drivers/modbus-rtu/driver.js';
import { createModbusTcpDriver, modbusTcpOptionsSchema } from '../../drivers/modbus-tcp/driver.js';
import type { ModbusSensorDriver } from '../../drivers/modbus/poller.js';
import { SerialTransport } from '../../drivers/transports/serial.js';
import { TcpTransport } from '../../drivers/transports/tcp.js';
import { createLogger, type Logger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';
import { killGroupAndWait, PYTHON, requirePymodbus, startPeer, startPtyPair, startPymodbusRtu, waitFor } from '../helpers/peers.js';

const REGISTERS = [
  { metric: 'co2', unit: 'ppm', function: 4, address: 0x100, type: 'uint16' },
  { metric: 'voc', unit: 'ppb', function: 4, address: 0x101, type: 'uint16' },
  { metric: 'temp', unit: '°C', function: 4, address: 0x102, type: 'int16', scale: 0.1 },
];
const WITHOUT_VOC = { 0x100: 412, 0x102: 215 };
const WITH_VOC = { 0x100: 412, 0x101: 77, 0x102: 215 };
/** Fast polls and retries so that a run takes seconds; offline only after many silent polls (the restart gap). */
const OPTIONS = { unitId: 1, pollSeconds: 1, refusedRetrySeconds: 1, timeoutMs: 300, retries: 1, offlineAfter: 20, registers: REGISTERS };

/**
 * pymodbus TCP with `regs` as input registers; once the file argv[3] exists it
 * also holds `later` (argv[4]). The register appears at run time because a
 * restarted pymodbus 3.0 TCP server cannot listen again on the same port
 * while the old connection lingers in FIN-WAIT-2 (found on this machine).
 */
const TCP_SERVER_PY = `
import sys, os, json, time, threading, logging
from pymodbus.server import StartTcpServer
from pymodbus.datastore import ModbusSlaveContext, ModbusServerContext, ModbusSparseDataBlock
logging.basicConfig(level=logging.CRITICAL, stream=sys.stderr)
regs = {int(k): int(v) for k, v in json.loads(sys.argv[2]).items()}
slave = ModbusSlaveContext(ir=ModbusSparseDataBlock(regs), zero_mode=True)
def add_later():
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
    for k, v in json.loads(sys.argv[4]).items():
        slave.setValues(4, int(k), [int(v)])
threading.Thread(target=add_later, daemon=True).start()
StartTcpServer(context=ModbusServerContext(slaves={1: slave}, single=False), address=('127.0.0.1', int(sys.argv[1])))
`;

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function capture(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as LogLine);
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', destination: sink }), lines };
}

let dir = '';
const procs: ChildProcess[] = [];
const closers: Array<() => Promise<void>> = [];

beforeAll(() => {
  requirePymodbus();
  dir = mkdtempSync(join(tmpdir(), 'ce-mbpartial-'));
});

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  for (const p of procs.reverse()) await killGroupAndWait(p);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/**
 * The scenario, whatever the link: `addVoc()` makes 0x0101 answer (RTU:
 * pymodbus restarted with it; TCP: added at run time) and resolves with the
 * pymodbus process serving from then on.
 */
async function refusedThenRecovered(driver: ModbusSensorDriver, lines: LogLine[], addVoc: () => Promise<ChildProcess>, server: ChildProcess): Promise<void> {
  const states: StatePatch[] = [];
  driver.on('state', (p) => states.push(p));
  await driver.open();
  await waitFor(() => driver.metricErrors.voc !== undefined, 15_000, 'voc to be reported refused', [server]);

  // pymodbus refused the three-register block with exception 02.
  const blockRefusal = lines.find((l) => l.msg === 'block read refused: reading its entries one by one');
  expect(blockRefusal).toMatchObject({ fc: 4, address: '0x0100', quantity: 3, exception: 2 });
  expect(driver.metricErrors.voc).toMatchObject({ address: '0x0101', function: 4, exception: 2, name: 'ILLEGAL DATA ADDRESS', failures: 1 });
  expect(driver.readPlan.map((b) => [b.request.address, b.request.quantity])).toEqual([
    [0x100, 1],
    [0x102, 1],
  ]);

  // Several polls later (and several refused retries of voc alone): the good values every poll, one log line.
  await waitFor(() => (driver.metricErrors.voc?.failures ?? 0) >= 3 && states.length >= 4, 15_000, 'three more polls', [server]);
  expect(states[0]).toEqual({ co2: 412, voc: null, 'error:voc': expect.stringMatching(/^0x0101 FC04: exception 02 ILLEGAL DATA ADDRESS since \d{4}-/), temp: 21.5 });
  for (const s of states.slice(1)) expect(s).toEqual({ co2: 412, temp: 21.5 });
  const refusals = (): LogLine[] => lines.filter((l) => l.level === 40 && l.metric !== undefined);
  const refusedLines = refusals();
  expect(refusedLines.map((l) => l.msg)).toEqual([
    'unit1: metric "voc" (FC04 0x0101) refused: exception 02 ILLEGAL DATA ADDRESS; reading the other registers around it, retrying it alone every 1 s',
  ]);
  expect(refusedLines[0]).toMatchObject({ metric: 'voc', address: '0x0101', exception: 2, exceptionName: 'ILLEGAL DATA ADDRESS' });

  // 0x0101 starts answering: voc recovers by itself at its next retry, logged once.
  const next = await addVoc();
  const recovery = (): StatePatch | undefined => states.find((p) => 'error:voc' in p && p['error:voc'] === null);
  await waitFor(() => recovery() !== undefined, 20_000, 'voc to recover', [next]);
  expect(recovery()).toMatchObject({ voc: 77, 'error:voc': null });
  expect(driver.metricErrors).toEqual({});
  const before = states.length;
  await waitFor(() => states.length >= before + 2, 10_000, 'two more polls', [next]);
  expect(states.at(-1)).toEqual({ co2: 412, voc: 77, temp: 21.5 });
  expect(driver.readPlan.map((b) => [b.request.address, b.request.quantity])).toEqual([[0x100, 3]]);
  expect(lines.filter((l) => l.msg.includes('answers again')).map((l) => l.msg)).toEqual(['unit1: metric "voc" (FC04 0x0101) answers again']);
  expect(refusals()).toHaveLength(1);
  expect(driver.metricErrors).toEqual({});
}

describe('a refused register inside a block, against pymodbus', () => {
  it('modbus-rtu (socat pty pair): good values every poll, the bad one reported once, recovered once', async () => {
    const a = join(dir, 'A');
    const b = join(dir, 'B');
    procs.push(await startPtyPair(a, b));
    let server = startPymodbusRtu(dir, b, { 1: WITHOUT_VOC });
    procs.push(server);
    const transport = new SerialTransport({ path: a, baudRate: 9600 });
    closers.push(() => transport.stop());
    const { logger, lines } = capture();
    const driver = createModbusRtuDriver(
      { deviceId: 'unit1', options: modbusRtuOptionsSchema.parse(OPTIONS), transport: { type: 'bytes', transport }, logger, clock: systemClock },
      { ownsTransport: false },
    );
    closers.push(() => driver.close());
    transport.start();
    await waitFor(() => transport.isUp, 5000, 'serial transport up');
    const restartWithVoc = async (): Promise<ChildProcess> => {
      await killGroupAndWait(server);
      server = startPymodbusRtu(dir, b, { 1: WITH_VOC });
      procs.push(server);
      return server;
    };
    await refusedThenRecovered(driver, lines, restartWithVoc, server);
  }, 60_000);

  it('modbus-tcp (pymodbus StartTcpServer): the same poller, the same behaviour', async () => {
    writeFileSync(join(dir, 'tcp-server.py'), TCP_SERVER_PY);
    const port = await freePort();
    const trigger = join(dir, 'add-voc');
    const server = startPeer('pymodbus TCP server', PYTHON, [join(dir, 'tcp-server.py'), String(port), JSON.stringify(WITHOUT_VOC), trigger, JSON.stringify({ 0x101: WITH_VOC[0x101] })]);
    procs.push(server);
    const transport = new TcpTransport({ host: '127.0.0.1', port, reconnect: { initialMs: 50, maxMs: 200 } });
    closers.push(() => transport.stop());
    const { logger, lines } = capture();
    const driver = createModbusTcpDriver(
      { deviceId: 'unit1', options: modbusTcpOptionsSchema.parse(OPTIONS), transport: { type: 'bytes', transport }, logger, clock: systemClock },
      { ownsTransport: false },
    );
    closers.push(() => driver.close());
    transport.start();
    await waitFor(() => transport.isUp, 15_000, 'pymodbus TCP server to accept', [server]);
    const addVoc = async (): Promise<ChildProcess> => {
      writeFileSync(trigger, '');
      return server;
    };
    await refusedThenRecovered(driver, lines, addVoc, server);
  }, 60_000);
});
