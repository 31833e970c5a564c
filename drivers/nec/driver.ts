/**
 * NEC LCD monitor driver (`nec`): NEC large-format displays over RS-232C
 * (or LAN, same packets).
 *
 * Follows the NEC "External Control, NEC LCD Monitor" manual (packet format,
 * get/set parameter, power status read and power control) and the NEC P702
 * user manual's command diagram for the frames; see ./framer.ts and
 * ./codec.ts. The monitor answers in standby, so the power-status poll tells
 * "off" from "unreachable": `offlineAfter` failed requests report it offline.
 *
 * One request in flight (Mutex), `interCommandMs` between packets, replies
 * matched by a Waitress on (message type, operation) and monitor id.
 */
import { z } from 'zod';
import { commandTable, parseCommand, inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Reachability } from '../util/reachability.js';
import { Waitress } from '../util/waitress.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { decodeNecReply, encodeNecRequest, NEC_INPUTS, replyKey, replyToPatch, type NecReply, type NecRequest } from './codec.js';
import { NecFramer } from './framer.js';

const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const necOptionsSchema = z
  .object({
    /** Monitor ID 1..100 as set in the monitor's menu. */
    monitorId: z.number().int().min(1).max(100).default(1),
    /** Input name -> input code (OP 00h/60h value), replacing the built-in table. */
    inputs: z
      .record(z.string(), z.number().int().min(0).max(0xffff))
      .superRefine((r, ctx) => {
        if (Object.keys(r).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one input' });
        for (const name of Object.keys(r)) {
          if (!INPUT_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
          }
        }
      })
      .optional(),
    timeoutMs: z.number().int().min(50).max(60_000).default(2000),
    retries: z.number().int().min(0).max(5).default(1),
    /** Minimum gap between packets; [unverified] value, see docs. */
    interCommandMs: z.number().int().min(0).max(10_000).default(300),
    pollSeconds: z.number().min(1).max(86_400).default(30),
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type NecOptions = z.infer<typeof necOptionsSchema>;

export function necCapabilities(options: Pick<NecOptions, 'inputs'>): Capability[] {
  return [power(), inputSelect(Object.keys(options.inputs ?? NEC_INPUTS)), volume(100), mute(), status()];
}

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class NecDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: NecOptions;
  private readonly inputs: Readonly<Record<string, number>>;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lock: Mutex;
  private readonly waitress: Waitress<NecReply>;
  private readonly framer: NecFramer;
  private readonly commands: ReturnType<typeof commandTable>;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private readonly reach: Reachability;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;

  constructor(ctx: DriverContext<NecOptions>, extras: { busLock?: Mutex } = {}) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: nec needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.inputs = ctx.options.inputs ?? NEC_INPUTS;
    this.commands = commandTable(necCapabilities(ctx.options));
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:nec', device: ctx.deviceId });
    this.reach = new Reachability({ what: 'monitor', log: this.log, emitter: this, offlineAfter: this.opts.offlineAfter });
    this.lock = extras.busLock ?? new Mutex();
    this.waitress = new Waitress<NecReply>(ctx.deviceId);
    this.framer = new NecFramer({ now: () => ctx.clock.monotonic() });
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
    await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, 'nec', command, args);
    switch (command) {
      case 'power':
        return this.set(command, { kind: 'power', on: a.on === true });
      case 'volume':
        return this.set(command, { kind: 'set', what: 'volume', value: Number(a.level) });
      case 'mute':
        // Sound mute: 1 = on, 2 = off (P702 command diagram).
        return this.set(command, { kind: 'set', what: 'mute', value: a.on === true ? 1 : 2 });
      case 'input': {
        const code = this.inputs[String(a.source)];
        if (code === undefined) throw new DeviceError('invalid-args', this.device, command, `unknown input "${String(a.source)}"`);
        return this.set(command, { kind: 'set', what: 'input', value: code });
      }
      case 'refresh':
        return this.refresh(command);
      default:
        throw new DeviceError('unsupported', this.device, command, `nec has no command "${command}"`);
    }
  }

  private async set(command: string, req: NecRequest): Promise<StatePatch> {
    const patch = this.decode(command, await this.exchange(command, req));
    this.emit('state', patch);
    return patch;
  }

  /** Power status; when on, input, volume and mute too (an unsupported item is skipped). */
  private async refresh(command: string): Promise<StatePatch> {
    const patch: StatePatch = { ...this.decode(command, await this.exchange(command, { kind: 'power-status' })) };
    if (patch.power === 'on') {
      for (const what of ['input', 'volume', 'mute'] as const) {
        try {
          Object.assign(patch, this.decode(command, await this.exchange(command, { kind: 'get', what })));
        } catch (e) {
          if (!(e instanceof DeviceNakError)) throw e;
          this.log.debug({ what, err: e }, 'status item not available');
        }
      }
    }
    this.emit('state', patch);
    return patch;
  }

  private decode(command: string, reply: NecReply): StatePatch {
    const patch = replyToPatch(reply, this.inputs);
    if (!patch.ok) {
      this.reach.malformed(patch.error);
      throw new DeviceError('protocol', this.device, command, patch.error);
    }
    return patch.value;
  }

  private async exchange(command: string, req: NecRequest): Promise<NecReply> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      const bytes = encodeNecRequest(this.opts.monitorId, req);
      const key = replyKey(req);
      const id = this.opts.monitorId;
      for (let attempt = 0; ; attempt++) {
        const gap = this.opts.interCommandMs - (this.clock.monotonic() - this.lastWriteAt);
        if (gap > 0) await sleep(gap);
        if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
        const wait = this.waitress.waitFor((r) => r.key === key && r.monitor === id, { command, timeoutMs: this.opts.timeoutMs });
        wait.promise.catch(noop);
        let reply: NecReply;
        try {
          try {
            await this.transport.write(bytes);
          } catch {
            throw new DeviceOfflineError(this.device, command);
          } finally {
            this.lastWriteAt = this.clock.monotonic();
          }
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
        if (reply.result !== 0) {
          const why = reply.result === 1 ? ' (unsupported with this monitor or in its current condition)' : '';
          throw new DeviceNakError(this.device, command, `result code ${reply.result.toString(16).padStart(2, '0')}${why}`);
        }
        return reply;
      }
    });
  }

  private async poll(): Promise<void> {
    if (!this.opened || this.polling || !this.transport.isUp) return;
    this.polling = true;
    try {
      await this.refresh('refresh');
    } catch (e) {
      this.log.debug({ err: e }, 'status poll failed');
    } finally {
      this.polling = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.reach.malformed(e);
    for (const packet of out.frames) {
      const reply = decodeNecReply(packet);
      if (!reply.ok) {
        this.reach.malformed(reply.error);
        continue;
      }
      if (!this.waitress.resolve(reply.value)) this.log.debug({ key: reply.value.key, monitor: reply.value.monitor }, 'reply nobody waits for');
    }
  };

  private readonly onUp = (): void => {
    this.log.debug('transport up');
    void this.poll();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.reach.down(`transport down${error ? `: ${error.message}` : ''}`);
  };
}

export const necDriver: DriverDefinition<NecOptions> = {
  driver: 'nec',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'NEC LCD monitors over RS-232C/LAN (NEC "External Control, NEC LCD Monitor" manual; P702 command diagram)',
  optionsSchema: necOptionsSchema,
  capabilities: (options) => necCapabilities(options),
  create: (ctx) => new NecDriver(ctx),
};
