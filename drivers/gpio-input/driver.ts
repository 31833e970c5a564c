/**
 * GPIO digital inputs (`gpio-input`, kind `input`): a PIR motion detector, a
 * door contact or a wall button on one GPIO line.
 *
 * No vendor protocol: edges come through the GpioBackend (sysfs via onoff,
 * the character device, or the fake), with the kernel GPIO ABI's active-low
 * inversion (Documentation/driver-api/gpio/consumer.rst). Logical 1 means
 * motion / door open / button pressed; wire accordingly or set `activeLow`.
 * Edges are debounced by the driver (./debounce.ts), the same way on every
 * backend.
 *
 * What each role reports:
 * - motion (PIR): state `motion` (the sensor's output) and `occupied`, which
 *   turns true on motion and false `holdSeconds` after the last motion ended
 *   (a PIR sees nobody who sits still); reading `occupancy` 1/0 on each
 *   change of `occupied`.
 * - door (reed contact): state `open`; reading `door-open` 1/0 on change.
 * - button: state `pressed` and `lastPress` (wall-clock ms), and one reading
 *   `press` (value 1) per press. A press is an event, not a state: the
 *   reading goes to the store and the non-retained sensor topic
 *   (sensor/{id}/press), which is what the scenes layer should subscribe to;
 *   `lastPress` in the retained state is for display only (acting on it
 *   would replay the last press after every restart).
 * The motion and door readings are sent at open too (the level found then),
 * so the history starts with a known state; a button held at open is not a
 * press.
 */
import { z } from 'zod';
import { status, type Capability } from '../capabilities.js';
import { binaryInput } from '../capabilities-extra.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceOfflineError } from '../errors.js';
import type { GpioBackend, GpioInput } from '../transports/gpio.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { LineOpener } from '../gpio-relay/line-opener.js';
import { Debouncer } from './debounce.js';

export const GPIO_INPUT_ROLES = ['motion', 'door', 'button'] as const;
export type GpioInputRole = (typeof GPIO_INPUT_ROLES)[number];

export const gpioInputOptionsSchema = z
  .object({
    role: z.enum(GPIO_INPUT_ROLES),
    /** Logical 1 (motion / open / pressed) is the pin pulled low. */
    activeLow: z.boolean().default(false),
    /** A level counts after holding this long; default 50 ms for buttons and doors, 0 for PIR (its output is clean). */
    debounceMs: z.number().int().min(0).max(5000).optional(),
    /** PIR: occupied until this long after the last motion. */
    holdSeconds: z.number().min(0).max(86_400).default(300),
  })
  .strict();
export type GpioInputOptions = z.infer<typeof gpioInputOptionsSchema>;

/** What a role reports: its state key and reading metric. */
export const ROLE_KEYS: Record<GpioInputRole, { state: string; metric: string }> = {
  motion: { state: 'occupied', metric: 'occupancy' },
  door: { state: 'open', metric: 'door-open' },
  button: { state: 'pressed', metric: 'press' },
};

export function gpioInputCapabilities(options: GpioInputOptions): Capability[] {
  const k = ROLE_KEYS[options.role];
  return [binaryInput(options.role, k.state, k.metric), status()];
}

export function defaultDebounceMs(role: GpioInputRole): number {
  return role === 'motion' ? 0 : 50;
}

export interface GpioInputDriverExtras {
  reopen?: { initialMs?: number; maxMs?: number };
}

export class GpioInputDriver extends DriverEmitter implements DeviceDriver {
  private readonly backend: GpioBackend;
  private readonly chip: string;
  private readonly line: number;
  private readonly opts: GpioInputOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly opener: LineOpener<{ input: GpioInput; level: 0 | 1 }>;
  private readonly debouncer: Debouncer;
  private input: GpioInput | undefined;
  private occupied = false;
  private holdTimer: ReturnType<typeof setTimeout> | undefined;
  private online: boolean | null = null;
  private opened = false;

