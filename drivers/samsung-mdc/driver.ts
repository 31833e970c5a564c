/**
 * Samsung MDC display driver (`samsung-mdc`).
 *
 * Follows the Samsung MDC protocol as printed in the 320TSn-3 user manual
 * (p29) and the MD40B manual (p42), cross-checked with vgavro/samsung-mdc
 * (samsung_mdc/commands.py, samsung_mdc/connection.py). Framing is in
 * ./framer.ts, message encoding in ./codec.ts; this layer maps capability
 * commands to requests, ACK/NAK to state and errors, and polls STATUS (0x00)
 * to keep state fresh and to notice the display going away.
 *
 * One request is in flight at a time (a Mutex, shareable when several
 * displays are daisy-chained on one port); replies are matched by a Waitress
 * on (display id, reply command).
 */
import { z } from 'zod';
import { commandTable, parseCommand, inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Reachability } from '../util/reachability.js';
import { Waitress } from '../util/waitress.js';
import type { Logger } from '../../edge/util/logger.js';
import {
  ackToPatch,
  decodeMdcReply,
  encodeMdcRequest,
  MDC_BROADCAST_ID,
  MDC_INPUT_NAMES,
  requestCmd,
  type MdcInputName,
  type MdcReply,
  type MdcRequest,
} from './codec.js';
import { MdcFramer } from './framer.js';

