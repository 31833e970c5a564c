/**
 * DeviceSupervisor.reconfigure with real drivers over simulated devices: the
 * unchanged device keeps its driver and simulator (never restarted), a
 * changed one is restarted with its new settings, a removed one is closed,
 * its metric dropped and its retained state cleared, an added one starts and
 * comes online; the check (edge/devices/check.ts) passes for them and names a
 * device that cannot come online.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../../../edge/config/load.js';
import { checkDevices } from '../../../edge/devices/check.js';
import { builtinDrivers } from '../../../edge/devices/registry.js';
import { DeviceSupervisor } from '../../../edge/devices/supervisor.js';
import { createMetrics } from '../../../edge/metrics.js';
import { topics } from '../../../edge/schemas/topics.js';
import { openStore, type Store } from '../../../edge/store/index.js';
import { systemClock } from '../../../edge/util/clock.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { waitFor } from '../../helpers/peers.js';

const registry = builtinDrivers();
const yaml = (devices: string) => `
version: 1
room: { id: r1, name: 测试 }
dataDir: /tmp/ce-reconf
broker: { port: 1883 }
devices:
${devices}
`;
const PANEL = '  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1, pollSeconds: 1 } }';
const AIR = (unit: number) => `  - { id: air, kind: sensor, driver: modbus-rtu, transport: { type: sim }, options: { unitId: ${unit}, profile: xy-md02, pollSeconds: 1 } }`;
const READER = '  - { id: reader, kind: card-reader, driver: em4100, transport: { type: sim } }';

let supervisor: DeviceSupervisor | undefined;
let store: Store | undefined;
afterEach(async () => {
  await supervisor?.stop();
  await store?.close();
});

describe('DeviceSupervisor.reconfigure', () => {
  it('restarts only what changed and leaves the unchanged device running', async () => {
    const config = loadConfigText(yaml(`${PANEL}\n${AIR(1)}\n${READER}`), 'a', registry);
    store = openStore({ path: ':memory:', roomId: 'r1', logger: silentLogger(), clock: systemClock, flushIntervalMs: 0 });
    const metrics = createMetrics();
    const published: string[] = [];
    const cleared: string[] = [];
    supervisor = new DeviceSupervisor({
      config,
      registry,
      logger: silentLogger(),
      clock: systemClock,
      metrics,
      store,
      bus: {
        publish: async (t, payload, opts) => {
          published.push(t);
          if (Buffer.isBuffer(payload) && payload.length === 0 && opts?.retain) cleared.push(t);
        },
      },
      topics: topics('r1'),
      taps: { lessonIdFor: () => undefined, handle: async () => undefined },
    });
    await supervisor.start();
    const s = supervisor;
    await waitFor(() => ['panel', 'air', 'reader'].every((id) => s.get(id)?.online), 10_000, 'devices online');
    const panelSim = s.simulator('panel');
    const airSim = s.simulator('air');

    const next = loadConfigText(yaml(`${AIR(2)}\n${PANEL}\n  - { id: reader2, kind: card-reader, driver: em4100, transport: { type: sim } }`), 'b', registry);
    const diff = await s.reconfigure(next.devices);
    expect(diff).toMatchObject({ added: ['reader2'], removed: ['reader'], changed: ['air'], unchanged: ['panel'] });
    expect(s.simulator('panel')).toBe(panelSim);
    expect(s.get('panel')?.online).toBe(true);
    expect(s.simulator('air')).not.toBe(airSim);
    expect(s.get('reader')).toBeUndefined();
    // The removed reader's retained state is cleared (an empty retained message); the changed air's is not.
    expect(cleared).toEqual([topics('r1').deviceState('reader')]);
    expect(s.list().map((d) => d.deviceId)).toEqual(['air', 'panel', 'reader2']);
    expect(s.configuredDevices().map((d) => d.id)).toEqual(['air', 'panel', 'reader2']);
    const online = await metrics.registry.getSingleMetricAsString('classroom_edge_device_online');
    expect(online).not.toContain('device="reader"');

    expect(await checkDevices(s, diff.start, 5000)).toEqual([
      { deviceId: 'air', ok: true },
      { deviceId: 'reader2', ok: true },
    ]);
    // The panel still answers commands.
    expect(await s.execute('panel', 'power', { on: true }, { username: 't', role: 'technician' })).toMatchObject({ ok: true });

    // A TCP device to a closed port does not come online; the check says why.
    const dead = loadConfigText(yaml(`${AIR(2)}\n${PANEL}\n  - { id: proj, kind: projector, driver: pjlink, transport: { type: tcp, host: 127.0.0.1, port: 1 }, options: { timeoutMs: 300 } }`), 'c', registry);
    const d2 = await s.reconfigure(dead.devices);
    const checks = await checkDevices(s, d2.start, 1500);
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatchObject({ deviceId: 'proj', ok: false });
    expect(checks[0]!.reason).toMatch(/^did not come online within 1\.5 s/);
  });
});
