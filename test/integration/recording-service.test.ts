/**
 * The recording service in a running room (in process), with ffmpeg's own
 * test picture as the camera: a lesson started by the lesson clock is
 * recorded and finished when it ends (ffprobe checks the file against the
 * lesson's length), a teacher's recording outside the timetable, refusals
 * (an unknown source, a disk below its reserve) with their alerts, audit rows
 * for every start and stop, and the retained `recording` message.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordingMessage } from '../../edge/schemas/bus.js';
import type { RunningService } from '../../edge/service.js';
import { probe } from '../../edge/recording/probe.js';
import type { RecordingSidecar } from '../../edge/recording/types.js';
import { waitFor } from '../helpers/peers.js';
import { startRtmpServer } from '../helpers/rtmp-server.js';
import { startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

const RECORDING = `
recording:
  segmentSeconds: 2
  rule: { mode: all }
  sources:
    - { id: cam, kind: testsrc, label: 教师特写, size: 320x240, framerate: 25 }
  storage: { maxBytes: 1073741824, minFreeBytes: 0, retentionDays: 3 }
`;

let room: TempRoom;
let svc: RunningService;
const published: RecordingMessage[] = [];

beforeAll(async () => {
  room = tempRoom({ roomId: 'rec-room' });
  room = { ...room, yaml: room.yaml + RECORDING };
  writeFileSync(room.configFile, room.yaml);
  svc = await startRoom(room);
  svc.broker.aedes.subscribe(
    'classroom/rec-room/recording',
    (packet, cb) => {
      published.push(JSON.parse(String(packet.payload)) as RecordingMessage);
      cb();
    },
    () => undefined,
  );
}, 30_000);

afterAll(async () => {
  await svc?.stop();
  room?.cleanup();
});

const recorder = () => svc.recorder!;
const state = () => recorder().status().sources.cam!;
/** Waits for the source's state; a timeout says which state and reason it was in. */
const until = (cond: () => boolean, ms: number, what: string) =>
  waitFor(cond, ms, what).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}; the source: ${JSON.stringify(state())}; recordings: ${JSON.stringify(rows())}`);
  });
const rows = () =>
  svc.store.db
    .prepare<[], { lesson_id: string; state: string; file: string | null; duration_ms: number | null; started_by: string; part: number }>('SELECT * FROM recordings ORDER BY id')
    .all();
const audits = (action: string) =>
  svc.store.db.prepare<[string], { actor: string; role: string; result: string; args: string }>('SELECT actor, role, result, args FROM audit_log WHERE action = ? ORDER BY id').all(action);

describe('the recording service with a testsrc camera', () => {
  it('records a lesson from the lesson clock\'s start to its end and joins it into one MP4 with its sidecar', async () => {
    expect(state().state).toBe('idle');
    const lesson = await svc.classroom.lessons.startAdHoc({ course: '数学', classId: 'g10-1', minutes: 40 });
    await until(() => state().state === 'recording', 15_000, 'the camera to record');
    expect(state().lessonId).toBe(lesson.lessonId);
    const t0 = Date.now();
    await waitFor(() => (state().bytes ?? 0) > 0 && Date.now() - t0 > 6000, 20_000, 'six seconds and a segment');
    const ended = await svc.classroom.lessons.endNow();
    await until(() => rows()[0]?.state === 'finished', 30_000, 'the recording to be finished');
    const row = rows()[0]!;
    expect(row.lesson_id).toBe(lesson.lessonId);
    expect(row.started_by).toBe('lesson-clock');
    expect(existsSync(row.file!)).toBe(true);

    const p = await probe(row.file!);
    const lessonMs = ended.endsAt - lesson.startsAt;
    // Within one segment of the lesson: ffmpeg's start-up is lost at the front, the segment being written at the end is closed.
    expect(Math.abs(p.durationMs! - lessonMs)).toBeLessThanOrEqual(2500);
    expect(p.streams.map((s) => s.codecName).sort()).toEqual(['aac', 'h264']);

    const sidecar = JSON.parse(readFileSync(row.file!.replace(/\.mp4$/, '.json'), 'utf8')) as RecordingSidecar;
    expect(sidecar).toMatchObject({ roomId: 'rec-room', lessonId: lesson.lessonId, course: '数学', classId: 'g10-1', source: { id: 'cam', kind: 'testsrc', label: '教师特写' }, sources: ['cam'], gaps: [] });
    expect(sidecar.segments.length).toBeGreaterThanOrEqual(3);
    expect(sidecar.file.sha256).toMatch(/^[0-9a-f]{64}$/);

    await until(() => state().state === 'idle', 10_000, 'the source to be idle again');
    // The segments are gone once joined; the joined file stays for upload and retention.
    expect(existsSync(row.file!)).toBe(true);
    const seen = published.map((m) => m.sources.cam!.state);
    expect(seen).toContain('starting');
    expect(seen).toContain('recording');
    expect(seen).toContain('stopping');
    expect(seen.at(-1)).toBe('idle');
    expect(audits('recording.start')).toEqual([expect.objectContaining({ actor: 'lesson-clock', role: 'automation', result: 'ok' })]);
    expect(audits('recording.stop')).toEqual([expect.objectContaining({ actor: 'lesson-clock', result: 'ok' })]);
  }, 90_000);

  it('a teacher records outside the timetable: an unscheduled recording, stopped by hand', async () => {
    expect(svc.classroom.lessons.current()).toBeNull();
    const by = { username: 'kiosk', role: 'teacher' };
    const r = await recorder().start({ by });
    expect(r.ok).toBe(true);
    await until(() => state().state === 'recording', 15_000, 'the camera to record');
    expect(state().lessonId).toMatch(/^rec-room\/\d{4}-\d{2}-\d{2}\/rec-\d{6}$/);
    await new Promise((res) => setTimeout(res, 3000));
    const s = await recorder().stop({ by });
    expect(s).toMatchObject({ ok: true, sources: { cam: 'stopping' } });
    await until(() => rows()[1]?.state === 'finished', 30_000, 'the second recording to be finished');
    expect(rows()[1]).toMatchObject({ started_by: 'kiosk', part: 0 });
    expect(audits('recording.stop').at(-1)).toMatchObject({ actor: 'kiosk', role: 'teacher', result: 'ok' });
  }, 60_000);

  it('refuses an unknown source with its name and the configured ones, and audits the refusal', async () => {
    const r = await recorder().start({ source: 'nope', by: { username: 'tech', role: 'technician' } });
    expect(r).toEqual({ ok: false, sources: {}, error: { code: 'unknown-source', message: 'no recording source "nope" (sources: cam)' } });
    expect(audits('recording.start').at(-1)).toMatchObject({ actor: 'tech', result: 'refused' });
    expect(state().state).toBe('idle');
  });

  it('health and metrics show the recorder', async () => {
    const h = recorder().health();
    expect(h).toMatchObject({ status: 'ok', sources: { cam: { state: 'idle' } }, upload: { configured: false } });
    expect(h.disk.usedBytes).toBeGreaterThan(0);
    const metrics = await svc.metrics.registry.metrics();
    expect(metrics).toMatch(/classroom_recording_segments_total \d+/);
    expect(metrics).toMatch(/classroom_recording_finished_total\{outcome="finished"\} 2/);
    expect(metrics).toMatch(/classroom_recording_sources\{state="idle"\} 1/);
  });
});

describe('a room whose disk is below the recorder\'s reserve', () => {
  it('does not start a lesson\'s recording: the source is in error with the reason, and an alert says so', async () => {
    let r2 = tempRoom({ roomId: 'full-room' });
    r2 = { ...r2, yaml: r2.yaml + RECORDING.replace('minFreeBytes: 0', 'minFreeBytes: 1125899906842624') };
    writeFileSync(r2.configFile, r2.yaml);
    const s2 = await startRoom(r2);
    const alerts: Array<{ code: string; message: string }> = [];
    s2.broker.aedes.subscribe('classroom/full-room/alert', (p, cb) => (alerts.push(JSON.parse(String(p.payload)) as { code: string; message: string }), cb()), () => undefined);
    try {
      await s2.classroom.lessons.startAdHoc({ course: '语文', classId: 'g10-1', minutes: 40 });
      await waitFor(() => s2.recorder!.status().sources.cam!.state === 'error', 10_000, 'the source to be in error');
      expect(s2.recorder!.status().sources.cam!.reason).toMatch(/^not recording: only .* free on the disk \(at least 1048576\.0 GiB must stay free\); nothing uploaded is left to delete$/);
      await waitFor(() => alerts.some((a) => a.code === 'recording-disk-full'), 5000, 'the alert');
      expect(s2.store.db.prepare("SELECT count(*) AS n FROM recordings").get()).toEqual({ n: 0 });
      expect(s2.recorder!.health().status).toBe('error');
    } finally {
      await s2.stop();
      r2.cleanup();
    }
  }, 30_000);
});

describe('the composed view (电影模式)', () => {
  it('records the main camera with the second in a corner as a source of its own, encoded with x264 here (no VAAPI device)', async () => {
    let r3 = tempRoom({ roomId: 'film-room' });
    r3 = {
      ...r3,
      yaml:
        r3.yaml +
        `recording:
  segmentSeconds: 2
  rule: { mode: none }
  sources:
    - { id: teacher, kind: testsrc, size: 320x240, framerate: 25 }
    - { id: screen, kind: testsrc, size: 320x240, framerate: 25, audio: false }
  composed: { main: teacher, inset: screen, size: 640x360, framerate: 25, encoder: x264, bitrateKbps: 800 }
  storage: { maxBytes: 1073741824, minFreeBytes: 0 }
