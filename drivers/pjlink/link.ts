/**
 * PJLink connection handling: one short TCP connection per exchange.
 *
 * JBMIA PJLink Specifications 1.04 §3/§5: a connection starts with the
 * projector's greeting (`PJLINK 0` or `PJLINK 1 <random>`); with
 * authentication the first command of each connection carries
 * MD5(random + password). Projectors close idle connections (Hitachi's
 * manuals: after 30 s without traffic; Panasonic's own LAN protocol even
 * after every reply) and many serve one controller connection at a time. So the driver does not hold a
 * connection: each exchange (a command, or the few queries of a poll) opens
 * one, reads the greeting, authenticates, sends its lines and closes it. If
 * the projector hangs up between two lines of an exchange, the next line
 * reconnects transparently.
 *
 * The connection is the driver's ByteTransport, started and stopped per
 * exchange: for `tcp` the shared TcpTransport (start() connects, stop()
 * closes), for `sim` the in-memory pair (the simulator greets each time the
 * host end comes up).
 */
import type { Logger } from '../../edge/util/logger.js';
import { DeviceTimeoutError } from '../errors.js';
import type { ByteTransport } from '../transports/types.js';
import { Mutex } from '../util/mutex.js';
import { Waitress } from '../util/waitress.js';
import { decodePjlinkReply, encodePjlinkCommand, pjlinkDigest, type PjlinkCommand, type PjlinkReply } from './codec.js';
import { PjlinkAuthError, PjlinkConnectionError } from './errors.js';
import { PjlinkLineFramer } from './framer.js';

export type PjlinkResponse = Extract<PjlinkReply, { kind: 'response' }>;

export interface PjlinkLinkOptions {
  device: string;
  transport: ByteTransport;
  /** Wait for the connection + greeting, and for each reply. */
  timeoutMs: number;
  /** Never logged. */
  password: string | undefined;
  log: Logger;
  onMalformed: (detail: string) => void;
}

export interface PjlinkExchange {
  /** Send one command line and wait for its response (ERRx responses are returned, not thrown). */
  send(cmd: PjlinkCommand): Promise<PjlinkResponse>;
}

const noop = (): void => undefined;

export class PjlinkLink {
  private readonly o: PjlinkLinkOptions;
  private readonly lock = new Mutex();
  private readonly waitress: Waitress<PjlinkReply>;
  private readonly framer = new PjlinkLineFramer('controller');
  private attached = false;
  /** An exchange is running (the transport is ours to start and stop). */
  private active = false;
  /** We are stopping the transport ourselves: its `down` is expected. */
  private stopping = false;
  /** The current connection has come up / has greeted / digest still to send. */
  private linkUp = false;
  private greeted = false;
  private digest: string | undefined;

  constructor(options: PjlinkLinkOptions) {
    this.o = options;
    this.waitress = new Waitress<PjlinkReply>(options.device);
  }

  attach(): void {
    if (this.attached) return;
    this.attached = true;
    this.o.transport.on('data', this.onData);
    this.o.transport.on('up', this.onUp);
    this.o.transport.on('down', this.onDown);
  }

  async detach(): Promise<void> {
    if (!this.attached) return;
    this.attached = false;
    this.waitress.rejectAll((cmd) => new PjlinkConnectionError(this.o.device, cmd, 'closed', 'driver closed'));
    await this.stopTransport();
    this.o.transport.off('data', this.onData);
    this.o.transport.off('up', this.onUp);
    this.o.transport.off('down', this.onDown);
  }

  /** Run one exchange on a fresh connection, closed afterwards whatever happens. */
  exchange<T>(command: string, fn: (x: PjlinkExchange) => Promise<T>): Promise<T> {
    return this.lock.runExclusive(async () => {
      if (!this.attached) throw new PjlinkConnectionError(this.o.device, command, 'closed', 'driver closed');
      this.active = true;
      this.greeted = false;
      try {
        return await fn({ send: (cmd) => this.send(command, cmd) });
      } finally {
        this.waitress.rejectAll((cmd) => new PjlinkConnectionError(this.o.device, cmd, 'closed', 'exchange ended'));
        await this.stopTransport();
        this.active = false;
      }
    });
  }