export const mdcOptionsSchema = z
  .object({
    /** RS-232 display id 0..254; 254 (0xFE) broadcasts to every display and gets no replies. */
    displayId: z.number().int().min(0).max(254).default(1),
    /** Time to wait for an ACK/NAK, per attempt. */
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Extra attempts after a timeout (a NAK is never retried). */
    retries: z.number().int().min(0).max(5).default(1),
    /** STATUS poll period; the poll also tells whether the display is reachable. */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Consecutive failed requests (after retries) before the display is reported offline. */
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type MdcOptions = z.infer<typeof mdcOptionsSchema>;

export function mdcCapabilities(): Capability[] {
  return [power(), inputSelect(MDC_INPUT_NAMES), volume(100), mute(), status()];
}

export interface MdcDriverExtras {
  /** Lock shared by every driver on the same port (daisy chain); default: a lock of its own. */
  busLock?: Mutex;
}

const noop = (): void => undefined;

export class SamsungMdcDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: MdcOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly lock: Mutex;
  private readonly waitress: Waitress<MdcReply>;
  private readonly framer: MdcFramer;
  private readonly commands = commandTable(mdcCapabilities());
  private readonly reach: Reachability;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;
  private readonly line: DriverContext<MdcOptions>['line'];

  constructor(ctx: DriverContext<MdcOptions>, extras: MdcDriverExtras = {}) {
    super();
    this.line = ctx.line;
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: samsung-mdc needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.log = ctx.logger.child({ ns: 'drv:mdc', device: ctx.deviceId });
    this.reach = new Reachability({ what: 'display', log: this.log, emitter: this, offlineAfter: this.opts.offlineAfter });
    this.lock = extras.busLock ?? new Mutex();
    this.waitress = new Waitress<MdcReply>(ctx.deviceId);
    this.framer = new MdcFramer({ role: 'host', now: () => ctx.clock.monotonic() });
  }

  private get broadcast(): boolean {
    return this.opts.displayId === MDC_BROADCAST_ID;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    this.pollTimer = setInterval(() => void this.poll(), this.opts.pollSeconds * 1000);
    this.pollTimer.unref?.();
    attachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    clearInterval(this.pollTimer);
    detachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    // On a shared line (daisy-chained displays) the supervisor owns the transport.
    if (!this.line?.shared) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, 'samsung-mdc', command, args);
    switch (command) {
      case 'power':
        return this.request(command, { kind: 'set-power', on: a.on === true });
      case 'volume':
        return this.request(command, { kind: 'set-volume', level: Number(a.level) });
      case 'mute':
        return this.request(command, { kind: 'set-mute', on: a.on === true });
      case 'input':
        return this.request(command, { kind: 'set-input', source: a.source as MdcInputName });
      case 'refresh':
        if (this.broadcast) {
          throw new DeviceError('unsupported', this.device, command, 'display id 254 (broadcast) never replies');
        }
        return this.request(command, { kind: 'get', what: 'status' });
      default:
        throw new DeviceError('unsupported', this.device, command, `samsung-mdc has no command "${command}"`);
    }
  }

  /** Send one request under the port lock; resolve with the state the display confirmed. */
  private async request(command: string, req: MdcRequest): Promise<StatePatch> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
      const bytes = encodeMdcRequest(this.opts.displayId, req);
      if (this.broadcast) {
        await this.write(command, bytes);
        const patch = assumedPatch(req);
        this.emit('state', patch);
        return patch;
      }
      const cmd = requestCmd(req);
      const id = this.opts.displayId;
      for (let attempt = 0; ; attempt++) {
        const wait = this.waitress.waitFor((r) => r.id === id && r.rcmd === cmd, {
          command,
          timeoutMs: this.opts.timeoutMs,
        });
        wait.promise.catch(noop); // awaited below unless the write fails first
        let reply: MdcReply;
        try {
          await this.write(command, bytes);
          reply = await wait.promise;
        } catch (e) {
          wait.cancel();
          if (e instanceof DeviceTimeoutError) {
            if (attempt < this.opts.retries) {
              this.log.debug({ command, attempt }, 'no reply, retrying');
              continue;
            }
            this.reach.failure(`${command}: no reply within ${this.opts.timeoutMs} ms`);
          }
          throw e;
        }
        this.reach.success();
        if (reply.kind === 'nak') {
          throw new DeviceNakError(this.device, command, `NAK error code 0x${reply.error.toString(16).padStart(2, '0')}`);
        }
        const patch = ackToPatch(reply.rcmd, reply.values);
        if (!patch.ok) {
          this.reach.malformed(patch.error);
          throw new DeviceError('protocol', this.device, command, patch.error);
        }
        this.emit('state', patch.value);
        return patch.value;
      }
    });
  }

  private async write(command: string, bytes: Buffer): Promise<void> {
    try {
      await this.transport.write(bytes);
    } catch {
      throw new DeviceOfflineError(this.device, command);
    }
  }

  private async poll(): Promise<void> {
    if (!this.opened || this.polling || this.broadcast || !this.transport.isUp) return;
    this.polling = true;
    try {
      await this.request('refresh', { kind: 'get', what: 'status' });
    } catch (e) {
      this.log.debug({ err: e }, 'status poll failed');
    } finally {
      this.polling = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.reach.malformed(e);
    for (const frame of out.frames) {
      const reply = decodeMdcReply(frame);
      if (!reply.ok) {
        this.reach.malformed(reply.error);
        continue;
      }
      if (!this.waitress.resolve(reply.value)) {
        this.log.debug({ id: reply.value.id, rcmd: reply.value.rcmd }, 'reply nobody waits for (late or another display)');
      }
    }
  };

  private readonly onUp = (): void => {
    this.log.debug('transport up');
    if (this.broadcast) this.reach.set(true);
    else void this.poll();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.reach.down(`transport down${error ? `: ${error.message}` : ''}`);
  };
}

/** What a broadcast set leaves the displays in (nobody confirms it). */
function assumedPatch(req: MdcRequest): StatePatch {
  switch (req.kind) {
    case 'set-power':
      return { power: req.on ? 'on' : 'off' };
    case 'set-volume':
      return { volume: req.level };
    case 'set-mute':
      return { mute: req.on };
    case 'set-input':
      return { input: req.source };
    case 'get':
      return {};
  }
}

export const samsungMdcDriver: DriverDefinition<MdcOptions> = {
  driver: 'samsung-mdc',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  multidrop: true,
  summary: 'Samsung MDC over RS-232/TCP (Samsung 320TSn-3 manual p29, MD40B manual p42)',
  optionsSchema: mdcOptionsSchema,
  capabilities: () => mdcCapabilities(),
  create: (ctx) => new SamsungMdcDriver(ctx, { busLock: ctx.line?.lock }),
};
