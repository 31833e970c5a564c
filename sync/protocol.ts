/**
 * The district link protocol (docs/sync.md), shared by the edge (sync/uplink.ts)
 * and the reference cloud (sync/cloud/). MQTT 3.1.1 only: no MQTT 5 properties
 * (NATS's MQTT gateway has none), so everything a receiver needs is in the
 * topic and the payload.
 *
 * Topics, under `district/rooms/{roomId}/`:
 * - `up/events`              edge -> cloud, QoS 1: a batch of event-log rows
 * - `down/ack`               cloud -> edge, QoS 1: the highest contiguous seq the cloud holds
 * - `up/status`              edge, retained: online/offline (the MQTT last will says offline)
 * - `up/telemetry/{deviceId}` edge, retained: the device's latest state (latest wins)
 * - `down/receipts`          cloud -> edge, QoS 1: verdicts on lesson receipts (sync/receipt-protocol.ts)
 * - `down/commands`          cloud -> edge, QoS 1: a technician's remote command
 * - `up/command-results`     edge -> cloud, QoS 1: its result (see "Technicians' remote commands")
 *
 * Encoding: JSON text, gzipped when that pays. Decoding tells gzip by its
 * magic bytes 1F 8B and JSON by '{', bounds both sizes (gzip bombs) and never
 * throws: a malformed message is a typed error.
 */
import { gzipSync, gunzipSync } from 'node:zlib';
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
export const TOPIC_ROOT = 'district/rooms/';
/** Encoded batches above this size are gzipped when gzip makes them smaller. */
export const GZIP_THRESHOLD_BYTES = 1024;
export const MAX_COMPRESSED_BYTES = 4 * 1024 * 1024;
export const MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024;
/** Upper bound of events in one batch (the edge sends at most config.cloud.batch.maxEvents). */
export const MAX_BATCH_EVENTS = 10_000;

/** Room and device ids as they appear in topics: no MQTT wildcards or separators. */
export const linkIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-" only, starting with a letter or digit');

const seqSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const msSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** A technician's name as the cloud configures it (sync/cloud/technicians.ts) and names it on the link. */
export const technicianNameSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits and _ . @ - only');

export const linkEventSchema = z
  .object({
    seq: seqSchema,
    stream: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/),
    type: z.string().min(1).max(64),
    entityId: z.string().max(256).nullable(),
    /** The event's payload as a JSON value (the edge stores it as JSON text). */
    payload: z.unknown(),
    ts: msSchema,
    clockSynced: z.boolean(),
    bootId: z.string().min(1).max(64),
  })
  .strict();
export type LinkEvent = z.infer<typeof linkEventSchema>;

export const batchSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    /** The edge store's id: seq restarts when a corrupt store is replaced, so the cloud keys on (roomId, storeId, seq). */
    storeId: z.string().min(1).max(64),
    batchId: z.string().min(1).max(64),
    firstSeq: seqSchema,
    lastSeq: seqSchema,
    events: z.array(linkEventSchema).min(1).max(MAX_BATCH_EVENTS),
    /** The edge's wall clock when this copy was (re)sent: a resend is stamped again (clock-skew estimate, sync/cloud/clock.ts). */
    sentAt: msSchema,
    /** Whether the edge's clock was synchronised at sentAt, and its boot id (optional: older edges send neither). */
    clockSynced: z.boolean().optional(),
    bootId: z.string().min(1).max(64).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.events[0]?.seq !== b.firstSeq) ctx.addIssue({ code: 'custom', path: ['firstSeq'], message: 'must equal the first event seq' });
    if (b.events[b.events.length - 1]?.seq !== b.lastSeq) ctx.addIssue({ code: 'custom', path: ['lastSeq'], message: 'must equal the last event seq' });
    for (let i = 1; i < b.events.length; i++) {
      if (b.events[i]!.seq <= b.events[i - 1]!.seq) {
        ctx.addIssue({ code: 'custom', path: ['events', i, 'seq'], message: 'seqs must be strictly ascending' });
        break;
      }
    }
  });
export type Batch = z.infer<typeof batchSchema>;

export const ackSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    storeId: z.string().min(1).max(64),
    /** Highest seq such that the cloud holds every seq from 1 to it for (roomId, storeId). */
    ackedSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    ts: msSchema,
  })
  .strict();
export type Ack = z.infer<typeof ackSchema>;

export const statusSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    state: z.enum(['online', 'offline']),
    /** Absent in the last will (set at connect time, sent by the broker later). */
    ts: msSchema.optional(),
    storeId: z.string().max(64).optional(),
  })
  .strict();
