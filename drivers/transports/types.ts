/**
 * Byte transports: the only way a driver touches hardware.
 *
 * A transport is started once and then keeps itself connected: when the far
 * end disappears (USB unplugged, TCP reset) it emits `down`, retries with
 * backoff, and emits `up` when the link returns. Drivers react to `up`/`down`
 * for online/offline; they never reopen ports themselves.
 */
import { EventEmitter } from 'node:events';

export interface ByteTransportEvents {
  /** Bytes received from the device, in arrival order. */
  data: [chunk: Buffer];
  /** The link is (again) usable. */
  up: [];
  /** The link was lost; `error` says why (undefined for an orderly close). */
  down: [error: Error | undefined];
}

export interface ByteTransport {
  /** Human-readable, e.g. "serial /dev/ttyUSB0@9600" — used in logs and errors. */
  readonly description: string;
  readonly isUp: boolean;
  /** Begin connecting; reconnects with backoff until stop(). Idempotent. */
  start(): void;
  /** Stop reconnecting and release the port. */
  stop(): Promise<void>;
  /** Write bytes; rejects with TransportDownError when the link is down. */
  write(bytes: Uint8Array): Promise<void>;
  on<E extends keyof ByteTransportEvents>(event: E, listener: (...args: ByteTransportEvents[E]) => void): this;
  off<E extends keyof ByteTransportEvents>(event: E, listener: (...args: ByteTransportEvents[E]) => void): this;
  once<E extends keyof ByteTransportEvents>(event: E, listener: (...args: ByteTransportEvents[E]) => void): this;
}

export class TransportDownError extends Error {
  override readonly name = 'TransportDownError';
  constructor(readonly transport: string) {
    super(`${transport} is not connected`);
  }
}

/** Typed EventEmitter base for transports. */
export class TransportEmitter extends EventEmitter {
  override on<E extends keyof ByteTransportEvents>(event: E, listener: (...args: ByteTransportEvents[E]) => void): this {
    return super.on(event, listener as (...a: unknown[]) => void);
  }
  override off<E extends keyof ByteTransportEvents>(event: E, listener: (...args: ByteTransportEvents[E]) => void): this {
    return super.off(event, listener as (...a: unknown[]) => void);
  }
  override once<E extends keyof ByteTransportEvents>(event: E, listener: (...args: ByteTransportEvents[E]) => void): this {
    return super.once(event, listener as (...a: unknown[]) => void);
  }
  override emit<E extends keyof ByteTransportEvents>(event: E, ...args: ByteTransportEvents[E]): boolean {
    return super.emit(event, ...args);
  }
}

/** The listeners a driver puts on its byte transport (`data` left out by send-only drivers). */
export interface TransportListeners {
  data?: (chunk: Buffer) => void;
  up: () => void;
  down: (error: Error | undefined) => void;
}

/**
 * How a driver takes its transport: listen, start it, and report `up` at once when it already is
 * (a line shared with other devices, opened before this driver).
 */
export function attachTransport(transport: ByteTransport, l: TransportListeners): void {
  if (l.data) transport.on('data', l.data);
  transport.on('up', l.up);
  transport.on('down', l.down);
  transport.start();
  if (transport.isUp) l.up();
}

/** Removes what attachTransport added; stopping the transport stays the owner's decision. */
export function detachTransport(transport: ByteTransport, l: TransportListeners): void {
  if (l.data) transport.off('data', l.data);
  transport.off('up', l.up);
  transport.off('down', l.down);
}
