/**
 * LG display driver (`lg`): LG TVs and monitors over RS-232C.
 *
 * Follows the LG 55LV5400 owner's manual p135 "External control device
 * setup" (frame format, OK/NG acknowledgement, no status in standby) and
 * its command reference (see ./codec.ts for the pages and codes). Framing in
 * ./framer.ts, encoding in ./codec.ts; this layer maps capability commands to
 * requests, OK/NG to state and errors, and polls the power state.
 *
 * Standby: the set "will not send the status during the standby mode", so a
 * power read that gets no answer means either "in standby" or "unreachable"
 * and the two cannot be told apart on the wire. With `offlineAfter: 0` (the
 * default) silence is read as standby: the state says `power: 'off'` and the
 * device stays online while its port is up, so a power-on can still be sent
 * (the supervisor refuses commands to offline devices). With `offlineAfter:
 * N` (sets that do answer in standby) N consecutive silent requests report
 * the set offline, like the Samsung driver.
 *
 * One request in flight at a time (a Mutex, shareable for sets chained on
 * one port); replies matched by a Waitress on (Command2, set id).
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
import { defaultInputs, encodeLgRequest, ngReason, replyLetter, replyToPatch, type LgRequest } from './codec.js';
import { LgReplyFramer, type LgReply } from './framer.js';

const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const lgOptionsSchema = z
  .object({
    /** Set ID 1..99 as on the set's menu; 0 addresses every set on the line (any set's reply is accepted). */
    setId: z.number().int().min(0).max(99).default(1),
    /** Input select command: 'xb' (current sets) or 'kb' (older sets). */
    inputCommand: z.enum(['xb', 'kb']).default('xb'),
    /** Input name -> data code, replacing the built-in table of the input command (models differ). */
    inputs: z
      .record(z.string(), z.number().int().min(0).max(255))
      .superRefine((r, ctx) => {
        if (Object.keys(r).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one input' });
        for (const name of Object.keys(r)) {
          if (!INPUT_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
          }
        }
      })
      .optional(),
    /** Time to wait for OK/NG, per attempt. */
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Time to wait for the acknowledgement of a power command (the set answers once it has powered up). */
    powerTimeoutMs: z.number().int().min(100).max(60_000).default(10_000),
    /** Extra attempts after a timeout (power commands and NG replies are never retried). */
    retries: z.number().int().min(0).max(5).default(1),
    /** Power-state poll period. */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Consecutive silent requests before the set is reported offline; 0 = silence means standby (see header). */
    offlineAfter: z.number().int().min(0).max(20).default(0),
  })
  .strict();
export type LgOptions = z.infer<typeof lgOptionsSchema>;

export function lgInputs(options: Pick<LgOptions, 'inputCommand' | 'inputs'>): Readonly<Record<string, number>> {
  return options.inputs ?? defaultInputs(options.inputCommand);
}

export function lgCapabilities(options: LgOptions): Capability[] {
  return [power(), inputSelect(Object.keys(lgInputs(options))), volume(100), mute(), status()];
}

export interface LgDriverExtras {
  /** Lock shared by every driver on the same port; default: a lock of its own. */
  busLock?: Mutex;
}

const noop = (): void => undefined;