export type Status = z.infer<typeof statusSchema>;

export const telemetrySchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    deviceId: linkIdSchema,
    /** The device's state as the supervisor publishes it on the local bus. */
    state: z.unknown(),
    ts: msSchema,
  })
  .strict();
export type Telemetry = z.infer<typeof telemetrySchema>;

// --- Technicians' remote commands (docs/sync.md, "Technicians' remote commands") ---

/** A command message is small (its args); a result may carry a device list or log lines. */
export const MAX_COMMAND_BYTES = 64 * 1024;
export const MAX_COMMAND_RESULT_BYTES = 256 * 1024;
/** Decode limits of the two messages (applied to the received and the inflated size). */
export const COMMAND_LIMITS = { maxCompressedBytes: MAX_COMMAND_BYTES, maxDecompressedBytes: MAX_COMMAND_BYTES } as const;
export const COMMAND_RESULT_LIMITS = { maxCompressedBytes: MAX_COMMAND_RESULT_BYTES, maxDecompressedBytes: MAX_COMMAND_RESULT_BYTES } as const;

/** Command names: `devices.list`, `device.command`, ... (dotted lower-case words). */
export const commandNameSchema = z.string().min(1).max(64).regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/, 'dotted lower-case words, e.g. device.command');
export const COMMAND_ROLES = ['technician', 'admin'] as const;
export type CommandRole = (typeof COMMAND_ROLES)[number];
const commandIdSchema = z.uuid();

export const remoteCommandSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    /** Random UUID: the edge executes a command id at most once. */
    id: commandIdSchema,
    issuedBy: z
      .object({
        technician: technicianNameSchema,
        role: z.enum(COMMAND_ROLES),
      })
      .strict(),
    issuedAt: msSchema,
    /** Cloud wall-clock ms after which the edge must not execute it (status `expired`). */
    expiresAt: msSchema,
    command: commandNameSchema,
    args: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .refine((c) => c.expiresAt >= c.issuedAt, { path: ['expiresAt'], message: 'must not be before issuedAt' });
export type RemoteCommand = z.infer<typeof remoteCommandSchema>;

/**
 * A technician acknowledged one of the room's alerts in the cloud (sync/cloud/alerts.ts), sent
 * down so that the room can tell its teacher (a help request: "a technician has seen it").
 * QoS 1, not retained: a room that is offline gets it from its session when it returns.
 */
export const alertAckMessageSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    alertId: z.string().min(1).max(64),
    /** The acknowledged alert's code (e.g. `help-request`), so the room need not remember its alerts. */
    code: z.string().min(1).max(64),
    technician: technicianNameSchema,
    ackedAt: msSchema,
  })
  .strict();
export type AlertAckMessage = z.infer<typeof alertAckMessageSchema>;

export const COMMAND_STATUSES = ['ok', 'error', 'expired', 'rejected'] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export const commandErrorSchema = z.object({ code: z.string().min(1).max(64), message: z.string().max(2000) }).strict();

export const commandResultSchema = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    roomId: linkIdSchema,
    id: commandIdSchema,
    /** ok: done; error: ran and failed; expired: arrived after expiresAt, not run; rejected: refused by the edge, not run. */
    status: z.enum(COMMAND_STATUSES),
    result: z.unknown().optional(),
    error: commandErrorSchema.optional(),
    startedAt: msSchema,
    finishedAt: msSchema,
  })
  .strict()
  .refine((r) => r.status === 'ok' || r.error !== undefined, { path: ['error'], message: 'a result that is not ok says why' });
export type CommandResultMessage = z.infer<typeof commandResultSchema>;

export const districtTopics = (roomId: string) => {
  const r = `${TOPIC_ROOT}${roomId}/`;
  return {
    events: `${r}up/events`,
    ack: `${r}down/ack`,
    receipts: `${r}down/receipts`,
    status: `${r}up/status`,
    telemetry: (deviceId: string) => `${r}up/telemetry/${deviceId}`,
    commands: `${r}down/commands`,
    commandResults: `${r}up/command-results`,
    alertAcks: `${r}down/alert-acks`,
  };
};

/** Subscriptions of the cloud (with `$share/{group}/` in front of `events` for shared ingest). */
export const CLOUD_SUBSCRIPTIONS = {
  events: `${TOPIC_ROOT}+/up/events`,
  status: `${TOPIC_ROOT}+/up/status`,
  telemetry: `${TOPIC_ROOT}+/up/telemetry/+`,
  commandResults: `${TOPIC_ROOT}+/up/command-results`,
};

