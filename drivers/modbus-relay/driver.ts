/**
 * Modbus relay boards (`modbus-relay`): coil-driven relay modules on RS-485
 * (Modbus RTU) or Ethernet (Modbus TCP).
 *
 * Follows the MODBUS Application Protocol Specification V1.1b3: FC01 Read
 * Coils (§6.1) for status, FC05 Write Single Coil (§6.5: FF00 = on, 0000 =
 * off) and FC0F Write Multiple Coils (§6.11) to switch, exceptions (§7);
 * framing per MODBUS over Serial Line V1.02 (RTU, default) or the MODBUS
 * Messaging on TCP/IP Implementation Guide V1.0b (`framing: tcp`). The link
 * is the same RtuClient / MbapClient the sensor drivers use, so a board can
 * share an RS-485 line with Modbus sensors (`ctx.line`).
 *
 * One device = one board; its relays are named channels. State: one
 * `on.<channel>` boolean per channel, confirmed by the board (write echo) or
 * read back (FC01) every `pollSeconds` and on `refresh`. A pulse switches on,
 * answers at once, and switches off after `ms` from a timer of the driver
 * (relay boards have no standard timed-pulse function); a `set` on that
 * channel cancels the pending off. A failed off-switch is retried, since a
 * curtain motor must not stay powered; closing the driver switches pending
 * pulses off first.
 */
import { z } from 'zod';
import { status, type Capability } from '../capabilities.js';
import { switchedOutputs } from '../capabilities-extra.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceTimeoutError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import type { Logger } from '../../edge/util/logger.js';
import { ModbusExceptionError, type ModbusRequest } from '../modbus/codec.js';
import type { ModbusClient } from '../modbus/client.js';
import { rtuSilenceMs } from '../modbus/framer.js';
import { isGatewayFailure, PollLoop, Reachability } from '../modbus/poller.js';
import { baudFromDescription, RtuClient } from '../modbus/rtu-client.js';
import { MbapClient } from '../modbus-tcp/client.js';
import { channelList, planCoilReads, planCoilWrites, stateKey, type Channel } from './channels.js';

const channelName = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, "_" and "-" only');

export const modbusRelayOptionsSchema = z
  .object({
    /** RTU: the board's address 1..247; TCP: its unit id (255 for a direct device). */
    unitId: z.number().int().min(0).max(255),
    /** `{ name: coilAddress }`, or a count N (channels "1".."N" on coils 0..N-1). */
    channels: z.union([z.record(channelName, z.number().int().min(0).max(0xffff)), z.number().int().min(1).max(64)]),
    /** Default pulse length for `pulse` without `ms`. */
    pulseMs: z.number().int().min(10).max(60_000).optional(),
    /** Status read period (FC01). */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    framing: z.enum(['rtu', 'tcp']).default('rtu'),
    timeoutMs: z.number().int().min(20).max(60_000).default(500),
    retries: z.number().int().min(0).max(10).default(2),
    offlineAfter: z.number().int().min(1).max(20).default(2),
    /** RTU only: line speed for t3.5 (default from the transport description, else 9600). */
    baudRate: z.number().int().min(300).max(4_000_000).optional(),
    interFrameMs: z.number().positive().max(1000).optional(),
  })
  .strict()
  .refine((o) => o.framing === 'tcp' || (o.unitId >= 1 && o.unitId <= 247), { message: 'an RTU unit id is 1..247', path: ['unitId'] })
  .refine((o) => typeof o.channels === 'number' || Object.keys(o.channels).length > 0, { message: 'name at least one channel', path: ['channels'] })
  .refine((o) => typeof o.channels === 'number' || new Set(Object.values(o.channels)).size === Object.keys(o.channels).length, {
    message: 'two channels on the same coil',
    path: ['channels'],
  });
export type ModbusRelayOptions = z.infer<typeof modbusRelayOptionsSchema>;

