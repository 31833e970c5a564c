/**
 * The `recording` section of the config (docs/recording.md, docs/config.md):
 * sources, when to record, local storage, uploads to the district, live
 * pushes. Absent: the appliance records nothing.
 */
import { z } from 'zod';
import { idSchema } from '../schemas/bus.js';

const size = z.string().regex(/^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$/, 'WIDTHxHEIGHT, e.g. 1920x1080');
const framerate = z.number().int().min(1).max(120);
/** A preset the source's PTZ camera (a visca or pelco-d device) recalls when a lesson starts. */
const ptzSchema = z.object({ device: idSchema, preset: z.number().int().min(0).max(255) }).strict();

const common = {
  id: idSchema,
  /** Shown to teachers and technicians (e.g. 教师特写, 学生全景). */
  label: z.string().min(1).max(32).optional(),
  ptz: ptzSchema.optional(),
};

/** An IP camera by RTSP: stream-copied (H.264/H.265 as the camera sends it). */
export const rtspSourceSchema = z
  .object({
    ...common,
    kind: z.literal('rtsp'),
    url: z
      .string()
      .regex(/^rtsps?:\/\/[^/\s]+/, 'an rtsp:// (or rtsps://) URL')
      .refine((u) => !/^rtsps?:\/\/[^/@\s]*@/.test(u), 'no credentials in the URL (they would reach logs and process lists): put "username:password" in credentialsFile'),
    /** A file (mode 0600) holding `username:password` on one line; never logged. */
    credentialsFile: z.string().min(1).optional(),
    /** RTP over the RTSP TCP connection (the default: survives NAT and loss) or UDP. */
    rtpTransport: z.enum(['tcp', 'udp']).default('tcp'),
    /** What the camera must send to be stream-copied; anything else is an error state (or re-encoded with reencode). */
    codecs: z.array(z.enum(['h264', 'hevc'])).min(1).default(['h264', 'hevc']),
    /** Re-encode with x264 instead of stream copy (costs a core's worth of CPU at 1080p; for cameras that send MJPEG). */
    reencode: z.boolean().default(false),
    /** Keep the camera's audio track when it has one. */
    audio: z.boolean().default(true),
  })
  .strict();

/** A UVC/HDMI capture device by V4L2 (the panel's screen through a capture card); re-encoded with x264. */
export const v4l2SourceSchema = z
  .object({
    ...common,
    kind: z.literal('v4l2'),
    /** Prefer /dev/v4l/by-id/... names. */
    device: z.string().min(1),
    inputFormat: z.enum(['mjpeg', 'yuyv422', 'h264']).default('mjpeg'),
    size: size.default('1920x1080'),
    framerate: framerate.default(30),
    /** An ALSA capture device for sound (e.g. hw:1,0); none by default. */
    audioDevice: z.string().min(1).optional(),
  })
  .strict();

/** A test picture (and tone) made by ffmpeg itself: the demo room's camera. */
export const testsrcSourceSchema = z
  .object({
    ...common,
    kind: z.literal('testsrc'),
    size: size.default('640x360'),
    framerate: framerate.default(25),
    audio: z.boolean().default(true),
  })
  .strict();

export const recordingSourceSchema = z.discriminatedUnion('kind', [rtspSourceSchema, v4l2SourceSchema, testsrcSourceSchema]);
export type RecordingSourceConfig = z.infer<typeof recordingSourceSchema>;
export type RtspSourceConfig = z.infer<typeof rtspSourceSchema>;
export type V4l2SourceConfig = z.infer<typeof v4l2SourceSchema>;
export type TestsrcSourceConfig = z.infer<typeof testsrcSourceSchema>;

/** The 录播 "电影模式" picture: one source full frame with another in a corner, encoded (VAAPI where present, else x264). */
export const composedSchema = z
  .object({
    id: idSchema.default('composed'),
    main: idSchema,
    inset: idSchema,
    corner: z.enum(['top-left', 'top-right', 'bottom-left', 'bottom-right']).default('bottom-right'),
    /** Width of the inset as a share of the frame. */
    insetScale: z.number().min(0.1).max(0.5).default(0.3),
    size: size.default('1920x1080'),
    framerate: framerate.default(25),
    /** auto: VAAPI when /dev/dri/renderD128 exists, else x264 veryfast. */
    encoder: z.enum(['auto', 'vaapi', 'x264']).default('auto'),
    bitrateKbps: z.number().int().min(500).max(50_000).default(4000),
  })
  .strict();
export type ComposedConfig = z.infer<typeof composedSchema>;

const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'HH:MM (24 h, the room\'s time zone)');

