/**
 * PJLink projector driver (`pjlink`), class 1 over TCP port 4352.
 *
 * Follows JBMIA "PJLink Specifications" Version 1.04 (2013-12-10) for class 1
 * (POWR, INPT, AVMT, ERST, LAMP; ERR1..ERR4; MD5 authentication) and
 * Version 2.00 (2017-01-31) for the class 2 search (./search.ts). Lines are
 * cut by ./framer.ts, decoded by ./codec.ts; ./link.ts opens one short
 * connection per exchange (greeting, authentication, lines, close) because
 * projectors drop idle connections and often serve one controller at a time.
 *
 * This layer maps capability commands to exchanges and replies to state:
 *  - power: 'on' | 'off' | 'warming' | 'cooling' (POWR 1 / 3 / 0 / 2);
 *  - a command that needs the lamp (input, AV mute) while the projector warms
 *    up, or power-on while it cools down, waits (polling POWR ?) up to
 *    `warmupQueueMs` instead of failing with ERR3; one that meets ERR3 anyway
 *    checks the power state and waits the same way when it is a transition;
 *  - ERR1..ERR4 -> PjlinkError (a DeviceNakError with the PJLink code),
 *    PJLINK ERRA -> PjlinkAuthError, no reply -> DeviceTimeoutError, no
 *    connection -> PjlinkConnectionError (a DeviceOfflineError);
 *  - a poll every `pollSeconds` (every `warmupPollMs` during a transition,
 *    with backoff up to `pollSeconds` while unreachable) keeps state fresh
 *    and brings the projector back online when it answers again.
 */
import { commandTable, parseCommand } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import { Backoff } from '../transports/backoff.js';
import type { Logger } from '../../edge/util/logger.js';
import {
  describeErrorStatus,
  parseAvMute,
  parseErrorStatus,
  parseLamps,
  parsePower,
  type PjlinkCommand,
  type PjlinkPower,
} from './codec.js';
import { PjlinkAuthError, PjlinkConnectionError, PjlinkError } from './errors.js';
import { PjlinkLink, type PjlinkExchange, type PjlinkResponse } from './link.js';
import { pjlinkCapabilities, pjlinkOptionsSchema, readPasswordFile, type PjlinkOptions } from './options.js';

export { pjlinkOptionsSchema, type PjlinkOptions } from './options.js';

const q = (command: string): PjlinkCommand => ({ cls: '1', command, param: '?' });

/** Which power state a command needs, and the transition it may wait out. */
interface PowerNeed {
  /** The state to reach before sending. */
  target: PjlinkPower;
  /** The transition towards it that is worth waiting for. */
  through: PjlinkPower;
}
const NEEDS_LAMP: PowerNeed = { target: 'on', through: 'warming' };
const POWER_ON_NEED: PowerNeed = { target: 'off', through: 'cooling' };
const POWER_OFF_NEED: PowerNeed = { target: 'on', through: 'warming' };

export class PjlinkDriver extends DriverEmitter implements DeviceDriver {
  private readonly device: string;
  private readonly opts: PjlinkOptions;
  private readonly log: Logger;
  private readonly link: PjlinkLink;
  private readonly configError: Error | undefined;
  private readonly commands: ReturnType<typeof commandTable>;
  private readonly inputByCode = new Map<string, string>();
  private readonly backoff: Backoff;
  /** Pending warm-up waits; close() ends them (each rejects naming its command). */
  private readonly sleepers = new Set<() => void>();
  private power: PjlinkPower | null = null;
  private online: boolean | null = null;
  private offlineReason: string | undefined;
  private failures = 0;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private opened = false;

