/**
 * The bus messages of shared/DESIGN.md section 4, as zod schemas: the one
 * source of truth for payload shapes, shared by edge, kiosk and cloud.
 * TypeScript types are inferred from them (shared/STYLE.md pattern 7).
 *
 * Topic root: `classroom/{roomId}/`.
 */
import { z } from 'zod';

/** Ids used in topics: no MQTT wildcards or separators, bounded length. */
export const idSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-" only, starting with a letter or digit');

/** Wall-clock milliseconds since the epoch (sanity-bounded: 2000-01-01 .. 2100-01-01). */
export const tsSchema = z.number().int().min(946_684_800_000).max(4_102_444_800_000);

const stateValue = z.union([z.string().max(200), z.number(), z.boolean(), z.null()]);

/** `device/{deviceId}/state` (retained, edge). */
export const deviceStateSchema = z.object({
  deviceId: idSchema,
  kind: z.string(),
  driver: z.string(),
  online: z.boolean(),
  /** Capability states: power, input, volume, mute, readings by metric, ... */
  state: z.record(z.string(), stateValue),
  /** True where the protocol has no status query and state is the last commanded one. */
  tracked: z.boolean().optional(),
  lastError: z.object({ message: z.string(), code: z.string().optional(), ts: tsSchema }).nullable(),
  ts: tsSchema,
});
export type DeviceStateMessage = z.infer<typeof deviceStateSchema>;

/** `device/{deviceId}/command` (kiosk, technician, automation). */
export const deviceCommandSchema = z.object({
  id: z.string().min(1).max(64),
  command: z.string().min(1).max(64),
  args: z.record(z.string(), z.unknown()).default({}),
});
export type DeviceCommandMessage = z.infer<typeof deviceCommandSchema>;

