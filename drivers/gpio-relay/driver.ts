/**
 * GPIO relay (`gpio-relay`): one relay module driven by one GPIO output
 * (lights contactor, projector screen, curtain motor).
 *
 * There is no vendor protocol: the line is driven through the GpioBackend
 * (drivers/transports/gpio.ts: sysfs via onoff, the character device, or the
 * fake), following the kernel GPIO ABI's notion of active-low lines
 * (Documentation/driver-api/gpio/consumer.rst: "active-low" lines are
 * inverted by the kernel, so logical 1 = relay energised). Most relay
 * modules sold for the Raspberry Pi header are active-low (the input pulls
 * an optocoupler LED to ground): set `activeLow: true` for them. The output
 * starts at `initial` without a glitch (the backend sets the direction and
 * level together).
 *
 * Commands: `set {on}`; `pulse {ms?}` (on, then off after ms; a `set`
 * cancels the pending off, another pulse restarts it). With `pulseMs`
 * configured the relay is in pulse mode: `set {on: true}` is a pulse of
 * pulseMs (curtain motors that must not stay powered). Every write is read
 * back: the state reported is what the line holds.
 */
import { z } from 'zod';
import { status, type Capability } from '../capabilities.js';
import { switchedOutputs } from '../capabilities-extra.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceOfflineError } from '../errors.js';
import type { GpioBackend, GpioOutput } from '../transports/gpio.js';
import type { Logger } from '../../edge/util/logger.js';
import { LineOpener } from './line-opener.js';

export const gpioRelayOptionsSchema = z
  .object({
    /** Logical 1 (relay on) drives the pin low (most relay modules). */
    activeLow: z.boolean().default(false),
    /** Pulse mode: `set {on: true}` switches on for this long, then off; also the default of `pulse`. */
    pulseMs: z.number().int().min(10).max(60_000).optional(),
    /** State after the line is opened (a service restart does not switch the lights on unless asked to). */
    initial: z.enum(['off', 'on']).default('off'),
  })
  .strict();
export type GpioRelayOptions = z.infer<typeof gpioRelayOptionsSchema>;

export function gpioRelayCapabilities(options: GpioRelayOptions): Capability[] {
  return [switchedOutputs(options.pulseMs !== undefined ? { pulseMs: options.pulseMs } : {}), status()];
}

const commandArgs = {
  set: z.object({ on: z.boolean() }).strict(),
  pulse: z.object({ ms: z.number().int().min(10).max(60_000).optional() }).strict(),
  refresh: z.object({}).strict(),
};

export interface GpioRelayDriverExtras {
  /** Retry backoff for opening the line (default 1 s doubling to 30 s). */
  reopen?: { initialMs?: number; maxMs?: number };
}

export class GpioRelayDriver extends DriverEmitter implements DeviceDriver {
  private readonly backend: GpioBackend;
  private readonly chip: string;
  private readonly line: number;
  private readonly opts: GpioRelayOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly opener: LineOpener<GpioOutput>;
  private output: GpioOutput | undefined;
  private pulseTimer: ReturnType<typeof setTimeout> | undefined;
  private online: boolean | null = null;
  private opened = false;