`,
    };
    writeFileSync(r3.configFile, r3.yaml);
    const s3 = await startRoom(r3);
    try {
      expect(s3.recorder!.sources()).toEqual(['teacher', 'screen', 'composed']);
      const by = { username: 'tech', role: 'technician' };
      expect((await s3.recorder!.start({ source: 'composed', by })).ok).toBe(true);
      await waitFor(() => (s3.recorder!.status().sources.composed!.bytes ?? 0) > 0, 20_000, 'a composed segment');
      await new Promise((res) => setTimeout(res, 2000));
      await s3.recorder!.stop({ source: 'composed', by });
      const row = () => s3.store.db.prepare<[], { state: string; file: string | null }>("SELECT state, file FROM recordings WHERE source = 'composed'").get();
      await waitFor(() => row()?.state === 'finished', 30_000, 'the composed recording to be finished');
      const p = await probe(row()!.file!);
      expect(p.streams.find((s) => s.codecType === 'video')).toMatchObject({ codecName: 'h264', width: 640, height: 360 });
      expect(p.streams.find((s) => s.codecType === 'audio')).toMatchObject({ codecName: 'aac' });
      const sidecar = JSON.parse(readFileSync(row()!.file!.replace(/\.mp4$/, '.json'), 'utf8')) as RecordingSidecar;
      expect(sidecar.source).toEqual({ id: 'composed', kind: 'composed', label: '电影模式' });
      // The other sources did not record: the composed view reads its cameras itself.
      expect(s3.recorder!.status().sources.teacher!.state).toBe('idle');
    } finally {
      await s3.stop();
      r3.cleanup();
    }
  }, 60_000);
});

describe('a PTZ camera behind a recording source', () => {
  it('is sent to the source\'s preset when the lesson\'s recording starts (VISCA, through the device supervisor)', async () => {
    let r4 = tempRoom({ roomId: 'ptz-room', devicesYaml: '  - { id: cam-front, kind: camera, driver: visca, transport: { type: sim }, options: { address: 1 } }' });
    r4 = {
      ...r4,
      yaml:
        r4.yaml +
        `recording:
  segmentSeconds: 2
  rule: { mode: courses, courses: [英语] }
  sources:
    - { id: teacher, kind: testsrc, size: 320x240, framerate: 25, ptz: { device: cam-front, preset: 3 } }
  storage: { maxBytes: 1073741824, minFreeBytes: 0 }