  constructor(ctx: DriverContext<GpioInputOptions>, extras: GpioInputDriverExtras = {}) {
    super();
    if (ctx.transport.type !== 'gpio') throw new Error(`${ctx.deviceId}: gpio-input needs a gpio transport`);
    this.backend = ctx.transport.backend;
    this.chip = ctx.transport.chip;
    this.line = ctx.transport.line;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:gpio-input', device: ctx.deviceId, role: ctx.options.role, chip: this.chip, line: this.line });
    this.debouncer = new Debouncer(this.opts.debounceMs ?? defaultDebounceMs(this.opts.role), (v) => this.onLevel(v));
    this.opener = new LineOpener({
      describe: `${ctx.deviceId}: gpio ${this.chip} line ${this.line}`,
      open: async () => {
        const input = await this.backend.openInput(this.chip, this.line, 'both', { activeLow: this.opts.activeLow });
        try {
          return { input, level: await input.read() };
        } catch (e) {
          await input.close().catch(() => undefined);
          throw e;
        }
      },
      opened: ({ input, level }) => this.onOpened(input, level),
      discard: ({ input }) => input.close(),
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
    this.debouncer.stop();
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const input = this.input;
    this.input = undefined;
    await input?.close();
    this.online = null;
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    if (command !== 'refresh') throw new DeviceError('unsupported', this.device, command, `gpio-input has no command "${command}"`);
    if (Object.keys(args).length > 0) throw new DeviceError('invalid-args', this.device, command, 'refresh takes no arguments');
    const input = this.input;
    if (!input) throw new DeviceOfflineError(this.device, command);
    const level = await this.read(input, command);
    // A refresh reports the level as it is, without debouncing: a technician checking the wiring.
    this.debouncer.reset(level);
    return this.apply(level, 'refresh');
  }

  private onOpened(input: GpioInput, level: 0 | 1): void {
    this.input = input;
    this.debouncer.reset(level);
    input.onEdge((e) => {
      if (this.input === input) this.debouncer.edge(e);
    });
    this.setOnline(true);
    this.apply(level, 'open');
  }

  private async read(input: GpioInput, command: string): Promise<0 | 1> {
    try {
      return await input.read();
    } catch (e) {
      throw new DeviceError('offline', this.device, command, `gpio ${this.chip} line ${this.line}: read failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** A debounced level change. */
  private onLevel(level: 0 | 1): void {
    try {
      this.apply(level, 'edge');
    } catch (e) {
      // A listener of ours threw; never let it reach the backend's edge callback.
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'gpio input handling failed');
    }
  }

  /**
   * Turn a level into state and readings; returns the patch emitted. `open`:
   * the level found at open; `edge`: a debounced change; `refresh`: read on
   * request (no readings unless occupancy changes, never a press).
   */
  private apply(level: 0 | 1, why: 'open' | 'edge' | 'refresh'): StatePatch {
    const initial = why === 'open';
    const on = level === 1;
    const ts = this.clock.now();
    const k = ROLE_KEYS[this.opts.role];
    let patch: StatePatch;
    switch (this.opts.role) {
      case 'motion': {
        patch = { motion: on };
        if (on) {
          clearTimeout(this.holdTimer);
          this.holdTimer = undefined;
          if (!this.occupied || initial) this.setOccupied(true, patch, ts);
        } else if (initial) this.setOccupied(false, patch, ts);
        else if (this.occupied && this.holdTimer === undefined) {
          this.holdTimer = setTimeout(() => {
            this.holdTimer = undefined;
            const p: StatePatch = {};
            this.setOccupied(false, p, this.clock.now());
            this.emit('state', p);
          }, this.opts.holdSeconds * 1000);
        }
        break;
      }
      case 'door':
        patch = { open: on };
        if (why !== 'refresh') this.emit('reading', { metric: k.metric, value: on ? 1 : 0, unit: '', ts });
        break;
      case 'button':
        patch = { pressed: on };
        if (on && why === 'edge') {
          patch.lastPress = ts;
          this.emit('reading', { metric: k.metric, value: 1, unit: '', ts });
        }
        break;
    }
    this.emit('state', patch);
    return patch;
  }

  private setOccupied(occupied: boolean, patch: StatePatch, ts: number): void {
    this.occupied = occupied;
    patch.occupied = occupied;
    this.emit('reading', { metric: ROLE_KEYS.motion.metric, value: occupied ? 1 : 0, unit: '', ts });
  }

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('gpio input ready');
    this.emit('online', online, reason);
  }
}

export function createGpioInputDriver(ctx: DriverContext<GpioInputOptions>, extras: GpioInputDriverExtras = {}): GpioInputDriver {
  return new GpioInputDriver(ctx, extras);
}

export const gpioInputDriver: DriverDefinition<GpioInputOptions> = {
  driver: 'gpio-input',
  kinds: ['input'],
  transports: ['gpio'],
  summary: 'PIR occupancy, door contact or wall button on a GPIO input (kernel GPIO ABI, debounced)',
  optionsSchema: gpioInputOptionsSchema,
  capabilities: (options) => gpioInputCapabilities(options),
  create: (ctx) => new GpioInputDriver(ctx),
};