  constructor(ctx: DriverContext<PjlinkOptions>) {
    super();
    this.device = ctx.deviceId;
    this.opts = ctx.options;
    this.log = ctx.logger.child({ ns: 'drv:pjlink', device: ctx.deviceId });
    this.commands = commandTable(pjlinkCapabilities(ctx.options));
    for (const [name, code] of Object.entries(ctx.options.inputs)) if (!this.inputByCode.has(code)) this.inputByCode.set(code, name);
    this.backoff = new Backoff({ initialMs: 1000, maxMs: Math.max(1000, ctx.options.pollSeconds * 1000) });
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: pjlink needs a byte transport (tcp or sim)`);
    let password: string | undefined;
    try {
      password = ctx.options.passwordFile === undefined ? undefined : readPasswordFile(ctx.deviceId, ctx.options.passwordFile);
    } catch (e) {
      this.configError = e as Error;
    }
    if (password !== undefined && Buffer.byteLength(password) > 32) this.log.warn('the PJLink password is longer than the 32 bytes the specification allows');
    this.link = new PjlinkLink({
      device: ctx.deviceId,
      transport: ctx.transport.transport,
      timeoutMs: ctx.options.timeoutMs,
      password,
      log: this.log,
      onMalformed: (d) => this.malformed(d),
    });
  }

  async open(): Promise<void> {
    if (this.opened) return;
    if (this.configError) {
      this.setOnline(false, this.configError.message);
      throw this.configError;
    }
    this.opened = true;
    this.link.attach();
    this.schedulePoll(0);
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    clearTimeout(this.pollTimer);
    for (const wake of [...this.sleepers]) wake();
    await this.link.detach();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, 'pjlink', command, args);
    if (this.configError) throw new DeviceError('offline', this.device, command, this.configError.message);
    if (!this.opened || this.online === false) {
      const err = new DeviceOfflineError(this.device, command);
      if (this.offlineReason) err.message += ` (${this.offlineReason})`;
      throw err;
    }
    switch (command) {
      case 'power': {
        const on = a.on === true;
        return this.setWithWarmup(command, { cls: '1', command: 'POWR', param: on ? '1' : '0' }, on ? POWER_ON_NEED : POWER_OFF_NEED, {});
      }
      case 'input': {
        const source = String(a.source);
        const code = this.opts.inputs[source];
        if (code === undefined) throw new DeviceError('invalid-args', this.device, command, `no input "${source}"`);
        return this.setWithWarmup(command, { cls: '1', command: 'INPT', param: code }, NEEDS_LAMP, { input: source });
      }
      case 'mute': {
        const on = a.on === true;
        return this.setWithWarmup(command, { cls: '1', command: 'AVMT', param: on ? '31' : '30' }, NEEDS_LAMP, {
          mute: on,
          videoMute: on,
          audioMute: on,
        });
      }
      case 'refresh':
        return this.run(command, (x) => this.readStatus(command, x));
      default:
        throw new DeviceError('unsupported', this.device, command, `pjlink has no command "${command}"`);
    }
  }

  /**
   * Send a set command, waiting out a warm-up / cool-down first when the
   * projector is known to be in one, or when it answers ERR3 because of one.
   * Resolves with `patch` plus the power state read in the same exchange.
   */
  private async setWithWarmup(command: string, cmd: PjlinkCommand, need: PowerNeed, patch: StatePatch): Promise<StatePatch> {
    if (this.power === need.through && this.opts.warmupQueueMs > 0) await this.waitForPower(command, need);
    for (let attempt = 0; ; attempt++) {
      const result = await this.run(command, async (x) => {
        const res = await x.send(cmd);
        const power = await this.queryPower(command, x);
        return { error: res.error, power };
      });
      if (!result.error) {
        let power = result.power;
        // Right after POWR the status may still show the old state for a moment.
        if (cmd.command === 'POWR' && cmd.param === '1' && power === 'off') power = 'warming';
        if (cmd.command === 'POWR' && cmd.param === '0' && power === 'on') power = 'cooling';
        const out: StatePatch = { ...patch, power };
        this.setPower(power, out);
        this.emit('state', out);
        if (power === 'warming' || power === 'cooling') this.schedulePoll(this.opts.warmupPollMs);
        return out;
      }
      if (result.error === 'ERR3' && attempt === 0 && result.power === need.through && this.opts.warmupQueueMs > 0) {
        await this.waitForPower(command, need);
        continue;
      }
      throw new PjlinkError(this.device, command, result.error, result.error === 'ERR3' ? `the projector is ${result.power}` : undefined);
    }
  }

  /** Poll POWR ? every warmupPollMs until `need.target`, for at most warmupQueueMs. */
  private async waitForPower(command: string, need: PowerNeed): Promise<void> {
    this.log.info({ command, waitingFor: need.target }, `projector is ${need.through}: command queued`);
    let expired = false;
    const deadline = setTimeout(() => {
      expired = true;
    }, this.opts.warmupQueueMs);
    try {
      for (;;) {
        await this.sleep(command, this.opts.warmupPollMs);
        const power = await this.run(command, (x) => this.queryPower(command, x));
        const patch: StatePatch = { power };
        this.setPower(power, patch);
        this.emit('state', patch);
        if (power === need.target) return;
        if (power !== need.through) throw new PjlinkError(this.device, command, 'ERR3', `waited for ${need.target}, the projector is ${power}`);
        if (expired) throw new PjlinkError(this.device, command, 'ERR3', `still ${power} after ${this.opts.warmupQueueMs} ms`);
      }
    } finally {
      clearTimeout(deadline);
    }
  }

  /** Run one exchange with retries after timeouts, keeping online/offline up to date. */
  private async run<T>(command: string, fn: (x: PjlinkExchange) => Promise<T>): Promise<T> {
    const link = this.link;
    for (let attempt = 0; ; attempt++) {
      try {
        const value = await link.exchange(command, fn);
        this.noteReachable();
        return value;
      } catch (e) {
        if (e instanceof PjlinkError || (e instanceof DeviceError && e.code === 'protocol')) {
          this.noteReachable(); // it answered, just not with what we wanted
          throw e;
        }
        if (!this.opened) throw e; // closing: not a fact about the projector
        if (e instanceof DeviceTimeoutError && attempt < this.opts.retries) {
          this.log.debug({ command, attempt }, 'no reply, retrying');
          continue;
        }
        this.noteFailure(e);
        throw e;
      }
    }
  }

  private async queryPower(command: string, x: PjlinkExchange): Promise<PjlinkPower> {
    const res = await x.send(q('POWR'));
    if (res.error) throw new PjlinkError(this.device, command, res.error, 'power status query');
    const p = parsePower(res.param);
    if (!p.ok) {
      this.malformed(p.error);
      throw new DeviceError('protocol', this.device, command, p.error);
    }
    return p.value;
  }

  /** The poll / `refresh`: power, errors, lamp, and input + mute when the lamp is on. */
  private async readStatus(command: string, x: PjlinkExchange): Promise<StatePatch> {
    const power = await this.queryPower(command, x);
    const patch: StatePatch = { power };
    const erst = await this.value(x, 'ERST', parseErrorStatus);
    if (erst) patch.fault = describeErrorStatus(erst);
    const lamps = await this.value(x, 'LAMP', parseLamps);
    if (lamps?.[0]) {
      patch.lampHours = lamps[0].hours;
      patch.lampOn = lamps[0].on;
    }
    if (power === 'on') {
      const input = await this.value(x, 'INPT', (p) => ({ ok: true, value: p }));
      if (input !== undefined) patch.input = this.inputByCode.get(input) ?? `unknown-${input}`;
      const m = await this.value(x, 'AVMT', parseAvMute);
      if (m) Object.assign(patch, { mute: m.video || m.audio, videoMute: m.video, audioMute: m.audio });
    }
    this.setPower(power, patch);
    this.emit('state', patch);
    return patch;
  }

  /** One query whose ERRx (unsupported, unavailable now) or bad value only leaves its field out. */
  private async value<T>(x: PjlinkExchange, body: string, parse: (p: string) => { ok: true; value: T } | { ok: false; error: string }): Promise<T | undefined> {
    const res: PjlinkResponse = await x.send(q(body));
    if (res.error) {
      this.log.debug({ query: body, error: res.error }, 'query refused');
      return undefined;
    }
    const v = parse(res.param);
    if (v.ok) return v.value;
    this.malformed(v.error);
    return undefined;
  }

  private setPower(power: PjlinkPower, patch: StatePatch): void {
    this.power = power;
    patch.power = power;
  }

  private schedulePoll(delayMs: number): void {
    if (!this.opened) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => void this.poll(), delayMs);
    this.pollTimer.unref?.();
  }

  private async poll(): Promise<void> {
    if (!this.opened) return;
    try {
      await this.run('refresh', (x) => this.readStatus('refresh', x));
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'status poll failed');
    }
    if (!this.opened) return;
    const transitional = this.power === 'warming' || this.power === 'cooling';
    this.schedulePoll(
      this.online === false ? this.backoff.next() : transitional ? this.opts.warmupPollMs : this.opts.pollSeconds * 1000,
    );
  }

  private sleep(command: string, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(abort);
      };
      const abort = (): void => {
        done();
        reject(new PjlinkConnectionError(this.device, command, 'closed', 'driver closed while waiting for the warm-up'));
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      this.sleepers.add(abort);
    });
  }

  private noteReachable(): void {
    this.failures = 0;
    this.backoff.reset();
    this.setOnline(true);
  }

  private noteFailure(e: unknown): void {
    const reason = e instanceof Error ? e.message : String(e);
    if (e instanceof PjlinkAuthError || (e instanceof PjlinkConnectionError && e.stage === 'connect')) {
      this.failures = this.opts.offlineAfter;
      this.setOnline(false, reason);
      return;
    }
    this.failures++;
    // Never seen answering yet: one failure is enough to say so.
    if (this.failures >= this.opts.offlineAfter || this.online === null) this.setOnline(false, reason);
  }

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    this.offlineReason = online ? undefined : reason;
    if (online) this.log.info('projector reachable');
    else this.log.warn({ reason }, 'projector unreachable');
    this.emit('online', online, reason);
  }

  private malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed line from projector');
    this.emit('malformed', detail);
  }
}

export const pjlinkDriver: DriverDefinition<PjlinkOptions> = {
  driver: 'pjlink',
  kinds: ['projector'],
  transports: ['tcp', 'sim'],
  summary: 'PJLink class 1 projectors over TCP 4352 (JBMIA PJLink Specifications 1.04; class 2 search per 2.00)',
  optionsSchema: pjlinkOptionsSchema,
  capabilities: (options) => pjlinkCapabilities(options),
  create: (ctx) => new PjlinkDriver(ctx),
};
