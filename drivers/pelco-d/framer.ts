/**
 * Pelco-D framing: bytes <-> 7-byte messages.
 *
 * Source: Pelco "D" Protocol Manual (Pelco engineering design standard
 * TF-0002, version 2 revision 1, 2003), "The message format":
 *
 *   FF  address  command1  command2  data1  data2  checksum
 *   checksum = (address + command1 + command2 + data1 + data2) mod 256
 *
 * 0xFF is the synchronisation byte, but data and checksum bytes may be 0xFF
 * too, so the framer takes 7 bytes from each 0xFF and checks the sum; on a bad
 * sum it drops that 0xFF and rescans from the next one. A partial message left
 * across a pause (`staleMs`) is dropped whole. Bad input is reported in
 * `errors`, never thrown.
 */

export const PELCO_SYNC = 0xff;
export const PELCO_LENGTH = 7;

export interface PelcoFrame {
  address: number;
  cmd1: number;
  cmd2: number;
  data1: number;
  data2: number;
}

export interface FramerResult<F> {
  frames: F[];
  errors: string[];
}

export const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').replace(/(..)(?!$)/g, '$1 ').toUpperCase();

export function pelcoChecksum(address: number, cmd1: number, cmd2: number, data1: number, data2: number): number {
  return (address + cmd1 + cmd2 + data1 + data2) & 0xff;
}

export function encodePelcoFrame(f: PelcoFrame): Buffer {
  for (const [name, v] of Object.entries(f)) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`Pelco-D ${name} out of range 0..255: ${v}`);
  }
  return Buffer.from([PELCO_SYNC, f.address, f.cmd1, f.cmd2, f.data1, f.data2, pelcoChecksum(f.address, f.cmd1, f.cmd2, f.data1, f.data2)]);
}

export interface PelcoFramerOptions {
  /** A partial message older than this when more bytes arrive is dropped (default 250 ms). */
  staleMs?: number;
  now?: () => number;
}

export class PelcoDFramer {
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = 0;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(options: PelcoFramerOptions = {}) {
    this.staleMs = options.staleMs ?? 250;
    this.now = options.now ?? (() => performance.now());
  }

  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): FramerResult<PelcoFrame> {
    const result: FramerResult<PelcoFrame> = { frames: [], errors: [] };
    const t = this.now();
    if (this.buf.length > 0 && t - this.lastByteAt > this.staleMs) {
      result.errors.push(`dropped stale partial message ${hex(this.buf)}`);
      this.buf = Buffer.alloc(0);
    }
    this.lastByteAt = t;
    const buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    while (pos < buf.length) {
      const start = buf.indexOf(PELCO_SYNC, pos);
      if (start < 0) {
        result.errors.push(`skipped ${buf.length - pos} byte(s) without sync: ${hex(buf.subarray(pos))}`);
        pos = buf.length;
        break;
      }
      if (start > pos) result.errors.push(`skipped ${start - pos} byte(s) before sync: ${hex(buf.subarray(pos, start))}`);
      pos = start;
      if (buf.length - pos < PELCO_LENGTH) break;
      const m = buf.subarray(pos, pos + PELCO_LENGTH);
      const [, address = 0, cmd1 = 0, cmd2 = 0, data1 = 0, data2 = 0, cs = 0] = m;
      const want = pelcoChecksum(address, cmd1, cmd2, data1, data2);
      if (cs !== want) {
        result.errors.push(`bad checksum ${cs.toString(16)} (expected ${want.toString(16)}): ${hex(m)}`);
        pos += 1;
        continue;
      }
      result.frames.push({ address, cmd1, cmd2, data1, data2 });
      pos += PELCO_LENGTH;
    }
    this.buf = pos >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
    return result;
  }
}