/** Where finished recordings go: the district cloud's tus endpoint (docs/sync.md, "Recording uploads"). */
export const recordingUploadSchema = z
  .object({
    /** The cloud API's base URL (https:// off loopback). */
    url: z.string().regex(/^https?:\/\/[^/\s]+/, 'an https:// URL (http:// only for loopback tests)'),
    /** A file (mode 0600) holding the room's upload token secret. */
    tokenFile: z.string().min(1),
    /** PEM of the district CA, for an API with a private CA. */
    caFile: z.string().min(1).optional(),
    /** Upload only between these times (e.g. after school); absent: any time. A window may wrap midnight. */
    window: z.object({ from: hhmm, to: hhmm }).strict().optional(),
    /** Cap on the upload's bandwidth, so recordings never starve the room's live traffic; absent: no cap. */
    maxBytesPerSecond: z.number().int().min(16_384).optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    const host = /^https?:\/\/([^/:\s]+|\[[^\]]+\])/.exec(u.url)?.[1] ?? '';
    if (u.url.startsWith('http://') && !['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'plain http:// is allowed only on loopback: recordings of minors travel over TLS' });
    }
  });
export type RecordingUploadConfig = z.infer<typeof recordingUploadSchema>;

/** A live push target: the district's media server (nginx-rtmp, SRS, ...). */
export const liveTargetSchema = z
  .object({
    id: idSchema,
    source: idSchema,
    /** rtmp:// or rtmps:// (FLV) or srt:// (MPEG-TS). The stream key is part of it: the URL is never logged. */
    url: z.string().regex(/^(rtmps?|srt):\/\/[^/\s]+/, 'an rtmp://, rtmps:// or srt:// URL'),
    /** lessons: pushed while the source records a lesson; manual: only when a teacher or technician starts it. */
    when: z.enum(['lessons', 'manual']).default('manual'),
  })
  .strict();
export type LiveTargetConfig = z.infer<typeof liveTargetSchema>;

export const recordingSchema = z
  .object({
    /** Segments and finished files; default {dataDir}/recordings. */
    directory: z.string().min(1).optional(),
    /** Segment length: a crash or power cut loses at most the segment being written. Cut on keyframes only. */
    segmentSeconds: z.number().int().min(2).max(60).default(10),
    /** Which lessons record by themselves: all, those of the listed courses, or none (manual only). */
    rule: z
      .object({ mode: z.enum(['all', 'courses', 'none']).default('all'), courses: z.array(z.string().min(1).max(32)).default([]) })
      .strict()
      .default({ mode: 'all', courses: [] }),
    sources: z.array(recordingSourceSchema).min(1, 'list at least one source, or leave out the recording section'),
    composed: composedSchema.optional(),
    storage: z
      .object({
        /** The most the recordings directory may hold; the oldest uploaded recordings go first. */
        maxBytes: z.number().int().min(64 * 2 ** 20).default(100 * 2 ** 30),
        /** Keep this much of the file system free; below it new recordings do not start (an alert says why). */
        minFreeBytes: z.number().int().min(0).default(2 * 2 ** 30),
        /** Uploaded recordings are deleted locally after this many days (minors appear in them: keep it short). */
        retentionDays: z.number().int().min(0).max(90).default(3),
      })
      .strict()
      .default({ maxBytes: 100 * 2 ** 30, minFreeBytes: 2 * 2 ** 30, retentionDays: 3 }),
    upload: recordingUploadSchema.optional(),
    live: z.array(liveTargetSchema).default([]),
  })
  .strict()
  .superRefine((r, ctx) => {
    const ids = new Set<string>();
    r.sources.forEach((s, i) => {
      if (ids.has(s.id)) ctx.addIssue({ code: 'custom', path: ['sources', i, 'id'], message: `source ${s.id} appears twice` });
      ids.add(s.id);
    });
    if (r.composed) {
      if (ids.has(r.composed.id)) ctx.addIssue({ code: 'custom', path: ['composed', 'id'], message: `${r.composed.id} is already a source id` });
      for (const k of ['main', 'inset'] as const) {
        if (!ids.has(r.composed[k])) ctx.addIssue({ code: 'custom', path: ['composed', k], message: `no source ${r.composed[k]} (sources: ${[...ids].join(', ')})` });
      }
    }
    // A live push reads a camera itself; the composed view exists only inside its recording.
    const targets = new Set<string>();
    r.live.forEach((t, i) => {
      if (targets.has(t.id)) ctx.addIssue({ code: 'custom', path: ['live', i, 'id'], message: `live target ${t.id} appears twice` });
      targets.add(t.id);
      if (!ids.has(t.source)) ctx.addIssue({ code: 'custom', path: ['live', i, 'source'], message: `no source ${t.source} (sources: ${[...ids].join(', ')})` });
    });
    if (r.rule.mode === 'courses' && r.rule.courses.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['rule', 'courses'], message: 'list the courses to record (or use mode all / none)' });
    }
  });
export type RecordingConfig = z.infer<typeof recordingSchema>;
