/**
 * Sony VISCA PTZ camera driver (`visca`): VISCA packets on a byte stream —
 * RS-232/RS-422 serial, or raw VISCA over TCP/UDP as many PTZ cameras offer
 * it. The VISCA-over-IP variant with Sony's 8-byte header is ./ip-driver.ts,
 * built on this class.
 *
 * Follows the Sony SRG-300H / SRG-120DH technical manual, "VISCA command
 * list" pp.28-31 (command/ACK protocol, sockets, error messages, CAM_Power,
 * CAM_Zoom, CAM_Memory, CAM_PowerInq). Framing in ./framer.ts, packets in
 * ./codec.ts.
 *
 * A command is accepted with ACK `z0 4y FF` into socket y (1 or 2) and
 * resolves at its completion `z0 5y FF`, which for a preset move comes when
 * the move ends. The camera holds two commands at a time, so at most two are
 * outstanding (./slots.ts) and a third waits. The line is held (a Mutex) only
 * from writing a command until its ACK or error, so an ACK, which names only a
 * socket, always belongs to the one command awaiting it, and errors without a
 * socket (`60 02` syntax, `60 03` buffer full) too; completions and socket
 * errors are matched by socket. Inquiries (`8x 09 ...`) get no ACK: the answer
 * `y0 50 ... FF` comes directly, also under the line lock.
 */
import { commandTable, parseCommand } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Waitress, type Wait } from '../util/waitress.js';
import type { Logger } from '../../edge/util/logger.js';
import { decodePowerInquiry, decodeViscaReply, encodeViscaRequest, viscaErrorName, type ViscaRequest, type ZoomDirection } from './codec.js';
import { ViscaFramer } from './framer.js';
import { ackMatcher, doneMatcher, inquiryMatcher, type SocketSlot, type ViscaIncoming } from './matching.js';
import { viscaCapabilities, viscaOptionsSchema, type ViscaCoreOptions, type ViscaOptions } from './options.js';
import { SocketSlots } from './slots.js';

export { viscaBaseOptions, viscaCapabilities, viscaOptionsSchema, type ViscaCoreOptions, type ViscaOptions } from './options.js';
export type { ViscaIncoming } from './matching.js';

const noop = (): void => undefined;

export interface ViscaDriverExtras {
  /** Lock shared by every camera on one daisy chain; default: `ctx.line.lock`, else a lock of its own. */
  busLock?: Mutex;
}

export class ViscaDriver extends DriverEmitter implements DeviceDriver {
  protected readonly transport: ByteTransport;
  protected readonly device: string;
  protected readonly log: Logger;
  protected readonly lock: Mutex;
  protected readonly waitress: Waitress<ViscaIncoming>;
  private readonly opts: ViscaCoreOptions;
  private readonly framer: ViscaFramer;
  private readonly commands: ReturnType<typeof commandTable>;
  private readonly slots = new SocketSlots(2);
  /** Sockets holding an ACKed command (serial matching). */
  private readonly busySockets = new Set<number>();
  private online: boolean | null = null;
  private failures = 0;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling = false;
  private opened = false;
  /** False on a shared line (daisy chain): the supervisor owns the transport. */
  private readonly ownsTransport: boolean;

