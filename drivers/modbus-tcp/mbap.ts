/**
 * Modbus TCP framing: the MBAP header (MODBUS Messaging on TCP/IP
 * Implementation Guide V1.0b, §3.1.2-§3.1.3): transaction id (2 bytes),
 * protocol id (2 bytes, 0 = Modbus), length (2 bytes: the bytes that follow,
 * unit id + PDU), unit id (1 byte), then the PDU of the MODBUS Application
 * Protocol Specification V1.1b3. Big-endian; at most 260 bytes (PDU ≤ 253).
 * Example (§4.4.1.2, read register #5 of a directly connected server):
 * 15 01 00 00 00 06 FF 03 00 04 00 01.
 *
 * TCP carries no checksum and no delimiter: the length field is the only
 * boundary. A stream that has gone wrong (garbage from a broken peer, bytes
 * of a reply we gave up on) is resynchronised by finding a header that is
 * plausible in every field:
 * - client side (MbapResponseFramer), the reply to the one request in
 *   flight: the transaction id sent, protocol id 0, a length of 2..254, the
 *   function code sent (or it | 0x80). Bytes before it are reported; a late
 *   reply to an earlier transaction is recognised and reported as such.
 * - server side (MbapRequestFramer, for the simulators): protocol id 0, a
 *   length of 2..254, a request function code (1..127) and, for the functions
 *   the codec knows, the exact length that function's PDU has. A header
 *   whose body is not complete yet gives way to a complete, fully checked
 *   request later in the buffer, so a garbage header claiming 200 bytes
 *   cannot hold up the requests behind it.
 */
export const MBAP_HEADER_LENGTH = 7;
/** Largest PDU (Application Protocol §4.1: 256 - 3 bytes of RTU address and CRC). */
export const MAX_PDU_LENGTH = 253;
export const MAX_ADU_LENGTH = MBAP_HEADER_LENGTH + MAX_PDU_LENGTH;

export interface MbapFrame {
  transactionId: number;
  unitId: number;
  /** Function code + data. */
  pdu: Buffer;
}

export interface MbapFramerResult {
  frames: MbapFrame[];
  /** Undecodable bytes (resynchronised past), for `malformed`. */
  errors: string[];
  /** Whole replies to other transactions (late replies to requests that timed out). */
  stale: number[];
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').replace(/(..)(?!$)/g, '$1 ').toUpperCase();
/** Server side: bytes held while looking for a request. */
const MAX_HELD = 4 * MAX_ADU_LENGTH;

export function encodeMbap(transactionId: number, unitId: number, pdu: Uint8Array): Buffer {
  if (!Number.isInteger(transactionId) || transactionId < 0 || transactionId > 0xffff) throw new RangeError(`MBAP transaction id out of range: ${transactionId}`);
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 0xff) throw new RangeError(`MBAP unit id out of range: ${unitId}`);
  if (pdu.length < 1 || pdu.length > MAX_PDU_LENGTH) throw new RangeError(`Modbus PDU of ${pdu.length} bytes (1..${MAX_PDU_LENGTH})`);
  const out = Buffer.alloc(MBAP_HEADER_LENGTH + pdu.length);
  out.writeUInt16BE(transactionId, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(pdu.length + 1, 4);
  out.writeUInt8(unitId, 6);
  out.set(pdu, MBAP_HEADER_LENGTH);
  return out;
}

const lengthOk = (len: number): boolean => len >= 2 && len <= MAX_PDU_LENGTH + 1;

/**
 * Is `b[i..]` a whole MBAP frame with a plausible header? Returns its total
 * length, or undefined.
 */
function wholeFrameAt(b: Buffer, i: number): number | undefined {
  if (b.length - i < MBAP_HEADER_LENGTH + 1) return undefined;
  if (b.readUInt16BE(i + 2) !== 0) return undefined;
  const len = b.readUInt16BE(i + 4);
  if (!lengthOk(len) || i + 6 + len > b.length) return undefined;
  return 6 + len;
}

export interface ReplyExpectation {
  transactionId: number;
  /** Function code of the request. */
  fc: number;
}

/** Client side: finds the reply to the request in flight (see header). */
export class MbapResponseFramer {
  private buf: Buffer = Buffer.alloc(0);
  private want: ReplyExpectation | undefined;

