/**
 * The recorder's media layer against real peers: Debian's ffmpeg/ffprobe 5.1
 * (lavfi testsrc2 + sine, segment and concat muxers) and a GStreamer RTSP
 * camera (test/helpers/rtsp-camera.ts). 2 s segments, 1 s GOP. Fails loudly
 * when a tool is missing: ffmpeg's or the camera's own error is the message.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordingSourceSchema } from '../../edge/config/recording-schema.js';
import { Capture, type CaptureOptions } from '../../edge/recording/capture.js';
import { finishRecording, readJournal } from '../../edge/recording/finish.js';
import { firstStream, probe } from '../../edge/recording/probe.js';
import type { CaptureState, RecordingLessonInfo } from '../../edge/recording/types.js';
import { createLogger, silentLogger } from '../../edge/util/logger.js';
import { RtspCamera } from '../helpers/rtsp-camera.js';
import { waitFor } from '../helpers/peers.js';

const SEG = 2;
const LESSON: RecordingLessonInfo = {
  roomId: 'r101', lessonId: 'r101/2025-03-03/p1', course: 'math', classId: '7a', teacherId: 't1', startsAt: Date.parse('2025-03-03T08:00:00Z'), endsAt: Date.parse('2025-03-03T08:45:00Z'),
};

let root: string;
const cameras: RtspCamera[] = [];
const captures: Capture[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

beforeAll(async () => {
  execFileSync('ffmpeg', ['-hide_banner', '-version']);
  root = await mkdtemp(join(tmpdir(), 'rec-capture-'));
});

afterAll(async () => {
  for (const c of captures) await c.stop();
  for (const cam of cameras) await cam.stop();
  if (!process.env.KEEP_REC_TMP) await rm(root, { recursive: true, force: true });
});

async function camera(opts: Omit<Parameters<typeof RtspCamera.start>[0], 'dir'>): Promise<RtspCamera> {
  const cam = await RtspCamera.start({ dir: root, ...opts });
  cameras.push(cam);
  return cam;
}

function capture(name: string, source: Record<string, unknown>, extra: Partial<CaptureOptions> = {}): { cap: Capture; dir: string; states: Array<[CaptureState, string | null]> } {
  const dir = join(root, name);
  const cap = new Capture({ sourceId: String(source.id), source: recordingSourceSchema.parse(source), dir, segmentSeconds: SEG, gopSeconds: 1, logger: silentLogger(), backoff: { initialMs: 300, maxMs: 2000 }, ...extra });
  captures.push(cap);
  const states: Array<[CaptureState, string | null]> = [];
  cap.on('state', (s: CaptureState, r: string | null) => states.push([s, r]));
  return { cap, dir, states };
}

const until = (cond: () => boolean, ms: number, what: string, cams: RtspCamera[] = []) => waitFor(cond, ms, what, cams.flatMap((c) => (c.process ? [c.process] : [])));

/** Top-level MP4 box types in order. */
function boxes(file: string): string[] {
  const fd = openSync(file, 'r');
  const out: string[] = [];
  const size = statSync(file).size;
  const head = Buffer.alloc(16);
  for (let pos = 0; pos < size; ) {
    readSync(fd, head, 0, 16, pos);
    let len = head.readUInt32BE(0);
    if (len === 1) len = Number(head.readBigUInt64BE(8));
    out.push(head.toString('latin1', 4, 8));
    if (len < 8) break;
    pos += len;
  }
  closeSync(fd);
  return out;
}

/**
 * Decodes the whole file; any ffmpeg error fails the test. Frames keep their own timestamps
 * (passthrough, the input time base): the GStreamer camera's first two frames after a connect are
 * 11 µs apart, which stream copy keeps, and a 1/25 s output time base would report as a muxing error.
 */
function decodes(file: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('ffmpeg', ['-hide_banner', '-v', 'error', '-i', file, '-enc_time_base:v', '-1', '-fps_mode', 'passthrough', '-f', 'null', '-'], { timeout: 30_000 }, (err, _o, stderr) => (err || stderr.trim() ? reject(new Error(`decoding ${file}: ${stderr || err?.message}`)) : resolve())),
  );
}

const finish = (dir: string, id: string, kind: string) => finishRecording({ dir, source: { id, kind }, lesson: LESSON, allSources: [id], outDir: dir, logger: silentLogger() });

