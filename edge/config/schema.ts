/**
 * The configuration file's schema (shared/DESIGN.md section 5): one YAML
 * file, validated here. Every field is documented in docs/config.md.
 * Driver options are validated in a second pass by each driver's own schema
 * (see validate.ts), so errors still name the full path.
 */
import { z } from 'zod';
import { idSchema } from '../schemas/bus.js';
import { recordingSchema } from './recording-schema.js';

const host = z.string().min(1).max(253);
const port = z.number().int().min(0).max(65535);

export const serialTransportSchema = z
  .object({
    type: z.literal('serial'),
    /** Prefer stable /dev/serial/by-id/... names (`classroom-edge ports` lists them). */
    path: z.string().min(1),
    baudRate: z.number().int().positive().default(9600),
    dataBits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
  })
  .strict();

export const tcpTransportSchema = z.object({ type: z.literal('tcp'), host, port: port.min(1) }).strict();
export const udpTransportSchema = z
  .object({
    type: z.literal('udp'),
    host,
    port: port.min(1),
    /** Local port to bind (some cameras answer only to a fixed port); default: any. */
    bindPort: port.optional(),
  })
  .strict();
export const gpioTransportSchema = z
  .object({
    type: z.literal('gpio'),
    chip: z.string().min(1).default('gpiochip0'),
    line: z.number().int().min(0).max(1023),
    /** auto: the character device (gpiod tools) where the kernel has it, else sysfs (onoff); fake: simulated lines (demo, tests). */
    backend: z.enum(['auto', 'chardev', 'onoff', 'fake']).default('auto'),
  })
  .strict();
