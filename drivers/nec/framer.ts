/**
 * NEC LCD monitor external control framing: bytes <-> packets.
 *
 * Sources: NEC "External Control, NEC LCD Monitor" manual (section 4,
 * Communication format; section 4.3/4.5 Check code) and the command diagram
 * of the NEC P702 user manual (English-32), whose power-on packet for
 * monitor 1 is shared/PROTOCOLS.md's fixture:
 *
 *   01 30 41 30 41 30 43 02 43 32 30 33 44 36 30 30 30 31 03 73 0D
 *   SOH '0' dest src type len(2 ASCII hex) STX message ETX BCC CR
 *
 * Header: SOH, reserved '0', destination (monitor 'A' = ID 1, or '0' = the
 * controller in replies), source, message type ('A' command, 'B' command
 * reply, 'C' get parameter, 'D' its reply, 'E' set parameter, 'F' its
 * reply), message length = bytes from STX through ETX, as two upper-case hex
 * characters. BCC = XOR of every byte after SOH up to and including ETX.
 *
 * The framer scans for SOH, validates the header as it arrives, waits for
 * the announced length, checks STX, ETX, BCC and the CR delimiter, and on
 * any failure drops that SOH and rescans. A partial packet left unfinished
 * for more than `staleMs` when new bytes arrive is dropped the same way, so
 * a garbage header announcing a long message cannot hold back the replies
 * behind it. It never throws.
 */
import type { FramerResult } from '../samsung-mdc/framer.js';
import { hex } from '../samsung-mdc/framer.js';

export type { FramerResult };
export { hex };

export const SOH = 0x01;
export const STX = 0x02;
export const ETX = 0x03;
export const CR = 0x0d;
const RESERVED = 0x30;
const HEADER = 7; // SOH '0' dest src type len(2)

export type NecMessageType = 'A' | 'B' | 'C' | 'D' | 'E' | 'F';

export interface NecPacket {
  destination: number;
  source: number;
  type: NecMessageType;
  /** The characters between STX and ETX. */
  message: string;
}

/** XOR of bytes [start, end). */
export function necBcc(bytes: Uint8Array, start: number, end: number): number {
  let x = 0;
  for (let i = start; i < end; i++) x ^= bytes[i] ?? 0;
  return x;
}

/** Build a packet: SOH '0' dest src type len STX message ETX BCC CR. */
export function encodeNecPacket(destination: number, source: number, type: NecMessageType, message: string): Buffer {
  if (!/^[\x20-\x7e]*$/.test(message)) throw new RangeError('NEC message must be printable ASCII');
  const len = message.length + 2;
  if (len > 0xff) throw new RangeError(`NEC message too long: ${message.length}`);
  const body = Buffer.from(
    [SOH, RESERVED, destination, source, type.charCodeAt(0), ...Buffer.from(len.toString(16).toUpperCase().padStart(2, '0')), STX, ...Buffer.from(message, 'latin1'), ETX],
  );
  return Buffer.concat([body, Buffer.from([necBcc(body, 1, body.length), CR])]);
}

const isHexChar = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const TYPES = new Set([0x41, 0x42, 0x43, 0x44, 0x45, 0x46]);

export interface NecFramerOptions {
  /** A partial packet older than this when more bytes arrive is dropped (default 500 ms). */
  staleMs?: number;
  /** Monotonic ms; injectable for tests. */
  now?: () => number;
}

export class NecFramer {
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = 0;
  private readonly staleMs: number;
  private readonly now: () => number;

  constructor(options: NecFramerOptions = {}) {
    this.staleMs = options.staleMs ?? 500;
    this.now = options.now ?? (() => performance.now());
  }

  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): FramerResult<NecPacket> {
    const result: FramerResult<NecPacket> = { frames: [], errors: [] };
    const t = this.now();
    let stale = this.buf.length > 0 && t - this.lastByteAt > this.staleMs;
    this.lastByteAt = t;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    while (pos < this.buf.length) {
      const start = this.buf.indexOf(SOH, pos);
      if (start < 0) {
        result.errors.push(`skipped ${this.buf.length - pos} byte(s) without SOH: ${hex(this.buf.subarray(pos))}`);
        pos = this.buf.length;
        break;
      }
      if (start > pos) result.errors.push(`skipped ${start - pos} byte(s) before SOH: ${hex(this.buf.subarray(pos, start))}`);
      pos = start;
      if (stale) {
        stale = false;
        result.errors.push(`dropped stale partial packet ${hex(this.buf.subarray(pos, Math.min(pos + HEADER, this.buf.length)))}`);
        pos += 1;
        continue;
      }
      const v = this.check(pos);
      if (v === 'partial') break;
      if (typeof v === 'string') {
        result.errors.push(v);
        pos += 1;
        continue;
      }
      result.frames.push(v.packet);
      pos += v.size;
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(pos));
    return result;
  }

  private check(pos: number): { packet: NecPacket; size: number } | 'partial' | string {
    const b = this.buf;
    const at = (i: number): number | undefined => b[pos + i];
    const head = (): string => hex(b.subarray(pos, Math.min(b.length, pos + HEADER)));
    const checks: Array<[number, (c: number) => boolean, string]> = [
      [1, (c) => c === RESERVED, 'reserved byte is not "0"'],
      [2, (c) => c >= 0x20 && c < 0x7f, 'bad destination'],
      [3, (c) => c >= 0x20 && c < 0x7f, 'bad source'],
      [4, (c) => TYPES.has(c), 'unknown message type'],
      [5, isHexChar, 'bad length'],
      [6, isHexChar, 'bad length'],
    ];
    for (const [i, ok, why] of checks) {
      const c = at(i);
      if (c === undefined) return 'partial';
      if (!ok(c)) return `${why} in header ${head()}`;
    }
    const len = Number.parseInt(b.toString('latin1', pos + 5, pos + 7), 16);
    if (len < 2) return `message length ${len} too short in header ${head()}`;
    if (at(HEADER) === undefined) return 'partial';
    if (at(HEADER) !== STX) return `no STX after header ${head()}`;
    const size = HEADER + len + 2; // + BCC + CR
    if (b.length - pos < size) return 'partial';
    const packet = b.subarray(pos, pos + size);
    if (packet[HEADER + len - 1] !== ETX) return `no ETX where the length puts it: ${hex(packet)}`;
    const bcc = necBcc(packet, 1, HEADER + len);
    if (packet[HEADER + len] !== bcc) {
      return `bad BCC ${hex(packet.subarray(HEADER + len, HEADER + len + 1))} (expected ${hex(Buffer.from([bcc]))}): ${hex(packet)}`;
    }
    if (packet[size - 1] !== CR) return `no CR delimiter: ${hex(packet)}`;
    return {
      size,
      packet: {
        destination: packet[2] ?? 0,
        source: packet[3] ?? 0,
        type: String.fromCharCode(packet[4] ?? 0) as NecMessageType,
        message: packet.toString('latin1', HEADER + 1, HEADER + len - 1),
      },
    };
  }
}