describe('Capture + finishRecording against real ffmpeg', () => {
  it('testsrc: ~6 s recorded, finished into a faststart H.264+AAC MP4 with a complete sidecar', async () => {
    const { cap, dir, states } = capture('testsrc', { id: 'demo', kind: 'testsrc', size: '320x180', framerate: 25 });
    const segs: number[] = [];
    cap.on('segment', (s: { index: number }) => segs.push(s.index));
    cap.start();
    await until(() => cap.state === 'recording', 10_000, 'testsrc recording');
    const t0 = Date.now();
    await sleep(6000);
    await cap.stop();
    const wallMs = Date.now() - t0;
    expect(states.map((s) => s[0])).toEqual(['starting', 'recording', 'stopping', 'stopped']);
    expect(segs).toEqual(cap.segments().map((s) => s.index));
    expect(segs.length).toBeGreaterThanOrEqual(3);
    const { file, sidecar, sidecarFile } = await finish(dir, 'demo', 'testsrc');
    const p = await probe(file);
    expect(firstStream(p, 'video')?.codecName).toBe('h264');
    expect(firstStream(p, 'audio')?.codecName).toBe('aac');
    expect(Math.abs(p.durationMs! - cap.mediaMs())).toBeLessThanOrEqual(SEG * 1000);
    expect(Math.abs(p.durationMs! - wallMs)).toBeLessThanOrEqual(SEG * 1000);
    const b = boxes(file);
    expect(b.indexOf('moov')).toBeGreaterThan(-1);
    expect(b.indexOf('moov')).toBeLessThan(b.indexOf('mdat'));
    await decodes(file);
    expect(JSON.parse(readFileSync(sidecarFile, 'utf8'))).toEqual(sidecar);
    expect(sidecar).toMatchObject({ version: 1, lessonId: LESSON.lessonId, source: { id: 'demo', kind: 'testsrc' }, gaps: [], file: { name: 'demo.mp4', video: 'h264', audio: 'aac', bytes: statSync(file).size, sha256: sha(file) } });
    expect(sidecar.recovered).toBeUndefined();
    expect(sidecar.segments.map((s) => s.index)).toEqual(segs);
    for (const s of sidecar.segments) expect(sha(join(dir, s.file))).toBe(s.sha256);
    expect(Date.parse(sidecar.recorded.to) - Date.parse(sidecar.recorded.from)).toBeGreaterThan(4000);
    expect(readJournal(dir).runs).toHaveLength(1);
  });

  it('RTSP H.264+AAC camera: stream-copied, the MP4 video is the camera\'s codec, profile, level and size', async () => {
    const cam = await camera({ audio: true, profile: 'high', width: 640, height: 360, gop: 25 });
    const camProbe = await probe(cam.url, { inputArgs: ['-rtsp_transport', 'tcp'] });
    const camVideo = firstStream(camProbe, 'video')!;
    expect({ codec: camVideo.codecName, profile: camVideo.profile }).toEqual({ codec: 'h264', profile: 'High' });
    const { cap, dir } = capture('rtsp', { id: 'cam', kind: 'rtsp', url: cam.url });
    cap.start();
    await until(() => cap.state === 'recording', 10_000, 'rtsp recording', [cam]);
    // What really runs: stream copy, no encoder.
    const cmdline = readFileSync(`/proc/${cap.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline[cmdline.indexOf('-c') + 1]).toBe('copy');
    expect(cmdline).not.toContain('libx264');
    await until(() => cap.segments().length >= 2, 10_000, 'two rtsp segments', [cam]);
    await cap.stop();
    const { file, sidecar } = await finish(dir, 'cam', 'rtsp');
    const v = firstStream(await probe(file), 'video')!;
    expect({ codec: v.codecName, profile: v.profile, level: v.level, width: v.width, height: v.height }).toEqual({
      codec: camVideo.codecName, profile: camVideo.profile, level: camVideo.level, width: camVideo.width, height: camVideo.height,
    });
    expect(sidecar.file.audio).toBe('aac');
    await decodes(file);
  });

  it('kill -9 of ffmpeg: degraded, respawned, recording again; the MP4 plays, at most one segment lost, the gap in the sidecar', async () => {
    const { cap, dir, states } = capture('kill9', { id: 'demo', kind: 'testsrc', size: '320x180', framerate: 25 }, { backoff: { initialMs: 1500, maxMs: 3000 } });
    cap.start();
    await until(() => cap.segments().length >= 2, 15_000, 'two segments before the kill');
    const pid1 = cap.pid!;
    await sleep(700); // mid-segment
    process.kill(pid1, 'SIGKILL');
    await until(() => cap.state === 'degraded', 5000, 'degraded after kill -9');
    expect(cap.reason).toMatch(/SIGKILL/);
    await until(() => cap.state === 'recording' && cap.pid !== pid1, 10_000, 'recording again');
    await until(() => cap.segments().some((s) => s.run === 2), 10_000, 'a segment from the second run');
    await cap.stop();
    expect(states.map((s) => s[0])).toEqual(['starting', 'recording', 'degraded', 'recording', 'stopping', 'stopped']);
    const { file, sidecar } = await finish(dir, 'demo', 'testsrc');
    await decodes(file);
    const idx = sidecar.segments.map((s) => s.index);
    const first = idx[0]!;
    const last = idx[idx.length - 1]!;
    expect(last - first + 1 - idx.length).toBeLessThanOrEqual(1);
    expect(sidecar.gaps).toHaveLength(1);
    expect(sidecar.gaps[0]!.reason).toMatch(/recorder restarted after: ffmpeg ended \(killed by SIGKILL\)/);
    expect(sidecar.gaps[0]!.ms).toBeGreaterThan(1000);
    expect(sidecar.recovered?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it('the camera goes away and comes back: degraded with the reason, then recording again; the gap in the sidecar', async () => {
    const cam = await camera({ audio: false });
    const { cap, dir } = capture('away', { id: 'cam', kind: 'rtsp', url: cam.url }, { backoff: { initialMs: 300, maxMs: 1000 } });
    cap.start();
    await until(() => cap.segments().length >= 1, 10_000, 'a segment before the camera goes', [cam]);
    await cam.stop();
    await until(() => cap.state === 'degraded' && /connection refused/.test(cap.reason ?? ''), 15_000, 'degraded: camera unreachable');
    expect(cap.reason).toMatch(/camera unreachable/);
    await sleep(1500);
    await cam.restart();
    await until(() => cap.state === 'recording', 10_000, 'recording after the camera returned', [cam]);
    const runNow = Math.max(...readJournal(dir).runs.map((r) => r.run));
    await until(() => cap.segments().some((s) => s.run === runNow), 10_000, 'a segment after the return', [cam]);
    await cap.stop();
    const { file, sidecar } = await finish(dir, 'cam', 'rtsp');
    await decodes(file);
    expect(sidecar.gaps.length).toBeGreaterThanOrEqual(1);
    expect(sidecar.gaps.reduce((n, g) => n + g.ms, 0)).toBeGreaterThan(1500);
    expect(sidecar.gaps.map((g) => g.reason).join(' ')).toMatch(/recorder restarted after/);
  });

  it('a camera that stops sending without closing the connection: the stall watchdog restarts ffmpeg', async () => {
    const cam = await camera({ audio: false });
    const { cap, dir } = capture('stall', { id: 'cam', kind: 'rtsp', url: cam.url }, { stallTimeoutMs: 2500 });
    cap.start();
    await until(() => cap.segments().length >= 1, 10_000, 'a segment before the stall', [cam]);
    const pid1 = cap.pid;
    // A frozen camera: the TCP connection stays up, nothing arrives (ffmpeg's own 10 s socket timeout has not fired yet).
    process.kill(cam.process!.pid!, 'SIGSTOP');
    try {
      await until(() => cap.state === 'degraded', 6000, 'degraded by the stall watchdog');
      expect(cap.reason).toMatch(/no media for \d+ s: the source stalled/);
    } finally {
      process.kill(cam.process!.pid!, 'SIGCONT');
    }
    await until(() => cap.state === 'recording' && cap.pid !== pid1, 15_000, 'recording after the stall', [cam]);
    await cap.stop();
    expect(readJournal(dir).runs[1]!.after).toMatch(/stalled/);
  });

  it('a new Capture on an abandoned directory continues the numbering; finish adopts or reports the partial segment', async () => {
    const a = capture('abandoned', { id: 'demo', kind: 'testsrc', size: '320x180', framerate: 25 }, { backoff: { initialMs: 600_000, maxMs: 600_000 } });
    a.cap.start();
    await until(() => a.cap.segments().length >= 2, 15_000, 'two segments before the service dies');
    await sleep(1000);
    // The service dies with kill -9: ffmpeg too (its group), and nothing closes the segment being written.
    process.kill(-a.cap.pid!, 'SIGKILL');
    await until(() => a.cap.state === 'degraded', 5000, 'the abandoned capture saw its ffmpeg die');
    const journaled = a.cap.segments().map((s) => s.index);
    const partialIndex = Math.max(...journaled) + 1;
    const partial = join(a.dir, `seg-${String(partialIndex).padStart(6, '0')}.ts`);
    // flush_packets=1: what was muxed before the kill is in the file. Then a torn write: not a whole number of 188-byte TS packets.
    expect(statSync(partial).size).toBeGreaterThan(10 * 188);
    truncateSync(partial, statSync(partial).size - 100);
    await sleep(1500); // the service takes a moment to come back
    const b = capture('abandoned', { id: 'demo', kind: 'testsrc', size: '320x180', framerate: 25 });
    b.cap.start();
    expect(b.cap.segments().map((s) => s.index)).toEqual(journaled);
    await until(() => b.cap.segments().length >= journaled.length + 2, 15_000, 'two segments from the new capture');
    await b.cap.stop();
    const fresh = b.cap.segments().filter((s) => s.run > 1);
    expect(fresh[0]!.index).toBe(partialIndex + 1);
    expect(new Set(fresh.map((s) => s.run)).has(1)).toBe(false);
    const { file, sidecar } = await finish(a.dir, 'demo', 'testsrc');
    await decodes(file);
    expect(sidecar.recovered).toHaveLength(1);
    // About a second of media whose last packet was torn: trimmed to whole packets, it is kept.
    expect(sidecar.recovered![0]).toEqual({ file: `seg-${String(partialIndex).padStart(6, '0')}.ts`, kept: true });
    expect(sidecar.segments.map((s) => s.index)).toContain(partialIndex);
    expect(statSync(partial).size % 188).toBe(0);
    expect(sidecar.gaps).toHaveLength(1);
    expect(sidecar.gaps[0]).toMatchObject({ reason: 'recorder restarted' });
    expect(sidecar.gaps[0]!.ms).toBeGreaterThan(1000);
    // Finishing again (a crash mid-finish) gives the same complete result.
    const again = await finish(a.dir, 'demo', 'testsrc');
    expect(again.sidecar.segments).toEqual(sidecar.segments);
    expect(again.sidecar.recovered).toEqual(sidecar.recovered);
    expect(again.sidecar.file.durationMs).toBe(sidecar.file.durationMs);
  });

  it('misconfigurations are errors with clear, redacted reasons and no restart storm', async () => {
    const password = 'S3cr:et@pw';
    const authCam = await camera({ credentials: { username: 'admin', password: 'right-one' } });
    const mjpegCam = await camera({ codec: 'mjpeg' });
    let logText = '';
    const logger = createLogger({ level: 'debug', destination: new Writable({ write: (c: Buffer, _e, cb) => ((logText += c.toString()), cb()) }) });
    const wrong = capture('wrong-pw', { id: 'cam', kind: 'rtsp', url: authCam.url }, { credentials: { username: 'admin', password }, logger, backoff: { initialMs: 1000, maxMs: 8000 } });
    const mjpeg = capture('mjpeg', { id: 'mj', kind: 'rtsp', url: mjpegCam.url, codecs: ['h264'] });
    const v4l2 = capture('v4l2', { id: 'hdmi', kind: 'v4l2', device: '/dev/video-missing' }, { backoff: { initialMs: 1000, maxMs: 8000 } });
    for (const c of [wrong, mjpeg, v4l2]) c.cap.start();
    await until(() => [wrong, mjpeg, v4l2].every((c) => c.cap.state === 'error'), 10_000, 'three error states', [authCam, mjpegCam]).catch((e: Error) => {
      throw new Error(`${e.message}; states: ${JSON.stringify([wrong, mjpeg, v4l2].map((c) => c.states))}`);
    });
    await sleep(5000);
    expect(wrong.cap.reason).toMatch(/username or password/);
    expect(wrong.cap.reason).toMatch(/401/);
    expect(mjpeg.cap.reason).toMatch(/sends mjpeg/);
    expect(mjpeg.cap.reason).toMatch(/reencode: true/);
    expect(v4l2.cap.reason).toMatch(/\/dev\/video-missing missing/);
    // Backoff 1 s doubling: spawns at ~0, 1, 3 s (+ run time) within ~6 s; a restart storm would be dozens.
    const wrongRuns = readJournal(wrong.dir).runs.length;
    expect(wrongRuns).toBeGreaterThanOrEqual(2);
    expect(wrongRuns).toBeLessThanOrEqual(4);
    expect(readJournal(v4l2.dir).runs.length).toBeLessThanOrEqual(4);
    // A codec we cannot copy is not retried: one run only.
    expect(readJournal(mjpeg.dir).runs).toHaveLength(1);
    const told = [...wrong.states.map((s) => s[1] ?? ''), logText].join('\n');
    expect(logText).toMatch(/rtsp:\/\/\*\*\*@127\.0\.0\.1/);
    for (const secret of [password, encodeURIComponent(password), 'admin:']) expect(told).not.toContain(secret);
    for (const c of [wrong, mjpeg, v4l2]) await c.cap.stop();
    expect(wrong.cap.state).toBe('stopped');
  });
});
