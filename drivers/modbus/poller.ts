/**
 * Polling shared by the Modbus drivers (modbus-rtu, modbus-tcp, and the
 * status reads of modbus-relay): the register-map options, reachability
 * (online / offline, logged once each way, after shared/STYLE.md pattern 9),
 * the poll loop, and the sensor driver built from them (ModbusSensorDriver).
 * Reading the map in blocks, around registers the unit refuses, is
 * ./register-reader.ts. The link (RTU or MBAP framing) is a ModbusClient
 * (./client.ts).
 */
import { z } from 'zod';
import { numeric, status, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import type { ModbusClient } from './client.js';
import { RegisterReader, type MetricError } from './register-reader.js';
import { PROFILE_NAMES, PROFILES, registerSpecSchema, type ProfileName, type ReadBlock, type RegisterSpec } from './registers.js';

export { isGatewayFailure, metricErrorKey, type MetricError } from './register-reader.js';

/** Options every polling Modbus sensor driver takes (each driver adds its link options). */
export const registerMapShape = {
  pollSeconds: z.number().min(1).max(86_400).default(30),
  /** Extra attempts after a timeout. */
  retries: z.number().int().min(0).max(10).default(2),
  /** Consecutive failed polls before the unit is reported offline. */
  offlineAfter: z.number().int().min(1).max(20).default(2),
  /** A register the unit refuses is left out of the block reads and tried alone again this often (register-reader.ts). */
  refusedRetrySeconds: z.number().min(1).max(86_400).default(60),
  /** A shipped register map (e.g. 'xy-md02'). */
  profile: z.enum(PROFILE_NAMES).optional(),
  /** Registers to read; with a profile, these add to it (same metric: this entry wins). */
  registers: z.array(registerSpecSchema).min(1).max(200).optional(),
};

export interface RegisterMapOptions {
  profile?: ProfileName | undefined;
  registers?: RegisterSpec[] | undefined;
}

/** Refinement: a register map is given (use with `.refine(hasRegisterMap, hasRegisterMapMessage)`). */
export const hasRegisterMap = (o: RegisterMapOptions): boolean => o.profile !== undefined || o.registers !== undefined;
export const hasRegisterMapMessage = { message: 'give a register map: "profile", "registers", or both' };
/** Refinement: metrics are unique in `registers`. */
export const uniqueMetrics = (o: RegisterMapOptions): boolean => new Set((o.registers ?? []).map((r) => r.metric)).size === (o.registers ?? []).length;
export const uniqueMetricsMessage = { message: 'each metric may appear only once in "registers"', path: ['registers'] };

/** The register list an options object stands for: profile first, explicit registers override by metric. */
export function resolveRegisters(options: RegisterMapOptions): RegisterSpec[] {
  const byMetric = new Map<string, RegisterSpec>();
  for (const r of options.profile ? PROFILES[options.profile] : []) byMetric.set(r.metric, { ...r });
  for (const r of options.registers ?? []) byMetric.set(r.metric, r);
  return [...byMetric.values()];
}

/** One numeric capability per register, and refresh. */
export function registerCapabilities(options: RegisterMapOptions): Capability[] {
  return [...resolveRegisters(options).map((r) => numeric(r.metric, r.unit)), status()];
}

/**
 * Online/offline tracking: online on the first answer, offline after
 * `offlineAfter` consecutive polls without any answer or at once when the
 * link goes down. Each transition is logged once and emitted as `online`.
 */
export class Reachability {
  private online: boolean | null = null;
  private failures = 0;

  constructor(
    private readonly emitter: DriverEmitter,
    private readonly log: Logger,
    private readonly offlineAfter: number,
  ) {}

  get isOnline(): boolean {
    return this.online === true;
  }

  /** The unit answered (a reply or an exception). */
  success(): void {
    this.failures = 0;
    this.set(true);
  }

  /** A poll got no answer at all. */
  failure(reason: string): void {
    this.failures++;
    if (this.failures >= this.offlineAfter) this.set(false, reason);
  }

  /** The link is gone: offline now. */
  down(reason: string): void {
    this.failures = 0;
    this.set(false, reason);
  }

  /** Forget the state (driver closed): the next transition is reported afresh. */
  reset(): void {
    this.failures = 0;
    this.online = null;
  }

  private set(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('unit reachable');
    else this.log.warn({ reason }, 'unit unreachable');
    this.emitter.emit('online', online, reason);
  }
}

/**
 * Runs `poll` every period and on demand, never twice at once (a poll still
 * running when the next is due is not doubled). Errors are logged at debug:
 * the poll itself reports reachability.
 */
export class PollLoop {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running = false;

  constructor(
    private readonly poll: () => Promise<unknown>,
    private readonly log: Logger,
  ) {}

  start(periodMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.now(), periodMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Poll now unless a poll is running. */
  async now(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await this.poll();
    } catch (e) {
      this.log.debug({ err: e }, 'poll failed');
    } finally {
      this.running = false;
    }
  }
}

export interface SensorDriverOptions extends RegisterMapOptions {
  pollSeconds: number;
  offlineAfter: number;
  refusedRetrySeconds: number;
}

export interface SensorDriverInit {
  /** Config driver name, for errors ("modbus-tcp has no command ..."). */
  driver: string;
  device: string;
  transport: ByteTransport;
  options: SensorDriverOptions;
  clock: Clock;
  log: Logger;
  /** False when the transport is shared and the supervisor stops it. */
  ownsTransport: boolean;
  /** Build the link; `onMalformed` reports undecodable bytes. */
  client: (onMalformed: (detail: string) => void) => ModbusClient;
}

/**
 * A polling Modbus sensor (modbus-rtu, modbus-tcp): polls the register plan
 * every `pollSeconds` and when the link comes up; `refresh` reads at once.
 */
export class ModbusSensorDriver extends DriverEmitter implements DeviceDriver {
  protected readonly device: string;
  protected readonly log: Logger;
  private readonly driverName: string;
  private readonly transport: ByteTransport;
  private readonly opts: SensorDriverOptions;
  private readonly ownsTransport: boolean;
  private readonly client: ModbusClient;
  private readonly reach: Reachability;
  private readonly reader: RegisterReader;
  private readonly loop: PollLoop;
  private opened = false;

  constructor(init: SensorDriverInit) {
    super();
    this.driverName = init.driver;
    this.device = init.device;
    this.transport = init.transport;
    this.opts = init.options;
    this.log = init.log;
    this.ownsTransport = init.ownsTransport;
    this.client = init.client((d) => this.malformed(d));
    this.reach = new Reachability(this, this.log, this.opts.offlineAfter);
    this.reader = new RegisterReader({
      device: this.device,
      client: this.client,
      specs: resolveRegisters(this.opts),
      emitter: this,
      reachability: this.reach,
      clock: init.clock,
      log: this.log,
      retryRefusedMs: this.opts.refusedRetrySeconds * 1000,
    });
    this.loop = new PollLoop(() => this.poll(), this.log);
  }

  /** The block reads one poll makes (for diagnostics and tests); refused registers are left out. */
  get readPlan(): readonly ReadBlock[] {
    return this.reader.readPlan;
  }

  /**
   * The registers the unit refuses, by metric (address in hex, function,
   * exception code and its §7 name, since, failures, message). Also in the
   * device state as `error:<metric>` (register-reader.ts, metricErrorKey).
   * Kept across close/open, so a state key set before is cleared on recovery.
   */
  get metricErrors(): Record<string, MetricError> {
    return this.reader.metricErrors;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    this.client.attach();
    this.loop.start(this.opts.pollSeconds * 1000);
    attachTransport(this.transport, { up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    this.loop.stop();
    detachTransport(this.transport, { up: this.onUp, down: this.onDown });
    this.client.detach();
    this.reach.reset();
    if (this.ownsTransport) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    if (command !== 'refresh') throw new DeviceError('unsupported', this.device, command, `${this.driverName} has no command "${command}"`);
    if (Object.keys(args).length > 0) throw new DeviceError('invalid-args', this.device, command, 'refresh takes no arguments');
    return this.reader.read('refresh');
  }

  private async poll(): Promise<void> {
    if (!this.opened || !this.transport.isUp) return;
    await this.reader.read('poll');
  }

  private readonly onUp = (): void => {
    void this.loop.now();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.client.linkDown();
    this.reach.down(`transport down${error ? `: ${error.message}` : ''}`);
  };

  private malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed bytes on the line');
    this.emit('malformed', detail);
  }
}
