/**
 * Sharp PN display driver (`sharp-pn`): Sharp PN-series monitors and
 * interactive displays over RS-232C.
 *
 * Follows the Sharp PN-L862B operation manual p51-53 (and the same RS-232C
 * section of PN-R603 / PN-655U / PN-K321): 4+4 character commands with CR,
 * responses OK / ERR / WAIT / LOCKED / UNSELECTED or a value, "to set a
 * timeout for the command response, specify 10 seconds or longer", and
 * "provide an interval of 100 ms or more between the command response and
 * the transmission of the next command". Framing in ./framer.ts, encoding
 * in ./codec.ts.
 *
 * POWR can be read in standby, so the poll tells "off" from "unreachable":
 * `offlineAfter` silent requests report the monitor offline. ERR may also
 * come from line noise (PN-K321 manual: "please ensure that the system or
 * software retries the command"): `errRetries` resends after ERR.
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
import { decodeSharpLine, encodeSharpRequest, readToPatch, SHARP_INPUTS, SHARP_REFUSAL, type SharpCommand, type SharpRequest, type SharpResponse } from './codec.js';
import { SharpLineFramer } from './framer.js';

const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const sharpOptionsSchema = z
  .object({
    /** Input name -> INPS code, replacing the built-in (PN-L862B) table. */
    inputs: z
      .record(z.string(), z.number().int().min(0).max(9999))
      .superRefine((r, ctx) => {
        if (Object.keys(r).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one input' });
        for (const name of Object.keys(r)) {
          if (!INPUT_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
          }
        }
      })
      .optional(),
    /** Wait for a response; the manual asks for 10 s or more. */
    timeoutMs: z.number().int().min(50).max(60_000).default(10_000),
    /** Resends after an ERR response (timeouts are not retried: they already take timeoutMs). */
    errRetries: z.number().int().min(0).max(3).default(1),
    /** Gap between a response and the next command; the manual asks for 100 ms or more. */
    interCommandMs: z.number().int().min(0).max(10_000).default(100),
    pollSeconds: z.number().min(1).max(86_400).default(30),
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type SharpOptions = z.infer<typeof sharpOptionsSchema>;

export function sharpCapabilities(options: Pick<SharpOptions, 'inputs'>): Capability[] {
  return [power(), inputSelect(Object.keys(options.inputs ?? SHARP_INPUTS)), volume(100), mute(), status()];
}

type Final = Exclude<SharpResponse, { kind: 'wait' }>;

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SharpDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: SharpOptions;
  private readonly inputs: Readonly<Record<string, number>>;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lock = new Mutex();
  private readonly waitress: Waitress<Final>;
  private readonly framer = new SharpLineFramer();
  private readonly commands: ReturnType<typeof commandTable>;
  /** When the last exchange ended (response or timeout): the next command waits interCommandMs after it. */
  private lastDoneAt = Number.NEGATIVE_INFINITY;
  private readonly reach: Reachability;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;

  constructor(ctx: DriverContext<SharpOptions>) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: sharp-pn needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.inputs = ctx.options.inputs ?? SHARP_INPUTS;
    this.commands = commandTable(sharpCapabilities(ctx.options));
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:sharp', device: ctx.deviceId });
    this.reach = new Reachability({ what: 'monitor', log: this.log, emitter: this, offlineAfter: this.opts.offlineAfter });
    this.waitress = new Waitress<Final>(ctx.deviceId);
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
    const a = parseCommand(this.commands, this.device, 'sharp-pn', command, args);
    switch (command) {
      case 'power':
        return this.set(command, 'POWR', a.on === true ? 1 : 0, { power: a.on === true ? 'on' : 'off' });
      case 'volume':
        return this.set(command, 'VOLM', Number(a.level), { volume: Number(a.level) });
      case 'mute':
        return this.set(command, 'MUTE', a.on === true ? 1 : 0, { mute: a.on === true });
      case 'input': {
        const code = this.inputs[String(a.source)];
        if (code === undefined) throw new DeviceError('invalid-args', this.device, command, `unknown input "${String(a.source)}"`);
        return this.set(command, 'INPS', code, { input: String(a.source) });
      }
      case 'refresh':
        return this.refresh(command);
      default:
        throw new DeviceError('unsupported', this.device, command, `sharp-pn has no command "${command}"`);
    }
  }

  /** A set is confirmed by OK (the monitor does not echo the value). */
  private async set(command: string, what: SharpCommand, value: number, patch: StatePatch): Promise<StatePatch> {
    await this.exchange(command, { kind: 'set', command: what, value });
    this.emit('state', patch);
    return patch;
  }

  private async read(command: string, what: SharpCommand): Promise<StatePatch> {
    const r = await this.exchange(command, { kind: 'read', command: what });
    const patch = r.kind === 'value' ? readToPatch(what, r.value, this.inputs) : { ok: false as const, error: `no value in the reply to ${what}????` };
    if (!patch.ok) {
      this.reach.malformed(patch.error);
      throw new DeviceError('protocol', this.device, command, patch.error);
    }
    return patch.value;
  }

  /** POWR (answered in standby); when on, INPS, VOLM and MUTE (an ERR for one of them is skipped). */
  private async refresh(command: string): Promise<StatePatch> {
    const patch: StatePatch = { ...(await this.read(command, 'POWR')) };
    if (patch.power === 'on') {
      for (const what of ['INPS', 'VOLM', 'MUTE'] as const) {
        try {
          Object.assign(patch, await this.read(command, what));
        } catch (e) {
          if (!(e instanceof DeviceNakError)) throw e;
          this.log.debug({ what, err: e }, 'status item not available');
        }
      }
    }
    this.emit('state', patch);
    return patch;
  }

  private async exchange(command: string, req: SharpRequest): Promise<Final> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      const bytes = encodeSharpRequest(req);
      const accept = (r: Final): boolean => r.kind === 'refused' || (req.kind === 'set' ? r.kind === 'ok' : r.kind === 'value');
      for (let attempt = 0; ; attempt++) {
        const gap = this.opts.interCommandMs - (this.clock.monotonic() - this.lastDoneAt);
        if (gap > 0) await sleep(gap);
        if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
        const wait = this.waitress.waitFor(accept, { command, timeoutMs: this.opts.timeoutMs });
        wait.promise.catch(noop);
        let reply: Final;
        try {
          try {
            await this.transport.write(bytes);
          } catch {
            throw new DeviceOfflineError(this.device, command);
          }
          reply = await wait.promise;
        } catch (e) {
          wait.cancel();
          if (e instanceof DeviceTimeoutError) this.reach.failure(`${command}: no reply within ${this.opts.timeoutMs} ms`);
          throw e;
        } finally {
          this.lastDoneAt = this.clock.monotonic();
        }
        this.reach.success();
        if (reply.kind !== 'refused') return reply;
        if (reply.reason === 'ERR' && attempt < this.opts.errRetries) {
          this.log.debug({ command, attempt }, 'ERR, resending');
          continue;
        }
        throw new DeviceNakError(this.device, command, SHARP_REFUSAL[reply.reason] ?? reply.reason);
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
    for (const line of out.frames) {
      const r = decodeSharpLine(line);
      if (!r) {
        this.reach.malformed(`unknown response ${JSON.stringify(line)}`);
        continue;
      }
      if (r.kind === 'wait') {
        this.log.debug('WAIT: the monitor is executing, OK or ERR follows');
        continue;
      }
      if (!this.waitress.resolve(r)) this.log.debug({ line }, 'response nobody waits for');
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

export const sharpDriver: DriverDefinition<SharpOptions> = {
  driver: 'sharp-pn',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'Sharp PN monitors/interactive displays over RS-232C (Sharp PN-L862B operation manual p51-53)',
  optionsSchema: sharpOptionsSchema,
  capabilities: (options) => sharpCapabilities(options),
  create: (ctx) => new SharpDriver(ctx),
};
