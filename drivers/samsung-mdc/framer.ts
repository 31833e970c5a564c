/**
 * Samsung MDC framing: bytes <-> frames.
 *
 * Sources: Samsung MDC protocol as printed in the 320TSn-3 user manual (p29)
 * and the MD40B manual (p42), cross-checked with vgavro/samsung-mdc
 * (samsung_mdc/connection.py: HEADER_CODE 0xAA, RESPONSE_CMD 0xFF,
 * get_checksum = sum of the bytes after the header mod 256).
 *
 *   AA  cmd  id  len  data[len]  cs        cs = (cmd + id + len + data) & 0xFF
 *
 * The framer is a stream parser: it scans for the 0xAA header, waits for the
 * length the header announces, checks the checksum, and resynchronises on
 * the next 0xAA after garbage or a bad checksum. Bad input is reported in the
 * result's `errors`, never thrown.
 */

export const MDC_HEADER = 0xaa;
export const MDC_REPLY_CMD = 0xff;
/** Header + cmd + id + len + checksum. */
const OVERHEAD = 5;

export interface MdcFrame {
  cmd: number;
  id: number;
  data: Buffer;
}

export interface FramerResult<F> {
  frames: F[];
  /** One line per rejected piece of input (garbage skipped, bad checksum, stale partial frame). */
  errors: string[];
}

export interface MdcFramerOptions {
  /**
   * 'host' parses what a display sends (replies: cmd must be 0xFF and carry
   * at least ack/nak + rcmd), which makes resynchronisation stricter;
   * 'display' parses what a host sends (commands, cmd != 0xFF).
   */
  role: 'host' | 'display';
  /**
   * A partial frame older than this when more bytes arrive is treated as
   * garbage: its header byte is dropped and the buffer rescanned. Keeps a
   * corrupted length byte from swallowing the replies that follow.
   */
  staleMs?: number;
  /** Monotonic ms; injectable for tests. */
  now?: () => number;
}

/** MDC checksum: sum of the bytes (everything after the 0xAA header) mod 256. */
export function mdcChecksum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i] ?? 0;
  return sum & 0xff;
}

/** Build one frame: AA cmd id len data cs. */
export function encodeMdcFrame(cmd: number, id: number, data: Uint8Array | readonly number[] = []): Buffer {
  if (data.length > 255) throw new RangeError(`MDC data too long: ${data.length} bytes (max 255)`);
  const out = Buffer.alloc(OVERHEAD + data.length);
  out[0] = MDC_HEADER;
  out[1] = cmd & 0xff;
  out[2] = id & 0xff;
  out[3] = data.length;
  for (let i = 0; i < data.length; i++) out[4 + i] = (data[i] ?? 0) & 0xff;
  out[out.length - 1] = mdcChecksum(out, 1, out.length - 1);
  return out;
}

export const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').replace(/(..)(?!$)/g, '$1 ').toUpperCase();

export class MdcFramer {
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = 0;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(private readonly options: MdcFramerOptions) {
    this.staleMs = options.staleMs ?? 500;
    this.now = options.now ?? (() => performance.now());
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): FramerResult<MdcFrame> {
    const result: FramerResult<MdcFrame> = { frames: [], errors: [] };
    const t = this.now();
    let stale = this.buf.length > 0 && t - this.lastByteAt > this.staleMs;
    this.lastByteAt = t;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);

    let pos = 0;
    while (pos < this.buf.length) {
      const start = this.buf.indexOf(MDC_HEADER, pos);
      if (start < 0) {
        result.errors.push(`skipped ${this.buf.length - pos} byte(s) without header: ${hex(this.buf.subarray(pos))}`);
        pos = this.buf.length;
        break;
      }
      if (start > pos) {
        result.errors.push(`skipped ${start - pos} byte(s) before header: ${hex(this.buf.subarray(pos, start))}`);
      }
      pos = start;
      if (stale) {
        // A partial frame sat unfinished across a pause: drop its header, rescan the rest.
        stale = false;
        result.errors.push(`dropped stale partial frame ${hex(this.buf.subarray(pos, Math.min(pos + 8, this.buf.length)))}`);
        pos += 1;
        continue;
      }
      const avail = this.buf.length - pos;
      if (avail >= 2 && !this.plausibleCmd(this.buf[pos + 1] ?? 0)) {
        result.errors.push(`unexpected command byte after header: ${hex(this.buf.subarray(pos, pos + 2))}`);
        pos += 1;
        continue;
      }
      if (avail < 4) break;
      const len = this.buf[pos + 3] ?? 0;
      if (this.options.role === 'host' && len < 2) {
        result.errors.push(`reply too short (len ${len}): ${hex(this.buf.subarray(pos, pos + 4))}`);
        pos += 1;
        continue;
      }
      const total = OVERHEAD + len;
      if (avail < total) break;
      const frameBytes = this.buf.subarray(pos, pos + total);
      const cs = frameBytes[total - 1] ?? 0;
      const want = mdcChecksum(frameBytes, 1, total - 1);
      if (cs !== want) {
        result.errors.push(`bad checksum ${cs.toString(16)} (expected ${want.toString(16)}): ${hex(frameBytes)}`);
        pos += 1;
        continue;
      }
      result.frames.push({
        cmd: frameBytes[1] ?? 0,
        id: frameBytes[2] ?? 0,
        data: Buffer.from(frameBytes.subarray(4, 4 + len)),
      });
      pos += total;
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(pos));
    return result;
  }

  private plausibleCmd(cmd: number): boolean {
    return this.options.role === 'host' ? cmd === MDC_REPLY_CMD : cmd !== MDC_REPLY_CMD;
  }
}