export type DistrictTopic =
  | { kind: 'events' | 'ack' | 'status' | 'receipts' | 'commands' | 'command-results' | 'alert-acks'; roomId: string }
  | { kind: 'telemetry'; roomId: string; deviceId: string };

/** Parses a district topic; null for anything else (or an id that is not a valid link id). */
export function parseDistrictTopic(topic: string): DistrictTopic | null {
  if (!topic.startsWith(TOPIC_ROOT)) return null;
  const parts = topic.slice(TOPIC_ROOT.length).split('/');
  const [roomId, dir, what, deviceId, ...more] = parts;
  if (!roomId || !linkIdSchema.safeParse(roomId).success || more.length > 0) return null;
  if (dir === 'up' && what === 'events' && deviceId === undefined) return { kind: 'events', roomId };
  if (dir === 'up' && what === 'status' && deviceId === undefined) return { kind: 'status', roomId };
  if (dir === 'down' && what === 'ack' && deviceId === undefined) return { kind: 'ack', roomId };
  if (dir === 'down' && what === 'receipts' && deviceId === undefined) return { kind: 'receipts', roomId };
  if (dir === 'down' && what === 'commands' && deviceId === undefined) return { kind: 'commands', roomId };
  if (dir === 'down' && what === 'alert-acks' && deviceId === undefined) return { kind: 'alert-acks', roomId };
  if (dir === 'up' && what === 'command-results' && deviceId === undefined) return { kind: 'command-results', roomId };
  if (dir === 'up' && what === 'telemetry' && deviceId !== undefined && linkIdSchema.safeParse(deviceId).success) {
    return { kind: 'telemetry', roomId, deviceId };
  }
  return null;
}

export type ProtocolErrorCode = 'too-large' | 'bad-gzip' | 'not-json' | 'invalid';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export type Decoded<T> = { ok: true; value: T; compressed: boolean; bytes: number } | { ok: false; error: ProtocolError };

export interface DecodeLimits {
  maxCompressedBytes?: number;
  maxDecompressedBytes?: number;
}

/** JSON, gzipped when the JSON is above GZIP_THRESHOLD_BYTES and gzip makes it smaller. */
export function encodeMessage(msg: object, opts: { gzipThreshold?: number } = {}): Buffer {
  const json = Buffer.from(JSON.stringify(msg), 'utf8');
  if (json.length <= (opts.gzipThreshold ?? GZIP_THRESHOLD_BYTES)) return json;
  const gz = gzipSync(json);
  return gz.length < json.length ? gz : json;
}

function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

function firstNonSpace(buf: Uint8Array): number | undefined {
  for (const b of buf) if (b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return b;
  return undefined;
}

/** Decodes and validates one message; never throws. */
export function decodeMessage<T>(schema: z.ZodType<T>, payload: Uint8Array, limits: DecodeLimits = {}): Decoded<T> {
  const maxIn = limits.maxCompressedBytes ?? MAX_COMPRESSED_BYTES;
  const maxOut = limits.maxDecompressedBytes ?? MAX_DECOMPRESSED_BYTES;
  if (payload.length > maxIn) {
    return { ok: false, error: new ProtocolError('too-large', `message of ${payload.length} bytes exceeds the limit of ${maxIn}`) };
  }
  let text: Buffer = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const compressed = isGzip(payload);
  if (compressed) {
    try {
      text = gunzipSync(text, { maxOutputLength: maxOut });
    } catch (e) {
      const tooBig = (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
      return {
        ok: false,
        error: tooBig
          ? new ProtocolError('too-large', `gzip message inflates beyond the limit of ${maxOut} bytes`)
          : new ProtocolError('bad-gzip', `cannot gunzip: ${e instanceof Error ? e.message : String(e)}`),
      };
    }
  } else if (payload.length > maxOut) {
    return { ok: false, error: new ProtocolError('too-large', `message of ${payload.length} bytes exceeds the limit of ${maxOut}`) };
  }
  if (firstNonSpace(text) !== 0x7b /* '{' */) {
    return { ok: false, error: new ProtocolError('not-json', 'neither gzip (1F 8B) nor a JSON object ({)') };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.toString('utf8'));
  } catch (e) {
    return { ok: false, error: new ProtocolError('not-json', `invalid JSON: ${e instanceof Error ? e.message : String(e)}`) };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return { ok: false, error: new ProtocolError('invalid', detail) };
  }
  return { ok: true, value: parsed.data, compressed, bytes: payload.length };
}