  constructor(ctx: DriverContext<GpioRelayOptions>, extras: GpioRelayDriverExtras = {}) {
    super();
    if (ctx.transport.type !== 'gpio') throw new Error(`${ctx.deviceId}: gpio-relay needs a gpio transport`);
    this.backend = ctx.transport.backend;
    this.chip = ctx.transport.chip;
    this.line = ctx.transport.line;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.log = ctx.logger.child({ ns: 'drv:gpio-relay', device: ctx.deviceId, chip: this.chip, line: this.line });
    this.opener = new LineOpener<GpioOutput>({
      describe: `${ctx.deviceId}: gpio ${this.chip} line ${this.line}`,
      open: () => this.backend.openOutput(this.chip, this.line, { activeLow: this.opts.activeLow, initial: this.opts.initial === 'on' ? 1 : 0 }),
      opened: (out) => this.onOpened(out),
      discard: (out) => out.close(),
      failed: (e) => this.setOnline(false, e.message),
      log: this.log,
      ...(extras.reopen ? { backoff: extras.reopen } : {}),
    });
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    await this.opener.start();
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    this.opener.stop();
    const out = this.output;
    this.output = undefined;
    if (this.pulseTimer !== undefined) {
      // Never leave a pulsed motor powered.
      this.cancelPulse();
      await out?.write(0).catch((e: unknown) => this.log.error({ err: e }, 'could not end a pulse while closing'));
    }
    await out?.close();
    this.online = null;
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    if (command !== 'set' && command !== 'pulse' && command !== 'refresh') {
      throw new DeviceError('unsupported', this.device, command, `gpio-relay has no command "${command}"`);
    }
    const parsed = commandArgs[command].safeParse(args);
    if (!parsed.success) throw new DeviceError('invalid-args', this.device, command, parsed.error.issues.map((i) => i.message).join('; '));
    const out = this.output;
    if (!out) throw new DeviceOfflineError(this.device, command);
    if (command === 'refresh') return this.report(await this.read(out, command));
    const a = parsed.data as { on?: boolean; ms?: number };
    const pulse = command === 'pulse' || (a.on === true && this.opts.pulseMs !== undefined);
    const ms = pulse ? (a.ms ?? this.opts.pulseMs) : undefined;
    if (pulse && ms === undefined) throw new DeviceError('invalid-args', this.device, command, 'give "ms" (no default pulseMs configured)');
    // A command during a pulse replaces its pending off; if the command fails, the off still happens.
    const wasPulsing = this.pulseTimer !== undefined;
    this.cancelPulse();
    let patch: StatePatch;
    try {
      patch = this.report(await this.drive(out, command, pulse || a.on === true ? 1 : 0));
    } catch (e) {
      if (wasPulsing) void this.endPulse(out, command);
      throw e;
    }
    if (ms !== undefined) this.pulseTimer = setTimeout(() => void this.endPulse(out, command), ms);
    return patch;
  }

  private async endPulse(out: GpioOutput, command: string): Promise<void> {
    this.pulseTimer = undefined;
    try {
      this.report(await this.drive(out, command, 0));
    } catch (e) {
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'could not switch off after a pulse');
    }
  }

  private cancelPulse(): void {
    clearTimeout(this.pulseTimer);
    this.pulseTimer = undefined;
  }

  /** Write, then read back what the line holds. */
  private async drive(out: GpioOutput, command: string, value: 0 | 1): Promise<0 | 1> {
    try {
      await out.write(value);
    } catch (e) {
      throw new DeviceError('offline', this.device, command, `gpio ${this.chip} line ${this.line}: write failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const back = await this.read(out, command);
    if (back !== value) throw new DeviceError('protocol', this.device, command, `gpio ${this.chip} line ${this.line} reads back ${back} after writing ${value}`);
    return back;
  }

  private async read(out: GpioOutput, command: string): Promise<0 | 1> {
    try {
      return await out.read();
    } catch (e) {
      throw new DeviceError('offline', this.device, command, `gpio ${this.chip} line ${this.line}: read failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private report(value: 0 | 1): StatePatch {
    const patch: StatePatch = { on: value === 1 };
    this.emit('state', patch);
    return patch;
  }

  private onOpened(out: GpioOutput): void {
    this.output = out;
    this.setOnline(true);
    this.report(this.opts.initial === 'on' ? 1 : 0);
  }

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('gpio relay ready');
    // The opener logs the failure itself (once per outage).
    this.emit('online', online, reason);
  }
}

export function createGpioRelayDriver(ctx: DriverContext<GpioRelayOptions>, extras: GpioRelayDriverExtras = {}): GpioRelayDriver {
  return new GpioRelayDriver(ctx, extras);
}

export const gpioRelayDriver: DriverDefinition<GpioRelayOptions> = {
  driver: 'gpio-relay',
  kinds: ['relay'],
  transports: ['gpio'],
  summary: 'Relay on a GPIO output: on/off and timed pulses (kernel GPIO ABI, active-low aware)',
  optionsSchema: gpioRelayOptionsSchema,
  capabilities: (options) => gpioRelayCapabilities(options),
  create: (ctx) => new GpioRelayDriver(ctx),
};
