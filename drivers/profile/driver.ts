/**
 * Table-driven panel driver (`panel-profile`): a panel whose protocol is
 * declared in config (frames to send, patterns of the replies; ./schema.ts)
 * instead of code, for vendors without a driver here (Seewo, Newline, ...).
 * The vendor document followed is the panel's own RS-232 manual, cited in
 * the profile by whoever writes it; docs/drivers/panel-profile.md has two
 * example profiles.
 *
 * - With `ack`, every set waits for `ack.ok` (resolves) or `ack.error`
 *   (DeviceNakError); silence is a DeviceTimeoutError. Without `ack` the
 *   profile is send-only.
 * - With `commands.query.power`, the power state is polled: the device goes
 *   online on a reply and offline after `offlineAfter` failed requests, like
 *   the Samsung driver. Without it, state is the last commanded one (the
 *   driver emits `{ tracked: true }` at open) and online = the port is up.
 *
 * One request in flight (Mutex), `interCommandMs` between frames, replies
 * found by ./framer.ts among the patterns the request waits for and matched
 * by a Waitress.
 */
import { commandTable, parseCommand, inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Waitress } from '../util/waitress.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { compileProfile, PATTERN_IDS, type CompiledPattern, type CompiledProfile } from './codec.js';
import { ProfileScanner, type ScanMatch } from './framer.js';
import { profileOptionsSchema, type ProfileOptions } from './schema.js';

export { profileOptionsSchema, type ProfileOptions };

export function profileCapabilities(options: ProfileOptions): Capability[] {
  const c = options.commands;
  const caps = [power(), inputSelect(Object.keys(c.inputs))];
  if (c.volume !== undefined) caps.push(volume(options.volumeMax));
  if (c.muteOn !== undefined && c.muteOff !== undefined) caps.push(mute());
  if (c.query?.power) caps.push(status());
  return caps;
}

const noop = (): void => undefined;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const show = (text: string): string => JSON.stringify(text);

