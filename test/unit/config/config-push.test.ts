/**
 * What a configuration push changes (edge/config/diff.ts) and what it may
 * change (edge/config/push.ts): devices, scenes and recording.live replace
 * the running ones; any other section (and any other recording key) must be
 * unchanged, or the push is refused naming the field; invalid documents get
 * check-config's `path: reason` problems.
 */
import { describe, expect, it } from 'vitest';
import { loadConfigText, ConfigError } from '../../../edge/config/load.js';
import { diffConfig, diffDevices, diffLive } from '../../../edge/config/diff.js';
import { formatProblems, sectionsOf, validatePush, withSections } from '../../../edge/config/push.js';
import type { DeviceConfig } from '../../../edge/config/schema.js';
import { builtinDrivers } from '../../../edge/devices/registry.js';

const registry = builtinDrivers();

const BASE = `
version: 1
room: { id: r203, name: 初二(3)班 }
dataDir: /tmp/ce-push-test
broker: { port: 1883 }
devices:
  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }
  - { id: reader, kind: card-reader, driver: em4100, transport: { type: sim } }
scenes:
  class-start: [ { device: panel, command: power, args: { on: true } } ]
`;
const running = loadConfigText(BASE, 'base', registry);

const dev = (id: string, transport: DeviceConfig['transport'], over: Partial<DeviceConfig> = {}): DeviceConfig => ({
  id,
  kind: 'sensor',
  driver: 'modbus-rtu',
  transport,
  options: { unitId: 1 },
  commandTimeoutMs: 15_000,
  ...over,
});
const sim = { type: 'sim' as const, settings: {} };
const rs485 = { type: 'serial' as const, path: '/dev/ttyUSB9', baudRate: 9600, dataBits: 8 as const, parity: 'none' as const, stopBits: 1 as const };

describe('config diff', () => {
  it('names added, removed, changed and unchanged devices; key order does not count as a change', () => {
    const before = [dev('a', sim), dev('b', sim), dev('c', sim)];
    const after = [dev('a', sim), { ...dev('b', sim), options: { unitId: 2 } }, dev('d', sim)];
    // Same settings written in another key order.
    after[0] = { commandTimeoutMs: 15_000, options: { unitId: 1 }, transport: sim, driver: 'modbus-rtu', kind: 'sensor', id: 'a' };
    const d = diffDevices(before, after);
    expect(d).toEqual({ added: ['d'], removed: ['c'], changed: ['b'], unchanged: ['a'], stop: ['b', 'c'], start: ['b', 'd'] });
  });

  it('restarts every device on a shared line when one of them changes, and leaves other lines alone', () => {
    const before = [dev('u1', rs485), dev('u2', rs485, { options: { unitId: 2 } }), dev('x', sim)];
    const after = [dev('u1', rs485), dev('u2', rs485, { options: { unitId: 2 } }), dev('u3', rs485, { options: { unitId: 3 } }), dev('x', sim)];
    const d = diffDevices(before, after);
    expect(d.added).toEqual(['u3']);
    expect(d.changed).toEqual(['u1', 'u2']);
    expect(d.unchanged).toEqual(['x']);
    expect(d.start).toEqual(['u1', 'u2', 'u3']);
  });

  it('reports no change for the same devices and scenes, and a scenes-only change', () => {
    expect(diffConfig(running, running).none).toBe(true);
    const c = diffConfig(running, { devices: running.devices, scenes: {} });
    expect(c).toMatchObject({ none: false, scenesChanged: true, devices: { start: [], stop: [] } });
  });
});

