/**
 * Hitevision interactive flat panel driver (`hitevision-ifp`).
 *
 * Follows the Hitevision IFP RS-232 key frames of shared/PROTOCOLS.md
 * (7F 08 99 A2 B3 C4 02 FF 01 xx CF, 115200 8N1) and the return frames of the
 * panel firmware's serial-port service (see ./framer.ts). The protocol has no
 * status query, so the state is the last commanded one and the driver marks
 * it `tracked: true` (emitted as a state patch at open). Online = the port is
 * up: a send-only panel cannot say more.
 *
 * Mute is a toggle key (02), like the remote's: the driver sends it only when
 * the requested mute differs from the tracked one (or is unknown), so the
 * tracked state drifts if someone uses the remote or the panel resets mute.
 *
 * `confirm: true` (newer firmware) waits for the return frame of each key
 * (7F 09 ... key 01 CF): status other than 01 is a DeviceNakError, no return
 * a DeviceTimeoutError.
 */
import { z } from 'zod';
import { commandTable, parseCommand, inputSelect, mute, power, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceNakError, DeviceOfflineError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Waitress } from '../util/waitress.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { decodeHvFrame, encodeHvKey, HV_INPUT_NAMES, HV_INPUTS, HV_KEYS, HV_STATUS_DONE, type HvInputName } from './codec.js';
import { hex, HvFramer } from './framer.js';

export const hitevisionOptionsSchema = z
  .object({
    /** Wait for the panel's return frame after each key (newer firmware only). */
    confirm: z.boolean().default(false),
    /** Time to wait for a return frame when `confirm` is on. */
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Minimum gap between two keys; [unverified] panels are said to drop keys sent back to back. */
    interCommandMs: z.number().int().min(0).max(10_000).default(100),
  })
  .strict();
export type HitevisionOptions = z.infer<typeof hitevisionOptionsSchema>;

export function hitevisionCapabilities(): Capability[] {
  return [power(), inputSelect(HV_INPUT_NAMES), mute()];
}

interface ReturnFrame {
  key: number;
  status: number;
}

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class HitevisionDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: HitevisionOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lock = new Mutex();
  private readonly waitress: Waitress<ReturnFrame>;
  private readonly framer = new HvFramer();
  private readonly commands = commandTable(hitevisionCapabilities());
  /** Last commanded mute; null until the first mute command. */
  private muted: boolean | null = null;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private online: boolean | null = null;
  private opened = false;

  constructor(ctx: DriverContext<HitevisionOptions>) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: hitevision-ifp needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:hitevision', device: ctx.deviceId });
    this.waitress = new Waitress<ReturnFrame>(ctx.deviceId);
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    this.emit('state', { tracked: true });
    attachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    detachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, 'hitevision-ifp', command, args);
    switch (command) {
      case 'power': {
        const on = a.on === true;
        await this.send(command, on ? HV_KEYS.powerOn : HV_KEYS.powerOff);
        return this.tracked({ power: on ? 'on' : 'off' });
      }
      case 'input': {
        const source = a.source as HvInputName;
        await this.send(command, HV_INPUTS[source]);
        return this.tracked({ input: source });
      }
      case 'mute': {
        const on = a.on === true;
        if (this.muted === on) return { mute: on }; // already so, as far as we know: a toggle would undo it
        await this.send(command, HV_KEYS.muteToggle);
        this.muted = on;
        return this.tracked({ mute: on });
      }
      default:
        throw new DeviceError('unsupported', this.device, command, `hitevision-ifp has no command "${command}"`);
    }
  }

  private tracked(patch: StatePatch): StatePatch {
    this.emit('state', patch);
    return patch;
  }

  /** Write one key under the lock, keeping the inter-command gap; with `confirm`, wait for its return frame. */
  private async send(command: string, key: number): Promise<void> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    await this.lock.runExclusive(async () => {
      const wait = this.opts.interCommandMs - (this.clock.monotonic() - this.lastWriteAt);
      if (wait > 0) await sleep(wait);
      if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
      const ret = this.opts.confirm
        ? this.waitress.waitFor((r) => r.key === key, { command, timeoutMs: this.opts.timeoutMs })
        : undefined;
      ret?.promise.catch(noop);
      try {
        await this.transport.write(encodeHvKey(key));
      } catch {
        ret?.cancel();
        throw new DeviceOfflineError(this.device, command);
      } finally {
        this.lastWriteAt = this.clock.monotonic();
      }
      if (!ret) return;
      const frame = await ret.promise;
      if (frame.status !== HV_STATUS_DONE) {
        throw new DeviceNakError(this.device, command, `return status 0x${frame.status.toString(16).padStart(2, '0')}`);
      }
    });
  }

  private readonly onData = (chunk: Buffer): void => {
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.malformed(e);
    for (const frame of out.frames) {
      const msg = decodeHvFrame(frame);
      if (!msg.ok) {
        this.malformed(msg.error);
        continue;
      }
      if (msg.value.kind !== 'return' || !this.waitress.resolve(msg.value)) {
        this.log.debug({ frame: hex(frame.payload) }, 'frame nobody waits for');
      }
    }
  };

  private readonly onUp = (): void => {
    this.setOnline(true);
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.setOnline(false, `transport down${error ? `: ${error.message}` : ''}`);
  };

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('panel port up (send-only: state is tracked)');
    else this.log.warn({ reason }, 'panel unreachable');
    this.emit('online', online, reason);
  }

  private malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed data from panel');
    this.emit('malformed', detail);
  }
}

export const hitevisionDriver: DriverDefinition<HitevisionOptions> = {
  driver: 'hitevision-ifp',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'Hitevision interactive flat panels, RS-232 key frames 7F 08 99 A2 B3 C4 02 FF 01 xx CF (send-only, tracked state)',
  optionsSchema: hitevisionOptionsSchema,
  capabilities: () => hitevisionCapabilities(),
  create: (ctx) => new HitevisionDriver(ctx),
};