  private async send(command: string, cmd: PjlinkCommand): Promise<PjlinkResponse> {
    try {
      return await this.sendOnce(command, cmd);
    } catch (e) {
      // The projector hung up before answering (it closes after each reply, or
      // its idle timer fired as we wrote): once more on a new connection. Safe,
      // as every PJLink command sets an absolute state.
      if (!(e instanceof PjlinkConnectionError && e.stage === 'closed' && this.attached)) throw e;
      this.o.log.debug({ command: cmd.command }, 'connection closed before the reply; sending again on a new connection');
      return this.sendOnce(command, cmd);
    }
  }

  private async sendOnce(command: string, cmd: PjlinkCommand): Promise<PjlinkResponse> {
    if (!this.greeted) await this.connect(command);
    const body = cmd.command.toUpperCase();
    const wait = this.waitress.waitFor((r) => r.kind === 'auth-error' || (r.kind === 'response' && r.command === body), {
      command,
      timeoutMs: this.o.timeoutMs,
    });
    wait.promise.catch(noop);
    const digest = this.digest;
    this.digest = undefined;
    try {
      await this.o.transport.write(encodePjlinkCommand(cmd, digest));
    } catch (e) {
      wait.cancel();
      throw new PjlinkConnectionError(this.o.device, command, 'closed', `cannot send: ${(e as Error).message}`);
    }
    const reply = await wait.promise;
    if (reply.kind === 'auth-error') {
      this.greeted = false;
      throw new PjlinkAuthError(this.o.device, command, 'the projector refused the password (check passwordFile)');
    }
    if (reply.kind !== 'response') throw new Error('unreachable: matcher admits responses only');
    return reply;
  }

  /** Open a fresh connection and read its greeting. */
  private async connect(command: string): Promise<void> {
    await this.stopTransport(); // a connection left from before has lost its greeting
    this.framer.reset();
    this.linkUp = false;
    this.digest = undefined;
    const wait = this.waitress.waitFor((r) => r.kind === 'greeting' || r.kind === 'auth-error', {
      command,
      timeoutMs: this.o.timeoutMs,
    });
    wait.promise.catch(noop);
    this.o.transport.start();
    let greeting: PjlinkReply;
    try {
      greeting = await wait.promise;
    } catch (e) {
      if (e instanceof DeviceTimeoutError && !this.linkUp) {
        throw new PjlinkConnectionError(this.o.device, command, 'connect', `cannot connect to ${this.o.transport.description} within ${this.o.timeoutMs} ms`);
      }
      if (e instanceof DeviceTimeoutError) {
        throw new DeviceTimeoutError(this.o.device, `${command} (waiting for the PJLINK greeting)`, this.o.timeoutMs);
      }
      throw e;
    }
    if (greeting.kind === 'auth-error') {
      throw new PjlinkAuthError(this.o.device, command, 'the projector refused the connection');
    }
    if (greeting.kind !== 'greeting') throw new Error('unreachable: matcher admits greetings only');
    if (greeting.auth) {
      if (this.o.password === undefined) {
        throw new PjlinkAuthError(this.o.device, command, 'the projector requires a password and none is configured (set passwordFile)');
      }
      this.digest = pjlinkDigest(greeting.random, this.o.password);
    }
    this.greeted = true;
    this.o.log.debug({ auth: greeting.auth }, 'connected, greeting received');
  }

  private async stopTransport(): Promise<void> {
    this.stopping = true;
    try {
      await this.o.transport.stop();
    } finally {
      this.stopping = false;
      this.linkUp = false;
      this.greeted = false;
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    const out = this.framer.push(chunk);
    for (const e of out.errors) this.o.onMalformed(e);
    for (const line of out.frames) {
      const reply = decodePjlinkReply(line);
      if (!reply.ok) {
        this.o.onMalformed(reply.error);
        continue;
      }
      if (!this.waitress.resolve(reply.value)) this.o.log.debug({ line }, 'line nobody waits for (late reply or notification)');
    }
  };

  private readonly onUp = (): void => {
    if (!this.active) return;
    this.linkUp = true;
    this.framer.reset();
  };

  private readonly onDown = (error: Error | undefined): void => {
    if (this.stopping || !this.active) return;
    const wasUp = this.linkUp;
    this.linkUp = false;
    this.greeted = false;
    const why = error?.message ?? 'connection closed by the projector';
    this.waitress.rejectAll(
      (cmd) => new PjlinkConnectionError(this.o.device, cmd, wasUp ? 'closed' : 'connect', wasUp ? `connection lost: ${why}` : `cannot connect: ${why}`),
    );
  };
}
