/**
 * The service on real serial lines (socat pseudo-terminal pairs):
 * - two Modbus RTU sensors sharing one RS-485 line, served by Debian's
 *   python3-pymodbus (an independent implementation), one request at a time;
 * - unplug/replug: both socat pairs are killed and recreated while the
 *   sensors are polled and a Samsung MDC panel (our device-side simulator on
 *   the far pty) is commanded; the devices go offline, come back by
 *   themselves within seconds, and the service keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { RunningService } from '../../edge/service.js';
import { SerialTransport } from '../../drivers/transports/serial.js';
import { MdcSim } from '../../drivers/sim/samsung-mdc.js';
import { killGroupAndWait, startPtyPair, startPymodbusRtu, waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

let room: TempRoom;
let svc: RunningService;
let busPair: ChildProcess | undefined;
let modbusServer: ChildProcess | undefined;
let panelPair: ChildProcess | undefined;
let panelEnd: SerialTransport | undefined;
let sim: MdcSim | undefined;
let paths: { busA: string; busB: string; panelA: string; panelB: string };

async function plugIn(): Promise<void> {
  busPair = await startPtyPair(paths.busA, paths.busB);
  modbusServer = startPymodbusRtu(room.dir, paths.busB, { 1: { 1: 215, 2: 655 }, 2: { 1: 0xff92, 2: 300 } });
  panelPair = await startPtyPair(paths.panelA, paths.panelB);
  panelEnd = new SerialTransport({ path: paths.panelB, baudRate: 9600, reconnect: { initialMs: 100, maxMs: 500 } });
  sim = new MdcSim(panelEnd, { displayId: 1 });
}

async function unplug(): Promise<void> {
  await sim?.close();
  await killGroupAndWait(modbusServer);
  await killGroupAndWait(busPair);
  await killGroupAndWait(panelPair);
}

beforeAll(async () => {
  room = tempRoom();
  paths = { busA: join(room.dir, 'bus-a'), busB: join(room.dir, 'bus-b'), panelA: join(room.dir, 'panel-a'), panelB: join(room.dir, 'panel-b') };
  await plugIn();
  const devices = `  - { id: air1, kind: sensor, driver: modbus-rtu, transport: { type: serial, path: ${paths.busA}, baudRate: 9600 }, options: { unitId: 1, profile: xy-md02, pollSeconds: 1, timeoutMs: 300 } }
  - { id: air2, kind: sensor, driver: modbus-rtu, transport: { type: serial, path: ${paths.busA}, baudRate: 9600 }, options: { unitId: 2, profile: xy-md02, pollSeconds: 1, timeoutMs: 300 } }
  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: serial, path: ${paths.panelA}, baudRate: 9600 }, options: { displayId: 1, pollSeconds: 1, timeoutMs: 500 } }`;
  room = { ...room, ...tempRoomWith(room, devices) };
  svc = await startRoom(room);
}, 60_000);

/** Rewrites the room's YAML with devices (the pty paths live in the room's dir). */
function tempRoomWith(r: TempRoom, devicesYaml: string): Pick<TempRoom, 'yaml'> {
  return { yaml: r.yaml.replace('devices:\n  []', `devices:\n${devicesYaml}`) };
}

afterAll(async () => {
  await svc?.stop();
  await unplug();
  room?.cleanup();
});

describe('devices on real serial lines', () => {
  it('polls two Modbus units on one shared line against pymodbus', async () => {
    await waitFor(() => svc.devices.get('air1')?.state.temperature === 21.5 && svc.devices.get('air2')?.state.temperature === -11, 20_000, 'both units read', [modbusServer!]);
    expect(svc.devices.get('air1')?.state).toMatchObject({ temperature: 21.5, humidity: 65.5 });
    expect(svc.devices.get('air2')?.state).toMatchObject({ temperature: -11, humidity: 30 });
    const stored = svc.store.db.prepare("SELECT DISTINCT device FROM sensor_readings WHERE metric = 'temperature' ORDER BY device").all();
    expect(stored).toEqual([{ device: 'air1' }, { device: 'air2' }]);
  });

  it('goes offline when the adapters are unplugged and recovers by itself when they return', async () => {
    await waitFor(() => svc.devices.get('panel')?.online === true, 10_000, 'panel online');
    const on = await svc.devices.execute('panel', 'power', { on: true }, { username: 't', role: 'technician' });
    expect(on).toMatchObject({ ok: true, state: { power: 'on' } });

    await unplug();
    await waitFor(() => !svc.devices.get('panel')?.online && !svc.devices.get('air1')?.online && !svc.devices.get('air2')?.online, 10_000, 'all offline');
    const refused = await svc.devices.execute('panel', 'power', { on: false }, { username: 't', role: 'technician' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'offline' } });
    expect(refused.error?.message).toMatch(/^panel: power: device is offline/);

    await plugIn();
    const t0 = Date.now();
    await waitFor(() => ['panel', 'air1', 'air2'].every((id) => svc.devices.get(id)?.online === true), 20_000, 'all back online');
    const recoveredInMs = Date.now() - t0;
    expect(recoveredInMs).toBeLessThan(20_000);
    const off = await svc.devices.execute('panel', 'power', { on: false }, { username: 't', role: 'technician' });
    expect(off).toMatchObject({ ok: true, state: { power: 'off' } });
    const health = await fetch(`http://127.0.0.1:${svc.ports.api}/health`);
    expect(health.status).toBe(200);
  }, 60_000);
});
