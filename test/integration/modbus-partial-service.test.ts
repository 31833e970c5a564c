/**
 * A refused Modbus register as a technician sees it on a running service:
 * the sensor's other metrics keep arriving, and the device's lastError names
 * the refused metric and its address (the driver's fault event, set by the
 * device supervisor), against Debian's python3-pymodbus over a socat pair.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../edge/service.js';
import { killGroupAndWait, startPtyPair, startPymodbusRtu, waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

let room: TempRoom;
let svc: RunningService;
let lines = '';
let pair: ChildProcess | undefined;
let server: ChildProcess | undefined;

beforeAll(async () => {
  lines = mkdtempSync(join(tmpdir(), 'ce-mb-svc-'));
  const a = join(lines, 'bus-a');
  const b = join(lines, 'bus-b');
  pair = await startPtyPair(a, b);
  // Unit 1 has co2 (0x0100) and temp (0x0102) but no voc (0x0101): a three-register read is refused with exception 02.
  server = startPymodbusRtu(lines, b, { 1: { 0x100: 412, 0x102: 215 } });
  const devices = `  - { id: air, kind: sensor, driver: modbus-rtu, transport: { type: serial, path: ${a}, baudRate: 9600 }, options: { unitId: 1, pollSeconds: 1, timeoutMs: 300,
      registers: [ { metric: co2, unit: ppm, function: 4, address: 0x0100, type: uint16 }, { metric: voc, unit: ppb, function: 4, address: 0x0101, type: uint16 },
                   { metric: temp, unit: C, function: 4, address: 0x0102, type: int16, scale: 0.1 } ] } }`;
  room = tempRoom({ devicesYaml: devices });
  svc = await startRoom(room);
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  await killGroupAndWait(server);
  await killGroupAndWait(pair);
  room?.cleanup();
  if (lines) rmSync(lines, { recursive: true, force: true });
});

describe('a refused register on a running service', () => {
  it('keeps the good metrics stored and names the refused one in the device\'s lastError', async () => {
    // The first poll's refusal can name voc before the unit counts as reachable: wait for both.
    await waitFor(() => svc.devices.get('air')?.online === true && svc.devices.get('air')?.lastError?.message.includes('voc') === true, 20_000, 'online, and lastError naming voc', [server!, pair!]);
    const d = svc.devices.get('air')!;
    expect(d.online).toBe(true);
    expect(d.lastError?.message).toMatch(/reading "voc" at 0x0101/);
    expect(d.state).toMatchObject({ co2: 412, temp: 21.5, voc: null });
    await waitFor(
      () => (svc.store.db.prepare("SELECT count(*) AS n FROM sensor_readings WHERE device = 'air' AND metric IN ('co2', 'temp')").get() as { n: number }).n >= 4,
      10_000,
      'the good metrics stored, poll after poll',
    );
    expect(svc.store.db.prepare("SELECT count(*) AS n FROM sensor_readings WHERE device = 'air' AND metric = 'voc'").get()).toEqual({ n: 0 });
    // Counted per configured metric on /metrics; the good metrics have no series.
    const metrics = await svc.metrics.registry.metrics();
    expect(metrics).toMatch(/classroom_edge_device_metric_errors_total\{device="air",metric="voc"\} [1-9]/);
    expect(metrics).not.toMatch(/classroom_edge_device_metric_errors_total\{device="air",metric="(co2|temp)"\}/);
  }, 40_000);
});