describe('config push validation', () => {
  it('accepts devices and scenes and returns the whole config to run', () => {
    const v = validatePush(
      {
        devices: [...running.devices, { id: 'air', kind: 'sensor', driver: 'modbus-rtu', transport: { type: 'sim' }, options: { unitId: 1, profile: 'xy-md02' } }],
        scenes: { 'class-end': [{ device: 'panel', command: 'power', args: { on: false } }] },
      },
      running,
      registry,
    );
    expect(v.problems).toEqual([]);
    expect(v.config!.devices.map((d) => d.id)).toEqual(['panel', 'reader', 'air']);
    expect(Object.keys(v.config!.scenes)).toEqual(['class-end']);
    expect(v.config!.room).toEqual(running.room);
  });

  it('refuses an invalid document with the same path: reason lines as check-config', () => {
    const bad = { devices: [{ id: 'air', kind: 'sensor', driver: 'modbus-rtu', transport: { type: 'sim' }, options: { unitId: 999 } }], scenes: {} };
    const v = validatePush(bad, running, registry);
    expect(v.config).toBeUndefined();
    const pushed = formatProblems(v.problems);
    // The same document as a file, through check-config's loader.
    let fromFile: string[] = [];
    try {
      loadConfigText(`${BASE.replace(/devices:[\s\S]*/, '')}devices:\n  - { id: air, kind: sensor, driver: modbus-rtu, transport: { type: sim }, options: { unitId: 999 } }\n`, 'f', registry);
    } catch (e) {
      fromFile = (e as ConfigError).problems.map((p) => `${p.path}: ${p.reason}`);
    }
    expect(pushed).toEqual(fromFile);
    expect(pushed[0]).toMatch(/^devices\[0\]\.options\.unitId: /);
  });

  it('refuses a scene naming a device the push removes', () => {
    const v = validatePush({ devices: [running.devices[1]] }, running, registry);
    expect(formatProblems(v.problems)).toEqual(['scenes.class-start[0].device: no device with id "panel"']);
  });

  it('accepts a whole config file whose other sections are unchanged, refuses each changed non-pushable field with its reason', () => {
    const same = validatePush({ ...running, devices: running.devices.slice(0, 1), scenes: running.scenes }, running, registry);
    expect(same.problems).toEqual([]);
    const v = validatePush(
      { ...running, room: { ...running.room, id: 'other-room' }, api: { ...running.api, port: 9999 }, cloud: { url: 'mqtts://evil.example:8883' } },
      running,
      registry,
    );
    const lines = formatProblems(v.problems);
    expect(lines).toContain('room.id: cannot be changed by a push: the room identity keys the store, the bus topics and the district certificate; change it on the appliance');
    expect(lines).toContain('api.port: cannot be changed by a push: ports and addresses change only at a restart');
    expect(lines.some((l) => l.startsWith('cloud: cannot be changed by a push: the district link itself'))).toBe(true);
    expect(v.config).toBeUndefined();
  });

  it('refuses a document without devices or scenes, and one that is not a mapping', () => {
    expect(formatProblems(validatePush({ lessons: { autoScenes: false } }, running, registry).problems)).toEqual([
      '(root): nothing to apply: a push must contain devices, scenes and/or recording.live',
    ]);
    expect(formatProblems(validatePush([1, 2], running, registry).problems)).toEqual(['(root): a pushed config must be a mapping (devices, scenes and/or recording.live)']);
  });
});

const RECORDING = `
recording:
  rule: { mode: none }
  sources:
    - { id: cam, kind: testsrc }
    - { id: board, kind: testsrc, size: 320x240 }
  live:
    - { id: zdkt, source: cam, url: rtmp://media.example/live/key1, when: lessons }
`;
const recRunning = loadConfigText(BASE + RECORDING, 'base', registry);
const target = (id: string, source: string, url = `rtmp://media.example/live/${id}`, when: 'lessons' | 'manual' = 'lessons') => ({ id, source, url, when });

