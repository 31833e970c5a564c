/**
 * The config downlink with the real applier (fake devices, real store): a
 * retained push is applied once and reported on up/config-results (its
 * redelivery at reconnect skipped), a malformed push, one for another room
 * and an oversized one are rejected and counted without touching anything.
 */
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigApplier } from '../../../edge/config/apply.js';
import { loadConfigText } from '../../../edge/config/load.js';
import { builtinDrivers } from '../../../edge/devices/registry.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { ConfigDownlink, configResultSchema, configTopics, MAX_CONFIG_PUSH_BYTES, type ConfigResult } from '../../../sync/config-downlink.js';
import { ROOM, tempStore, type TempStore } from '../lessons/fixtures.js';
import { FakeDevices } from '../config/fake-devices.js';

const registry = builtinDrivers();
const clock = { now: () => 1_760_000_000_000, monotonic: () => 0 };
const FILE = loadConfigText(
  `version: 1\nroom: { id: ${ROOM}, name: 教室 }\ndataDir: /tmp/x\nbroker: { port: 1883 }\ndevices:\n  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }\n`,
  'f',
  registry,
);
const topics = configTopics(ROOM);

let tmp: TempStore | undefined;
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  tmp?.remove();
});

function setup() {
  tmp = tempStore();
  store = tmp.open(clock);
  const devices = new FakeDevices(FILE.devices);
  const applier = new ConfigApplier({ config: FILE, store, devices, scenes: { replace: () => undefined }, registry, clock, logger: silentLogger(), checkTimeoutMs: 500, checkPollMs: 5 });
  const published: Array<{ topic: string; result: ConfigResult }> = [];
  const rejected: string[] = [];
  const downlink = new ConfigDownlink({
    roomId: ROOM,
    applier,
    logger: silentLogger(),
    publish: async (topic, payload) => void published.push({ topic, result: configResultSchema.parse(payload) }),
    onRejected: (r) => rejected.push(r),
  });
  return { devices, downlink, published, rejected };
}

const msg = (version: number, config: unknown, roomId = ROOM) => Buffer.from(JSON.stringify({ v: 1, roomId, version, config, issuedBy: 'wang', issuedAt: 1 }));
const air = { id: 'air', kind: 'sensor', driver: 'modbus-rtu', transport: { type: 'sim' }, options: { unitId: 1, profile: 'xy-md02' } };

describe('config downlink', () => {
  it('applies a push once, reports it, and skips the retained redelivery', async () => {
    const { downlink, published, devices } = setup();
    expect(downlink.subscription).toBe(`district/rooms/${ROOM}/down/config`);
    const devs = [...FILE.devices, air];
    const r = await downlink.handle(topics.push, gzipSync(msg(2, { devices: devs })));
    expect(r).toMatchObject({ kind: 'handled', result: { outcome: 'applied', version: 2, roomId: ROOM } });
    expect(published).toEqual([{ topic: `district/rooms/${ROOM}/up/config-results`, result: expect.objectContaining({ outcome: 'applied', version: 2 }) }]);
    expect(await downlink.handle(topics.push, msg(2, { devices: devs }))).toMatchObject({ kind: 'skipped' });
    expect(await downlink.handle(topics.push, msg(1, { devices: FILE.devices }))).toMatchObject({ kind: 'skipped' });
    expect(published).toHaveLength(1);
    expect(devices.log).toEqual(['start air']);
    expect(await downlink.handle(topics.push, Buffer.alloc(0))).toMatchObject({ kind: 'skipped' });
  });

  it('rejects and counts malformed, misaddressed and oversized pushes; nothing is applied or reported', async () => {
    const { downlink, published, rejected, devices } = setup();
    expect((await downlink.handle(topics.push, Buffer.from('{"v":1'))).kind).toBe('rejected');
    expect((await downlink.handle(topics.push, Buffer.from(JSON.stringify({ v: 1, roomId: ROOM, version: 1 })))).kind).toBe('rejected');
    expect((await downlink.handle(topics.push, msg(3, { devices: [air] }, 'other-room'))).kind).toBe('rejected');
    expect((await downlink.handle(`district/rooms/${ROOM}/down/configx`, msg(3, { devices: [air] }))).kind).toBe('rejected');
    const huge = msg(4, { devices: [{ ...air, name: 'x'.repeat(MAX_CONFIG_PUSH_BYTES) }] });
    const big = await downlink.handle(topics.push, huge);
    expect(big).toMatchObject({ kind: 'rejected', reason: expect.stringMatching(/^too-large/) });
    expect(rejected).toHaveLength(5);
    expect(published).toEqual([]);
    expect(devices.log).toEqual([]);
  });
});
