/**
 * Modbus RTU sensor driver (`modbus-rtu`).
 *
 * Follows the MODBUS Application Protocol Specification V1.1b3 (FC03/FC04
 * reads, exception responses §7) and MODBUS over Serial Line Specification
 * V1.02 (RTU framing, t3.5 silence, CRC-16). Bytes are framed by
 * drivers/modbus/framer.ts, encoded by drivers/modbus/codec.ts, decoded into
 * engineering values by drivers/modbus/registers.ts; this layer polls the
 * configured registers, emits readings and state, and tracks reachability.
 *
 * A request that gets no reply is retried (a server such as pymodbus drops a
 * request that arrives behind line noise without answering). Exception
 * replies are not retried: the unit answered, it refuses.
 *
 * Several units may share one RS-485 line: give their drivers the same
 * transport and the same `busLock` (createModbusRtuDriver's extras); each
 * driver only parses bytes while its own request is in flight.
 */
import { z } from 'zod';
import { numeric, status, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import type { ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Waitress } from '../util/waitress.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { decodeResponse, encodeRequest, ModbusExceptionError, type ModbusRequest, type ModbusResponse } from '../modbus/codec.js';
import { expectationFor, RtuResponseFramer, rtuSilenceMs } from '../modbus/framer.js';
import { decodeRegister, planReads, PROFILE_NAMES, PROFILES, registerSpecSchema, type ReadBlock, type RegisterSpec } from '../modbus/registers.js';

export const modbusRtuOptionsSchema = z
  .object({
    /** Server (slave) address on the line, 1..247. */
    unitId: z.number().int().min(1).max(247),
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Time to wait for a reply, per attempt. */
    timeoutMs: z.number().int().min(20).max(60_000).default(500),
    /** Extra attempts after a timeout. */
    retries: z.number().int().min(0).max(10).default(2),
    /** Consecutive failed polls before the unit is reported offline. */
    offlineAfter: z.number().int().min(1).max(20).default(2),
    /** A shipped register map (e.g. 'xy-md02'). */
    profile: z.enum(PROFILE_NAMES).optional(),
    /** Registers to read; with a profile, these add to it (same metric: this entry wins). */
    registers: z.array(registerSpecSchema).min(1).max(200).optional(),
    /** Line speed, used only for the t3.5 silence; default: taken from the transport description, else 9600. */
    baudRate: z.number().int().min(300).max(4_000_000).optional(),
    /** Override the inter-frame silence (ms) instead of t3.5 at baudRate. */
    interFrameMs: z.number().positive().max(1000).optional(),
  })
  .strict()
  .refine((o) => o.profile !== undefined || o.registers !== undefined, {
    message: 'give a register map: "profile", "registers", or both',
  })
  .refine((o) => new Set((o.registers ?? []).map((r) => r.metric)).size === (o.registers ?? []).length, {
    message: 'each metric may appear only once in "registers"',
    path: ['registers'],
  });
export type ModbusRtuOptions = z.infer<typeof modbusRtuOptionsSchema>;

/** The register list an options object stands for: profile first, explicit registers override by metric. */
export function resolveRegisters(options: Pick<ModbusRtuOptions, 'profile' | 'registers'>): RegisterSpec[] {
  const byMetric = new Map<string, RegisterSpec>();
  for (const r of options.profile ? PROFILES[options.profile] : []) byMetric.set(r.metric, { ...r });
  for (const r of options.registers ?? []) byMetric.set(r.metric, r);
  return [...byMetric.values()];
}

export function modbusRtuCapabilities(options: ModbusRtuOptions): Capability[] {
  return [...resolveRegisters(options).map((r) => numeric(r.metric, r.unit)), status()];
}

export interface ModbusRtuDriverExtras {
  /** Lock shared by all drivers on one RS-485 line; default: a lock of its own. */
  busLock?: Mutex;
  /** False when the transport is shared and someone else stops it (default true). */
  ownsTransport?: boolean;
}

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ModbusRtuDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: ModbusRtuOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lock: Mutex;
  private readonly ownsTransport: boolean;
  private readonly waitress: Waitress<Buffer>;
  private readonly framer: RtuResponseFramer;
  private readonly silenceMs: number;
  private readonly registers: RegisterSpec[];
  private readonly plan: ReadBlock[];
  private online: boolean | null = null;
  private failures = 0;
  private lastRxAt = -Infinity;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;

  constructor(ctx: DriverContext<ModbusRtuOptions>, extras: ModbusRtuDriverExtras = {}) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: modbus-rtu needs a byte transport (serial)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:modbus', device: ctx.deviceId, unit: ctx.options.unitId });
    this.lock = extras.busLock ?? new Mutex();
    this.ownsTransport = extras.ownsTransport ?? true;
    this.waitress = new Waitress<Buffer>(ctx.deviceId);
    const baud = this.opts.baudRate ?? baudFromDescription(this.transport.description) ?? 9600;
    this.silenceMs = this.opts.interFrameMs ?? rtuSilenceMs(baud);
    this.framer = new RtuResponseFramer({ silenceMs: this.silenceMs, now: () => this.clock.monotonic() });
    this.registers = resolveRegisters(this.opts);
    this.plan = planReads(this.registers);
  }

  /** The read requests one poll makes (for diagnostics and tests). */
  get readPlan(): readonly ReadBlock[] {
    return this.plan;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    this.transport.on('data', this.onData);
    this.transport.on('up', this.onUp);
    this.transport.on('down', this.onDown);
    this.pollTimer = setInterval(() => void this.poll(), this.opts.pollSeconds * 1000);
    this.pollTimer.unref?.();
    this.transport.start();
    if (this.transport.isUp) this.onUp();
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    clearInterval(this.pollTimer);
    this.transport.off('data', this.onData);
    this.transport.off('up', this.onUp);
    this.transport.off('down', this.onDown);
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.framer.clear();
    if (this.ownsTransport) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    if (command !== 'refresh') throw new DeviceError('unsupported', this.device, command, `modbus-rtu has no command "${command}"`);
    if (Object.keys(args).length > 0) throw new DeviceError('invalid-args', this.device, command, 'refresh takes no arguments');
    return this.readAll('refresh');
  }

  /** Read every block; emit readings and one state patch; reject only if nothing could be read. */
  private async readAll(command: string): Promise<StatePatch> {
    const patch: StatePatch = {};
    let firstError: unknown;
    let answered = false;
    for (const block of this.plan) {
      try {
        const res = await this.request(command, block.request);
        answered = true;
        if (res.fc !== 3 && res.fc !== 4) throw new DeviceError('protocol', this.device, command, 'read answered by a write reply');
        const ts = this.clock.now();
        for (const { spec, index } of block.items) {
          const value = decodeRegister(spec, res.registers.slice(index, index + 2));
          patch[spec.metric] = value;
          this.emit('reading', { metric: spec.metric, value, unit: spec.unit, ts });
        }
      } catch (e) {
        if (e instanceof ModbusExceptionError) {
          answered = true;
          this.log.warn({ err: e.message, block: block.request }, 'unit refused a read');
        }
        firstError ??= e;
      }
    }
    if (answered) this.noteSuccess();
    else if (firstError instanceof DeviceTimeoutError) this.noteFailure(firstError.message);
    if (Object.keys(patch).length > 0) this.emit('state', patch);
    if (Object.keys(patch).length === 0 && firstError !== undefined) throw firstError;
    return patch;
  }

  /** One request/reply under the line lock, retried after timeouts. */
  private async request(command: string, req: ModbusRequest): Promise<ModbusResponse> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      const adu = encodeRequest(this.opts.unitId, req);
      for (let attempt = 0; ; attempt++) {
        if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
        await this.waitForSilence();
        this.framer.expect(expectationFor(this.opts.unitId, req));
        const wait = this.waitress.waitFor(() => true, { command, timeoutMs: this.opts.timeoutMs });
        wait.promise.catch(noop); // awaited below unless the write fails first
        let frame: Buffer;
        try {
          await this.transport.write(adu).catch(() => {
            throw new DeviceOfflineError(this.device, command);
          });
          frame = await wait.promise;
        } catch (e) {
          wait.cancel();
          this.framer.clear();
          if (e instanceof DeviceTimeoutError && attempt < this.opts.retries) {
            this.log.debug({ command, attempt, fc: req.fc, address: req.address }, 'no reply, retrying');
            continue;
          }
          throw e;
        }
        const decoded = decodeResponse(this.opts.unitId, req, frame);
        if (!decoded.ok) {
          this.malformed(decoded.error);
          throw new DeviceError('protocol', this.device, command, decoded.error);
        }
        const reply = decoded.value;
        if (!reply.ok) throw new ModbusExceptionError(this.device, command, reply.fc, reply.exception);
        return reply.response;
      }
    });
  }

  /** Keep the t3.5 inter-frame gap after the last byte received before talking again. */
  private async waitForSilence(): Promise<void> {
    const left = this.lastRxAt + this.silenceMs - this.clock.monotonic();
    if (left > 0) await sleep(Math.ceil(left));
  }

  private async poll(): Promise<void> {
    if (!this.opened || this.polling || !this.transport.isUp) return;
    this.polling = true;
    try {
      await this.readAll('poll');
    } catch (e) {
      this.log.debug({ err: e }, 'poll failed');
    } finally {
      this.polling = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    if (!this.framer.expecting) return; // not our turn on the line
    this.lastRxAt = this.clock.monotonic();
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.malformed(e);
    for (const frame of out.frames) this.waitress.resolve(frame);
  };

  private readonly onUp = (): void => {
    void this.poll();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.clear();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.failures = 0;
    this.setOnline(false, `transport down${error ? `: ${error.message}` : ''}`);
  };

  private noteFailure(reason: string): void {
    this.failures++;
    if (this.failures >= this.opts.offlineAfter) this.setOnline(false, reason);
  }

  private noteSuccess(): void {
    this.failures = 0;
    this.setOnline(true);
  }

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('unit reachable');
    else this.log.warn({ reason }, 'unit unreachable');
    this.emit('online', online, reason);
  }

  private malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed bytes on the line');
    this.emit('malformed', detail);
  }
}

/** "serial /dev/ttyUSB0@9600" -> 9600. */
function baudFromDescription(description: string): number | undefined {
  const m = /@(\d{3,7})\b/.exec(description);
  return m ? Number(m[1]) : undefined;
}

export function createModbusRtuDriver(ctx: DriverContext<ModbusRtuOptions>, extras: ModbusRtuDriverExtras = {}): ModbusRtuDriver {
  return new ModbusRtuDriver(ctx, extras);
}

export const modbusRtuDriver: DriverDefinition<ModbusRtuOptions> = {
  driver: 'modbus-rtu',
  kinds: ['sensor'],
  transports: ['serial', 'sim'],
  multidrop: true,
  summary: 'Modbus RTU sensors, FC03/FC04 polling (Modbus Application Protocol V1.1b3, Modbus over Serial Line V1.02)',
  optionsSchema: modbusRtuOptionsSchema,
  capabilities: (options) => modbusRtuCapabilities(options),
  create: (ctx) => new ModbusRtuDriver(ctx, { busLock: ctx.line?.lock, ownsTransport: !ctx.line?.shared }),
};
