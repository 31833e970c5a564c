/**
 * The config applier with live targets (recording.live, the 专递课堂 pairing)
 * on a real store, fake devices and a fake recorder: a live-only push is
 * applied without a device check, persisted and audited, and comes back after
 * a restart; a push also changing a device that fails its check is rolled
 * back as a whole without ever touching the live targets; a recorder that
 * fails to replace them, or a commit that fails after it did, puts them back;
 * a push changing live targets with no recorder running is rolled back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigApplier, effectiveConfig, type ApplyLive } from '../../../edge/config/apply.js';
import { loadConfigText } from '../../../edge/config/load.js';
import { ConfigVersions } from '../../../edge/config/persisted.js';
import type { LiveTargetConfig } from '../../../edge/config/recording-schema.js';
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
dataDir: /tmp/ce-apply-live-test
broker: { port: 1883 }
configPush: { checkTimeoutMs: 500 }
devices:
  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }
recording:
  rule: { mode: none }
  sources:
    - { id: cam, kind: testsrc }
  live:
    - { id: zdkt, source: cam, url: rtmp://media.example/live/old, when: lessons }
`,
  'file',
  registry,
);

const zdkt2: LiveTargetConfig = { id: 'zdkt', source: 'cam', url: 'rtmp://media.example/live/new', when: 'lessons' };
const mskt: LiveTargetConfig = { id: 'mskt', source: 'cam', url: 'srt://media.example:9000?streamid=k', when: 'manual' };
const deadAir = { id: 'air', kind: 'sensor', driver: 'modbus-rtu', transport: { type: 'serial', path: '/dev/serial/by-id/missing' }, options: { unitId: 1, profile: 'xy-md02' } };
const raw = (c: EdgeConfig) => c.devices.map((d) => ({ ...d }));

/** A recorder's live targets: records every replace, can be told to fail or to run something first. */
class FakeLive implements ApplyLive {
  targets: LiveTargetConfig[];
  readonly calls: string[][] = [];
  fail: string | null = null;
  before: (() => Promise<void>) | null = null;
  constructor(initial: readonly LiveTargetConfig[]) {
    this.targets = [...initial];
  }
  async replace(targets: LiveTargetConfig[]): Promise<void> {
    this.calls.push(targets.map((t) => `${t.id}@${t.url}`));
    await this.before?.();
    if (this.fail) throw new Error(this.fail);
    this.targets = [...targets];
  }
}

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

function setup(opts: { store?: Store; live?: boolean } = {}) {
  const store = opts.store ?? open();
  const eff = effectiveConfig(FILE, store, registry);
  const devices = new FakeDevices(eff.config.devices);
  const live = new FakeLive(eff.config.recording!.live);
  const applier = new ConfigApplier({ config: eff.config, store, devices, scenes: { replace: () => undefined }, registry, clock, logger: silentLogger(), checkPollMs: 5 });
  if (opts.live !== false) applier.setLive(live);
  return { store, applier, devices, live, eff };
}

const audits = (store: Store) =>
  store.db.prepare<[], { action: string; target: string; result: string; args: string; error: string | null }>('SELECT action, target, result, args, error FROM audit_log ORDER BY id').all();

