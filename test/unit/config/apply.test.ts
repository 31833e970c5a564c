/**
 * The config applier's state machine on a real store with fake devices:
 * applied (only the changed devices restarted, scenes replaced, the version
 * in force persisted and audited), rolled back when a device never comes
 * online or fails its status query (devices back as they were, the result
 * naming the device and why), refused without touching anything, the
 * applied version coming back after a restart, and a push interrupted by a
 * crash coming back with the last good config.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigApplier, effectiveConfig, type ConfigPushResult } from '../../../edge/config/apply.js';
import { loadConfigText } from '../../../edge/config/load.js';
import { ConfigVersions } from '../../../edge/config/persisted.js';
import type { EdgeConfig } from '../../../edge/config/schema.js';
import { builtinDrivers } from '../../../edge/devices/registry.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { ROOM, tempStore, type TempStore } from '../lessons/fixtures.js';
import { FakeDevices } from './fake-devices.js';

const registry = builtinDrivers();
const clock = { now: () => 1_760_000_000_000, monotonic: () => 0 };

const FILE = loadConfigText(
  `
version: 1
room: { id: ${ROOM}, name: 初二(3)班 }
dataDir: /tmp/ce-apply-test
broker: { port: 1883 }
configPush: { checkTimeoutMs: 500 }
devices:
  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }
  - { id: reader, kind: card-reader, driver: em4100, transport: { type: sim } }
scenes:
  class-start: [ { device: panel, command: power, args: { on: true } } ]
`,
  'file',
  registry,
);

const air = { id: 'air', kind: 'sensor', driver: 'modbus-rtu', transport: { type: 'sim' }, options: { unitId: 1, profile: 'xy-md02' } };
const deadAir = { ...air, transport: { type: 'serial', path: '/dev/serial/by-id/missing' } };
const raw = (c: EdgeConfig) => c.devices.map((d) => ({ ...d }));

let tmp: TempStore | undefined;
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  tmp?.remove();
  tmp = undefined;
});

function open() {
  tmp ??= tempStore();
  const store = tmp.open(clock);
  stores.push(store);
  return store;
}

function setup(store = open()) {
  const eff = effectiveConfig(FILE, store, registry);
  const devices = new FakeDevices(eff.config.devices);
  const replaced: Array<EdgeConfig['scenes']> = [];
  const applier = new ConfigApplier({
    config: eff.config,
    store,
    devices,
    scenes: { replace: (s) => replaced.push(s) },
    registry,
    clock,
    logger: silentLogger(),
    checkPollMs: 5,
  });
  return { store, applier, devices, replaced, eff };
}

function audits(store: Store) {
  return store.db.prepare<[], { actor: string; action: string; target: string; result: string; error: string | null }>('SELECT actor, action, target, result, error FROM audit_log ORDER BY id').all();
}

describe('config applier', () => {
  it('applies a push adding a device: only the new device starts, scenes are replaced, the version is in force and audited', async () => {
    const { store, applier, devices, replaced } = setup();
    const scenes = { 'class-end': [{ device: 'panel', command: 'power', args: { on: false } }] };
    const r = await applier.applyConfigPush({ config: { devices: [...raw(FILE), air], scenes }, version: 3, issuedBy: 'wang.tech', source: 'cloud' });
    expect(r).toMatchObject({ outcome: 'applied', version: 3, changes: { added: ['air'], removed: [], changed: [], scenesChanged: true } });
    expect(devices.log).toEqual(['start air']);
    expect(devices.get('air')?.online).toBe(true);
    expect(replaced).toHaveLength(1);
    expect(Object.keys(replaced[0]!)).toEqual(['class-end']);
    expect(applier.config().devices.map((d) => d.id)).toEqual(['panel', 'reader', 'air']);
    expect(applier.status()).toMatchObject({ source: 'pushed', active: { version: 3, issuedBy: 'wang.tech' }, lastPush: { version: 3, outcome: 'applied' } });
    expect(applier.handledVersion('cloud')).toBe(3);
    expect(audits(store)).toEqual([{ actor: 'wang.tech', action: 'config.push', target: 'config v3', result: 'ok', error: null }]);
    // The audit row went into the event log too (the uplink delivers it to the district).
    const ev = store.eventsAfter(0, 100).filter((e) => e.stream === 'audit');
    expect(ev.map((e) => JSON.parse(e.payload).action)).toEqual(['config.push']);
  });

  it('rolls back when an added device never comes online: the previous devices are back, the result names the device and why', async () => {
    const { store, applier, devices, replaced } = setup();
    // Also change the panel, so the rollback has to restore a changed device.
    const panel2 = { ...raw(FILE)[0]!, options: { displayId: 2 } };
    const r = await applier.applyConfigPush({ config: { devices: [panel2, raw(FILE)[1]!, deadAir] }, version: 4, issuedBy: 'wang.tech', source: 'cloud' });
    expect(r.outcome).toBe('rolled-back');
    expect(r.failed).toEqual([{ deviceId: 'air', reason: 'did not come online within 0.5 s: air: serial /dev/serial/by-id/missing: no such file or directory' }]);
    expect(r.message).toContain('air: did not come online');
    expect(r.changes).toMatchObject({ added: ['air'], changed: ['panel'] });
    // The reader was never touched; panel restarted twice (new settings, then the old ones back); air stopped.
    expect(devices.log).toEqual(['stop panel', 'start panel', 'start air', 'stop panel', 'stop air', 'start panel']);
    expect(devices.ids()).toEqual(['panel', 'reader']);
    expect(devices.get('panel')?.config.options).toEqual(FILE.devices[0]!.options);
    expect(replaced).toEqual([]);
    expect(applier.config()).toBe(FILE);
    expect(applier.status()).toMatchObject({ source: 'file', active: null, lastPush: { version: 4, outcome: 'rolled-back' } });
    expect(applier.handledVersion('cloud')).toBe(4);
    const a = audits(store);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ action: 'config.push', result: 'error' });
    expect(a[0]!.error).toContain('no such file or directory');
  });

  it('rolls back when a restarted device is online but fails its status query', async () => {
    const { applier, devices } = setup();
    devices.failingProbe.add('air');
    const r = await applier.applyConfigPush({ config: { devices: [...raw(FILE), air] }, version: 1, issuedBy: 't' });
    expect(r.outcome).toBe('rolled-back');
    expect(r.failed).toEqual([{ deviceId: 'air', reason: 'status query failed: air: refresh: no answer within 500 ms' }]);
    expect(devices.ids()).toEqual(['panel', 'reader']);
  });

  it('refuses an invalid push and a push changing non-pushable fields without touching a device', async () => {
    const { store, applier, devices } = setup();
    const bad = await applier.applyConfigPush({ config: { devices: [{ ...air, options: { unitId: 999 } }] }, version: 5, issuedBy: 't', source: 'cloud' });
    expect(bad.outcome).toBe('refused');
    expect(bad.problems?.[0]).toMatch(/^devices\[0\]\.options\.unitId: /);
    expect(bad.problems).toContain('scenes.class-start[0].device: no device with id "panel"');
    const cut = await applier.applyConfigPush({ config: { devices: raw(FILE), cloud: { url: 'mqtt://elsewhere:1883' }, dataDir: '/elsewhere' }, version: 6, issuedBy: 't', source: 'cloud' });
    expect(cut.outcome).toBe('refused');
    expect(cut.problems).toEqual(
      expect.arrayContaining([
        'dataDir: cannot be changed by a push: the store lives there; a push cannot move it',
        'cloud: cannot be changed by a push: the district link itself: a push must never be able to cut the room off from the district',
      ]),
    );
    expect(devices.log).toEqual([]);
    expect(applier.handledVersion('cloud')).toBe(6);
    expect(audits(store).map((a) => a.result)).toEqual(['refused', 'refused']);
    expect(new ConfigVersions(store).recent().map((v) => v.status)).toEqual(['refused', 'refused']);
  });

  it('a restart comes back with the last applied push, not the file; a reset returns to the file', async () => {
    const first = setup();
    await first.applier.applyConfigPush({ config: { devices: [...raw(FILE), air] }, version: 1, issuedBy: 't', source: 'cloud' });
    await first.applier.applyConfigPush({ config: { devices: [...raw(FILE), deadAir] }, version: 2, issuedBy: 't', source: 'cloud' });
    await first.store.close();
    stores.splice(0);

    const again = setup(open());
    expect(again.eff.source).toBe('pushed');
    expect(again.eff.config.devices.map((d) => d.id)).toEqual(['panel', 'reader', 'air']);
    expect(again.eff.config.devices[2]!.transport).toEqual({ type: 'sim', settings: {} });
    expect(again.applier.handledVersion('cloud')).toBe(2);
    expect(again.applier.status().active?.version).toBe(1);

    await new ConfigVersions(again.store).reset({ actor: 'tech', role: 'technician' }, clock.now());
    const reset = effectiveConfig(FILE, again.store, registry);
    expect(reset.source).toBe('file');
    expect(reset.config.devices.map((d) => d.id)).toEqual(['panel', 'reader']);
    expect(audits(again.store).at(-1)).toMatchObject({ action: 'config.reset', result: 'ok' });
  });

  it('a crash in the middle of an apply comes back with the last good config; the push is marked interrupted and not retried', async () => {
    const first = setup();
    await first.applier.applyConfigPush({ config: { devices: [...raw(FILE), air] }, version: 1, issuedBy: 't', source: 'cloud' });
    let release!: () => void;
    first.devices.hold = new Promise<void>((r) => (release = r));
    const pending = first.applier.applyConfigPush({ config: { devices: raw(FILE) }, version: 2, issuedBy: 't', source: 'cloud' });
    // Wait until the push is recorded as applying and the devices are being changed, then "crash" (close the store under it).
    for (let i = 0; i < 100 && first.devices.log.length < 2; i++) await new Promise((r) => setTimeout(r, 5));
    expect(first.devices.log.at(-1)).toBe('stop air');
    await first.store.close();
    stores.splice(0);

    const again = setup(open());
    expect(again.eff.source).toBe('pushed');
    expect(again.eff.active?.version).toBe(1);
    expect(again.eff.config.devices.map((d) => d.id)).toEqual(['panel', 'reader', 'air']);
    const recovered = await again.applier.recover();
    expect(recovered.map((x) => x.result)).toEqual([expect.objectContaining<Partial<ConfigPushResult>>({ outcome: 'interrupted', version: 2 })]);
    expect(again.applier.handledVersion('cloud')).toBe(2);
    expect(await again.applier.recover()).toEqual([]);
    expect(audits(again.store).at(-1)).toMatchObject({ target: 'config v2', result: 'error' });

    release();
    // The old process's apply fails on its closed store and does not throw out of applyConfigPush.
    const late = await pending;
    expect(late.outcome).toBe('rolled-back');
  });
});
