/**
 * Modbus RTU framing.
 *
 * Source: MODBUS over Serial Line Specification V1.02, §2.5.1.1 (RTU
 * framing): frames carry no delimiter; a frame ends with a silence of at
 * least 3.5 character times (t3.5), fixed at 1.75 ms above 19200 baud; the
 * CRC (§6.2.2) validates it.
 *
 * The master's response framer knows the request in flight, hence the unit
 * id, the function code and the exact length of a normal reply (exception
 * replies are 5 bytes). On every chunk it looks for the first CRC-valid reply
 * to that request at any offset (resynchronising on unit id + function code),
 * so garbage before a reply is skipped and reported. A silence longer than
 * t3.5 closes whatever was received before it: held bytes are dropped
 * there, except from the earliest point where the awaited reply could begin
 * (unit id, function code, byte count, not yet complete). That beginning is
 * kept across the silence because USB-serial adapters hand a frame over in
 * bursts (FTDI latency timer: 16 ms); the CRC still guards what is accepted.
 *
 * The request framer (simulator side) finds CRC-valid requests by function
 * code length rules.
 */
import { crc16Update, crcOk } from './crc.js';
import { EXCEPTION_ADU_LENGTH, expectedByteCount, expectedResponseLength, requestLength, type ModbusRequest } from './codec.js';

export interface FramerResult<F> {
  frames: F[];
  errors: string[];
}

/** Bits per RTU character: start + 8 data + parity (or 2nd stop) + stop (§2.5.1). */
const BITS_PER_CHAR = 11;

/** t3.5 in ms for a baud rate (§2.5.1.1: 1.75 ms fixed above 19200 baud). */
export function rtuSilenceMs(baudRate: number): number {
  if (baudRate > 19200) return 1.75;
  return (3.5 * BITS_PER_CHAR * 1000) / baudRate;
}

export interface Expectation {
  unitId: number;
  fc: number;
  /** Length of the normal reply ADU. */
  length: number;
  /** For FC01-04: the byte count the reply must announce. */
  byteCount?: number;
}

export function expectationFor(unitId: number, req: ModbusRequest): Expectation {
  const e: Expectation = { unitId, fc: req.fc, length: expectedResponseLength(req) };
  const byteCount = expectedByteCount(req);
  if (byteCount !== undefined) e.byteCount = byteCount;
  return e;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').replace(/(..)(?!$)/g, '$1 ').toUpperCase();
const MAX_HELD = 600;
/** Unknown function codes are matched by CRC over 4..8 bytes (FC07, FC08, FC11, FC2B/0E fit). */
const MAX_UNKNOWN_REQUEST = 8;

export class RtuResponseFramer {
  private buf: Buffer = Buffer.alloc(0);
  private lastByteAt = 0;
  private want: Expectation | undefined;
  private readonly now: () => number;

  constructor(private readonly options: { silenceMs: number; now?: () => number }) {
    this.now = options.now ?? (() => performance.now());
  }

  get expecting(): boolean {
    return this.want !== undefined;
  }

  get buffered(): number {
    return this.buf.length;
  }

  /** A request is about to go out: forget old bytes, wait for its reply. */
  expect(e: Expectation): void {
    this.want = e;
    this.buf = Buffer.alloc(0);
  }

  /** No request in flight (reply received, timed out or abandoned). */
  clear(): void {
    this.want = undefined;
    this.buf = Buffer.alloc(0);
  }

  /**
   * Feed received bytes. Yields at most one frame (the reply to the request
   * in flight), after which the framer stops expecting. Bytes that arrive
   * while nothing is expected are ignored (a late reply, or another master's
   * traffic on a shared line) and not reported.
   */
  push(chunk: Uint8Array): FramerResult<Buffer> {
    const out: FramerResult<Buffer> = { frames: [], errors: [] };
    const t = this.now();
    const gap = t - this.lastByteAt;
    this.lastByteAt = t;
    const want = this.want;
    if (!want) return out;
    if (this.buf.length > 0 && gap > this.options.silenceMs) {
      // The silence ends a frame: keep only a possible beginning of the awaited reply.
      let keep = 0;
      while (keep < this.buf.length && !this.isReplyStart(this.buf, keep)) keep++;
      if (keep > 0) {
        out.errors.push(`dropped ${keep} byte(s) ended by ${gap.toFixed(1)} ms silence: ${hex(this.buf.subarray(0, keep))}`);
        this.buf = Buffer.from(this.buf.subarray(keep));
      }
    }
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);

    for (let i = 0; i < this.buf.length; i++) {
      const len = this.candidateLength(this.buf, i);
      if (len === undefined || i + len > this.buf.length) continue;
      if (!crcOk(this.buf, i, i + len)) {
        out.errors.push(`bad CRC: ${hex(this.buf.subarray(i, i + len))}`);
        continue;
      }
      if (i > 0) out.errors.push(`skipped ${i} byte(s) before reply: ${hex(this.buf.subarray(0, i))}`);
      if (i + len < this.buf.length) out.errors.push(`ignored ${this.buf.length - i - len} byte(s) after reply`);
      out.frames.push(Buffer.from(this.buf.subarray(i, i + len)));
      this.clear();
      return out;
    }
    if (this.buf.length > MAX_HELD) {
      const keep = want.length;
      out.errors.push(`discarded ${this.buf.length - keep} byte(s) holding no reply`);
      this.buf = Buffer.from(this.buf.subarray(this.buf.length - keep));
    }
    return out;
  }

  /** Length of the reply that could start at b[i], or undefined if none can. */
  private candidateLength(b: Uint8Array, i: number): number | undefined {
    const want = this.want;
    if (!want || b[i] !== want.unitId) return undefined;
    const fc = b[i + 1];
    if (fc === undefined) return undefined;
    if (fc === (want.fc | 0x80)) return EXCEPTION_ADU_LENGTH;
    if (fc !== want.fc) return undefined;
    if (want.byteCount !== undefined && b[i + 2] !== undefined && b[i + 2] !== want.byteCount) return undefined;
    return want.length;
  }

  /** Do the bytes from b[i] look like the beginning of the awaited reply? */
  private isReplyStart(b: Uint8Array, i: number): boolean {
    const want = this.want;
    if (!want || b[i] !== want.unitId) return false;
    const fc = b[i + 1];
    if (fc === undefined) return true;
    const len = fc === (want.fc | 0x80) ? EXCEPTION_ADU_LENGTH : fc === want.fc ? want.length : 0;
    if (len === 0 || b.length - i >= len) return false;
    return !(fc === want.fc && want.byteCount !== undefined && b[i + 2] !== undefined && b[i + 2] !== want.byteCount);
  }
}

