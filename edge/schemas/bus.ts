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

/** `recording` (retained, edge). */
export const recordingSchema = z.object({
  sources: z.record(
    z.string(),
    z.object({ state: z.enum(['idle', 'recording', 'error']), lessonId: z.string().nullable(), since: tsSchema.nullable() }),
  ),
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