  get expecting(): boolean {
    return this.want !== undefined;
  }

  get buffered(): number {
    return this.buf.length;
  }

  /** A request is about to go out: wait for its reply. */
  expect(e: ReplyExpectation): void {
    this.want = e;
    this.buf = Buffer.alloc(0);
  }

  /** No request in flight. */
  clear(): void {
    this.want = undefined;
    this.buf = Buffer.alloc(0);
  }

  /**
   * Feed received bytes. Yields at most one frame (the reply awaited), after
   * which the framer stops expecting. Bytes that arrive while nothing is
   * expected are dropped: at most a late reply, which its transaction id
   * could never match again.
   */
  push(chunk: Uint8Array): MbapFramerResult {
    const out: MbapFramerResult = { frames: [], errors: [], stale: [] };
    if (!this.want) return out;
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const b = this.buf;
    for (let i = 0; i < b.length; i++) {
      const m = this.matchAt(b, i);
      if (m === 'no') continue;
      if (m === 'partial') {
        // A header still missing bytes yields to a whole reply behind it.
        let j = i + 1;
        while (j < b.length && this.matchAt(b, j) !== 'whole') j++;
        if (j < b.length) {
          i = j - 1;
          continue;
        }
        if (i > 0) this.reportSkipped(b.subarray(0, i), out);
        this.buf = Buffer.from(b.subarray(i));
        return out;
      }
      if (i > 0) this.reportSkipped(b.subarray(0, i), out);
      const len = b.readUInt16BE(i + 4);
      out.frames.push({ transactionId: b.readUInt16BE(i), unitId: b[i + 6] ?? 0, pdu: Buffer.from(b.subarray(i + 7, i + 6 + len)) });
      if (i + 6 + len < b.length) out.errors.push(`ignored ${b.length - i - 6 - len} byte(s) after reply`);
      this.clear();
      return out;
    }
    // Nothing here can begin the reply.
    this.reportSkipped(b, out);
    this.buf = Buffer.alloc(0);
    return out;
  }

  /** 'whole': the awaited reply is complete at i; 'partial': it may be, bytes missing; 'no'. */
  private matchAt(b: Buffer, i: number): 'whole' | 'partial' | 'no' {
    const want = this.want;
    if (!want) return 'no';
    // Transaction id, protocol id 0, length high byte (≤ 254 fits in one byte), function code.
    const checks = [want.transactionId >> 8, want.transactionId & 0xff, 0, 0, 0];
    for (let k = 0; k < checks.length; k++) {
      const v = b[i + k];
      if (v === undefined) return 'partial';
      if (v !== checks[k]) return 'no';
    }
    const fc = b[i + 7];
    if (fc === undefined) return 'partial';
    if (fc !== want.fc && fc !== (want.fc | 0x80)) return 'no';
    const len = b.readUInt16BE(i + 4);
    if (!lengthOk(len)) return 'no';
    return i + 6 + len <= b.length ? 'whole' : 'partial';
  }

  /** Say what was skipped: whole late replies by transaction id, anything else as garbage. */
  private reportSkipped(skipped: Buffer, out: MbapFramerResult): void {
    let at = 0;
    const stale: number[] = [];
    for (let len = wholeFrameAt(skipped, at); len !== undefined; len = wholeFrameAt(skipped, at)) {
      stale.push(skipped.readUInt16BE(at));
      at += len;
    }
    if (at === skipped.length) out.stale.push(...stale);
    else out.errors.push(`skipped ${skipped.length} byte(s) before reply: ${hex(skipped.subarray(0, 64))}${skipped.length > 64 ? ' …' : ''}`);
  }
}

/** Server side: finds requests in a stream (see header). */
export class MbapRequestFramer {
  private buf: Buffer = Buffer.alloc(0);