/**
 * Server-side framer: finds request ADUs in a byte stream (for simulators).
 * A request is accepted when its length follows from its function code and
 * its CRC is valid; garbage before it is skipped and reported. Requests with
 * function codes the codec does not know are recognised by the first length
 * (4..8 bytes) whose CRC matches, so the simulator can answer them with
 * exception 01. A request of known length that has begun waits for its
 * remaining bytes before anything after it is examined.
 */
export class RtuRequestFramer {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): FramerResult<Buffer> {
    const out: FramerResult<Buffer> = { frames: [], errors: [] };
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let start = 0;
    for (let i = 0; i < this.buf.length; ) {
      const len = this.frameLengthAt(i);
      if (len === 'wait') break;
      if (len === undefined) {
        i++;
        continue;
      }
      if (i > start) out.errors.push(`skipped ${i - start} byte(s): ${hex(this.buf.subarray(start, i))}`);
      out.frames.push(Buffer.from(this.buf.subarray(i, i + len)));
      i += len;
      start = i;
    }
    this.buf = Buffer.from(this.buf.subarray(start));
    if (this.buf.length > MAX_HELD) {
      out.errors.push(`discarded ${this.buf.length - 260} byte(s) holding no request`);
      this.buf = Buffer.from(this.buf.subarray(this.buf.length - 260));
    }
    return out;
  }

  /**
   * At buf[i]: the length of a complete, CRC-valid request; 'wait' when a
   * request of known length has begun but is not complete (nothing after it
   * is looked at yet); undefined when no request starts here.
   */
  private frameLengthAt(i: number): number | 'wait' | undefined {
    const b = this.buf;
    const len = requestLength(b, i);
    if (len === 'need-more') return 'wait';
    if (len !== 'unknown') {
      if (i + len > b.length) return 'wait';
      return crcOk(b, i, i + len) ? len : undefined;
    }
    let crc = 0xffff;
    const max = Math.min(MAX_UNKNOWN_REQUEST, b.length - i);
    for (let l = 1; l <= max - 2; l++) {
      crc = crc16Update(crc, b[i + l - 1] ?? 0);
      const total = l + 2;
      if (total >= 4 && b[i + l] === (crc & 0xff) && b[i + l + 1] === crc >>> 8) return total;
    }
    return undefined;
  }
}