  constructor(ctx: DriverContext<ViscaCoreOptions>, extras: ViscaDriverExtras = {}, ns = 'drv:visca') {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: VISCA needs a byte transport (serial, tcp or udp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.log = ctx.logger.child({ ns, device: ctx.deviceId });
    this.lock = extras.busLock ?? ctx.line?.lock ?? new Mutex();
    this.ownsTransport = !(ctx.line?.shared ?? false);
    this.waitress = new Waitress<ViscaIncoming>(ctx.deviceId);
    this.framer = new ViscaFramer({ role: 'host', now: () => ctx.clock.monotonic() });
    this.commands = commandTable(viscaCapabilities(ctx.options.presets));
  }

  /** Commands outstanding at the camera (ACKed or awaiting ACK) and waiting for a socket. */
  get queue(): { outstanding: number; waiting: number } {
    return { outstanding: this.slots.outstanding, waiting: this.slots.waiting };
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
    if (this.ownsTransport) await this.transport.stop();
  }

  async execute(command: string, args: Record<string, unknown>): Promise<StatePatch> {
    const a = parseCommand(this.commands, this.device, 'VISCA camera', command, args);
    let patch: StatePatch;
    switch (command) {
      case 'power':
        await this.runCommand(command, { kind: 'power', on: a.on === true });
        patch = { power: a.on === true ? 'on' : 'off' };
        break;
      case 'zoom': {
        const direction = a.direction as ZoomDirection;
        const speed = typeof a.speed === 'number' ? a.speed : undefined;
        await this.runCommand(command, speed === undefined ? { kind: 'zoom', direction } : { kind: 'zoom', direction, speed });
        patch = { zoom: direction };
        break;
      }
      case 'zoom-to':
        await this.runCommand(command, { kind: 'zoom-direct', position: Number(a.position) });
        patch = { zoom: 'stop', zoomPosition: Number(a.position) };
        break;
      case 'preset':
      case 'preset-set': {
        const n = Number(command === 'preset' ? a.recall : a.store);
        if (n >= this.opts.presets) {
          throw new DeviceError('invalid-args', this.device, command, `preset ${n} out of range 0..${this.opts.presets - 1}`);
        }
        await this.runCommand(command, { kind: 'preset', action: command === 'preset' ? 'recall' : 'set', preset: n });
        patch = { preset: n };
        break;
      }
      case 'refresh':
        patch = await this.refresh(command);
        break;
      default:
        throw new DeviceError('unsupported', this.device, command, `VISCA camera has no command "${command}"`);
    }
    this.emit('state', patch);
    return patch;
  }

  // ---- hooks for the transport variant (./ip-driver.ts overrides them) ----

  /** Wrap a VISCA packet for the wire; `seq` identifies the replies when the variant has one. */
  protected frame(packet: Buffer, _kind: 'command' | 'inquiry'): { bytes: Buffer; seq?: number } {
    return { bytes: packet };
  }

  /** Run before each request, holding the line (IP: sequence reset). */
  protected async prepare(_command: string): Promise<void> {}

  /** Send a request; returns a function that stops any retransmission (IP). */
  protected async transmit(command: string, bytes: Buffer): Promise<() => void> {
    await this.write(command, bytes);
    return noop;
  }

  /** Attempts per request when the ACK/answer does not come (1 + retries). */
  protected get attempts(): number {
    return 1 + this.opts.retries;
  }

  /** Decode received bytes and offer them to the waitress. */
  protected receive(chunk: Buffer): void {
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.malformed(e);
    for (const packet of out.frames) {
      const reply = decodeViscaReply(packet);
      if (!reply.ok) this.malformed(reply.error);
      else this.dispatch({ type: 'visca', reply: reply.value });
    }
  }

  protected dispatch(msg: ViscaIncoming): void {
    if (msg.type === 'visca' && msg.reply.address !== this.opts.address) return; // another camera on the chain
    if (this.waitress.resolve(msg)) return;
    if (msg.type === 'visca' && msg.reply.kind === 'network-change') {
      this.log.info('camera reports a network change (power applied)');
      void this.poll();
      return;
    }
    this.log.debug({ msg }, 'reply nobody waits for (late, or after a timeout)');
  }

  protected async write(command: string, bytes: Buffer): Promise<void> {
    try {
      await this.transport.write(bytes);
    } catch {
      throw new DeviceOfflineError(this.device, command);
    }
  }

  protected malformed(detail: string): void {
    this.log.warn({ detail }, 'malformed packet from camera');
    this.emit('malformed', detail);
  }

  protected noteFailure(reason: string): void {
    this.failures++;
    if (this.failures >= this.opts.offlineAfter) this.setOnline(false, reason);
  }

  protected noteSuccess(): void {
    this.failures = 0;
    this.setOnline(true);
  }

  protected setOnline(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.log.info('camera reachable');
    else this.log.warn({ reason }, 'camera unreachable');
    this.emit('online', online, reason);
  }

  private nakError(command: string, code: number): DeviceNakError {
    return new DeviceNakError(this.device, command, `${viscaErrorName(code)} (VISCA 0x${code.toString(16).padStart(2, '0')})`);
  }

  // ---- requests ----

  /** Send a command and resolve at its completion. */
  private async runCommand(command: string, req: ViscaRequest): Promise<void> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    if (this.slots.full) throw new DeviceError('busy', this.device, command, 'too many commands waiting for the camera');
    const release = await this.slots.acquire();
    try {
      if (!this.opened || !this.transport.isUp) throw new DeviceOfflineError(this.device, command);
      const slot: SocketSlot = {};
      try {
        const done = await this.lock.runExclusive(() => this.sendUntilAccepted(command, req, slot));
        if (done === 'completed') return;
        const msg = await done.promise;
        if (msg.type === 'visca' && msg.reply.kind === 'error') throw this.nakError(command, msg.reply.code);
      } finally {
        if (slot.socket !== undefined) this.busySockets.delete(slot.socket);
      }
    } finally {
      release();
    }
  }

