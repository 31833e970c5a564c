/**
 * A size guard in front of aedes: MQTT allows packets of up to 256 MiB and
 * aedes (mqtt-packet) buffers a whole packet before handing it over, so one
 * client could make the broker hold that much memory before any hook runs.
 *
 * GuardedConnection wraps the raw byte stream (TCP socket or WebSocket
 * stream), follows the MQTT fixed headers (type byte + "remaining length"
 * varint, MQTT 3.1.1 section 2.2) without decoding anything else, and
 * destroys the connection as soon as a packet announces more than
 * `maxPacketBytes`. Payloads above the bus limit but within this bound reach
 * authorizePublish, which rejects them without disconnecting (broker.ts).
 */
import { Duplex } from 'node:stream';

export class PacketTooLargeError extends Error {
  override name = 'PacketTooLargeError';
  constructor(
    readonly announced: number,
    readonly limit: number,
  ) {
    super(`MQTT packet of at least ${announced} bytes exceeds the limit of ${limit}`);
  }
}

export class MalformedLengthError extends Error {
  override name = 'MalformedLengthError';
  constructor() {
    super('MQTT remaining length longer than 4 bytes');
  }
}

/** Incremental scanner of MQTT fixed headers; returns an error when a packet is too large or malformed. */
export class PacketSizeScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private remaining = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly maxPacketBytes: number) {}

  push(chunk: Uint8Array): PacketTooLargeError | MalformedLengthError | null {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const b = chunk[i++] ?? 0;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (this.length > this.maxPacketBytes) return new PacketTooLargeError(this.length, this.maxPacketBytes);
      if (b & 0x80) {
        if (this.lengthBytes >= 4) return new MalformedLengthError();
        continue;
      }
      this.remaining = this.length;
      this.state = this.remaining === 0 ? 'type' : 'body';
    }
    return null;
  }
}

/** A duplex over `inner` that passes bytes both ways and is destroyed when the scanner objects. */
export class GuardedConnection extends Duplex {
  readonly remoteAddress: string;
  private readonly scanner: PacketSizeScanner;

  constructor(
    private readonly inner: Duplex,
    opts: { maxPacketBytes: number; remoteAddress: string; onViolation: (err: PacketTooLargeError | MalformedLengthError) => void },
  ) {
    super({ allowHalfOpen: false });
    this.remoteAddress = opts.remoteAddress;
    this.scanner = new PacketSizeScanner(opts.maxPacketBytes);
    inner.on('data', (chunk: Buffer) => {
      if (this.destroyed) return;
      const err = this.scanner.push(chunk);
      if (err) {
        opts.onViolation(err);
        this.destroy(err);
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err: Error) => this.destroy(err));
    inner.on('close', () => this.destroy());
  }

  override _read(): void {
    this.inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.forward(chunk, cb);
  }

  /**
   * Chunks buffered while the stream was corked (mqtt-packet corks around every
   * packet it writes and uncorks on the next tick), e.g. the PUBACKs of one group
   * commit: one write, so one syscall, instead of one per packet.
   */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.forward(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  private forward(chunk: Buffer, cb: (err?: Error | null) => void): void {
    if (this.inner.destroyed) return cb(new Error('connection closed'));
    if (this.inner.write(chunk)) return cb();
    const done = () => {
      this.inner.off('drain', done);
      this.inner.off('close', done);
      cb();
    };
    this.inner.on('drain', done);
    this.inner.on('close', done);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.inner.end();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}