`,
    };
    writeFileSync(r4.configFile, r4.yaml);
    const s4 = await startRoom(r4);
    try {
      await waitFor(() => s4.devices.get('cam-front')?.online === true, 10_000, 'the camera online');
      // A course the rule does not record: nothing starts, the camera stays.
      await s4.classroom.lessons.startAdHoc({ course: '数学', classId: 'g10-1', minutes: 40 });
      await new Promise((res) => setTimeout(res, 500));
      expect(s4.recorder!.status().sources.teacher!.state).toBe('idle');
      expect(s4.devices.get('cam-front')?.state.preset).toBeUndefined();
      // One it records: the recording starts and the camera turns to the teacher's preset.
      await s4.classroom.lessons.startAdHoc({ course: '英语', classId: 'g10-1', minutes: 40 });
      await waitFor(() => s4.devices.get('cam-front')?.state.preset === 3, 10_000, 'the camera at preset 3');
      await waitFor(() => s4.recorder!.status().sources.teacher!.state === 'recording', 15_000, 'the source recording');
      const audit = () => s4.store.db.prepare("SELECT actor, target, args, result FROM audit_log WHERE action = 'device.command' ORDER BY id").all();
      // The device's state changes before its command's audit row commits.
      await waitFor(() => audit().length > 0, 5000, 'the preset command audited');
      expect(audit()).toEqual([{ actor: 'recorder', target: 'cam-front', args: JSON.stringify({ command: 'preset', args: { recall: 3 } }), result: 'ok' }]);
    } finally {
      await s4.stop();
      r4.cleanup();
    }
  }, 60_000);
});

describe('a live push the media server refuses', () => {
  it('leaves the recording alone and shows the push in error on the bus, in /health and as an alert for the technicians', async () => {
    const media = await startRtmpServer({ onPublish: () => false });
    let r5 = tempRoom({ roomId: 'live-room' });
    r5 = {
      ...r5,
      yaml:
        r5.yaml +
        `recording:
  segmentSeconds: 2
  rule: { mode: none }
  sources:
    - { id: teacher, kind: testsrc, size: 320x240, framerate: 25 }
  live:
    - { id: zdkt, source: teacher, url: "${media.url}/secret-key-42", when: lessons }
  storage: { maxBytes: 1073741824, minFreeBytes: 0 }