  /** Phase 1, holding the line: write and wait for the ACK (retrying on silence). */
  private async sendUntilAccepted(command: string, req: ViscaRequest, slot: SocketSlot): Promise<Wait<ViscaIncoming> | 'completed'> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    await this.prepare(command);
    const packet = encodeViscaRequest(this.opts.address, req);
    for (let attempt = 1; ; attempt++) {
      const { bytes, seq } = this.frame(packet, 'command');
      const ack = this.waitress.waitFor(ackMatcher(seq, slot, this.busySockets), { command, timeoutMs: this.opts.timeoutMs });
      const done = this.waitress.waitFor(doneMatcher(seq, slot), { command, timeoutMs: this.opts.completionTimeoutMs });
      ack.promise.catch(noop);
      done.promise.catch(noop);
      let stop = noop;
      try {
        stop = await this.transmit(command, bytes);
        const first = await Promise.race([
          ack.promise.then((m) => ({ phase: 'ack' as const, m })),
          done.promise.then((m) => ({ phase: 'done' as const, m })),
        ]);
        stop();
        this.noteSuccess();
        if (first.phase === 'done') {
          // Completion before any ACK (the ACK datagram was lost).
          ack.cancel();
          if (first.m.type === 'visca' && first.m.reply.kind === 'error') throw this.nakError(command, first.m.reply.code);
          return 'completed';
        }
        const m = first.m;
        if (m.type === 'visca' && m.reply.kind === 'error') {
          done.cancel();
          throw this.nakError(command, m.reply.code);
        }
        if (m.type === 'control') this.log.debug({ command, seq }, 'sequence error on retransmission: the command was already accepted');
        return done;
      } catch (e) {
        stop();
        ack.cancel();
        done.cancel();
        if (e instanceof DeviceTimeoutError) {
          if (attempt < this.attempts) {
            this.log.debug({ command, attempt }, 'no ACK, sending again');
            continue;
          }
          this.noteFailure(`${command}: no ACK within ${this.opts.timeoutMs} ms`);
        }
        throw e;
      }
    }
  }

  /** Send an inquiry under the line lock and return the answer's data. */
  protected async inquire(command: string, req: ViscaRequest): Promise<Buffer> {
    if (!this.transport.isUp) throw new DeviceOfflineError(this.device, command);
    return this.lock.runExclusive(async () => {
      if (!this.opened || !this.transport.isUp) throw new DeviceOfflineError(this.device, command);
      await this.prepare(command);
      const packet = encodeViscaRequest(this.opts.address, req);
      for (let attempt = 1; ; attempt++) {
        const { bytes, seq } = this.frame(packet, 'inquiry');
        const wait = this.waitress.waitFor(inquiryMatcher(seq), { command, timeoutMs: this.opts.timeoutMs });
        wait.promise.catch(noop);
        let stop = noop;
        try {
          stop = await this.transmit(command, bytes);
          const msg = await wait.promise;
          stop();
          this.noteSuccess();
          if (msg.type === 'control') {
            // The answer was lost and our retransmission repeated its number: ask again with a new one.
            if (attempt < this.attempts + 1) continue;
            throw new DeviceError('protocol', this.device, command, 'camera keeps rejecting the sequence number');
          }
          if (msg.reply.kind === 'error') throw this.nakError(command, msg.reply.code);
          return msg.reply.kind === 'completion' ? msg.reply.data : Buffer.alloc(0);
        } catch (e) {
          stop();
          wait.cancel();
          if (e instanceof DeviceTimeoutError) {
            if (attempt < this.attempts) continue;
            this.noteFailure(`${command}: no answer within ${this.opts.timeoutMs} ms`);
          }
          throw e;
        }
      }
    });
  }

  private async refresh(command: string): Promise<StatePatch> {
    const data = await this.inquire(command, { kind: 'power-inquiry' });
    const p = decodePowerInquiry(data);
    if (!p.ok) {
      this.malformed(p.error);
      throw new DeviceError('protocol', this.device, command, p.error);
    }
    return { power: p.value };
  }

  private async poll(): Promise<void> {
    if (!this.opened || this.polling || !this.transport.isUp) return;
    this.polling = true;
    try {
      this.emit('state', await this.refresh('refresh'));
    } catch (e) {
      this.log.debug({ err: e }, 'power inquiry failed');
    } finally {
      this.polling = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.receive(chunk);
    } catch (e) {
      this.malformed(`receive failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  private readonly onUp = (): void => {
    this.log.debug('transport up');
    void this.poll();
  };

  protected readonly onDown = (error: Error | undefined): void => {
    this.framer.reset();
    this.waitress.rejectAll((cmd) => new DeviceOfflineError(this.device, cmd));
    this.busySockets.clear();
    this.failures = 0;
    this.setOnline(false, `transport down${error ? `: ${error.message}` : ''}`);
  };
}

export const viscaDriver: DriverDefinition<ViscaOptions> = {
  driver: 'visca',
  kinds: ['camera'],
  transports: ['serial', 'tcp', 'udp', 'sim'],
  multidrop: true,
  summary: 'Sony VISCA PTZ camera over RS-232/RS-422 or raw VISCA over TCP/UDP (Sony SRG-300H manual, VISCA command list pp.28-31)',
  optionsSchema: viscaOptionsSchema,
  capabilities: (o) => viscaCapabilities(o.presets),
  create: (ctx) => new ViscaDriver(ctx),
};