describe('config applier: live targets', () => {
  it('applies a live-only push without a device check, persists it, audits it, and a restart comes back with it', async () => {
    const { store, applier, devices, live } = setup();
    const r = await applier.applyConfigPush({ config: { recording: { live: [zdkt2, mskt] } }, version: 7, issuedBy: 'district', source: 'cloud' });
    expect(r).toMatchObject({ outcome: 'applied', version: 7, changes: { added: [], removed: [], changed: [], scenesChanged: false, liveChanged: true } });
    expect(live.calls).toEqual([['zdkt@rtmp://media.example/live/new', 'mskt@srt://media.example:9000?streamid=k']]);
    expect(live.targets.map((t) => t.when)).toEqual(['lessons', 'manual']);
    expect(devices.log).toEqual([]);
    expect(applier.config().recording!.live).toEqual([zdkt2, mskt]);
    const a = audits(store);
    expect(a.map((x) => [x.action, x.target, x.result])).toEqual([['config.push', 'config v7', 'ok']]);
    expect(JSON.parse(a[0]!.args)).toMatchObject({ changes: { liveChanged: true }, live: { added: ['mskt'], removed: [], changed: ['zdkt'] } });

    // The same push again changes nothing: the recorder is not asked.
    const again = await applier.applyConfigPush({ config: { recording: { live: [mskt, zdkt2] } }, version: 8, issuedBy: 'district', source: 'cloud' });
    expect(again).toMatchObject({ outcome: 'unchanged', changes: { liveChanged: false } });
    expect(live.calls).toHaveLength(1);

    await store.close();
    stores.splice(0);
    const restarted = setup({ store: open() });
    expect(restarted.eff.source).toBe('pushed');
    expect(restarted.eff.config.recording!.live).toEqual([mskt, zdkt2]);
    // Everything else of the recording section is the file's.
    expect(restarted.eff.config.recording!.sources).toEqual(FILE.recording!.sources);

    await new ConfigVersions(restarted.store).reset({ actor: 'tech', role: 'technician' }, clock.now());
    expect(effectiveConfig(FILE, restarted.store, registry).config.recording!.live).toEqual(FILE.recording!.live);
  });

  it('a device-only push keeps the live targets running and stores them in the overlay', async () => {
    const { store, applier, live } = setup();
    const panel2 = { ...raw(FILE)[0]!, options: { displayId: 2 } };
    const r = await applier.applyConfigPush({ config: { devices: [panel2] }, version: 1, issuedBy: 't', source: 'cloud' });
    expect(r).toMatchObject({ outcome: 'applied', changes: { changed: ['panel'], liveChanged: false } });
    expect(live.calls).toEqual([]);
    expect(new ConfigVersions(store).active()?.content).toMatchObject({ recording: { live: FILE.recording!.live } });
  });

  it('rolls back a push changing a device and the live targets as a whole when the device fails; the live targets are never touched', async () => {
    const { store, applier, devices, live } = setup();
    const r = await applier.applyConfigPush({ config: { devices: [...raw(FILE), deadAir], recording: { live: [zdkt2] } }, version: 2, issuedBy: 't', source: 'cloud' });
    expect(r.outcome).toBe('rolled-back');
    expect(r.changes).toMatchObject({ added: ['air'], liveChanged: true });
    expect(r.failed?.map((f) => f.deviceId)).toEqual(['air']);
    expect(live.calls).toEqual([]);
    expect(live.targets).toEqual(FILE.recording!.live);
    expect(devices.ids()).toEqual(['panel']);
    expect(applier.config()).toBe(FILE);
    expect(applier.status().active).toBeNull();
    expect(audits(store).map((a) => a.result)).toEqual(['error']);
  });

  it('puts the live targets back when the recorder fails to replace them, and refuses to apply them with no recorder', async () => {
    const { applier, devices, live } = setup();
    live.fail = 'recorder stopped';
    const r = await applier.applyConfigPush({ config: { devices: [...raw(FILE), { ...deadAir, transport: { type: 'sim' } }], recording: { live: [zdkt2] } }, version: 3, issuedBy: 't' });
    expect(r.outcome).toBe('rolled-back');
    expect(r.message).toContain('apply failed: recorder stopped');
    // The attempt, then the rollback to the previous targets (which fails too here, and says so).
    expect(live.calls).toEqual([['zdkt@rtmp://media.example/live/new'], ['zdkt@rtmp://media.example/live/old']]);
    expect(r.message).toContain('rollback failed: recorder stopped');
    expect(devices.ids()).toEqual(['panel']);

    const bare = setup({ store: open(), live: false });
    const n = await bare.applier.applyConfigPush({ config: { recording: { live: [] } }, version: 4, issuedBy: 't' });
    expect(n).toMatchObject({ outcome: 'rolled-back', message: 'apply failed: recording.live changed but no recorder is running to apply it' });
    expect(bare.applier.config()).toBe(FILE);
  });

  it('puts the live targets back when the commit fails after they were replaced', async () => {
    const { store, applier, live } = setup();
    // The store goes away between the replace and the commit (a disk failure).
    live.before = async () => {
      live.before = null;
      await store.close();
    };
    const r = await applier.applyConfigPush({ config: { recording: { live: [mskt] } }, version: 5, issuedBy: 't' });
    stores.splice(0);
    expect(r.outcome).toBe('rolled-back');
    expect(r.message).toMatch(/^internal error: /);
    expect(live.calls).toEqual([['mskt@srt://media.example:9000?streamid=k'], ['zdkt@rtmp://media.example/live/old']]);
    expect(live.targets).toEqual(FILE.recording!.live);
    expect(applier.config()).toBe(FILE);
  });
});
