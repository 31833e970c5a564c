/**
 * Recording uploads (docs/sync.md, "Recording uploads"): the shapes shared by
 * the edge's uploader (sync/recording-upload.ts) and the reference cloud's
 * endpoint (sync/cloud/recordings.ts). The transport is the tus resumable
 * upload protocol 1.0.0; a segment's facts travel in `Upload-Metadata`
 * (comma-separated `key base64(value)` pairs), validated here.
 */
import { z } from 'zod';
import { linkIdSchema } from './protocol.js';

/** Where the cloud mounts the tus endpoint (creation: POST here; an upload: `${path}/{id}`). */
export const RECORDING_UPLOADS_PATH = '/api/recordings/uploads';
export const TUS_VERSION = '1.0.0';
/** Response header of a finished (or already complete) segment: `complete`. */
export const RECORDING_STATUS_HEADER = 'Recording-Status';
/** Response header echoing the sha256 the cloud verified on the stored file. */
export const RECORDING_SHA256_HEADER = 'Recording-Sha256';
/** Status of a finish whose stored bytes do not hash to the declared sha256 (tus checksum extension's code). */
export const HASH_MISMATCH_STATUS = 460;

/** Media containers, and `json` for a finished recording's sidecar (RecordingSidecar, edge/recording/types.ts). */
export const RECORDING_EXTENSIONS = ['mp4', 'ts', 'mkv', 'm4s', 'webm', 'json'] as const;
/** The largest sidecar accepted: a day-long recording's segment list is far below it. */
export const MAX_SIDECAR_BYTES = 4 * 2 ** 20;

/** One path segment: no separators, no leading dot (so never `.` or `..`). */
const PATH_PART = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const decimal = (what: string, max: number) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]*)$/, `${what}: a non-negative decimal integer`)
    .transform(Number)
    .pipe(z.number().int().min(0).max(max, `${what}: at most ${max}`));

/**
 * The segment's metadata as decoded strings. `lessonId` is the edge's lesson id
 * (`{roomId}/{date}/p{period}`): '/'-separated parts, each a safe file name, since
 * it becomes directories under the cloud's recordings directory.
 */
export const recordingMetadataSchema = z
  .object({
    roomId: linkIdSchema,
    lessonId: z
      .string()
      .min(1)
      .max(200)
      .refine((s) => s.split('/').length <= 8 && s.split('/').every((p) => PATH_PART.test(p)), {
        message: 'lessonId: up to 8 "/"-separated parts of letters, digits, "_", "." and "-", each starting with a letter or digit',
      }),
    /** The recording source (camera device id). */
    source: linkIdSchema,
    segment: decimal('segment', 10_000_000),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256: 64 lowercase hex digits'),
    /** Epoch ms of the segment's first frame. */
    startedAt: decimal('startedAt', Number.MAX_SAFE_INTEGER),
    durationMs: decimal('durationMs', 24 * 3_600_000),
    ext: z.enum(RECORDING_EXTENSIONS).default('mp4'),
  })
  .strict();
export type RecordingMetadata = z.infer<typeof recordingMetadataSchema>;
export type RecordingMetadataInput = z.input<typeof recordingMetadataSchema>;

export class MetadataError extends Error {}

/** Encodes an `Upload-Metadata` header value. */
export function encodeUploadMetadata(meta: Record<string, string>): string {
  return Object.entries(meta)
    .map(([k, v]) => `${k} ${Buffer.from(v, 'utf8').toString('base64')}`)
    .join(',');
}

