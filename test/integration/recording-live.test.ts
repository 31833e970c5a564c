/**
 * Live pushes (edge/recording/live.ts) against real peers: Debian's
 * nginx-rtmp as the district's media server (test/helpers/rtmp-server.ts),
 * ffprobe reading the live stream back as a viewer would, nginx killed and
 * restarted under a push, a stream name refused by on_publish (403), and SRT
 * into a second ffmpeg listening in `mode=listener`. The source is lavfi
 * testsrc2 + sine, encoded (x264 + AAC), paced with -re like a camera.
 * The stream keys are random: none may appear in any log line or status.
 */
import { execFile, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveTargetConfig } from '../../edge/config/recording-schema.js';
import { livePushStatusSchema, type LivePushStatus } from '../../edge/schemas/bus.js';
import { LivePush, livePushArgs, redactSecrets, redactUrl } from '../../edge/recording/live.js';
import { createLogger } from '../../edge/util/logger.js';
import { freePort } from '../helpers/mosquitto.js';
import { killGroupAndWait, peerOutput, startPeer, waitFor } from '../helpers/peers.js';
import { portAccepts, startRtmpServer, type RtmpServer } from '../helpers/rtmp-server.js';

const FFMPEG = '/usr/bin/ffmpeg';
const FFPROBE = '/usr/bin/ffprobe';
const INPUT = ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'];
const key = (prefix: string) => `${prefix}${randomBytes(8).toString('hex')}`;
const KEY = key('lesson-');
const REFUSED_KEY = key('refused-');
const SRT_KEY = key('srt-');
const KEYS = [KEY, REFUSED_KEY, SRT_KEY];

let dir: string;
let server: RtmpServer;
const logLines: string[] = [];
const logger = createLogger({
  level: 'debug',
  destination: {
    write: (s: string) => {
      logLines.push(s);
      return true;
    },
  } as unknown as NodeJS.WritableStream,
});
const pushes: LivePush[] = [];
const peers: ChildProcess[] = [];
const statuses: LivePushStatus[] = [];

function newPush(target: LiveTargetConfig, extra: Partial<ConstructorParameters<typeof LivePush>[0]> = {}): { push: LivePush; seen: LivePushStatus[] } {
  const push = new LivePush({ target, input: INPUT, copy: false, logger, ffmpegPath: FFMPEG, backoff: { initialMs: 300, maxMs: 1_500 }, ...extra });
  const seen: LivePushStatus[] = [];
  push.on('status', (s: LivePushStatus) => {
    livePushStatusSchema.parse(s);
    seen.push(s);
    statuses.push(s);
  });
  pushes.push(push);
  return { push, seen };
}

interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
}

/** ffprobe as an independent viewer of the live stream. */
async function probe(url: string): Promise<ProbedStream[]> {
  return new Promise((resolve, reject) => {
    execFile(
      FFPROBE,
      ['-v', 'error', '-rw_timeout', '10000000', '-show_entries', 'stream=codec_type,codec_name,width,height,sample_rate', '-of', 'json', url],
      { timeout: 20_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`ffprobe failed: ${err.message}\n${stderr}`)) : resolve((JSON.parse(stdout) as { streams: ProbedStream[] }).streams)),
    );
  });
}

function expectTestPicture(streams: ProbedStream[]): void {
  const video = streams.find((s) => s.codec_type === 'video');
  const audio = streams.find((s) => s.codec_type === 'audio');
  expect(video).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
  expect(audio).toMatchObject({ codec_name: 'aac', sample_rate: '44100' });
}

