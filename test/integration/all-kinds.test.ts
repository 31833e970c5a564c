/**
 * Issue 3's acceptance: a config with one device of every driver runs in the
 * service. Byte devices talk to their device-side simulators (the PJLink
 * projector over real TCP on 127.0.0.1, the rest over in-memory lines), GPIO
 * devices to the fake GPIO backend driven by their simulators. Each device
 * comes online, takes its main command through the real driver, and readers
 * and inputs produce stored, published events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../../edge/service.js';
import { PjlinkSim } from '../../drivers/sim/pjlink.js';
import { waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

let room: TempRoom;
let svc: RunningService;
let projector: PjlinkSim;
const actor = { username: 'tech', role: 'technician' };

const devices = (pjlinkPort: number) => `
  - { id: mdc, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }
  - { id: lg, kind: display, driver: lg, transport: { type: sim } }
  - { id: ifp, kind: display, driver: hitevision-ifp, transport: { type: sim } }
  - { id: nec, kind: display, driver: nec, transport: { type: sim } }
  - { id: sharp, kind: display, driver: sharp-pn, transport: { type: sim } }
  - id: seewo
    kind: display
    driver: panel-profile
    transport: { type: sim }
    options:
      encoding: hex
      commands: { powerOn: "AA 10 01", powerOff: "AA 10 00", inputs: { hdmi1: "AA 20 01", ops: "AA 20 05" }, query: { power: { send: "AA 30", replies: { on: "AB 30 01", off: "AB 30 00" } } } }
      ack: { ok: "AB 00" }
  - { id: projector, kind: projector, driver: pjlink, transport: { type: tcp, host: 127.0.0.1, port: ${pjlinkPort} }, commandTimeoutMs: 75000, options: { pollSeconds: 5, warmupPollMs: 200 } }
  - { id: cam, kind: camera, driver: visca, transport: { type: sim }, options: { address: 1 } }
  - { id: camip, kind: camera, driver: visca-ip, transport: { type: sim } }
  - { id: pelco, kind: camera, driver: pelco-d, transport: { type: sim }, options: { address: 1 } }
  - { id: air, kind: sensor, driver: modbus-rtu, transport: { type: sim }, options: { unitId: 1, profile: xy-md02 } }
  - { id: airtcp, kind: sensor, driver: modbus-tcp, transport: { type: sim }, options: { unitId: 1, profile: xy-md02 } }
  - { id: em, kind: card-reader, driver: em4100, transport: { type: sim } }
  - { id: mifare, kind: card-reader, driver: uid-reader, transport: { type: sim } }
  - { id: wg, kind: card-reader, driver: wiegand, transport: { type: gpio, backend: fake, chip: gpiochip0, line: 5 }, options: { d1Line: 6 } }
  - { id: lights, kind: relay, driver: gpio-relay, transport: { type: gpio, backend: fake, chip: gpiochip0, line: 17 }, options: { activeLow: true } }
  - { id: curtains, kind: relay, driver: modbus-relay, transport: { type: sim }, options: { unitId: 1, channels: { open: 0, close: 1 } } }
  - { id: button, kind: input, driver: gpio-input, transport: { type: gpio, backend: fake, chip: gpiochip0, line: 22 }, options: { role: button, activeLow: true } }
`;

beforeAll(async () => {
  projector = new PjlinkSim({ warmupMs: 300, cooldownMs: 300 });
  const { port } = await projector.listen();
  room = tempRoom({ devicesYaml: devices(port) });
  svc = await startRoom(room);
}, 30_000);

afterAll(async () => {
  await svc?.stop();
  await projector?.close();
  room?.cleanup();
});

async function sim(id: string, action: string, args: Record<string, unknown> = {}) {
  const s = svc.devices.simulator(id);
  if (!s) throw new Error(`${id} has no simulator`);
  await s.actions[action]!(args);
}

describe('one device of every driver', () => {
  it('brings every device online', async () => {
    const ids = svc.devices.list().map((d) => d.deviceId);
    expect(ids).toHaveLength(18);
    await waitFor(() => svc.devices.list().every((d) => d.online), 15_000, `all online (offline: ${svc.devices.list().filter((d) => !d.online).map((d) => `${d.deviceId}: ${d.lastError?.message}`).join('; ')})`);
  });

  it.each([
    ['mdc', 'power', { on: true }, { power: 'on' }],
    ['lg', 'power', { on: true }, { power: 'on' }],
    ['ifp', 'input', { source: 'hdmi2' }, { input: 'hdmi2' }],
    ['nec', 'power', { on: true }, { power: 'on' }],
    ['sharp', 'power', { on: true }, { power: 'on' }],
    ['seewo', 'input', { source: 'ops' }, { input: 'ops' }],
    ['cam', 'preset', { recall: 2 }, { preset: 2 }],
    ['camip', 'power', { on: false }, { power: 'off' }],
    ['pelco', 'preset', { recall: 3 }, { preset: 3 }],
    ['lights', 'set', { on: true }, { on: true }],
    ['curtains', 'set', { on: true, channel: 'open' }, { 'on.open': true }],
  ])('%s: %s works through the real driver', async (id, command, args, expected) => {
    const r = await svc.devices.execute(id, command, args, actor);
    expect(r.error?.message ?? '').toBe('');
    expect(r).toMatchObject({ ok: true, state: expected });
    expect(svc.devices.get(id)?.state).toMatchObject(expected);
  }, 20_000);

  it('powers the projector on through its warm-up', async () => {
    const r = await svc.devices.execute('projector', 'power', { on: true }, actor);
    expect(r.ok).toBe(true);
    await waitFor(() => svc.devices.get('projector')?.state.power === 'on', 10_000, 'projector warmed up');
    const input = await svc.devices.execute('projector', 'input', { source: 'hdmi2' }, actor);
    expect(input).toMatchObject({ ok: true, state: { input: 'hdmi2' } });
  }, 20_000);

  it('reads both sensors', async () => {
    await waitFor(() => typeof svc.devices.get('air')?.state.temperature === 'number' && typeof svc.devices.get('airtcp')?.state.temperature === 'number', 10_000, 'readings');
  });

  it('stores a tap from each kind of reader, and a button press', async () => {
    await sim('em', 'present', { uid: '62E3086CED' });
    await sim('mifare', 'present', { uid: '04A1B2C3' });
    await sim('wg', 'present', { fc: 123, card: 4567 });
    await sim('button', 'press');
    await waitFor(() => {
      const readers = svc.store.db.prepare('SELECT DISTINCT reader FROM card_taps ORDER BY reader').all() as Array<{ reader: string }>;
      return readers.map((r) => r.reader).join() === 'em,mifare,wg';
    }, 5_000, 'a tap from each reader');
    const uids = svc.store.db.prepare('SELECT reader, uid FROM card_taps ORDER BY reader').all();
    expect(uids).toEqual([
      { reader: 'em', uid: '62E3086CED' },
      { reader: 'mifare', uid: '04A1B2C3' },
      { reader: 'wg', uid: '7B11D7' },
    ]);
    await waitFor(() => (svc.store.db.prepare("SELECT count(*) AS n FROM sensor_readings WHERE device = 'button' AND metric = 'press'").get() as { n: number }).n === 1, 5_000, 'button press stored');
  });
});
