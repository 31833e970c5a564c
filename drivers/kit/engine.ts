/**
 * The request/response engine behind every declarative display protocol
 * (./definition.ts): one copy of what each RS-232 display driver used to
 * carry, so that a fix is made once.
 *
 * - One request in flight on the line (the supervisor's line lock, shared by
 *   daisy-chained devices), replies matched by a Waitress (after
 *   zigbee-herdsman's waitress), retries after silence, a minimum gap
 *   between requests.
 * - Polling with the definition's `refresh`; reachability from replies and
 *   the transport (drivers/util/reachability.ts).
 * - Warm-up: after a power-on the state carries `warming: true` until a
 *   status query answers on or the definition's maximum passes; other
 *   commands wait for it instead of timing out.
 * - Standby: with `refusesInStandby`, a non-power command to a display last
 *   known to be off fails at once (DeviceStandbyError).
 * - No-reply requests (broadcast address, send-only protocol): written,
 *   never waited for; their state is the commanded one, marked
 *   `assumed: true`.
 * - Stale state: when the device goes offline the state gets `stale: true`,
 *   cleared by the next state read from the device; every failed poll or
 *   command is reported with a `fault` event, the next success with
 *   `fault(null)`.
 */
import { commandTable, parseCommand } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type StatePatch } from '../contract.js';
import { DeviceError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Reachability } from '../util/reachability.js';
import { Waitress } from '../util/waitress.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import type { LineTiming, ProtocolDefinition, ReplyFramer, Session } from './definition.js';
import { DeviceStandbyError, ProtocolNakError } from './errors.js';

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Commands a display accepts while in standby or warming up: they are how it leaves those states. */
const ALWAYS_ALLOWED = new Set(['power', 'refresh']);