describe('live targets in a push (recording.live)', () => {
  it('replaces only the live targets: the other recording settings, devices and scenes stay', () => {
    const v = validatePush({ recording: { live: [target('zdkt', 'cam'), { id: 'mskt', source: 'board', url: 'srt://media.example:9000?streamid=x' }] } }, recRunning, registry);
    expect(v.problems).toEqual([]);
    expect(v.config!.recording!.live).toEqual([target('zdkt', 'cam'), { id: 'mskt', source: 'board', url: 'srt://media.example:9000?streamid=x', when: 'manual' }]);
    expect({ ...v.config!.recording!, live: [] }).toEqual({ ...recRunning.recording!, live: [] });
    expect(v.config!.devices).toEqual(recRunning.devices);
    expect(v.config!.scenes).toEqual(recRunning.scenes);
    // An empty list is a valid push too: the room stops pairing with anyone.
    expect(validatePush({ recording: { live: [] } }, recRunning, registry).config!.recording!.live).toEqual([]);
  });

  it('refuses a target on a source the room does not have, duplicate ids and a malformed URL, each with its path', () => {
    const lines = formatProblems(
      validatePush({ recording: { live: [target('a', 'cam9'), target('b', 'cam'), target('b', 'board')] } }, recRunning, registry).problems,
    );
    // Two targets with one id could not be started or stopped one by one (the config schema checks it, in files and pushes alike).
    expect(lines).toEqual(['recording.live[0].source: no source cam9 (sources: cam, board)', 'recording.live[2].id: live target b appears twice']);
    const url = formatProblems(validatePush({ recording: { live: [target('a', 'cam', 'http://media.example/live')] } }, recRunning, registry).problems);
    expect(url).toEqual(['recording.live[0].url: an rtmp://, rtmps:// or srt:// URL']);
  });

  it('refuses any other recording key that differs, naming the field; the same values (a whole file) are accepted', () => {
    const lines = formatProblems(
      validatePush({ recording: { live: [], segmentSeconds: 4, sources: [{ id: 'cam', kind: 'testsrc' }] } }, recRunning, registry).problems,
    );
    const why = 'cannot be changed by a push: only recording.live can be pushed: the sources, rule, storage and uploads are read by the recorder at start; edit the file and restart';
    expect(lines).toEqual([`recording.segmentSeconds: ${why}`, `recording.sources: ${why}`]);
    // Without live, the field is still named (not "nothing to apply").
    expect(formatProblems(validatePush({ recording: { rule: { mode: 'all' } } }, recRunning, registry).problems)).toEqual([`recording.rule.mode: ${why}`]);
    expect(formatProblems(validatePush({ recording: {} }, recRunning, registry).problems)).toEqual([
      '(root): nothing to apply: a push must contain devices, scenes and/or recording.live',
    ]);
    const whole = validatePush({ ...recRunning, recording: { ...recRunning.recording!, live: [target('x', 'board')] } }, recRunning, registry);
    expect(whole.problems).toEqual([]);
    expect(whole.config!.recording!.live.map((t) => t.id)).toEqual(['x']);
  });

  it('refuses a live push in a room without a recording section, and a recording that is not a mapping', () => {
    expect(formatProblems(validatePush({ recording: { live: [target('a', 'cam')] } }, running, registry).problems)).toEqual([
      'recording: this room has no recording section (no recording sources): add its sources to the config file first; a push can change only recording.live',
    ]);
    expect(formatProblems(validatePush({ recording: [target('a', 'cam')] }, recRunning, registry).problems)).toEqual([
      'recording: must be a mapping: a push may carry recording: { live: [...] }',
    ]);
    // Devices pushed with it do not hide the refusal.
    expect(validatePush({ devices: running.devices, recording: { live: [] } }, running, registry).config).toBeUndefined();
  });

  it('diffs live targets by id: added, removed, changed; order and key order do not count', () => {
    const before = [target('a', 'cam'), target('b', 'cam'), target('c', 'board')];
    const after = [{ when: 'lessons' as const, url: 'rtmp://media.example/live/c', source: 'board', id: 'c' }, target('a', 'cam', 'rtmp://other.example/live/a'), target('d', 'cam')];
    expect(diffLive(before, after)).toEqual({ added: ['d'], removed: ['b'], changed: ['a'] });
    const swapped = { ...recRunning, recording: { ...recRunning.recording!, live: [...before].reverse() } };
    const c = diffConfig({ ...recRunning, recording: { ...recRunning.recording!, live: before } }, swapped);
    expect(c).toMatchObject({ liveChanged: false, none: true });
    const d = diffConfig(recRunning, { ...recRunning, recording: { ...recRunning.recording!, live: [] } });
    expect(d).toMatchObject({ liveChanged: true, none: false, scenesChanged: false, live: { removed: ['zdkt'] } });
    // A room without recording has no live targets: nothing changes there.
    expect(diffConfig(running, running)).toMatchObject({ liveChanged: false, live: { added: [], removed: [], changed: [] } });
  });

  it('keeps the live targets in the overlay of a room with recording, and lays them over the file', () => {
    expect(sectionsOf(running)).toEqual({ devices: running.devices, scenes: running.scenes });
    const pushed = validatePush({ recording: { live: [target('n', 'board')] } }, recRunning, registry).config!;
    const overlay = sectionsOf(pushed);
    expect(overlay.recording).toEqual({ live: [target('n', 'board')] });
    const back = withSections(recRunning, JSON.parse(JSON.stringify(overlay)) as typeof overlay);
    expect(back.recording).toEqual({ ...recRunning.recording!, live: [target('n', 'board')] });
    // An overlay from before live targets were pushable (no recording key) leaves the file's.
    expect(withSections(recRunning, { devices: recRunning.devices, scenes: {} }).recording).toEqual(recRunning.recording);
  });
});
