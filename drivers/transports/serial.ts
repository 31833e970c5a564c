/**
 * Serial byte transport over node-serialport's SerialPortStream with an
 * injectable binding (the real one from `serialport`, or `MockBinding` in
 * tests), after node-serialport's bindings/stream split.
 *
 * Connection lifecycle:
 * - start() opens the port. If it cannot be opened (USB adapter missing), or
 *   an open port closes or fails (USB unplugged: the stream emits `close`
 *   with a DisconnectedError), the transport emits `down` once per outage and
 *   retries with exponential backoff + jitter until the port is back; every
 *   successful open emits `up`. An error flagged `canceled: true` is our own
 *   close, not a disconnect.
 * - One SerialPortStream per connection attempt: a stream that saw a
 *   disconnect may have ended its readable side, so it is never reused.
 * - The outage is logged once (warn) and the return once (info); the retries
 *   in between are debug-level only.
 * - Presence check: while up, the device path is stat()ed every
 *   `presenceCheckMs` (default 2 s with the platform binding; off with an
 *   injected one, whose paths are not files). A path that has disappeared
 *   (USB adapter unplugged: udev removes /dev/ttyUSB0 and its by-id link) is
 *   an outage even if the driver never signalled a hangup on the open fd,
 *   which some USB-serial drivers, and under load a pty, fail to do.
 */
import { stat } from 'node:fs/promises';
import { SerialPortStream } from '@serialport/stream';
// The package's exports map has no ESM types entry: resolve its typings as CommonJS.
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { Backoff } from './backoff.js';
import { TransportDownError, TransportEmitter, type ByteTransport } from './types.js';
import { silentLogger, type Logger } from '../../edge/util/logger.js';

export type { BindingInterface };

export interface SerialTransportOptions {
  /** Device path; prefer stable /dev/serial/by-id/... names. */
  path: string;
  baudRate: number;
  dataBits?: 5 | 6 | 7 | 8;
  parity?: 'none' | 'even' | 'odd';
  stopBits?: 1 | 2;
  /** Hardware access; default: the platform binding from `serialport` (autoDetect()). */
  binding?: BindingInterface;
  /** Reconnect backoff (default 250 ms doubling to 10 s, ±20 % jitter). */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** Interval of the device path's presence check while up; 0: off (default: 2000, or 0 with an injected binding). */
  presenceCheckMs?: number;
  logger?: Logger;
}