/** A simulated device of the demo room: the real driver talks to a device-side simulator over an in-memory pair. */
export const simTransportSchema = z
  .object({
    type: z.literal('sim'),
    /** Simulator settings (initial state, demo behaviour); see docs/config.md. */
    settings: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const transportSchema = z.discriminatedUnion('type', [
  serialTransportSchema,
  tcpTransportSchema,
  udpTransportSchema,
  gpioTransportSchema,
  simTransportSchema,
]);
export type TransportConfig = z.infer<typeof transportSchema>;

export const deviceKindSchema = z.enum(['display', 'projector', 'camera', 'sensor', 'card-reader', 'relay', 'input']);

export const deviceSchema = z
  .object({
    id: idSchema,
    /** Display name shown in the kiosk (e.g. 交互平板). */
    name: z.string().max(64).optional(),
    kind: deviceKindSchema,
    driver: z.string().min(1),
    transport: transportSchema,
    options: z.record(z.string(), z.unknown()).default({}),
    /** Per-command timeout of the supervisor, on top of the driver's own retries. */
    commandTimeoutMs: z.number().int().min(100).max(120_000).default(15_000),
  })
  .strict();
export type DeviceConfig = z.infer<typeof deviceSchema>;

export const sceneStepSchema = z
  .object({
    device: idSchema,
    command: z.string().min(1),
    args: z.record(z.string(), z.unknown()).default({}),
    /** Continue with the next step when this one fails (default true: one dead projector must not stop the lights). */
    continueOnError: z.boolean().default(true),
  })
  .strict();

export const brokerUserSchema = z
  .object({
    username: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits and _ . @ - only'),
    role: z.enum(['technician', 'teacher', 'device', 'integrator', 'cloud']),
    deviceId: idSchema.optional(),
    publish: z.array(z.enum(['card', 'behaviour'])).optional(),
    passwordHash: z.string().startsWith('scrypt$', 'must be a scrypt hash made by `classroom-edge hash-password`').optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((u, ctx) => {
    if ((u.passwordHash === undefined) === (u.passwordFile === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of passwordHash or passwordFile', path: ['passwordFile'] });
    }
    if (u.role === 'device' && !u.deviceId) {
      ctx.addIssue({ code: 'custom', message: 'a device user needs the deviceId whose subtree it may publish', path: ['deviceId'] });
    }
  });
export type BrokerUserConfig = z.infer<typeof brokerUserSchema>;

const bindList = z.array(host).min(1);

const KIOSK_DEFAULTS = { idleLockSeconds: 180, pins: [], ventilation: { co2Ppm: 1000, pm25: 75 }, recordingControl: true };
export const kioskSchema = z
  .object({
    /** The kiosk's controls lock after this long without a touch. */
    idleLockSeconds: z.number().int().min(15).max(3600).default(KIOSK_DEFAULTS.idleLockSeconds),
    /** Teachers' unlock PINs, as scrypt hashes (`classroom-edge hash-password`); a teacher's card tap unlocks too. */
    pins: z
      .array(z.object({ teacherId: idSchema, pinHash: z.string().startsWith('scrypt$', 'must be a scrypt hash made by `classroom-edge hash-password`') }).strict())
      .default([]),
    /** Above either value the kiosk asks to ventilate the room. */
    ventilation: z
      .object({ co2Ppm: z.number().positive().default(1000), pm25: z.number().positive().default(75) })
      .strict()
      .default(KIOSK_DEFAULTS.ventilation),
    /** Recording start/stop buttons on the kiosk (shown only when the room has recording sources). */
    recordingControl: z.boolean().default(KIOSK_DEFAULTS.recordingControl),
  })
  .strict()
  .default(KIOSK_DEFAULTS);
export type KioskConfig = z.infer<typeof kioskSchema>;

const DEFAULT_BEHAVIOUR_CATEGORIES = [
  { id: 'answer', label: '积极回答', kind: 'praise' as const, points: 1 },
  { id: 'teamwork', label: '团队合作', kind: 'praise' as const, points: 1 },
  { id: 'focus', label: '专注认真', kind: 'praise' as const, points: 1 },
  { id: 'distracted', label: '注意力不集中', kind: 'remark' as const, points: -1 },
  { id: 'late-homework', label: '未交作业', kind: 'remark' as const, points: -1 },
];

export const configSchema = z
  .object({
    version: z.literal(1),
    room: z
      .object({
        id: idSchema,
        name: z.string().min(1).max(64),
        school: idSchema.optional(),
        timezone: z
          .string()
          .default('Asia/Shanghai')
          .refine((tz) => {
            try {
              new Intl.DateTimeFormat('en', { timeZone: tz });
              return true;
            } catch {
              return false;
            }
          }, 'unknown IANA time zone'),
      })
      .strict(),
    dataDir: z.string().min(1),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).strict().default({ level: 'info' }),
    broker: z
      .object({
        port: port.default(1883),
        websocketPort: port.default(8083),
        bind: bindList.default(['127.0.0.1']),
        users: z.array(brokerUserSchema).default([]),
        maxPayloadBytes: z.number().int().min(256).max(1_048_576).default(16_384),
      })
      .strict(),
    api: z
      .object({
        port: port.default(8080),
        /** One address (the kiosk is on loopback; use 0.0.0.0 to let technicians in over the LAN). */
        host: host.default('127.0.0.1'),
      })
      .strict()
      .default({ port: 8080, host: '127.0.0.1' }),
    store: z
      .object({
        flushIntervalMs: z.number().int().min(0).max(1000).default(4),
        maxBatch: z.number().int().min(1).max(10_000).default(256),
      })
      .strict()
      .default({ flushIntervalMs: 4, maxBatch: 256 }),
    lessons: z
      .object({
        /** Run the class-start/class-end scenes at lesson start/end. */
        autoScenes: z.boolean().default(true),
        attendance: z
          .object({
            /** The attendance window opens this many minutes before the lesson starts. */
            openBeforeMinutes: z.number().int().min(0).max(60).default(10),
            /** A tap after start + grace is "late". */
            graceMinutes: z.number().int().min(0).max(60).default(5),
            /** A teacher who has not tapped this long into a lesson raises an alert. */
            teacherMissingMinutes: z.number().int().min(1).max(60).default(10),
          })
          .strict()
          .default({ openBeforeMinutes: 10, graceMinutes: 5, teacherMissingMinutes: 10 }),
      })
      .strict()
      .default({ autoScenes: true, attendance: { openBeforeMinutes: 10, graceMinutes: 5, teacherMissingMinutes: 10 } }),
    behaviour: z
      .object({
        /** Praise/remark categories offered on the kiosk; points are taken from here, not from the publisher. */
        categories: z
          .array(
            z
              .object({
                id: idSchema,
                label: z.string().min(1).max(32),
                kind: z.enum(['praise', 'remark']),
                points: z.number().int().min(-10).max(10),
              })
              .strict(),
          )
          .default(DEFAULT_BEHAVIOUR_CATEGORIES),
      })
      .strict()
      .default({
        categories: DEFAULT_BEHAVIOUR_CATEGORIES,
      }),
    privacy: z
      .object({
        /** Synced personal records (attendance, behaviour, card taps) are deleted locally after this many days. */
        retentionDays: z.number().int().min(1).max(3650).default(30),
      })
      .strict()
      .default({ retentionDays: 30 }),
    /** The teacher's kiosk (docs/kiosk.md): idle lock, unlock PINs, ventilation thresholds. */
    kiosk: kioskSchema,
    /** Lesson recording and live pushes (docs/recording.md); absent: nothing is recorded. */
    recording: recordingSchema.optional(),
    devices: z.array(deviceSchema).default([]),
    scenes: z.record(idSchema, z.array(sceneStepSchema).min(1)).default({}),
    /** Configuration pushes (docs/config-push.md): how long changed devices have to come online before the push is rolled back. */
    configPush: z
      .object({ checkTimeoutMs: z.number().int().min(500).max(600_000).default(30_000) })
      .strict()
      .default({ checkTimeoutMs: 30_000 }),
    cloud: z
      .object({
        url: z.string().regex(/^mqtts?:\/\//, 'an mqtts:// (or mqtt:// for tests) URL'),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        caFile: z.string().optional(),
        username: z.string().optional(),
        passwordFile: z.string().optional(),
        /** Uplink batches: at most maxEvents per batch; a partial batch waits lingerMs for more events. */
        batch: z
          .object({
            maxEvents: z.number().int().min(1).max(10_000).default(500),
            lingerMs: z.number().int().min(0).max(60_000).default(200),
          })
          .strict()
          .default({ maxEvents: 500, lingerMs: 200 }),
        /** A batch not acknowledged within this time is sent again. */
        ackTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
        /** Batches sent and not yet acknowledged, at most. */
        maxInFlight: z.number().int().min(1).max(64).default(4),
        /**
         * The bounded outbox (docs/sync.md, "Outbox cap"): unacknowledged events and their payload bytes.
         * Absent: DEFAULT_OUTBOX_LIMITS (edge/store/outbox.ts), which hold a week of a busy room at full
         * resolution at about half the cap.
         */
        outbox: z
          .object({
            maxEvents: z.number().int().min(1000).max(50_000_000),
            maxBytes: z.number().int().min(1_000_000).max(16 * 1024 ** 3),
          })
          .strict()
          .optional(),
      })
      .strict()
      .superRefine((c, ctx) => {
        if ((c.certFile === undefined) !== (c.keyFile === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'give both certFile and keyFile (a TLS client certificate), or neither', path: ['keyFile'] });
        }
        if (c.passwordFile !== undefined && c.username === undefined) {
          ctx.addIssue({ code: 'custom', message: 'passwordFile needs a username', path: ['username'] });
        }
      })
      .optional(),
  })
  .strict();

export type EdgeConfig = z.infer<typeof configSchema>;
export type CloudConfig = NonNullable<EdgeConfig['cloud']>;
/** The config as written (before defaults). */
export type EdgeConfigInput = z.input<typeof configSchema>;
