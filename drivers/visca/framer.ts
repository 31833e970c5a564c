/**
 * VISCA framing: bytes <-> packets.
 *
 * Source: Sony SRG-300H / SRG-120DH technical manual, "VISCA command list"
 * pp.28-31 (and the same packet format in every Sony VISCA manual): a packet
 * is 3 to 16 bytes, a header byte, the message, and the terminator 0xFF.
 *
 *   header  1 s s s 0 r r r   s = sender address, r = receiver address
 *           controller -> camera x:  8x        (0x81..0x87; 0x88 broadcast)
 *           camera x -> controller:  z0, z = x + 8  (0x90..0xF0)
 *
 * There is no length field and no checksum; the terminator ends a packet.
 * The framer scans for a header byte valid for its role, collects up to the
 * next 0xFF, and resynchronises on garbage: bytes before a header are
 * skipped, a packet longer than 16 bytes loses its header byte and the rest is
 * rescanned, and a partial packet left unfinished across a pause (`staleMs`)
 * is dropped whole (a camera sends a packet in one burst: 16 bytes take 17 ms
 * at 9600 baud). Bad input is reported in `errors`, never thrown.
 */

export const VISCA_TERMINATOR = 0xff;
export const VISCA_MAX_PACKET = 16;
export const VISCA_MIN_PACKET = 3;
/** Broadcast header (address set, IF_Clear broadcast): sent by the controller and passed along the chain. */
export const VISCA_BROADCAST = 0x88;

export interface FramerResult<F> {
  frames: F[];
  errors: string[];
}

export type ViscaRole = 'host' | 'device';

export interface ViscaFramerOptions {
  /** 'host' parses what cameras send (headers 0x90..0xF0, 0x88); 'device' what a controller sends (0x81..0x88). */
  role: ViscaRole;
  /** A partial packet older than this when more bytes arrive is dropped (default 250 ms). */
  staleMs?: number;
  /** Monotonic ms; injectable for tests. */
  now?: () => number;
}

export const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').replace(/(..)(?!$)/g, '$1 ').toUpperCase();

/** Is `b` a header byte that the given role receives? */
export function isViscaHeader(b: number, role: ViscaRole): boolean {
  if (b === VISCA_BROADCAST) return true;
  if (role === 'device') return b >= 0x81 && b <= 0x87;
  return (b & 0x8f) === 0x80 && b >= 0x90;
}

export class ViscaFramer {
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = 0;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(private readonly options: ViscaFramerOptions) {
    this.staleMs = options.staleMs ?? 250;
    this.now = options.now ?? (() => performance.now());
  }

  /** Bytes held waiting for the rest of a packet. */
  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): FramerResult<Buffer> {
    const result: FramerResult<Buffer> = { frames: [], errors: [] };
    const t = this.now();
    if (this.buf.length > 0 && t - this.lastByteAt > this.staleMs) {
      result.errors.push(`dropped stale partial packet ${hex(this.buf)}`);
      this.buf = Buffer.alloc(0);
    }
    this.lastByteAt = t;
    const buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);

    let pos = 0;
    while (pos < buf.length) {
      let start = pos;
      while (start < buf.length && !isViscaHeader(buf[start] ?? 0, this.options.role)) start++;
      if (start > pos) result.errors.push(`skipped ${start - pos} byte(s) before header: ${hex(buf.subarray(pos, start))}`);
      pos = start;
      if (pos >= buf.length) break;
      const end = buf.indexOf(VISCA_TERMINATOR, pos + 1);
      const limit = pos + VISCA_MAX_PACKET;
      if (end < 0 || end >= limit) {
        if (buf.length - pos < VISCA_MAX_PACKET && end < 0) break; // wait for the rest
        result.errors.push(`no terminator within ${VISCA_MAX_PACKET} bytes: ${hex(buf.subarray(pos, limit))}`);
        pos += 1;
        continue;
      }
      if (end + 1 - pos < VISCA_MIN_PACKET) {
        result.errors.push(`packet too short: ${hex(buf.subarray(pos, end + 1))}`);
        pos = end + 1;
        continue;
      }
      result.frames.push(Buffer.from(buf.subarray(pos, end + 1)));
      pos = end + 1;
    }
    this.buf = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    return result;
  }
}