async function defaultBinding(): Promise<BindingInterface> {
  // Loaded lazily so tests with an injected binding never load native code.
  const { SerialPort } = await import('serialport');
  return SerialPort.binding;
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

export class SerialTransport extends TransportEmitter implements ByteTransport {
  readonly description: string;
  private readonly opts: SerialTransportOptions;
  private readonly backoff: Backoff;
  private readonly log: Logger;
  private binding: BindingInterface | undefined;
  /** The stream of the current attempt or connection (undefined between attempts). */
  private port: SerialPortStream | undefined;
  /** Settles when the in-flight open attempt has finished (successfully or not). */
  private opening: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private presenceTimer: NodeJS.Timeout | undefined;
  private readonly presenceCheckMs: number;
  private started = false;
  private up = false;
  /** `down` was emitted (and logged) for the current outage. */
  private outageReported = false;

  constructor(opts: SerialTransportOptions) {
    super();
    this.opts = opts;
    this.binding = opts.binding;
    this.description = `serial ${opts.path}@${opts.baudRate}`;
    this.backoff = new Backoff({ initialMs: opts.reconnect?.initialMs ?? 250, maxMs: opts.reconnect?.maxMs ?? 10_000 });
    this.log = (opts.logger ?? silentLogger()).child({ transport: this.description });
    this.presenceCheckMs = opts.presenceCheckMs ?? (opts.binding ? 0 : 2000);
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
    this.stopPresenceCheck();
    await this.opening;
    const port = this.port;
    this.port = undefined;
    if (port) await this.release(port);
    if (this.up) {
      this.up = false;
      this.emit('down', undefined);
    }
    this.outageReported = false;
    this.backoff.reset();
  }

  async write(bytes: Uint8Array): Promise<void> {
    const port = this.port;
    if (!this.up || !port) throw new TransportDownError(this.description);
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error | null): void => {
        if (settled) return;
        settled = true;
        port.off('close', onClose);
        if (err) reject(new Error(`${this.description}: write failed: ${err.message}`, { cause: err }));
        else resolve();
      };
      const onClose = (): void => {
        if (settled) return;
        settled = true;
        reject(new TransportDownError(this.description));
      };
      port.once('close', onClose);
      port.write(Buffer.from(bytes), (err) => {
        if (err) return finish(err);
        port.drain((drainErr) => finish(drainErr));
      });
    });
  }

  private connect(): void {
    if (!this.started || this.port || this.opening) return;
    let done!: () => void;
    this.opening = new Promise<void>((r) => (done = r));
    void this.attempt().finally(() => {
      this.opening = undefined;
      done();
    });
  }

  private async attempt(): Promise<void> {
    let port: SerialPortStream;
    try {
      this.binding ??= await defaultBinding();
      port = new SerialPortStream({
        binding: this.binding,
        path: this.opts.path,
        baudRate: this.opts.baudRate,
        dataBits: this.opts.dataBits ?? 8,
        parity: this.opts.parity ?? 'none',
        stopBits: this.opts.stopBits ?? 1,
        autoOpen: false,
      });
    } catch (e) {
      this.failed(asError(e));
      return;
    }
    this.port = port;
    port.on('data', (chunk: Buffer) => {
      if (port === this.port && this.up) this.emit('data', chunk);
    });
    port.on('error', (err: Error) => this.lost(port, err));
    port.on('close', (err: unknown) => this.lost(port, err instanceof Error ? err : new Error('port closed')));
    port.on('end', () => this.lost(port, new Error('port reached end of stream')));
    const err = await new Promise<Error | null>((resolve) => port.open((e) => resolve(e)));
    if (port !== this.port || !this.started) {
      // stop() ran meanwhile: it awaits this attempt, then releases the port.
      if (err && port === this.port) this.port = undefined;
      return;
    }
    if (err) {
      this.port = undefined;
      port.removeAllListeners();
      port.on('error', () => undefined);
      this.failed(err);
      return;
    }
    this.up = true;
    this.backoff.reset();
    if (this.outageReported) this.log.info('serial port is back');
    else this.log.info('serial port open');
    this.outageReported = false;
    this.emit('up');
    this.startPresenceCheck(port);
  }

  private startPresenceCheck(port: SerialPortStream): void {
    this.stopPresenceCheck();
    if (this.presenceCheckMs <= 0) return;
    const timer = setInterval(() => {
      stat(this.opts.path).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT' || e.code === 'ENODEV' || e.code === 'ENXIO') this.lost(port, new Error(`${this.opts.path} has disappeared (${e.code})`));
        },
      );
    }, this.presenceCheckMs);
    timer.unref();
    this.presenceTimer = timer;
  }

  private stopPresenceCheck(): void {
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.presenceTimer = undefined;
  }

  /** An open (or opening) port failed: drop it, report the outage, retry. */
  private lost(port: SerialPortStream, err: Error): void {
    if (port !== this.port || !this.started) return;
    if ((err as { canceled?: boolean }).canceled === true) return;
    if (!this.up && this.opening) return; // an open attempt in flight reports through its callback
    this.stopPresenceCheck();
    this.port = undefined;
    void this.release(port);
    this.failed(err);
  }

  private failed(err: Error): void {
    const wasUp = this.up;
    this.up = false;
    if (!this.outageReported) {
      this.outageReported = true;
      this.log.warn({ err: err.message }, wasUp ? 'serial port lost; reconnecting' : 'serial port unavailable; retrying');
      this.emit('down', err);
    } else {
      this.log.debug({ err: err.message, attempt: this.backoff.attempts }, 'serial port still unavailable');
    }
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (!this.started || this.retryTimer) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  /** Close a stream that is no longer ours, swallowing errors. */
  private async release(port: SerialPortStream): Promise<void> {
    port.removeAllListeners('data');
    port.on('error', () => undefined);
    if (port.isOpen) {
      await new Promise<void>((resolve) => port.close(() => resolve()));
    }
    port.removeAllListeners();
    port.on('error', () => undefined);
    port.destroy();
  }
}