export function modbusRelayCapabilities(options: ModbusRelayOptions): Capability[] {
  const names = channelList(options.channels).map((c) => c.name);
  return [switchedOutputs({ channels: names, ...(options.pulseMs !== undefined ? { pulseMs: options.pulseMs } : {}) }), status()];
}

const commandArgs = {
  set: z.object({ on: z.boolean(), channel: z.string().optional() }).strict(),
  pulse: z.object({ ms: z.number().int().min(10).max(60_000).optional(), channel: z.string().optional() }).strict(),
  refresh: z.object({}).strict(),
};

/** Off-switch attempts after a pulse, and the pause between them. */
const OFF_ATTEMPTS = 3;
const OFF_RETRY_MS = 1000;

export interface ModbusRelayDriverExtras {
  lock?: Mutex;
  ownsTransport?: boolean;
}

export class ModbusRelayDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: ModbusRelayOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly ownsTransport: boolean;
  private readonly client: ModbusClient;
  private readonly channels: Channel[];
  private readonly reach: Reachability;
  private readonly loop: PollLoop;
  /** Pending pulse ends by channel name. */
  private readonly pulses = new Map<string, ReturnType<typeof setTimeout>>();
  private opened = false;

  constructor(ctx: DriverContext<ModbusRelayOptions>, extras: ModbusRelayDriverExtras = {}) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: modbus-relay needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.log = ctx.logger.child({ ns: 'drv:modbus-relay', device: ctx.deviceId, unit: ctx.options.unitId });
    this.ownsTransport = extras.ownsTransport ?? !(ctx.line?.shared ?? false);
    this.channels = channelList(this.opts.channels);
    const common = {
      transport: this.transport,
      device: this.device,
      unitId: this.opts.unitId,
      timeoutMs: this.opts.timeoutMs,
      retries: this.opts.retries,
      lock: extras.lock ?? ctx.line?.lock ?? new Mutex(),
      clock: ctx.clock,
      log: this.log,
      onMalformed: (d: string) => this.malformed(d),
    };
    const baud = this.opts.baudRate ?? baudFromDescription(this.transport.description) ?? 9600;
    this.client =
      this.opts.framing === 'tcp' ? new MbapClient(common) : new RtuClient({ ...common, silenceMs: this.opts.interFrameMs ?? rtuSilenceMs(baud) });
    this.reach = new Reachability(this, this.log, this.opts.offlineAfter);
    this.loop = new PollLoop(() => this.poll(), this.log);
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
    const pulsing = this.channels.filter((c) => this.pulses.has(c.name));
    this.cancelPulses(pulsing);
    if (pulsing.length > 0 && this.transport.isUp) {
      await this.write('close', pulsing, false).catch((e: unknown) => this.log.error({ err: e }, 'could not end a pulse while closing'));
    }
    detachTransport(this.transport, { up: this.onUp, down: this.onDown });
    this.client.detach();
    this.reach.reset();
    if (this.ownsTransport) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    if (command !== 'set' && command !== 'pulse' && command !== 'refresh') {
      throw new DeviceError('unsupported', this.device, command, `modbus-relay has no command "${command}"`);
    }
    const parsed = commandArgs[command].safeParse(args);
    if (!parsed.success) throw new DeviceError('invalid-args', this.device, command, parsed.error.issues.map((i) => i.message).join('; '));
    if (command === 'refresh') return this.readAll('refresh');
    const a = parsed.data as { on?: boolean; ms?: number; channel?: string };
    const targets = this.select(command, a.channel);
    const ms = command === 'pulse' ? (a.ms ?? this.opts.pulseMs) : undefined;
    if (command === 'pulse' && ms === undefined) throw new DeviceError('invalid-args', this.device, command, 'give "ms" (no default pulseMs configured)');
    // A command on a pulsing channel replaces its pending off; if the command fails, the off still happens.
    const pulsing = targets.filter((ch) => this.pulses.has(ch.name));
    this.cancelPulses(targets);
    let patch: StatePatch;
    try {
      patch = await this.write(command, targets, command === 'pulse' || a.on === true);
    } catch (e) {
      for (const ch of pulsing) void this.endPulse(ch);
      throw e;
    }
    if (ms !== undefined) {
      for (const ch of targets) this.pulses.set(ch.name, setTimeout(() => void this.endPulse(ch), ms));
    }
    return patch;
  }

  /** The channels a command addresses: one by name, or all. */
  private select(command: string, name: string | undefined): Channel[] {
    if (name === undefined) return this.channels;
    const ch = this.channels.find((c) => c.name === name);
    if (!ch) throw new DeviceError('invalid-args', this.device, command, `no channel "${name}" (channels: ${this.channels.map((c) => c.name).join(', ')})`);
    return [ch];
  }

  private cancelPulses(channels: readonly Channel[]): void {
    for (const ch of channels) {
      clearTimeout(this.pulses.get(ch.name));
      this.pulses.delete(ch.name);
    }
  }

  private async endPulse(ch: Channel): Promise<void> {
    this.pulses.delete(ch.name);
    for (let attempt = 1; attempt <= OFF_ATTEMPTS && this.opened; attempt++) {
      try {
        await this.write('pulse', [ch], false);
        return;
      } catch (e) {
        this.log.error({ err: e instanceof Error ? e.message : String(e), channel: ch.name, attempt }, 'could not switch off after a pulse');
        if (attempt < OFF_ATTEMPTS) await new Promise((r) => setTimeout(r, OFF_RETRY_MS));
      }
    }
  }

  /** Switch channels; resolves with (and emits) the state the board confirmed. */
  private async write(command: string, channels: readonly Channel[], on: boolean): Promise<StatePatch> {
    const patch: StatePatch = {};
    for (const w of planCoilWrites(channels, on)) {
      await this.exchange(command, w.request);
      for (const ch of w.channels) patch[stateKey(ch.name)] = on;
    }
    this.emit('state', patch);
    return patch;
  }

  /** Read every channel (FC01); emits and returns the state. */
  private async readAll(command: string): Promise<StatePatch> {
    const patch: StatePatch = {};
    for (const r of planCoilReads(this.channels)) {
      const res = await this.exchange(command, r.request);
      if (res.fc !== 1) throw new DeviceError('protocol', this.device, command, 'coil read answered by another function');
      r.channels.forEach((ch, i) => {
        patch[stateKey(ch.name)] = res.bits[i] === true;
      });
    }
    this.emit('state', patch);
    return patch;
  }

  /** One request; its outcome feeds reachability (any answer = reachable). */
  private async exchange(command: string, req: ModbusRequest) {
    try {
      const res = await this.client.request(command, req);
      this.reach.success();
      return res;
    } catch (e) {
      if (e instanceof ModbusExceptionError && !isGatewayFailure(e)) this.reach.success();
      else if (e instanceof DeviceTimeoutError || isGatewayFailure(e)) this.reach.failure((e as Error).message);
      throw e;
    }
  }

  private async poll(): Promise<void> {
    if (!this.opened || !this.transport.isUp) return;
    await this.readAll('poll');
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

export function createModbusRelayDriver(ctx: DriverContext<ModbusRelayOptions>, extras: ModbusRelayDriverExtras = {}): ModbusRelayDriver {
  return new ModbusRelayDriver(ctx, extras);
}

export const modbusRelayDriver: DriverDefinition<ModbusRelayOptions> = {
  driver: 'modbus-relay',
  kinds: ['relay'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'Modbus coil relay boards: FC01 status, FC05/FC0F switching (Modbus Application Protocol V1.1b3; RTU or TCP framing)',
  multidrop: true,
  optionsSchema: modbusRelayOptionsSchema,
  capabilities: (options) => modbusRelayCapabilities(options),
  create: (ctx) => new ModbusRelayDriver(ctx),
};
