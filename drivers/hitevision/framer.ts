/**
 * Hitevision IFP RS-232 framing: bytes <-> frames.
 *
 * Sources: shared/PROTOCOLS.md (Hitevision IFP, 115200 8N1):
 *
 *   7F 08 99 A2 B3 C4 02 FF 01 xx CF        key xx (00 on, 01 off, 02 mute, ...)
 *
 * and the serial-port service of Honghe/Hitevision panel firmware sold as
 * Newline (com.newline.serialport, e.g. model/SerialPortPageDown.java:
 * CONTROLLING_CODE "7F 08 99 A2 B3 C4 02 FF 01 14 CF", returnCode
 * "7F 09 99 A2 B3 C4 02 FF 01 14 01 CF"), which shows that the second byte
 * counts the bytes between itself and the CF trailer, and that newer firmware
 * answers a key with a return frame carrying a status byte (01 done).
 * [unverified] No Hitevision-branded manual was at hand.
 *
 *   7F len body[len] CF, body = 99 A2 B3 C4 02 FF group key [status]
 *
 * There is no checksum: the fixed magic, the length and the trailer are the
 * integrity check. The framer scans for 7F, checks the magic byte by byte as
 * it arrives, waits for the announced length and checks the trailer; on any
 * mismatch it drops that 7F and rescans. It never throws.
 */
import type { FramerResult } from '../samsung-mdc/framer.js';
import { hex } from '../samsung-mdc/framer.js';

export type { FramerResult };
export { hex };

export const HV_START = 0x7f;
export const HV_END = 0xcf;
export const HV_MAGIC: readonly number[] = [0x99, 0xa2, 0xb3, 0xc4, 0x02, 0xff];
/** Length byte range accepted: the magic plus 1..10 bytes (keys use 8, return codes 9). */
export const HV_MIN_LEN = HV_MAGIC.length + 1;
export const HV_MAX_LEN = HV_MAGIC.length + 10;

export interface HvFrame {
  /** Bytes after the magic, before the trailer: group, key[, status]. */
  payload: Buffer;
}

/** Build one frame: 7F len magic payload CF. */
export function encodeHvFrame(payload: readonly number[]): Buffer {
  const len = HV_MAGIC.length + payload.length;
  if (len < HV_MIN_LEN || len > HV_MAX_LEN) throw new RangeError(`Hitevision payload length out of range: ${payload.length}`);
  return Buffer.from([HV_START, len, ...HV_MAGIC, ...payload.map((b) => b & 0xff), HV_END]);
}

export class HvFramer {
  private buf: Buffer = Buffer.alloc(0);

  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): FramerResult<HvFrame> {
    const result: FramerResult<HvFrame> = { frames: [], errors: [] };
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    while (pos < this.buf.length) {
      const start = this.buf.indexOf(HV_START, pos);
      if (start < 0) {
        result.errors.push(`skipped ${this.buf.length - pos} byte(s) without 7F: ${hex(this.buf.subarray(pos))}`);
        pos = this.buf.length;
        break;
      }
      if (start > pos) result.errors.push(`skipped ${start - pos} byte(s) before 7F: ${hex(this.buf.subarray(pos, start))}`);
      pos = start;
      const verdict = this.check(pos);
      if (verdict === 'partial') break;
      if (typeof verdict === 'string') {
        result.errors.push(verdict);
        pos += 1;
        continue;
      }
      result.frames.push(verdict);
      pos += verdict.payload.length + HV_MAGIC.length + 3;
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(pos));
    return result;
  }

  /** A frame at `pos`, 'partial' when more bytes are needed, or the reason it is not a frame. */
  private check(pos: number): HvFrame | 'partial' | string {
    const avail = this.buf.length - pos;
    if (avail < 2) return 'partial';
    const len = this.buf[pos + 1] ?? 0;
    if (len < HV_MIN_LEN || len > HV_MAX_LEN) return `bad length ${len} after 7F`;
    for (let i = 0; i < HV_MAGIC.length; i++) {
      const b = this.buf[pos + 2 + i];
      if (b === undefined) return 'partial';
      if (b !== HV_MAGIC[i]) return `bad magic after 7F ${hex(Buffer.from([len]))}: ${hex(this.buf.subarray(pos, pos + 3 + i))}`;
    }
    const total = len + 3;
    if (avail < total) return 'partial';
    const frameBytes = this.buf.subarray(pos, pos + total);
    if (frameBytes[total - 1] !== HV_END) return `bad trailer (expected CF): ${hex(frameBytes)}`;
    return { payload: Buffer.from(frameBytes.subarray(2 + HV_MAGIC.length, total - 1)) };
  }
}
