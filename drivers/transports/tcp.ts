/**
 * TCP byte transport (PJLink projectors, serial-over-IP gateways, VISCA over
 * TCP). Same lifecycle as the serial transport: connect on start(); on a
 * refused or timed-out connect, a reset, or an orderly close by the peer,
 * emit `down` once per outage and reconnect with exponential backoff +
 * jitter; emit `up` on every successful connect. TCP keep-alive is enabled so
 * a peer that vanishes without a FIN/RST is noticed eventually.
 */
import net from 'node:net';
import { Backoff } from './backoff.js';
import { TransportDownError, TransportEmitter, type ByteTransport } from './types.js';
import { silentLogger, type Logger } from '../../edge/util/logger.js';

export interface TcpTransportOptions {
  host: string;
  port: number;
  /** Give up a connect attempt after this long (default 5000 ms). */
  connectTimeoutMs?: number;
  /** Reconnect backoff (default 250 ms doubling to 10 s, ±20 % jitter). */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** TCP keep-alive initial delay (default 10 000 ms). */
  keepAliveMs?: number;
  logger?: Logger;
}

export class TcpTransport extends TransportEmitter implements ByteTransport {
  readonly description: string;
  private readonly opts: TcpTransportOptions;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private socket: net.Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private up = false;
  private outageReported = false;
  private everConnected = false;

  constructor(opts: TcpTransportOptions) {
    super();
    this.opts = opts;
    this.description = `tcp ${opts.host}:${opts.port}`;
    this.backoff = new Backoff({ initialMs: opts.reconnect?.initialMs ?? 250, maxMs: opts.reconnect?.maxMs ?? 10_000 });
    this.log = (opts.logger ?? silentLogger()).child({ transport: this.description });
  }

  get isUp(): boolean {
    return this.up;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket && !socket.destroyed) {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.destroy();
      await closed;
    }
    if (this.up) {
      this.up = false;
      this.emit('down', undefined);
    }
    this.outageReported = false;
    this.backoff.reset();
  }

  async write(bytes: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!this.up || !socket) throw new TransportDownError(this.description);
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        socket.off('close', onClose);
        socket.off('drain', onDrain);
        if (err) reject(err);
        else resolve();
      };
      const onClose = (): void => settle(new TransportDownError(this.description));
      const onDrain = (): void => settle();
      socket.once('close', onClose);
      const flushed = socket.write(Buffer.from(bytes), (err) => {
        if (err) settle(new Error(`${this.description}: write failed: ${err.message}`, { cause: err }));
        else if (flushed) settle();
      });
      if (!flushed) socket.once('drain', onDrain);
    });
  }

  private connect(): void {
    if (!this.started || this.socket) return;
    const timeoutMs = this.opts.connectTimeoutMs ?? 5000;
    const socket = net.createConnection({ host: this.opts.host, port: this.opts.port });
    this.socket = socket;
    let lastError: Error | undefined;
    const connectTimer = setTimeout(() => {
      socket.destroy(new Error(`connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => {
      clearTimeout(connectTimer);
      if (socket !== this.socket) return;
      socket.setNoDelay(true);
      socket.setKeepAlive(true, this.opts.keepAliveMs ?? 10_000);
      this.up = true;
      this.backoff.reset();
      // Protocols that connect per command (PJLink) reconnect all day: only the first
      // connection and a recovery are worth an info line.
      if (this.outageReported) this.log.info('connection is back');
      else if (!this.everConnected) this.log.info('connected');
      else this.log.debug('connected');
      this.everConnected = true;
      this.outageReported = false;
      this.emit('up');
    });
    socket.on('data', (chunk: Buffer) => {
      if (socket === this.socket && this.up) this.emit('data', chunk);
    });
    socket.on('error', (err) => {
      lastError = err;
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (socket !== this.socket) return;
      this.socket = undefined;
      if (!this.started) return;
      this.failed(lastError ?? new Error('connection closed by peer'));
    });
  }

  private failed(err: Error): void {
    const wasUp = this.up;
    this.up = false;
    if (!this.outageReported) {
      this.outageReported = true;
      this.log.warn({ err: err.message }, wasUp ? 'connection lost; reconnecting' : 'cannot connect; retrying');
      this.emit('down', err);
    } else {
      this.log.debug({ err: err.message, attempt: this.backoff.attempts }, 'still cannot connect');
    }
    if (this.retryTimer) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }
}
