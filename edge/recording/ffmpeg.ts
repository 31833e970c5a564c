/**
 * Pure builders of ffmpeg command lines for the recorder (docs/recording.md,
 * "Sources" and "Capture and segments"). Nothing here spawns or touches the
 * disk except composedArgs' check for a VAAPI render node (injectable).
 *
 * The pieces are separate because they are reused: live.ts pushes the same
 * input (`inputArgs`) to a media server, capture.ts adds `encodeArgs` and
 * `segmentArgs`. Credentials only ever enter a command line through
 * `inputArgs`; anything we log from or about such a command goes through
 * `redact`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ComposedConfig, RecordingSourceConfig } from '../config/recording-schema.js';
import type { SourceCredentials } from './types.js';

/** The render node VAAPI uses on Intel/AMD appliances. */
export const VAAPI_DEVICE = '/dev/dri/renderD128';

/** RTSP socket I/O timeout: a camera that stops sending for this long ends the run (ffmpeg would otherwise wait forever). */
export const RTSP_TIMEOUT_MS = 10_000;

/** Segment file names: zero-padded so they sort, six digits = 19 days of 2 s segments. */
export const SEGMENT_PATTERN = 'seg-%06d.ts';
export const SEGMENT_RE = /^seg-(\d{6,})\.ts$/;

export function segmentFileName(index: number): string {
  return `seg-${String(index).padStart(6, '0')}.ts`;
}

/** `user:pass@` percent-encoded into the URL's userinfo (RFC 3986: reserved characters in a password must not end the userinfo). */
export function urlWithCredentials(url: string, creds?: SourceCredentials): string {
  if (!creds) return url;
  const m = /^(rtsps?:\/\/)(.*)$/i.exec(url);
  if (!m) return url;
  return `${m[1]}${encodeURIComponent(creds.username)}:${encodeURIComponent(creds.password)}@${m[2]}`;
}