export class LgDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: LgOptions;
  private readonly inputs: Readonly<Record<string, number>>;
  private readonly device: string;
  private readonly log: Logger;
  private readonly lock: Mutex;
  private readonly waitress: Waitress<LgReply>;
  private readonly framer = new LgReplyFramer();
  private readonly commands: ReturnType<typeof commandTable>;
  private readonly reach: Reachability;
  private standby = false;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;

  constructor(ctx: DriverContext<LgOptions>, extras: LgDriverExtras = {}) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: lg needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.inputs = lgInputs(ctx.options);
    this.commands = commandTable(lgCapabilities(ctx.options));
    this.device = ctx.deviceId;
    this.log = ctx.logger.child({ ns: 'drv:lg', device: ctx.deviceId });
    this.reach = new Reachability({ what: 'display', log: this.log, emitter: this, offlineAfter: this.opts.offlineAfter });
    this.lock = extras.busLock ?? new Mutex();
    this.waitress = new Waitress<LgReply>(ctx.deviceId);
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
    const a = parseCommand(this.commands, this.device, 'lg', command, args);
    switch (command) {
      case 'power':
        return this.set(command, { kind: 'set-power', on: a.on === true });
      case 'volume':
        return this.set(command, { kind: 'set-volume', level: Number(a.level) });
      case 'mute':
        return this.set(command, { kind: 'set-mute', on: a.on === true });
      case 'input': {
        const code = this.inputs[String(a.source)];
        if (code === undefined) throw new DeviceError('invalid-args', this.device, command, `unknown input "${String(a.source)}"`);
        return this.set(command, { kind: 'set-input', code });
      }
      case 'refresh':
        return this.refresh(command);
      default:
        throw new DeviceError('unsupported', this.device, command, `lg has no command "${command}"`);
    }
  }

  /** Send a set; resolve with the state the OK reply confirms. */
  private async set(command: string, req: LgRequest): Promise<StatePatch> {
    const reply = await this.exchange(command, req);
    const patch = this.decode(command, reply);
    if (req.kind === 'set-power') this.standby = !req.on;
    this.emit('state', patch);
    return patch;
  }

  /**
   * Read power and, when on, input, volume and mute. A power read that times
   * out is standby when `offlineAfter` is 0 (see the header).
   */
  private async refresh(command: string): Promise<StatePatch> {
    let reply: LgReply;
    try {
      reply = await this.exchange(command, { kind: 'read', what: 'power' });
    } catch (e) {
      if (!(e instanceof DeviceTimeoutError) || this.opts.offlineAfter > 0) throw e;
      if (!this.standby) this.log.info('no reply to the power read: taken as standby (the set sends no status in standby)');
      this.standby = true;
      const patch: StatePatch = { power: 'off' };
      this.emit('state', patch);
      return patch;
    }
    const patch: StatePatch = { ...this.decode(command, reply) };
    this.standby = patch.power === 'off';
    if (patch.power === 'on') {
      for (const what of ['input', 'volume', 'mute'] as const) {
        try {
          Object.assign(patch, this.decode(command, await this.exchange(command, { kind: 'read', what })));
        } catch (e) {
          // A set without that function answers NG; keep the rest of the status.
          if (!(e instanceof DeviceNakError)) throw e;
          this.log.debug({ what, err: e }, 'status item not available');
        }
      }
    }
    this.emit('state', patch);
    return patch;
  }

  private decode(command: string, reply: LgReply): StatePatch {
    const patch = replyToPatch(reply, this.inputs);
    if (!patch.ok) {
      this.reach.malformed(patch.error);
      throw new DeviceError('protocol', this.device, command, patch.error);
    }
    return patch.value;
  }

  /** One request under the port lock, with retries on timeout; resolves with an OK reply. */
  private async exchange(command: string, req: LgRequest): Promise<LgReply> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
      const bytes = encodeLgRequest(this.opts, req);
      const letter = replyLetter(req, this.opts.inputCommand);
      const id = this.opts.setId;
      const isPower = req.kind === 'set-power';
      const timeoutMs = isPower ? this.opts.powerTimeoutMs : this.opts.timeoutMs;
      const retries = isPower ? 0 : this.opts.retries;
      for (let attempt = 0; ; attempt++) {
        const wait = this.waitress.waitFor((r) => r.cmd2 === letter && (id === 0 || r.setId === id), { command, timeoutMs });
        wait.promise.catch(noop); // awaited below unless the write fails first
        let reply: LgReply;
        try {
          await this.write(command, bytes);
          reply = await wait.promise;
        } catch (e) {
          wait.cancel();
          if (e instanceof DeviceTimeoutError) {
            if (attempt < retries) {
              this.log.debug({ command, attempt }, 'no reply, retrying');
              continue;
            }
            this.reach.failure(`${command}: no reply within ${timeoutMs} ms`);
          }
          throw e;
        }
        this.reach.success();
        if (!reply.ok) throw new DeviceNakError(this.device, command, ngReason(reply.data));
        return reply;
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
    for (const reply of out.frames) {
      if (!this.waitress.resolve(reply)) {
        this.log.debug({ cmd2: reply.cmd2, setId: reply.setId }, 'reply nobody waits for (late or another set)');
      }
    }
  };

  private readonly onUp = (): void => {
    this.log.debug('transport up');
    // Silence is standby unless offlineAfter says otherwise: the port being up is all we can know.
    if (this.opts.offlineAfter === 0) this.reach.set(true);
    void this.poll();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.reach.down(`transport down${error ? `: ${error.message}` : ''}`);
  };
}

export const lgDriver: DriverDefinition<LgOptions> = {
  driver: 'lg',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'LG TVs/monitors over RS-232C (LG 55LV5400 owner\'s manual p135, "External control device setup")',
  optionsSchema: lgOptionsSchema,
  capabilities: (options) => lgCapabilities(options),
  create: (ctx) => new LgDriver(ctx),
};