const hasSrt = (ffmpeg: string): boolean => {
  const r = spawnSync(ffmpeg, ['-hide_banner', '-protocols'], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return (r.stdout.split(/^Output:\s*$/m)[1] ?? '').split('\n').some((l) => l.trim() === 'srt');
};

beforeAll(async () => {
  for (const tool of [FFMPEG, FFPROBE]) {
    const r = spawnSync(tool, ['-version'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`${tool} cannot run (apt-get install -y ffmpeg; npm test installs it in pretest): ${r.error?.message ?? r.stderr}`);
  }
  dir = mkdtempSync(join(tmpdir(), 'ce-live-'));
  server = await startRtmpServer({ onPublish: (req) => !(req.name ?? '').startsWith('refused-') });
});

afterAll(async () => {
  await Promise.all(pushes.map((p) => p.stop()));
  await Promise.all(peers.map((p) => killGroupAndWait(p)));
  await server?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('redaction', () => {
  it('shows scheme://host/app/*** at most', () => {
    expect(redactUrl('rtmp://media.jy.edu.cn:1935/live/abc123secret')).toBe('rtmp://media.jy.edu.cn:1935/live/***');
    expect(redactUrl('rtmps://media.jy.edu.cn/live/abc/def?token=zz')).toBe('rtmps://media.jy.edu.cn/live/***');
    expect(redactUrl('rtmp://media.jy.edu.cn/live')).toBe('rtmp://media.jy.edu.cn/live');
    expect(redactUrl('srt://10.0.0.5:9000?streamid=#!::r=live/key,m=publish&passphrase=0123456789')).toBe('srt://10.0.0.5:9000?***');
    expect(redactUrl('rtsp://admin:pw@10.0.0.9:554/stream1')).toBe('rtsp://***@10.0.0.9:554/stream1');
    const url = 'rtmp://127.0.0.1:1935/live/KEY-abcdef';
    expect(redactSecrets(`[flv] Error writing trailer of ${url}: Broken pipe; publishing KEY-abcdef`, url)).toBe(
      '[flv] Error writing trailer of rtmp://127.0.0.1:1935/live/***: Broken pipe; publishing ***',
    );
  });

  it('builds the push command line: FLV for RTMP, MPEG-TS for SRT, copy or x264', () => {
    expect(livePushArgs(['-i', 'in'], { url: 'rtmp://h/live/k' }, true).join(' ')).toBe(
      '-hide_banner -nostdin -nostats -loglevel warning -progress pipe:1 -i in -dn -sn -c:v copy -c:a aac -b:a 128k -ar 44100 -f flv -flvflags no_duration_filesize rtmp://h/live/k',
    );
    const srt = livePushArgs(['-i', 'in'], { url: 'srt://h:9000?streamid=k' }, false);
    expect(srt.slice(-3)).toEqual(['-f', 'mpegts', 'srt://h:9000?streamid=k']);
    expect(srt).toContain('libx264');
    expect(srt).toContain('zerolatency');
  });
});

describe('live push to nginx-rtmp', () => {
  it('goes connecting -> live, serves h264 + aac, survives the server going away and heals by itself', async () => {
    const { push, seen } = newPush({ id: 'remote-class', source: 'cam', url: `${server.url}/${KEY}`, when: 'lessons' });
    expect(push.status).toEqual({ state: 'off', target: 'remote-class', since: null, reason: null });
    push.start();
    await waitFor(() => push.status.state === 'live', 15_000, `the push to go live (status ${JSON.stringify(push.status)})`);
    expect(seen.map((s) => s.state)).toEqual(['connecting', 'live']);
    expect(server.publishes.map((p) => p.name)).toEqual([KEY]);
    expectTestPicture(await probe(`${server.url}/${KEY}`));

    await server.stop();
    await waitFor(() => push.status.state === 'retrying', 10_000, `the push to notice the server is gone (status ${JSON.stringify(push.status)})`);
    expect(push.status.reason).toMatch(/dropped the stream|cannot connect/);
    // While nginx is down, reconnects are refused by the OS: the reason says so, for the technician.
    await waitFor(() => /cannot connect to 127\.0\.0\.1:\d+: Connection refused/.test(push.status.reason ?? ''), 10_000, `a refused reconnect (status ${JSON.stringify(push.status)})`);
    const spawnsWhileDown = push.counts.spawns;

    await server.start();
    await waitFor(() => push.status.state === 'live', 15_000, `the push to go live again (status ${JSON.stringify(push.status)}; nginx: ${server.log()})`);
    expect(push.counts.spawns).toBeGreaterThan(spawnsWhileDown);
    expect(push.status.reason).toBeNull();
    expectTestPicture(await probe(`${server.url}/${KEY}`));

    await push.stop();
    expect(push.status.state).toBe('off');
    const spawns = push.counts.spawns;
    await new Promise((r) => setTimeout(r, 1_500));
    expect(push.counts.spawns).toBe(spawns);
    expect(push.status.state).toBe('off');
  });

  it('a stream name refused by on_publish (403): error with a clear reason, retried slowly', async () => {
    const { push, seen } = newPush({ id: 'refused', source: 'cam', url: `${server.url}/${REFUSED_KEY}`, when: 'manual' }, { backoff: { initialMs: 300, maxMs: 2_000 } });
    // Up again even when the test before failed with nginx down: this one tests refusals, not that.
    if (!(await portAccepts(server.port))) await server.start();
    const before = server.publishes.length;
    push.start();
    await new Promise((r) => setTimeout(r, 6_000));
    expect(push.status.state).toBe('error');
    expect(push.status.reason).toMatch(/refuses this application or stream name\/key/);
    expect(push.status.reason).toContain(`${server.url}/***`);
    expect(seen.some((s) => s.state === 'live')).toBe(false);
    // Each try really reached the server's check; 300 ms of backoff doubling would make ~12 tries in 6 s, ffmpeg alone ~20.
    const tries = server.publishes.slice(before).filter((p) => p.name === REFUSED_KEY).length;
    expect(tries).toBe(push.counts.spawns);
    expect(push.counts.spawns).toBeGreaterThanOrEqual(2);
    expect(push.counts.spawns).toBeLessThanOrEqual(6);
    // Logged once at error level, the same failure again only at debug.
    const errors = logLines.map((l) => JSON.parse(l) as { level: number; target?: string; msg: string }).filter((l) => l.target === 'refused' && l.level >= 50);
    expect(errors).toHaveLength(1);
    await push.stop();
  });

  it('a hung server (nginx stopped with SIGSTOP): the stall is noticed, killed and retried; heals on SIGCONT', async () => {
    if (!(await portAccepts(server.port))) await server.start();
    const { push } = newPush({ id: 'hung', source: 'cam', url: `${server.url}/${KEY}-2`, when: 'manual' }, { stallTimeoutMs: 2_000 });
    server.pause();
    try {
      push.start();
      // The kernel accepts the TCP connection; the RTMP handshake is never answered, so ffmpeg alone would wait for ever.
      await waitFor(() => push.status.state === 'retrying', 8_000, `the stall to be noticed (status ${JSON.stringify(push.status)})`);
      expect(push.status.reason).toMatch(/no media sent for 2 s/);
    } finally {
      server.resume();
    }
    await waitFor(() => push.status.state === 'live', 15_000, `the push to go live after SIGCONT (status ${JSON.stringify(push.status)})`);
    await push.stop();
  });
});

describe('live push over SRT', () => {
  it('pushes MPEG-TS into an SRT listener when this ffmpeg has SRT, else a clear error state', async () => {
    const port = await freePort();
    const url = `srt://127.0.0.1:${port}?streamid=${SRT_KEY}&latency=200000`;
    if (!hasSrt(FFMPEG)) {
      const { push } = newPush({ id: 'srt-target', source: 'cam', url, when: 'manual' });
      push.start();
      await waitFor(() => push.status.state === 'error', 10_000, 'the error state of an srt:// target without SRT support');
      expect(push.status.reason).toMatch(/no srt output protocol/);
      return;
    }
    const listener = startPeer('ffmpeg SRT listener', FFMPEG, ['-hide_banner', '-nostdin', '-f', 'mpegts', '-i', `srt://127.0.0.1:${port}?mode=listener`, '-t', '4', '-f', 'null', '-']);
    peers.push(listener);
    await new Promise((r) => setTimeout(r, 500));
    const { push, seen } = newPush({ id: 'srt-target', source: 'cam', url, when: 'manual' });
    push.start();
    await waitFor(() => push.status.state === 'live', 15_000, `the SRT push to go live (status ${JSON.stringify(push.status)})`, [listener]);
    await waitFor(() => /Video: h264/.test(peerOutput(listener)) && /Audio: aac/.test(peerOutput(listener)), 10_000, 'the listener to read the pushed streams', [listener]);
    expect(peerOutput(listener)).toMatch(/Video: h264.*320x240/);
    expect(seen.map((s) => s.state).slice(0, 2)).toEqual(['connecting', 'live']);
    // The listener leaves after 4 s of media: the push notices and retries.
    await waitFor(() => push.status.state === 'retrying', 20_000, `the SRT push to notice the listener left (status ${JSON.stringify(push.status)})`);
    expect(push.status.reason).not.toContain(SRT_KEY);
    await push.stop();
  });

  it('an ffmpeg without SRT (a wrapper hiding it from -protocols) gives a clear error state and never spawns a push', async () => {
    const fake = join(dir, 'ffmpeg-without-srt');
    writeFileSync(fake, `#!/bin/sh\nif [ "$2" = "-protocols" ]; then ${FFMPEG} "$@" | grep -vx '  srt'; else exec ${FFMPEG} "$@"; fi\n`);
    chmodSync(fake, 0o755);
    expect(hasSrt(fake)).toBe(false);
    const { push } = newPush({ id: 'no-srt', source: 'cam', url: `srt://127.0.0.1:9?streamid=${SRT_KEY}`, when: 'manual' }, { ffmpegPath: fake });
    push.start();
    await waitFor(() => push.status.state === 'error', 10_000, `the error state (status ${JSON.stringify(push.status)})`);
    expect(push.status.reason).toMatch(/has no srt output protocol \(built without libsrt\)/);
    expect(push.counts.spawns).toBe(0);
    await push.stop();
  });
});

describe('secrets', () => {
  it('no stream key in any log line or status; logs name the target redacted', () => {
    expect(logLines.length).toBeGreaterThan(5);
    expect(statuses.length).toBeGreaterThan(5);
    for (const k of KEYS) {
      for (const l of logLines) expect(l).not.toContain(k);
      for (const s of statuses) expect(JSON.stringify(s)).not.toContain(k);
    }
    expect(logLines.some((l) => l.includes(`${server.url}/***`))).toBe(true);
    // The debug line with the whole command was logged, redacted.
    expect(logLines.some((l) => l.includes('starting live push ffmpeg') && l.includes('libx264'))).toBe(true);
  });
});