`,
    };
    writeFileSync(r5.configFile, r5.yaml);
    const s5 = await startRoom(r5);
    const alerts: Array<{ code: string; message: string }> = [];
    s5.broker.aedes.subscribe('classroom/live-room/alert', (p, cb) => (alerts.push(JSON.parse(String(p.payload)) as { code: string; message: string }), cb()), () => undefined);
    try {
      const by = { username: 'tech', role: 'technician' };
      expect((await s5.recorder!.start({ by })).ok).toBe(true);
      await waitFor(() => s5.recorder!.status().sources.teacher!.live?.state === 'error', 20_000, 'the push in error');
      await waitFor(() => alerts.some((a) => a.code === 'live-push-error'), 5000, 'the live-push alert');
      await waitFor(() => s5.recorder!.status().sources.teacher!.state === 'recording', 15_000, 'the recording, untouched by the push');
      const status = s5.recorder!.status().sources.teacher!;
      expect(status.live).toMatchObject({ target: 'zdkt', state: 'error' });
      const health = s5.recorder!.health();
      expect(health.status).toBe('degraded');
      expect(health.sources.teacher).toMatchObject({ state: 'recording', live: { target: 'zdkt', state: 'error' } });
      // The stream key never leaves the push: not in the state, not in the alert.
      expect(JSON.stringify([status, alerts])).not.toContain('secret-key-42');
      expect(alerts.filter((a) => a.code === 'live-push-error')).toHaveLength(1);
      await s5.recorder!.stop({ by });
      await waitFor(() => s5.recorder!.status().sources.teacher!.live?.state === 'off', 10_000, 'the push stopped with the recording');
    } finally {
      await s5.stop();
      r5.cleanup();
      await media.cleanup();
    }
  }, 60_000);
});