  get buffered(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): MbapFramerResult {
    const out: MbapFramerResult = { frames: [], errors: [], stale: [] };
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const b = this.buf;
    let start = 0;
    let i = 0;
    while (i < b.length) {
      const at = this.requestAt(b, i);
      if (at === undefined) {
        i++;
        continue;
      }
      if (at === 'wait' || !at.checked) {
        // An unfinished or unverifiable header yields to a complete, checked request behind it.
        const j = this.nextCheckedRequest(b, i + 1, at === 'wait' ? b.length : i + at.length);
        if (j !== undefined) {
          i = j;
          continue;
        }
        if (at === 'wait') break;
      }
      if (i > start) out.errors.push(`skipped ${i - start} byte(s): ${hex(b.subarray(start, Math.min(i, start + 64)))}`);
      out.frames.push({ transactionId: b.readUInt16BE(i), unitId: b[i + 6] ?? 0, pdu: Buffer.from(b.subarray(i + 7, i + at.length)) });
      i += at.length;
      start = i;
    }
    if (i > start) {
      out.errors.push(`skipped ${i - start} byte(s): ${hex(b.subarray(start, Math.min(i, start + 64)))}`);
      start = i;
    }
    this.buf = Buffer.from(b.subarray(start));
    if (this.buf.length > MAX_HELD) {
      out.errors.push(`discarded ${this.buf.length - MAX_ADU_LENGTH} byte(s) holding no request`);
      this.buf = Buffer.from(this.buf.subarray(this.buf.length - MAX_ADU_LENGTH));
    }
    return out;
  }

  /** First j in [from, limit) where a complete, checked request starts. */
  private nextCheckedRequest(b: Buffer, from: number, limit: number): number | undefined {
    for (let j = from; j < limit; j++) {
      const r = this.requestAt(b, j);
      if (r !== undefined && r !== 'wait' && r.checked) return j;
    }
    return undefined;
  }

  /**
   * At b[i]: a complete request (`checked` when its function's length rule
   * was verified), 'wait' when a plausible header's request is incomplete,
   * undefined when no request starts here.
   */
  private requestAt(b: Buffer, i: number): { length: number; checked: boolean } | 'wait' | undefined {
    const avail = b.length - i;
    // Protocol id must be 0; length 2..254; a request function code has no exception bit.
    if (avail > 2 && b[i + 2] !== 0) return undefined;
    if (avail > 3 && b[i + 3] !== 0) return undefined;
    if (avail > 4 && (b[i + 4] ?? 0) > (MAX_PDU_LENGTH + 1) >> 8) return undefined;
    if (avail > 5 && !lengthOk(b.readUInt16BE(i + 4))) return undefined;
    const fc = b[i + 7];
    if (fc === undefined) return 'wait';
    if (fc === 0 || fc >= 0x80) return undefined;
    const len = b.readUInt16BE(i + 4);
    let checked = false;
    if (fc <= 6) {
      // FC01-06: function code + 4 bytes.
      if (len !== 6) return undefined;
      checked = true;
    } else if (fc === 15 || fc === 16) {
      // FC0F/10: function code, address, quantity, byte count, data.
      if (len < 7) return undefined;
      const count = b[i + 12];
      if (count === undefined) return 'wait';
      if (len !== 7 + count) return undefined;
      const quantity = b.readUInt16BE(i + 10);
      if (count !== (fc === 16 ? 2 * quantity : Math.ceil(quantity / 8))) return undefined;
      checked = true;
    }
    return i + 6 + len <= b.length ? { length: 6 + len, checked } : 'wait';
  }
}