const KEY = /^[\x21-\x2b\x2d-\x7e]+$/; // printable ASCII, no space or comma
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes an `Upload-Metadata` header value (the tus rules: keys unique, values base64). */
export function parseUploadMetadata(header: string | undefined | null): Record<string, string> {
  if (!header || header.trim() === '') throw new MetadataError('Upload-Metadata is missing');
  if (header.length > 4096) throw new MetadataError('Upload-Metadata is longer than 4096 characters');
  const out: Record<string, string> = {};
  for (const pair of header.split(',')) {
    const parts = pair.trim().split(' ');
    const [key, value] = parts;
    if (parts.length > 2 || key === undefined || !KEY.test(key)) throw new MetadataError(`Upload-Metadata: malformed pair "${pair.slice(0, 40)}"`);
    if (Object.hasOwn(out, key)) throw new MetadataError(`Upload-Metadata: key ${key} appears twice`);
    if (value !== undefined && !B64.test(value)) throw new MetadataError(`Upload-Metadata: the value of ${key} is not base64`);
    out[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

/** Validates decoded metadata; the error names every bad field. */
export function validateRecordingMetadata(raw: Record<string, string | null | undefined>): RecordingMetadata {
  const parsed = recordingMetadataSchema.safeParse(raw);
  if (!parsed.success) {
    throw new MetadataError(parsed.error.issues.map((i) => `${i.path.join('.') || 'metadata'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

/** The metadata record the edge sends for a segment. */
export function recordingMetadataFields(m: RecordingMetadata): Record<string, string> {
  return {
    roomId: m.roomId,
    lessonId: m.lessonId,
    source: m.source,
    segment: String(m.segment),
    sha256: m.sha256,
    startedAt: String(m.startedAt),
    durationMs: String(m.durationMs),
    ext: m.ext,
  };
}

/**
 * The cloud's index key of a file: the media of (source, segment) as before, and its sidecar
 * apart (`.json`), so both files of one source are stored side by side.
 */
export function recordingIndexKey(m: Pick<RecordingMetadata, 'source' | 'segment' | 'ext'>): string {
  return m.ext === 'json' ? `${m.source}-${m.segment}.json` : `${m.source}-${m.segment}`;
}

/** The segment's final path relative to the recordings directory: `{roomId}/{lessonId}/{source}-{segment}.{ext}`. */
export function recordingRelativePath(m: Pick<RecordingMetadata, 'roomId' | 'lessonId' | 'source' | 'segment' | 'ext'>): string {
  return `${m.roomId}/${m.lessonId}/${m.source}-${m.segment}.${m.ext}`;
}

const iso = z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time with its offset (or Z)' });
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');
const count = z.number().int().min(0);

/**
 * The JSON sidecar beside a finished recording (RecordingSidecar in edge/recording/types.ts, which
 * test/unit/sync/recording-sidecar.test.ts checks this against): what the cloud registers the
 * recording with. Unknown keys are allowed (a newer recorder may add some); known ones are checked.
 */
export const recordingSidecarSchema = z.object({
  version: z.literal(1),
  roomId: linkIdSchema,
  lessonId: recordingMetadataSchema.shape.lessonId,
  course: z.string().max(200),
  classId: z.string().max(200),
  className: z.string().max(200).optional(),
  teacherId: z.string().max(200).nullable(),
  teacherName: z.string().max(200).optional(),
  lesson: z.object({ startsAt: iso, endsAt: iso }),
  source: z.object({ id: linkIdSchema, kind: z.string().max(64), label: z.string().max(200).optional() }),
  sources: z.array(linkIdSchema).max(64),
  recorded: z.object({ from: iso, to: iso, mediaMs: count }),
  file: z.object({
    name: z.string().min(1).max(200),
    bytes: count,
    sha256: hex64,
    durationMs: count,
    video: z.string().max(200).nullable(),
    audio: z.string().max(200).nullable(),
  }),
  gaps: z.array(z.object({ from: iso, to: iso, ms: count, reason: z.string().max(500) })).max(10_000),
  segments: z.array(z.object({ index: count, file: z.string().max(200), run: count, from: iso, to: iso, bytes: count, sha256: hex64 })).max(100_000),
  recovered: z.array(z.object({ file: z.string().max(200), kept: z.boolean(), reason: z.string().max(500).optional() })).optional(),
});
export type RecordingSidecarData = z.infer<typeof recordingSidecarSchema>;

/** Parses and validates a sidecar's bytes; the error names every bad field. */
export function parseRecordingSidecar(text: string): RecordingSidecarData {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new MetadataError(`sidecar: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const parsed = recordingSidecarSchema.safeParse(raw);
  if (!parsed.success) throw new MetadataError(`sidecar: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