export class KitDriver<O, Req, Rep> extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: O;
  private readonly timing: LineTiming;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lock: Mutex;
  private readonly sharedLine: boolean;
  private readonly waitress: Waitress<Rep>;
  private readonly framer: ReplyFramer<Rep, Req>;
  private readonly commands: ReturnType<typeof commandTable>;
  private readonly reach: Reachability;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private lastDoneAt = Number.NEGATIVE_INFINITY;
  /** Last power state read or commanded (undefined: not known yet). */
  private power: string | undefined;
  /** Monotonic time when the warm-up maximum passes; undefined: not warming. */
  private warmUntil: number | undefined;
  private warmGate: Promise<void> | undefined;
  /** Monotonic time until which a silent or refused command is tried again (the warm-up maximum since power-on). */
  private settleUntil = 0;
  /** Every state field as last published (for handlers that need what they commanded before). */
  private known: StatePatch = {};
  private stale = false;
  private faulted = false;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;

  constructor(
    private readonly def: ProtocolDefinition<O, Req, Rep>,
    ctx: DriverContext<O>,
  ) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: ${def.driver} needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.timing = def.timing(ctx.options);
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: def.logNs, device: ctx.deviceId });
    this.lock = ctx.line?.lock ?? new Mutex();
    this.sharedLine = ctx.line?.shared === true;
    this.waitress = new Waitress<Rep>(ctx.deviceId);
    this.framer = def.framer(ctx.options, ctx.clock);
    this.commands = commandTable(def.capabilities(ctx.options));
    this.reach = new Reachability({
      what: def.what,
      log: this.log,
      emitter: this,
      offlineAfter: this.timing.offlineAfter,
      onChange: (online) => {
        if (!online) this.markStale();
      },
    });
  }

  /** True while warming up after a power-on. */
  get warming(): boolean {
    return this.warmUntil !== undefined;
  }

  private get pollable(): boolean {
    return this.timing.pollSeconds !== undefined && this.def.commands.refresh !== undefined;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    const initial = this.def.openState?.(this.opts);
    if (initial) this.emit('state', initial);
    if (this.pollable && this.timing.pollSeconds !== undefined) {
      this.pollTimer = setInterval(() => void this.poll(), this.timing.pollSeconds * 1000);
      this.pollTimer.unref?.();
    }
    attachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    clearInterval(this.pollTimer);
    this.warmUntil = undefined;
    detachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    // On a shared line (daisy-chained displays) the supervisor owns the transport.
    if (!this.sharedLine) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, this.def.driver, command, args);
    const handler = this.def.commands[command];
    if (!handler) throw new DeviceError('unsupported', this.device, command, `${this.def.driver} has no command "${command}"`);
    try {
      if (!ALWAYS_ALLOWED.has(command)) {
        this.refuseInStandby(command);
        if (this.warming) {
          await this.warmedUp();
          this.refuseInStandby(command); // the probe may have found it switched off meanwhile
        }
      }
      const patch = await this.settled(command, () => handler(this.session(command), a));
      this.publish(command, patch);
      this.noteFault(null);
      return patch;
    } catch (e) {
      this.noteFault(e);
      throw e;
    }
  }

  /**
   * Runs `attempt`, and while the warm-up maximum since the last power-on has not passed, runs it
   * again when the display stays silent or refuses: many displays already answer a status query
   * as on while still ignoring (or refusing) other commands for a while.
   */
  private async settled<T>(command: string, attempt: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await attempt();
      } catch (e) {
        const left = this.settleUntil - this.clock.monotonic();
        if (left <= 0 || ALWAYS_ALLOWED.has(command) || !(e instanceof DeviceTimeoutError || e instanceof ProtocolNakError) || this.power !== 'on') throw e;
        this.log.debug({ command, err: e, leftMs: Math.round(left) }, 'no answer while the display settles after power-on: again');
        await sleep(Math.min(this.timing.warmupProbeMs || 500, left));
      }
    }
  }

  private refuseInStandby(command: string): void {
    if (this.def.refusesInStandby && this.power === 'off') throw new DeviceStandbyError(this.device, command);
  }

  private session(command: string): Session<O, Req, Rep> {
    const self = this;
    return {
      device: this.device,
      command,
      options: this.opts,
      log: this.log,
      get warming() {
        return self.warming;
      },
      last: (field) => this.known[field],
      request: (req) => this.request(command, req),
      decode: (req, reply) => this.decode(command, req, reply),
      set: async (req, expected) => {
        const reply = await this.request(command, req);
        if (reply === undefined) return { ...expected, assumed: true };
        const patch = this.decode(command, req, reply);
        return Object.keys(patch).length > 0 ? patch : expected;
      },
    };
  }

  private decode(command: string, req: Req, reply: Rep): StatePatch {
    const patch = this.def.decode(this.opts, req, reply);
    if (!patch.ok) {
      this.reach.malformed(patch.error);
      throw new DeviceError('protocol', this.device, command, patch.error);
    }
    return patch.value;
  }

  /** Emit state read or set by `command`, and follow power for standby and warm-up. */
  private publish(command: string, patch: StatePatch): void {
    if (this.stale && patch.assumed !== true) {
      this.stale = false;
      this.emit('state', { stale: false });
    }
    this.emit('state', patch);
    this.known = { ...this.known, ...patch };
    const p = patch.power;
    if (typeof p !== 'string') return;
    const was = this.power;
    this.power = p;
    if (p !== 'on') {
      this.settleUntil = 0;
      this.endWarm(undefined);
    }
    else if (command === 'power' && was !== 'on' && this.timing.warmupMs > 0) this.startWarm();
    else if (command !== 'power' && patch.assumed !== true) this.endWarm('a status query answered on');
  }

  private startWarm(): void {
    this.warmUntil = this.clock.monotonic() + this.timing.warmupMs;
    this.settleUntil = this.warmUntil;
    this.log.debug({ maxMs: this.timing.warmupMs }, 'warming up after power-on');
    this.emit('state', { warming: true });
  }

  private endWarm(why: string | undefined): void {
    if (this.warmUntil === undefined) return;
    this.warmUntil = undefined;
    if (why) this.log.debug({ why }, 'warm-up over');
    this.emit('state', { warming: false });
  }

  /** Wait until the warm-up is over; concurrent callers share one probe loop. */
  private warmedUp(): Promise<void> {
    this.warmGate ??= this.probeUntilWarm().finally(() => {
      this.warmGate = undefined;
    });
    return this.warmGate;
  }

  private async probeUntilWarm(): Promise<void> {
    const refresh = this.def.commands.refresh;
    for (;;) {
      if (this.warmUntil === undefined) return;
      let left = this.warmUntil - this.clock.monotonic();
      if (left <= 0) break;
      if (refresh && this.pollable && this.transport.isUp) {
        try {
          this.publish('refresh', await refresh(this.session('refresh'), {}));
        } catch (e) {
          this.log.debug({ err: e }, 'warm-up probe: no answer yet');
        }
        if (this.warmUntil === undefined) return;
        left = this.warmUntil - this.clock.monotonic();
        if (left <= 0) break;
      }
      await sleep(Math.min(this.timing.warmupProbeMs, left));
    }
    this.endWarm('the warm-up maximum passed');
  }

  /** One request under the line lock, with gap, retries and refusal handling. */
  private async request(command: string, req: Req): Promise<Rep | undefined> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      const bytes = this.def.encode(this.opts, req);
      const t = this.def.requestTiming?.(this.opts, req) ?? {};
      const timeoutMs = t.timeoutMs ?? this.timing.timeoutMs;
      const retries = t.retries ?? this.timing.retries;
      const noReply = this.def.noReply(this.opts, req);
      for (let attempt = 0; ; attempt++) {
        await this.keepGap();
        if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
        if (noReply) {
          await this.write(command, bytes);
          this.lastDoneAt = this.clock.monotonic();
          return undefined;
        }
        const wait = this.waitress.waitFor((r) => this.def.matches(this.opts, req, r), { command, timeoutMs });
        wait.promise.catch(noop); // awaited below unless the write fails first
        this.framer.expect?.(req);
        let reply: Rep;
        try {
          await this.write(command, bytes);
          reply = await wait.promise;
        } catch (e) {
          wait.cancel();
          this.lastDoneAt = this.clock.monotonic();
          if (e instanceof DeviceTimeoutError) {
            if (attempt < retries) {
              this.log.debug({ command, attempt }, 'no reply, retrying');
              continue;
            }
            // A display warming up may well be silent: that is not a sign of it being gone.
            if (!this.warming) this.reach.failure(`${command}: no reply within ${timeoutMs} ms`);
          }
          throw e;
        } finally {
          this.framer.expect?.(undefined);
        }
        this.lastDoneAt = this.clock.monotonic();
        this.reach.success();
        const out = this.def.outcome(this.opts, req, reply);
        if (out.ok) return reply;
        if (this.def.retryRefusal?.(this.opts, req, out, attempt)) {
          this.log.debug({ command, attempt, code: out.code }, 'refused, resending');
          continue;
        }
        throw new ProtocolNakError(this.device, command, out.code, out.reason);
      }
    });
  }

  private async keepGap(): Promise<void> {
    const from = this.timing.gapFrom === 'write' ? this.lastWriteAt : this.lastDoneAt;
    const gap = this.timing.gapMs - (this.clock.monotonic() - from);
    if (gap > 0) await sleep(gap);
  }

  private async write(command: string, bytes: Buffer): Promise<void> {
    try {
      await this.transport.write(bytes);
    } catch {
      throw new DeviceOfflineError(this.device, command);
    } finally {
      this.lastWriteAt = this.clock.monotonic();
    }
  }

  private async poll(): Promise<void> {
    const refresh = this.def.commands.refresh;
    if (!this.opened || this.polling || !refresh || !this.pollable || !this.transport.isUp) return;
    this.polling = true;
    try {
      this.publish('refresh', await refresh(this.session('refresh'), {}));
      this.noteFault(null);
    } catch (e) {
      this.log.debug({ err: e }, 'status poll failed');
      this.noteFault(e);
    } finally {
      this.polling = false;
    }
  }

  private noteFault(e: unknown): void {
    if (e === null) {
      if (!this.faulted) return;
      this.faulted = false;
      this.emit('fault', null);
      return;
    }
    this.faulted = true;
    this.emit('fault', e instanceof Error ? e : new Error(String(e)));
  }

  private markStale(): void {
    if (this.stale) return;
    this.stale = true;
    this.emit('state', { stale: true });
  }

  private readonly onData = (chunk: Buffer): void => {
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.reach.malformed(e);
    for (const reply of out.replies) {
      if (!this.waitress.resolve(reply)) this.log.debug({ reply }, 'reply nobody waits for (late, or another device)');
    }
  };

  private readonly onUp = (): void => {
    this.log.debug('transport up');
    if (this.def.onlineWithPort(this.opts)) this.reach.set(true);
    void this.poll();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.reach.down(`transport down${error ? `: ${error.message}` : ''}`);
  };
}

/** The DriverDefinition of a declarative protocol. */
export function defineProtocol<O, Req, Rep>(def: ProtocolDefinition<O, Req, Rep>) {
  return {
    driver: def.driver,
    kinds: def.kinds,
    transports: def.transports,
    summary: def.summary,
    ...(def.multidrop ? { multidrop: true } : {}),
    optionsSchema: def.optionsSchema,
    capabilities: (options: O) => def.capabilities(options),
    create: (ctx: DriverContext<O>) => new KitDriver(def, ctx),
    protocol: def,
  };
}
