/**
 * A lesson recorded end to end, with every peer real and the faults a room
 * meets: GStreamer's RTSP server as the camera (H.264 + AAC, a password),
 * the edge service as its own process (`classroom-edge start`), the
 * reference cloud's API in-process (upload endpoint, registry, playback).
 *
 * The camera goes away and comes back, the edge is killed with SIGKILL
 * mid-lesson (its orphaned ffmpeg is reaped, the recording resumes), the
 * cloud is down when the lesson ends (the upload waits and resumes when it
 * is back). In the end the cloud holds the lesson's recording, byte for
 * byte the edge's file, the camera's drop a gap in its sidecar, the killed
 * service's last segments kept, stream-copied from the camera, and a
 * technician can fetch it with a range request.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTagged } from '../../edge/recording/orphans.js';
import { firstStream, probe } from '../../edge/recording/probe.js';
import type { RecordingSidecar } from '../../edge/recording/types.js';
import type { RecordingMessage } from '../../edge/schemas/bus.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { startCli, type Started } from '../helpers/cli.js';
import { waitFor } from '../helpers/peers.js';
import { basicAuth, PASSWORDS, tempRoom, type TempRoom } from '../helpers/room.js';
import { RtspCamera } from '../helpers/rtsp-camera.js';
import { bearer, ROOM, ROOM_SECRET, startCloud, WANG, type TestCloud } from './recording-cloud-fixtures.js';

const CAM = { username: 'admin', password: 'cam-Pa55-word-7' };
let dir: string;
let room: TempRoom;
let camera: RtspCamera;
let cloudStore: CloudStore;
let cloud: TestCloud;
let edge: Started | null = null;

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const auth = basicAuth('tech', PASSWORDS.tech);
const edgeApi = async (path: string, body?: unknown) => {
  const r = await fetch(`http://127.0.0.1:${edge!.ports.api}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
};
const recState = async () => ((await edgeApi('/api/recording')).body.status as RecordingMessage).sources.cam1!;
const until = (what: string, cond: () => Promise<boolean> | boolean, ms = 30_000) =>
  waitFor(cond, ms, what).catch(async (e: unknown) => {
    throw new Error(`${(e as Error).message}\nthe source: ${JSON.stringify(await recState().catch(() => null))}\nedge output (tail):\n${edge?.output().slice(-3000) ?? ''}`);
  });
const stateIs = (s: string) => async () => (await recState()).state === s;

async function startEdge(): Promise<void> {
  edge = await startCli(['--config', room.configFile], { LOG_LEVEL: 'info' }, 30_000);
}

async function killEdge(): Promise<void> {
  const e = edge!;
  e.child.kill('SIGKILL');
  await e.exited;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ce-rec-e2e-'));
  camera = await RtspCamera.start({ dir, width: 640, height: 360, framerate: 25, gop: 25, profile: 'high', kbps: 600, audio: true, credentials: CAM });
  cloudStore = await CloudStore.open({ kind: 'sqlite', file: join(dir, 'cloud.db') });
  cloud = await startCloud(cloudStore, join(dir, 'cloud-recordings'));
  room = tempRoom({ roomId: ROOM });
  writeFileSync(join(room.dir, 'cam1.cred'), `${CAM.username}:${CAM.password}\n`, { mode: 0o600 });
  writeFileSync(join(room.dir, 'upload.token'), `${ROOM_SECRET}\n`, { mode: 0o600 });
  room = {
    ...room,
    // Info level: the test waits for the service's "started" line and reads what the recorder logged.
    yaml:
      room.yaml.replace('log: { level: warn }', 'log: { level: info }') +
      `recording:
  segmentSeconds: 2
  rule: { mode: all }
  sources:
    - { id: cam1, kind: rtsp, label: 教师特写, url: "${camera.url}", credentialsFile: ${JSON.stringify(join(room.dir, 'cam1.cred'))} }
  storage: { maxBytes: 1073741824, minFreeBytes: 0 }
  upload: { url: "${cloud.base}", tokenFile: ${JSON.stringify(join(room.dir, 'upload.token'))} }
`,
  };
  writeFileSync(room.configFile, room.yaml);
  await startEdge();
}, 60_000);

afterAll(async () => {
  if (edge && edge.child.exitCode === null && edge.child.signalCode === null) {
    edge.child.kill('SIGTERM');
    await edge.exited;
  }
  for (const pid of findTagged(room?.dataDir ?? '/nonexistent')) process.kill(-pid, 'SIGKILL');
  await camera?.stop();
  await cloud?.app.close();
  await cloudStore?.close();
  room?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a lesson recorded from an RTSP camera to the district, through a camera drop, a killed service and a cloud outage', () => {
  it('ends with the complete recording in the cloud, byte for byte, with its gaps', async () => {
    const started = await edgeApi('/api/lessons/ad-hoc', { course: '物理', classId: 'g8-3', minutes: 40 });
    expect(started.status).toBe(200);
    const lessonId = (started.body.lesson as { lessonId: string }).lessonId;
    await until('the camera to record', async () => (await recState()).state === 'recording' && ((await recState()).bytes ?? 0) > 0);
    expect((await recState()).lessonId).toBe(lessonId);

    // The camera goes away: degraded, with a reason that never shows its password.
    await camera.stop();
    await until('the source to be degraded', stateIs('degraded'));
    const degraded = await recState();
    expect(degraded.reason).toMatch(/camera unreachable|ended the stream|no media|ffmpeg ended/);
    expect(JSON.stringify(degraded)).not.toContain(CAM.password);
    await new Promise((r) => setTimeout(r, 2000));
    await camera.restart();
    await until('the camera to record again', stateIs('recording'), 60_000);
    await new Promise((r) => setTimeout(r, 3000));

    // The service dies mid-lesson; its ffmpeg runs on (own process group) until the next start reaps it.
    await killEdge();
    const orphans = findTagged(room.dataDir);
    expect(orphans.length).toBe(1);
    await new Promise((r) => setTimeout(r, 1500));
    await startEdge();
    await until('the recording to resume after the restart', stateIs('recording'), 60_000);
    expect(edge!.output()).toContain('killed ffmpeg processes left running by a previous run of the service');
    expect(edge!.output()).toContain('resuming a recording interrupted by a restart');
    expect(findTagged(room.dataDir).filter((p) => orphans.includes(p))).toEqual([]);
    await new Promise((r) => setTimeout(r, 3000));

    // The district is unreachable when the lesson ends: the files wait, then go up when it is back.
    const port = cloud.port;
    await cloud.app.close();
    const ended = await edgeApi('/api/lessons/end', {});
    expect(ended.status).toBe(200);
    await until('the source to be idle', stateIs('idle'), 60_000);
    const db = new Database(join(room.dataDir, 'store.db'), { readonly: true });
    const row = db.prepare("SELECT lesson_id, part, state, file, sha256, gaps, uploaded_at FROM recordings WHERE source = 'cam1'").all() as Array<{ lesson_id: string; part: number; state: string; file: string; sha256: string; gaps: number; uploaded_at: number | null }>;
    db.close();
    expect(row).toHaveLength(1);
    expect(row[0]).toMatchObject({ lesson_id: lessonId, part: 0, state: 'finished', uploaded_at: null });
    await new Promise((r) => setTimeout(r, 2000));
    cloud = await startCloud(cloudStore, join(dir, 'cloud-recordings'), port);

    const day = lessonId.split('/')[1]!;
    let listed: Array<{ lessonId: string; source: string; status: string; sha256: string; gaps: unknown[] }> = [];
    await until(
      'the cloud to hold the recording',
      async () => {
        const r = await fetch(`${cloud.base}/api/rooms/${ROOM}/recordings?day=${day}`, { headers: { authorization: bearer(WANG) } });
        listed = ((await r.json()) as { recordings: typeof listed }).recordings;
        return listed.some((x) => x.status === 'ready');
      },
      120_000,
    );
    expect(listed).toEqual([expect.objectContaining({ lessonId, source: 'cam1', status: 'ready', sha256: row[0]!.sha256 })]);

    // Byte for byte the edge's file.
    const cloudFile = join(dir, 'cloud-recordings', ROOM, ...lessonId.split('/'), 'cam1-0.mp4');
    expect(sha(cloudFile)).toBe(sha(row[0]!.file));
    expect(sha(cloudFile)).toBe(row[0]!.sha256);

    // The camera's drop is a gap in the sidecar, never hidden. The killed service's ffmpeg went on
    // recording until the next start reaped it: its segments, never journaled, were adopted (so that
    // restart cost no media), and the runs before and after the kill are all in the file.
    const sidecar = JSON.parse(readFileSync(row[0]!.file.replace(/\.mp4$/, '.json'), 'utf8')) as RecordingSidecar;
    expect(sidecar.gaps.length).toBeGreaterThanOrEqual(1);
    expect(sidecar.gaps[0]!.reason).toMatch(/camera unreachable/);
    expect(sidecar.gaps[0]!.ms).toBeGreaterThan(1500);
    expect(sidecar.recovered?.length).toBeGreaterThanOrEqual(1);
    expect(sidecar.recovered?.every((x) => x.kept)).toBe(true);
    expect(new Set(sidecar.segments.map((x) => x.run)).size).toBeGreaterThanOrEqual(3);
    expect(sidecar).toMatchObject({ roomId: ROOM, lessonId, course: '物理', classId: 'g8-3', source: { id: 'cam1', kind: 'rtsp', label: '教师特写' } });
    expect(row[0]!.gaps).toBe(sidecar.gaps.length);

    // Stream-copied: the camera's own H.264 profile and size; its sound as AAC.
    const p = await probe(cloudFile);
    expect(firstStream(p, 'video')).toMatchObject({ codecName: 'h264', profile: 'High', width: 640, height: 360 });
    expect(firstStream(p, 'audio')).toMatchObject({ codecName: 'aac' });
    expect(p.durationMs!).toBeGreaterThan(8000);

    // The appliance's own view: nothing left to upload, in /health and /metrics.
    await until('nothing pending in /health', async () => {
      const h = (await (await fetch(`http://127.0.0.1:${edge!.ports.api}/health`)).json()) as { recording: { upload: { pendingFiles: number; failedFiles: number } } };
      return h.recording.upload.pendingFiles === 0 && h.recording.upload.failedFiles === 0;
    });
    await until('nothing pending in /metrics', async () => {
      const m = await (await fetch(`http://127.0.0.1:${edge!.ports.api}/metrics`, { headers: { authorization: auth } })).text();
      return /classroom_recording_upload_pending\{kind="files"\} 0/.test(m) && /classroom_recording_upload_bytes_total \d+/.test(m);
    });

    // A technician plays it: a range request answered 206 with those bytes.
    const r = await fetch(`${cloud.base}/api/rooms/${ROOM}/recordings/${encodeURIComponent(lessonId)}/cam1.mp4`, { headers: { authorization: bearer(WANG), range: 'bytes=0-1023' } });
    expect(r.status).toBe(206);
    expect(Buffer.from(await r.arrayBuffer())).toEqual(readFileSync(cloudFile).subarray(0, 1024));
  }, 240_000);
});