export class ProfileDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: ProfileOptions;
  private readonly profile: CompiledProfile;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly lock = new Mutex();
  private readonly waitress: Waitress<ScanMatch>;
  private readonly scanner: ProfileScanner;
  private readonly commands: ReturnType<typeof commandTable>;
  /** Every reply pattern of the profile (used while no request waits, to tell late replies from garbage). */
  private readonly allPatterns: CompiledPattern[];
  /** Patterns the request in flight waits for. */
  private active: CompiledPattern[] = [];
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  /** Last commanded mute, for toggle keys (muteOn and muteOff are the same frame). */
  private muted: boolean | null = null;
  private online: boolean | null = null;
  private failures = 0;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;

  constructor(ctx: DriverContext<ProfileOptions>) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: panel-profile needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.profile = compileProfile(ctx.options);
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:profile', device: ctx.deviceId });
    this.waitress = new Waitress<ScanMatch>(ctx.deviceId);
    this.scanner = new ProfileScanner(this.profile.encoding, this.profile.terminator);
    this.commands = commandTable(profileCapabilities(ctx.options));
    const q = this.profile.powerQuery;
    const a = this.profile.ack;
    this.allPatterns = [a?.ok, a?.error, q?.on, q?.off].filter((p): p is CompiledPattern => p !== undefined);
  }

  private get tracked(): boolean {
    return this.profile.powerQuery === undefined;
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    if (this.tracked) this.emit('state', { tracked: true });
    else {
      this.pollTimer = setInterval(() => void this.poll(), this.opts.pollSeconds * 1000);
      this.pollTimer.unref?.();
    }
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
    const a = parseCommand(this.commands, this.device, 'this panel profile', command, args);
    const p = this.profile;
    switch (command) {
      case 'power':
        return this.set(command, a.on === true ? p.powerOn : p.powerOff, { power: a.on === true ? 'on' : 'off' });
      case 'input': {
        const frame = p.inputs.get(String(a.source));
        if (!frame) throw new DeviceError('invalid-args', this.device, command, `unknown input "${String(a.source)}"`);
        return this.set(command, frame, { input: String(a.source) });
      }
      case 'volume':
        if (!p.volume) break;
        return this.set(command, p.volume(Number(a.level)), { volume: Number(a.level) });
      case 'mute': {
        const on = a.on === true;
        const frame = on ? p.muteOn : p.muteOff;
        if (!frame) break;
        const toggle = p.muteOff !== undefined && p.muteOn !== undefined && p.muteOn.equals(p.muteOff);
        if (toggle && this.muted === on) return { mute: on }; // a toggle would undo it
        const patch = await this.set(command, frame, { mute: on });
        this.muted = on;
        return patch;
      }
      case 'refresh':
        return this.queryPower(command);
    }
    throw new DeviceError('unsupported', this.device, command, `this panel profile has no command "${command}"`);
  }

  /** Send a set; with `ack`, wait for ok/error. Resolves with the state it sets. */
  private async set(command: string, frame: Buffer, patch: StatePatch): Promise<StatePatch> {
    const ack = this.profile.ack;
    const reply = await this.request(command, frame, ack ? [ack.ok, ...(ack.error ? [ack.error] : [])] : []);
    if (reply?.id === PATTERN_IDS.error) throw new DeviceNakError(this.device, command, `error reply ${show(reply.text)}`);
    this.emit('state', patch);
    return patch;
  }

  private async queryPower(command: string): Promise<StatePatch> {
    const q = this.profile.powerQuery;
    if (!q) throw new DeviceError('unsupported', this.device, command, 'the profile declares no power query');
    const error = this.profile.ack?.error;
    const reply = await this.request(command, q.send, [q.on, q.off, ...(error ? [error] : [])]);
    if (!reply) throw new DeviceError('protocol', this.device, command, 'no reply pattern to wait for');
    if (reply.id === PATTERN_IDS.error) throw new DeviceNakError(this.device, command, `error reply ${show(reply.text)}`);
    const patch: StatePatch = { power: reply.id === PATTERN_IDS.on ? 'on' : 'off' };
    this.emit('state', patch);
    return patch;
  }

  /**
   * Write one frame under the lock, `interCommandMs` after the previous one;
   * wait for one of `patterns` (none: send-only, resolves undefined once written).
   */
  private async request(command: string, frame: Buffer, patterns: CompiledPattern[]): Promise<ScanMatch | undefined> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      const ids = new Set(patterns.map((p) => p.id));
      for (let attempt = 0; ; attempt++) {
        const gap = this.opts.interCommandMs - (this.clock.monotonic() - this.lastWriteAt);
        if (gap > 0) await sleep(gap);
        if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
        this.scanner.reset(); // whatever is buffered is not the reply to this frame
        this.active = patterns;
        const wait = ids.size > 0 ? this.waitress.waitFor((m) => ids.has(m.id), { command, timeoutMs: this.opts.timeoutMs }) : undefined;
        wait?.promise.catch(noop);
        try {
          try {
            await this.transport.write(frame);
          } catch {
            throw new DeviceOfflineError(this.device, command);
          } finally {
            this.lastWriteAt = this.clock.monotonic();
          }
          if (!wait) return undefined;
          const reply = await wait.promise;
          this.noteSuccess();
          return reply;
        } catch (e) {
          wait?.cancel();
          if (e instanceof DeviceTimeoutError) {
            if (attempt < this.opts.retries) {
              this.log.debug({ command, attempt }, 'no reply, retrying');
              continue;
            }
            this.noteFailure(`${command}: no reply within ${this.opts.timeoutMs} ms`);
          }
          throw e;
        } finally {
          this.active = [];
        }
      }
    });
  }

  private async poll(): Promise<void> {
    if (!this.opened || this.polling || !this.transport.isUp) return;
    this.polling = true;
    try {
      await this.queryPower('refresh');
    } catch (e) {
      this.log.debug({ err: e }, 'power poll failed');
    } finally {
      this.polling = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.allPatterns.length === 0) {
      this.log.debug({ bytes: chunk.length }, 'send-only profile: ignoring received bytes');
      return;
    }
    const idle = this.active.length === 0;
    const out = this.scanner.push(chunk, idle ? this.allPatterns : this.active);
    for (const e of out.errors) this.malformed(e);
    for (const m of out.matches) {
      if (idle || !this.waitress.resolve(m)) this.log.debug({ id: m.id, text: m.text }, 'reply nobody waits for (late?)');
    }
  };

  private readonly onUp = (): void => {
    this.log.debug('transport up');
    if (this.tracked) this.setOnline(true);
    else void this.poll();
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.scanner.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.failures = 0;
    this.setOnline(false, `transport down${error ? `: ${error.message}` : ''}`);
  };

  private noteFailure(reason: string): void {
    if (this.tracked) return; // nothing would bring it back online: no query to poll
    this.failures++;
    if (this.failures >= this.opts.offlineAfter) this.setOnline(false, reason);
  }

  private noteSuccess(): void {
    this.failures = 0;
    this.setOnline(true);
  }

  private setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info(this.tracked ? 'panel port up (state is tracked)' : 'panel reachable');
    else this.log.warn({ reason }, 'panel unreachable');
    this.emit('online', online, reason);
  }

  private malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed data from panel');
    this.emit('malformed', detail);
  }
}

export const profileDriver: DriverDefinition<ProfileOptions> = {
  driver: 'panel-profile',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: "Panels described as data (frames and reply patterns from the panel's RS-232 manual)",
  optionsSchema: profileOptionsSchema,
  capabilities: (options) => profileCapabilities(options),
  create: (ctx) => new ProfileDriver(ctx),
};