/** ffmpeg's input options and `-i` for one source (no output options). */
export function inputArgs(source: RecordingSourceConfig, creds?: SourceCredentials, opts: { rtspTimeoutMs?: number } = {}): string[] {
  switch (source.kind) {
    case 'rtsp': {
      const args = [
        '-rtsp_transport',
        source.rtpTransport,
        // ffmpeg 5.1's rtsp demuxer: socket I/O timeout in µs. Without it a camera that
        // vanishes mid-stream (power, cable) leaves ffmpeg blocked on a read forever.
        '-timeout',
        String((opts.rtspTimeoutMs ?? RTSP_TIMEOUT_MS) * 1000),
      ];
      // Not even set up the audio track when it is not wanted: less bandwidth, no codec surprises.
      if (!source.audio) args.push('-allowed_media_types', 'video');
      args.push('-i', urlWithCredentials(source.url, creds));
      return args;
    }
    case 'v4l2': {
      const args = [
        // Live devices deliver frames whether we read them or not: a larger queue rides out a slow encoder start.
        '-thread_queue_size',
        '512',
        '-f',
        'v4l2',
        '-input_format',
        source.inputFormat,
        '-video_size',
        source.size,
        '-framerate',
        String(source.framerate),
        '-i',
        source.device,
      ];
      if (source.audioDevice) args.push('-thread_queue_size', '512', '-f', 'alsa', '-i', source.audioDevice);
      return args;
    }
    case 'testsrc': {
      // -re on each input paces lavfi at real time, as a camera would; without it ffmpeg
      // generates a lesson's worth of frames as fast as the CPU allows.
      const args = ['-re', '-f', 'lavfi', '-i', `testsrc2=size=${source.size}:rate=${source.framerate}`];
      if (source.audio) args.push('-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
      return args;
    }
  }
}

/** Whether the source is encoded by us (x264) rather than stream-copied. */
export function isEncoded(source: RecordingSourceConfig): boolean {
  return source.kind !== 'rtsp' || source.reencode;
}

/** Whether the source has an audio input. */
export function hasAudio(source: RecordingSourceConfig): boolean {
  return source.kind === 'v4l2' ? source.audioDevice !== undefined : source.audio;
}

export interface EncodeOptions {
  /** Keyframe interval when we encode (default 2 s); capped at the segment length so every segment can start on a keyframe. */
  gopSeconds?: number;
  segmentSeconds: number;
}

function x264Args(framerate: number, gopSeconds: number): string[] {
  return [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    '-g',
    String(Math.max(1, Math.round(framerate * gopSeconds))),
    // -g alone only caps the interval; scene cuts may move keyframes. Forcing them on the
    // clock makes the segment muxer's cuts land where -segment_time asks.
    '-force_key_frames',
    `expr:gte(t,n_forced*${gopSeconds})`,
  ];
}

const AAC = ['-c:a', 'aac', '-b:a', '128k', '-ar', '48000'];

/** Stream mapping and codecs for one source's recording. */
export function encodeArgs(source: RecordingSourceConfig, opts: EncodeOptions): string[] {
  const gop = Math.min(opts.gopSeconds ?? 2, opts.segmentSeconds);
  const audio = hasAudio(source);
  if (source.kind === 'rtsp') {
    const map = ['-map', '0:v:0'];
    // `?`: a camera configured without audio is not an error.
    if (audio) map.push('-map', '0:a:0?');
    if (!source.reencode) {
      // Video is stream-copied (under 1 % of a core at 1080p); audio is made AAC because cameras
      // often send G.711, which neither MPEG-TS nor MP4 carry: a mono AAC encode is cheap.
      return [...map, '-c', 'copy', ...(audio ? AAC : ['-an'])];
    }
    return [...map, ...x264Args(25, gop), '-r', '25', ...(audio ? AAC : ['-an'])];
  }
  const map = ['-map', '0:v:0'];
  if (audio) map.push('-map', '1:a:0');
  return [...map, ...x264Args(source.framerate, gop), ...(audio ? AAC : ['-an'])];
}

export interface SegmentOptions {
  dir: string;
  segmentSeconds: number;
  /** First segment number of this run: runs continue the numbering, so a restart never overwrites a segment. */
  startNumber: number;
  /** The CSV list this run writes (one per run: its times are relative to the run's start). */
  listFile: string;
}

/** The segment muxer's output options and output pattern. */
export function segmentArgs(opts: SegmentOptions): string[] {
  return [
    '-f',
    'segment',
    // MPEG-TS: a segment cut short by kill -9 or a power cut is still readable up to its last whole packet (an MP4 without its moov is not).
    '-segment_format',
    'mpegts',
    // Write each packet through to the file instead of in 32 KiB chunks: a kill -9 of ffmpeg (or of
    // the whole service) then leaves the partial segment with everything muxed so far, not nothing.
    '-segment_format_options',
    'flush_packets=1',
    '-segment_time',
    String(opts.segmentSeconds),
    '-segment_start_number',
    String(opts.startNumber),
    // Each segment starts at 0, so each stands alone (and uploads alone); the CSV keeps the run's times.
    '-reset_timestamps',
    '1',
    // CSV "file,start,end" appended and flushed as each segment closes: a listed segment is complete.
    '-segment_list',
    opts.listFile,
    '-segment_list_type',
    'csv',
    '-segment_list_flags',
    'live',
    join(opts.dir, SEGMENT_PATTERN),
  ];
}

/** Global options every recorder run starts with. */
export function globalArgs(): string[] {
  // -progress on stdout is how capture.ts knows media time advances (and notices stalls);
  // -nostats keeps stderr for the messages that explain failures; -y never prompts on stdin, which carries `q`.
  return ['-hide_banner', '-nostats', '-loglevel', 'info', '-progress', 'pipe:1', '-y'];
}

const OVERLAY_MARGIN = 16;

function overlayPosition(corner: ComposedConfig['corner']): string {
  const x = corner.endsWith('left') ? String(OVERLAY_MARGIN) : `main_w-overlay_w-${OVERLAY_MARGIN}`;
  const y = corner.startsWith('top') ? String(OVERLAY_MARGIN) : `main_h-overlay_h-${OVERLAY_MARGIN}`;
  return `${x}:${y}`;
}

/**
 * The composed picture: `main` full frame, `inset` scaled to insetScale of the width in a corner,
 * audio from main. `mainInput`/`insetInput` come from inputArgs. Returns everything up to the output options.
 */
export function composedArgs(
  composed: ComposedConfig,
  mainInput: string[],
  insetInput: string[],
  opts: { deviceExists?: (path: string) => boolean; gopSeconds?: number; insetInputIndex?: number } = {},
): string[] {
  const exists = opts.deviceExists ?? existsSync;
  const vaapi = composed.encoder === 'vaapi' || (composed.encoder === 'auto' && exists(VAAPI_DEVICE));
  const [w, h] = composed.size.split('x').map(Number) as [number, number];
  // The inset is the input after all of main's inputs (a testsrc or v4l2 main may have a second, audio input).
  const mainInputs = mainInput.filter((a) => a === '-i').length;
  const insetIdx = opts.insetInputIndex ?? mainInputs;
  // Main's sound: its own track (rtsp), or its second input (testsrc's sine, v4l2's alsa).
  const mainAudio = mainInputs > 1 ? '1:a:0?' : '0:a:0?';
  const insetW = Math.round((w * composed.insetScale) / 2) * 2;
  const chain =
    `[0:v]scale=${w}:${h},fps=${composed.framerate}[m];` +
    `[${insetIdx}:v]scale=${insetW}:-2[i];` +
    `[m][i]overlay=${overlayPosition(composed.corner)}:eof_action=repeat:shortest=0` +
    (vaapi ? ',format=nv12,hwupload[v]' : ',format=yuv420p[v]');
  const kbps = composed.bitrateKbps;
  const gop = Math.max(1, Math.round(composed.framerate * (opts.gopSeconds ?? 2)));
  const rate = ['-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps * 2}k`, '-g', String(gop)];
  const encoder = vaapi ? ['-c:v', 'h264_vaapi', ...rate] : ['-c:v', 'libx264', '-preset', 'veryfast', ...rate];
  return [
    ...(vaapi ? ['-vaapi_device', VAAPI_DEVICE] : []),
    ...mainInput,
    ...insetInput,
    '-filter_complex',
    chain,
    '-map',
    '[v]',
    '-map',
    mainAudio,
    ...encoder,
    ...AAC,
  ];
}

const USERINFO_RE = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi;

/**
 * Removes URL userinfo (`rtsp://user:pass@` -> `rtsp://***@`) and every literal secret (as given
 * and percent-encoded, as it appears in a URL) from `text`. ffmpeg echoes its input URL in
 * errors, so its stderr goes through here too.
 */
export function redact(text: string, secrets: ReadonlyArray<string | undefined | null> = []): string {
  let out = text.replace(USERINFO_RE, '$1***@');
  const forms = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    forms.add(s);
    forms.add(encodeURIComponent(s));
  }
  // Longest first, so a secret that contains another is removed whole.
  for (const f of [...forms].sort((a, b) => b.length - a.length)) out = out.split(f).join('***');
  return out;
}