/** `device/{deviceId}/reply` (edge). */
export const deviceReplySchema = z.object({
  id: z.string(),
  ok: z.boolean(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  state: z.record(z.string(), stateValue).optional(),
});
export type DeviceReplyMessage = z.infer<typeof deviceReplySchema>;

/** `sensor/{deviceId}/{metric}` (edge, third-party sensors). */
export const sensorReadingSchema = z.object({
  value: z.number().finite(),
  unit: z.string().min(1).max(16),
  ts: tsSchema,
});
export type SensorReadingMessage = z.infer<typeof sensorReadingSchema>;

/** `card` (edge readers, third-party readers): a card tap. */
export const cardTapSchema = z.object({
  reader: idSchema,
  uid: z
    .string()
    .min(4)
    .max(32)
    .regex(/^[0-9A-Fa-f]+$/, 'hexadecimal UID')
    .transform((s) => s.toUpperCase()),
  number: z.string().max(20).optional(),
  ts: tsSchema,
});
export type CardTapMessage = z.infer<typeof cardTapSchema>;

/**
 * `behaviour` (edge, kiosk, AI cameras, clickers): classroom behaviour
 * events. `kind` selects the shape of `data`; the lesson is attached by the
 * edge, not trusted from the publisher.
 */
const behaviourBase = {
  /** Publisher-side id, for idempotency (kiosk command id, camera event id). */
  id: z.string().min(1).max(64).optional(),
  ts: tsSchema,
  studentId: idSchema.optional(),
  groupId: idSchema.optional(),
};
export const behaviourEventSchema = z.discriminatedUnion('kind', [
  z.object({ ...behaviourBase, kind: z.literal('praise'), category: z.string().min(1).max(32), points: z.number().int().min(-10).max(10) }),
  z.object({ ...behaviourBase, kind: z.literal('remark'), category: z.string().min(1).max(32), points: z.number().int().min(-10).max(10) }),
  z.object({ ...behaviourBase, kind: z.literal('hand-raise'), confidence: z.number().min(0).max(1).optional() }),
  z.object({
    ...behaviourBase,
    kind: z.literal('answer'),
    questionId: z.string().min(1).max(64),
    answer: z.string().max(64),
    correct: z.boolean().optional(),
  }),
  z.object({
    ...behaviourBase,
    kind: z.literal('activity'),
    /** e.g. 'teacher-lecturing', 'student-discussion', 'heads-down' (AI camera vocabularies vary). */
    activity: z.string().min(1).max(64),
    confidence: z.number().min(0).max(1).optional(),
  }),
]);
export type BehaviourEventMessage = z.infer<typeof behaviourEventSchema>;

/** `lesson` (retained, edge): the current lesson, or none. */
export const lessonSchema = z.union([
  z.object({
    lessonId: z.string(),
    course: z.string(),
    className: z.string().optional(),
    teacher: z.string().optional(),
    period: z.number().int().optional(),
    startsAt: tsSchema,
    endsAt: tsSchema,
    adHoc: z.boolean().default(false),
  }),
  z.object({ lessonId: z.null() }),
]);
export type LessonMessage = z.infer<typeof lessonSchema>;

/** `attendance` (edge). */
export const attendanceSchema = z.object({
  lessonId: z.string(),
  studentId: idSchema,
  status: z.enum(['present', 'late', 'absent', 'leave']),
  source: z.enum(['card', 'teacher', 'auto']),
  ts: tsSchema,
});
export type AttendanceMessage = z.infer<typeof attendanceSchema>;

/**
 * A recording source's state (docs/recording.md): idle (nothing to record), starting (ffmpeg is
 * connecting to the source), recording, degraded (the source dropped mid-lesson; reconnecting
 * with backoff, the gap is written into the recording's sidecar), stopping (closing the last
 * segment and joining the lesson's file), error (cannot record: `reason` says why).
 */
export const RECORDING_STATES = ['idle', 'starting', 'recording', 'degraded', 'stopping', 'error'] as const;
export type RecordingSourceState = (typeof RECORDING_STATES)[number];

/** A live push of a source to the district's media server (专递课堂). */
export const LIVE_STATES = ['off', 'connecting', 'live', 'retrying', 'error'] as const;
export const livePushStatusSchema = z.object({
  state: z.enum(LIVE_STATES),
  /** The configured target's id (never its URL: it may hold a stream key). */
  target: z.string(),
  since: tsSchema.nullable(),
  reason: z.string().max(500).nullable(),
});
export type LivePushStatus = z.infer<typeof livePushStatusSchema>;

export const recordingSourceStatusSchema = z.object({
  state: z.enum(RECORDING_STATES),
  lessonId: z.string().nullable(),
  /** When this source's recording of the lesson began (epoch ms). */
  since: tsSchema.nullable(),
  /** Media time recorded so far in this lesson (gaps excluded). */
  elapsedMs: z.number().int().min(0).optional(),
  /** Bytes of this lesson's finished segments. */
  bytes: z.number().int().min(0).optional(),
  /** Why the source is in error or degraded (credentials redacted); null otherwise. */
  reason: z.string().max(500).nullable().optional(),
  live: livePushStatusSchema.optional(),
});
export type RecordingSourceStatus = z.infer<typeof recordingSourceStatusSchema>;

/** Uploads of finished recordings to the district, per lesson (the kiosk's timetable line). */
export const recordingUploadStatusSchema = z.object({
  pendingFiles: z.number().int().min(0),
  pendingBytes: z.number().int().min(0),
  failedFiles: z.number().int().min(0),
  /** Lessons with files still to upload, or uploaded today. */
  lessons: z.record(
    z.string(),
    z.object({ files: z.number().int().min(0), uploadedFiles: z.number().int().min(0), bytes: z.number().int().min(0), uploadedBytes: z.number().int().min(0) }),
  ),
});
export type RecordingUploadStatus = z.infer<typeof recordingUploadStatusSchema>;

/** `recording` (retained, edge). */
export const recordingSchema = z.object({
  sources: z.record(z.string(), recordingSourceStatusSchema),
  upload: recordingUploadStatusSchema.optional(),
});
export type RecordingMessage = z.infer<typeof recordingSchema>;

/** `alert` (edge). */
export const alertSchema = z.object({
  id: z.string(),
  severity: z.enum(['info', 'warning', 'critical']),
  /** Stable machine code, e.g. 'store-recovered', 'unknown-card', 'device-offline'; the kiosk translates it. */
  code: z.string(),
  message: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  ts: tsSchema,
});
export type AlertMessage = z.infer<typeof alertSchema>;

/** Largest payload accepted on the bus; larger ones are rejected before parsing. */
export const MAX_PAYLOAD_BYTES = 16 * 1024;
