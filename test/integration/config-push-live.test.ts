/**
 * The 专递课堂 pairing pushed as configuration (recording.live) into a
 * running in-process room with a testsrc camera: the recorder knows the new
 * targets at once (a removed one is unknown), an added `when: lessons` target
 * starts at once while its source records, a restart on the same dataDir
 * keeps the pushed pairing, bad pushes (a source the room does not have,
 * another recording key) are refused with their paths and change nothing.
 * The media server is a closed port on 127.0.0.1: a started push sits in
 * `retrying`, which is all it can do without a server.
 */
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStoredConfig } from '../../edge/config/overlay-cli.js';
import type { RunningService } from '../../edge/service.js';
import { freePort } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/peers.js';
import { startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

const by = { username: 'wang.tech', role: 'technician' };
let room: TempRoom;
let svc: RunningService;
let url: (key: string) => string;

beforeAll(async () => {
  // Nothing listens there: the port was free a moment ago.
  const closed = await freePort();
  url = (key) => `rtmp://127.0.0.1:${closed}/live/${key}`;
  room = tempRoom({ roomId: 'live-push-room' });
  const recording = `
recording:
  segmentSeconds: 2
  rule: { mode: none }
  sources:
    - { id: cam, kind: testsrc, size: 320x240, framerate: 10, audio: false }
  storage: { maxBytes: 1073741824, minFreeBytes: 0, retentionDays: 3 }
  live:
    - { id: old, source: cam, url: ${JSON.stringify(url('old'))}, when: manual }
`;
  room = { ...room, yaml: room.yaml + recording };
  writeFileSync(room.configFile, room.yaml);
  svc = await startRoom(room);
}, 30_000);

afterAll(async () => {
  await svc?.stop();
  room?.cleanup();
});

const live = () => svc.recorder!.status().sources.cam?.live;
const push = (config: unknown, version: number) => svc.configPush.applyConfigPush({ config, version, issuedBy: 'district', source: 'cloud' });
const until = (cond: () => boolean, ms: number, what: string) =>
  waitFor(cond, ms, what).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; live: ${JSON.stringify(live())}`);
  });

describe('recording.live pushed by the district', () => {
  it('replaces the targets in the running recorder: the new one is known, the removed one is not', async () => {
    expect((await svc.recorder!.live({ target: 'old', action: 'stop', by })).ok).toBe(true);
    const r = await push({ recording: { live: [{ id: 'zdkt', source: 'cam', url: url('zdkt'), when: 'manual' }] } }, 1);
    expect(r).toMatchObject({ outcome: 'applied', version: 1, changes: { added: [], removed: [], changed: [], scenesChanged: false, liveChanged: true } });
    expect(await svc.recorder!.live({ target: 'old', action: 'start', by })).toMatchObject({ ok: false, error: { code: 'unknown-target' } });

    expect((await svc.recorder!.live({ target: 'zdkt', action: 'start', by })).ok).toBe(true);
    // A real ffmpeg pushing to a closed port: it cannot connect and retries.
    await until(() => live()?.target === 'zdkt' && live()?.state === 'retrying', 20_000, 'the new target to try its media server');
    expect(live()?.reason).toContain('127.0.0.1');
    expect((await svc.recorder!.live({ target: 'zdkt', action: 'stop', by })).ok).toBe(true);
    expect(live()?.state).toBe('off');

    const audit = svc.store.db.prepare<[], { target: string; result: string; args: string }>("SELECT target, result, args FROM audit_log WHERE action = 'config.push' ORDER BY id").all();
    expect(audit.map((a) => [a.target, a.result])).toEqual([['config v1', 'ok']]);
    expect(JSON.parse(audit[0]!.args)).toMatchObject({ changes: { liveChanged: true }, live: { added: ['zdkt'], removed: ['old'] } });
    expect(svc.configPush.status()).toMatchObject({ source: 'pushed', active: { version: 1 } });
  }, 40_000);

  it('starts an added lesson target at once while its source records, and stops it when a push removes it', async () => {
    expect((await svc.recorder!.start({ source: 'cam', by })).ok).toBe(true);
    await until(() => svc.recorder!.status().sources.cam?.state === 'recording', 20_000, 'the camera to record');
    const manual = { id: 'zdkt', source: 'cam', url: url('zdkt'), when: 'manual' };
    const lessons = { id: 'mskt', source: 'cam', url: url('mskt'), when: 'lessons' };
    expect((await push({ recording: { live: [manual, lessons] } }, 2)).outcome).toBe('applied');
    await until(() => live()?.target === 'mskt' && live()?.state === 'retrying', 20_000, 'the added lesson target to push');

    expect((await push({ recording: { live: [manual] } }, 3)).outcome).toBe('applied');
    expect(live()).toMatchObject({ target: 'mskt', state: 'off' });
    expect((await svc.recorder!.live({ target: 'mskt', action: 'start', by })).error?.code).toBe('unknown-target');
    expect((await svc.recorder!.stop({ source: 'cam', by })).ok).toBe(true);
  }, 60_000);

  it('refuses a target on an unknown source and any other recording key, with their paths, and changes nothing', async () => {
    const bad = await push({ recording: { live: [{ id: 'x', source: 'nocam', url: url('x') }] } }, 4);
    expect(bad.outcome).toBe('refused');
    expect(bad.problems).toEqual(['recording.live[0].source: no source nocam (sources: cam)']);
    const other = await push({ recording: { live: [], rule: { mode: 'all' } } }, 5);
    expect(other.outcome).toBe('refused');
    expect(other.problems?.[0]).toMatch(/^recording\.rule\.mode: cannot be changed by a push: only recording\.live can be pushed/);
    expect((await svc.recorder!.live({ target: 'zdkt', action: 'stop', by })).ok).toBe(true);
    expect(svc.configPush.status().active?.version).toBe(3);
  });

  it('a restart on the same dataDir keeps the pushed pairing; check-config says so', async () => {
    await svc.stop();
    svc = await startRoom(room);
    expect(svc.configPush.status()).toMatchObject({ source: 'pushed', active: { version: 3 } });
    expect((await svc.recorder!.live({ target: 'zdkt', action: 'stop', by })).ok).toBe(true);
    expect((await svc.recorder!.live({ target: 'old', action: 'stop', by })).error?.code).toBe('unknown-target');
    expect(describeStoredConfig(room.dataDir)).toContain("config v3 by district at ");
    expect(describeStoredConfig(room.dataDir)).toContain("replaces this file's devices, scenes and live targets (recording.live)");
  }, 30_000);
});
