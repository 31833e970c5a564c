/**
 * Pelco-D PTZ camera driver (`pelco-d`), RS-485/RS-422 (usually 2400 or
 * 9600 baud, 8N1).
 *
 * Follows the Pelco "D" Protocol Manual (TF-0002 v2 r1): message format and
 * checksum in ./framer.ts, commands in ./codec.ts.
 *
 * Pelco-D is send-only: receivers do not acknowledge (the optional extended
 * responses of some domes are not used), so a command resolves once its bytes
 * are written, the state reported is the last one commanded (`tracked: true`
 * in every patch), and `online` follows the transport. Messages are spaced at
 * least `minGapMs` apart (receivers on a shared RS-485 bus drop messages that
 * come too fast); commands wait in a FIFO queue for their turn, at most
 * `maxQueue` of them. Anything received is ignored.
 */
import { z } from 'zod';
import { commandTable, parseCommand, power, ptzPresets, type Capability } from '../capabilities.js';
import { zoom } from '../capabilities-extra.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceOfflineError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import type { Logger } from '../../edge/util/logger.js';
import { encodePelcoRequest, type PelcoRequest } from './codec.js';

const rtspUrl = z.url({ protocol: /^rtsps?$/, error: 'must be an rtsp:// or rtsps:// URL' });

export const pelcoDOptionsSchema = z
  .object({
    /** Receiver address set on the camera's DIP switches, 1..255. */
    address: z.number().int().min(1).max(255).default(1),
    /** Number of presets offered (numbers 1 .. presets; the manual defines 1..32). */
    presets: z.number().int().min(1).max(255).default(16),
    /** Least time between two messages on the wire. */
    minGapMs: z.number().int().min(0).max(5000).default(50),
    /** Commands allowed to wait for their turn. */
    maxQueue: z.number().int().min(1).max(256).default(16),
    /** The camera's video stream, for the recording service; the driver does not use it. */
    rtspUrl: rtspUrl.optional(),
  })
  .strict();
export type PelcoDOptions = z.infer<typeof pelcoDOptionsSchema>;

export function pelcoDCapabilities(presets: number): Capability[] {
  return [power(), ptzPresets(presets), zoom()];
}

/** VISCA-style zoom speed 0..7 -> Pelco-D "set zoom speed" 0..3. */
export const pelcoZoomSpeed = (speed: number): number => Math.min(3, Math.max(0, Math.round((speed * 3) / 7)));

export interface PelcoDDriverExtras {
  /** Lock shared by every receiver on one RS-485 bus (the gap applies to the bus); default: `ctx.line.lock`, else a lock of its own. */
  busLock?: Mutex;
}

export class PelcoDDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: PelcoDOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly lock: Mutex;
  private readonly commands: ReturnType<typeof commandTable>;
  private readonly gapTimers = new Map<NodeJS.Timeout, () => void>();
  private online: boolean | null = null;
  private opened = false;
  /** False on a shared bus: the supervisor owns the transport. */
  private readonly ownsTransport: boolean;

  constructor(ctx: DriverContext<PelcoDOptions>, extras: PelcoDDriverExtras = {}) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: pelco-d needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.log = ctx.logger.child({ ns: 'drv:pelco-d', device: ctx.deviceId });
    this.lock = extras.busLock ?? ctx.line?.lock ?? new Mutex();
    this.ownsTransport = !(ctx.line?.shared ?? false);
    this.commands = commandTable(pelcoDCapabilities(ctx.options.presets));
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    attachTransport(this.transport, { up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    detachTransport(this.transport, { up: this.onUp, down: this.onDown });
    for (const [t, release] of this.gapTimers) {
      clearTimeout(t);
      release();
    }
    this.gapTimers.clear();
    if (this.ownsTransport) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, 'pelco-d', command, args);
    let patch: StatePatch;
    switch (command) {
      case 'power':
        await this.send(command, [{ kind: 'power', on: a.on === true }]);
        patch = { power: a.on === true ? 'on' : 'off' };
        break;
      case 'zoom': {
        const direction = a.direction as 'in' | 'out' | 'stop';
        const reqs: PelcoRequest[] = [];
        if (direction !== 'stop' && typeof a.speed === 'number') reqs.push({ kind: 'zoom-speed', speed: pelcoZoomSpeed(a.speed) });
        // Pelco-D has no zoom-only stop: all motion bits clear stops pan, tilt, zoom and focus.
        reqs.push(direction === 'stop' ? { kind: 'stop' } : { kind: 'zoom', direction });
        await this.send(command, reqs);
        patch = { zoom: direction };
        break;
      }
      case 'preset':
      case 'preset-set': {
        const n = Number(command === 'preset' ? a.recall : a.store);
        if (n < 1 || n > this.opts.presets) {
          throw new DeviceError('invalid-args', this.device, command, `preset ${n} out of range 1..${this.opts.presets}`);
        }
        await this.send(command, [{ kind: 'preset', action: command === 'preset' ? 'goto' : 'set', preset: n }]);
        patch = { preset: n };
        break;
      }
      default:
        throw new DeviceError('unsupported', this.device, command, `pelco-d has no command "${command}"`);
    }
    patch.tracked = true;
    this.emit('state', patch);
    return patch;
  }

  /** Queue messages for the wire, each at least minGapMs after the previous one. */
  private async send(command: string, reqs: PelcoRequest[]): Promise<void> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    if (this.lock.waiting >= this.opts.maxQueue) {
      throw new DeviceError('busy', this.device, command, `${this.lock.waiting} commands already waiting`);
    }
    for (const req of reqs) {
      const bytes = encodePelcoRequest(this.opts.address, req);
      const release = await this.lock.acquire();
      try {
        if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
        await this.transport.write(bytes);
      } catch (e) {
        release();
        throw e instanceof DeviceError ? e : new DeviceOfflineError(this.device, command);
      }
      this.holdGap(release);
    }
  }

  /** Keep the line for minGapMs after a message, then let the next one go. */
  private holdGap(release: () => void): void {
    if (this.opts.minGapMs <= 0) return release();
    const t = setTimeout(() => {
      this.gapTimers.delete(t);
      release();
    }, this.opts.minGapMs);
    this.gapTimers.set(t, release);
  }

  private readonly onUp = (): void => this.setOnline(true);

  private readonly onDown = (error: Error | undefined): void => {
    this.setOnline(false, `transport down${error ? `: ${error.message}` : ''}`);
  };

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('line up (Pelco-D cannot confirm the camera itself)');
    else this.log.warn({ reason }, 'line down');
    this.emit('online', online, reason);
  }
}

export const pelcoDDriver: DriverDefinition<PelcoDOptions> = {
  driver: 'pelco-d',
  kinds: ['camera'],
  transports: ['serial', 'tcp', 'sim'],
  multidrop: true,
  summary: 'Pelco-D PTZ over RS-485, send-only (Pelco "D" Protocol Manual TF-0002 v2 r1)',
  optionsSchema: pelcoDOptionsSchema,
  capabilities: (o) => pelcoDCapabilities(o.presets),
  create: (ctx) => new PelcoDDriver(ctx),
};
