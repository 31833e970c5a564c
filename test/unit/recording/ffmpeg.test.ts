/**
 * The recorder's ffmpeg command builders. Argument shapes are checked here;
 * that real ffmpeg 5.1 accepts them (and what it writes) is checked in
 * test/integration/recording-capture.test.ts, except the composed view, which
 * runs real ffmpeg here for a second on lavfi inputs.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { composedSchema, recordingSourceSchema } from '../../../edge/config/recording-schema.js';
import { composedArgs, encodeArgs, inputArgs, redact, segmentArgs, urlWithCredentials } from '../../../edge/recording/ffmpeg.js';
import { probe } from '../../../edge/recording/probe.js';

const src = (v: Record<string, unknown>) => recordingSourceSchema.parse(v);
const after = (args: string[], flag: string): string | undefined => args[args.indexOf(flag) + 1];
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('inputArgs', () => {
  it('rtsp: transport, socket timeout in µs, credentials percent-encoded into the userinfo', () => {
    const a = inputArgs(src({ id: 'cam', kind: 'rtsp', url: 'rtsp://10.0.0.5:554/Streaming/101' }), { username: 'ad min', password: 'p@ss:w/rd%' });
    expect(after(a, '-rtsp_transport')).toBe('tcp');
    expect(after(a, '-timeout')).toBe('10000000');
    expect(after(a, '-i')).toBe('rtsp://ad%20min:p%40ss%3Aw%2Frd%25@10.0.0.5:554/Streaming/101');
    expect(a.indexOf('-timeout')).toBeLessThan(a.indexOf('-i'));
    expect(a).not.toContain('-allowed_media_types');
  });

  it('rtsp: udp, no audio track set up when audio is off, no credentials', () => {
    const a = inputArgs(src({ id: 'cam', kind: 'rtsp', url: 'rtsp://cam/s', rtpTransport: 'udp', audio: false }), undefined, { rtspTimeoutMs: 3000 });
    expect(a).toEqual(['-rtsp_transport', 'udp', '-timeout', '3000000', '-allowed_media_types', 'video', '-i', 'rtsp://cam/s']);
  });

  it('v4l2: format, size, framerate, then alsa when an audio device is set', () => {
    const a = inputArgs(src({ id: 'hdmi', kind: 'v4l2', device: '/dev/v4l/by-id/usb-grabber', audioDevice: 'hw:1,0', framerate: 60 }));
    expect(after(a, '-f')).toBe('v4l2');
    expect(after(a, '-input_format')).toBe('mjpeg');
    expect(after(a, '-video_size')).toBe('1920x1080');
    expect(after(a, '-framerate')).toBe('60');
    expect(a.filter((x) => x === '-i')).toHaveLength(2);
    expect(a.slice(-4)).toEqual(['-f', 'alsa', '-i', 'hw:1,0']);
    expect(inputArgs(src({ id: 'hdmi', kind: 'v4l2', device: '/dev/video0' })).filter((x) => x === '-i')).toHaveLength(1);
  });

  it('testsrc: lavfi testsrc2 and sine, each paced at real time', () => {
    const a = inputArgs(src({ id: 'demo', kind: 'testsrc', size: '320x240', framerate: 10 }));
    expect(a).toEqual(['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000']);
    expect(inputArgs(src({ id: 'demo', kind: 'testsrc', audio: false }))).toHaveLength(5);
  });

  it('urlWithCredentials leaves a URL alone without credentials', () => {
    expect(urlWithCredentials('rtsp://cam/s')).toBe('rtsp://cam/s');
  });
});

describe('encodeArgs', () => {
  it('rtsp is stream-copied (audio made AAC) unless reencode', () => {
    const a = encodeArgs(src({ id: 'cam', kind: 'rtsp', url: 'rtsp://cam/s' }), { segmentSeconds: 10 });
    expect(after(a, '-c')).toBe('copy');
    expect(a).not.toContain('libx264');
    expect(after(a, '-c:a')).toBe('aac');
    expect(a).toContain('0:a:0?');
    const silent = encodeArgs(src({ id: 'cam', kind: 'rtsp', url: 'rtsp://cam/s', audio: false }), { segmentSeconds: 10 });
    expect(silent).toContain('-an');
    const re = encodeArgs(src({ id: 'cam', kind: 'rtsp', url: 'rtsp://cam/s', reencode: true }), { segmentSeconds: 10 });
    expect(re).not.toContain('copy');
    expect(after(re, '-c:v')).toBe('libx264');
  });

  it('testsrc and v4l2 are x264 veryfast with the GOP capped at the segment length', () => {
    const a = encodeArgs(src({ id: 'demo', kind: 'testsrc', framerate: 25 }), { segmentSeconds: 2, gopSeconds: 1 });
    expect(after(a, '-c:v')).toBe('libx264');
    expect(after(a, '-preset')).toBe('veryfast');
    expect(after(a, '-g')).toBe('25');
    expect(after(a, '-force_key_frames')).toBe('expr:gte(t,n_forced*1)');
    expect(after(a, '-c:a')).toBe('aac');
    expect(a).toContain('1:a:0');
    const capped = encodeArgs(src({ id: 'hdmi', kind: 'v4l2', device: '/dev/video0', framerate: 30 }), { segmentSeconds: 2, gopSeconds: 5 });
    expect(after(capped, '-g')).toBe('60');
    expect(capped).toContain('-an');
  });
});

describe('segmentArgs', () => {
  it('MPEG-TS segments with continued numbering, reset timestamps and a live CSV list', () => {
    const a = segmentArgs({ dir: '/rec/l1/cam', segmentSeconds: 10, startNumber: 42, listFile: '/rec/l1/cam/run-000003.csv' });
    expect(after(a, '-f')).toBe('segment');
    expect(after(a, '-segment_format')).toBe('mpegts');
    expect(after(a, '-segment_format_options')).toBe('flush_packets=1');
    expect(after(a, '-segment_time')).toBe('10');
    expect(after(a, '-segment_start_number')).toBe('42');
    expect(after(a, '-reset_timestamps')).toBe('1');
    expect(after(a, '-segment_list')).toBe('/rec/l1/cam/run-000003.csv');
    expect(after(a, '-segment_list_type')).toBe('csv');
    expect(after(a, '-segment_list_flags')).toBe('live');
    expect(a[a.length - 1]).toBe('/rec/l1/cam/seg-%06d.ts');
  });
});

describe('redact', () => {
  it('removes URL userinfo and literal secrets, raw and percent-encoded', () => {
    const pw = 'p@ss:w/rd';
    const url = urlWithCredentials('rtsp://10.0.0.5/s', { username: 'admin', password: pw });
    const line = `[rtsp @ 0x1] ${url}: Server returned 401; tried ${pw} and ${encodeURIComponent(pw)}; rtmp://x:y@h/live/key`;
    const out = redact(line, [pw]);
    expect(out).toBe('[rtsp @ 0x1] rtsp://***@10.0.0.5/s: Server returned 401; tried *** and ***; rtmp://***@h/live/key');
    expect(out).not.toContain('admin');
    expect(redact('no secrets here', [undefined, '', null])).toBe('no secrets here');
  });
});

describe('composedArgs', () => {
  const composed = composedSchema.parse({ main: 'a', inset: 'b', size: '320x180', framerate: 10, insetScale: 0.25, corner: 'top-left', encoder: 'auto' });
  const main = inputArgs(src({ id: 'a', kind: 'testsrc', size: '320x180', framerate: 10 }));
  const inset = inputArgs(src({ id: 'b', kind: 'testsrc', size: '160x90', framerate: 10, audio: false }));

  it('vaapi when asked, or auto and the render node exists; x264 otherwise', () => {
    const v = composedArgs({ ...composed, encoder: 'vaapi' }, main, inset, { deviceExists: () => false });
    expect(v.slice(0, 2)).toEqual(['-vaapi_device', '/dev/dri/renderD128']);
    expect(after(v, '-c:v')).toBe('h264_vaapi');
    expect(after(v, '-filter_complex')).toContain('hwupload');
    expect(after(composedArgs(composed, main, inset, { deviceExists: () => true }), '-c:v')).toBe('h264_vaapi');
    const x = composedArgs(composed, main, inset, { deviceExists: () => false });
    expect(after(x, '-c:v')).toBe('libx264');
    expect(x).not.toContain('-vaapi_device');
    // The inset is input 2: main (testsrc with sine) has two inputs.
    expect(after(x, '-filter_complex')).toContain('[2:v]scale=80:-2');
    expect(after(x, '-filter_complex')).toContain('overlay=16:16');
    expect(after(composedArgs({ ...composed, corner: 'bottom-right' }, main, inset, { deviceExists: () => false }), '-filter_complex')).toContain('overlay=main_w-overlay_w-16:main_h-overlay_h-16');
  });

  it('real ffmpeg encodes the x264 composed picture', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'composed-'));
    dirs.push(dir);
    const out = join(dir, 'c.ts');
    const args = ['-hide_banner', '-loglevel', 'error', '-y', ...composedArgs(composed, main, inset, { deviceExists: () => false }), '-t', '1.5', '-f', 'mpegts', out];
    await new Promise<void>((resolve, reject) => execFile('ffmpeg', args, { timeout: 20_000 }, (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve())));
    const p = await probe(out);
    const v = p.streams.find((s) => s.codecType === 'video');
    expect(v).toMatchObject({ codecName: 'h264', width: 320, height: 180 });
    expect(p.streams.find((s) => s.codecType === 'audio')?.codecName).toBe('aac');
  });
});
