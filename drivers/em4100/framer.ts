/**
 * EM4100 reader framer: bytes -> 5-byte card frames, checksum checked.
 *
 * Formats (sources in docs/drivers/em4100.md):
 * - rdm6300: 02 | 10 ASCII hex data | 2 ASCII hex checksum | 03, checksum =
 *   XOR of the 5 data bytes (Seeed RDM6300 / "125Khz RFID module - UART"
 *   datasheet: card 62E3086CED, checksum 08). CR/LF between frames is ignored.
 * - em18: the same 12 ASCII hex characters with no STX/ETX, optionally
 *   followed by CR/LF (EM-18 reader module datasheet). With no delimiter the
 *   framer slides one character at a time over a run of hex characters until
 *   12 of them carry a good checksum; any non-hex byte restarts the search.
 * - binary: 02 | 0A | 02 | 5 data bytes | BCC | 03, BCC = XOR of the bytes
 *   after STX up to the data end (length, card type, 5 data bytes); card type
 *   02 is EM4100 (vendor example 02 0A 02 06 00 8E 6D 5D B0 03).
 *
 * push() never throws: bytes that do not form a valid frame are dropped and
 * reported as one `malformed` output per push (count, reason, a sample), so
 * the driver can count and log them. At most one partial frame is buffered.
 */
export type Em4100Format = 'rdm6300' | 'em18' | 'binary';
export const EM4100_FORMATS = ['rdm6300', 'em18', 'binary'] as const satisfies readonly Em4100Format[];

export interface Em4100Frame {
  type: 'frame';
  /** The 5 card bytes (version/customer byte + 32-bit number). */
  data: Buffer;
}

export interface Em4100Malformed {
  type: 'malformed';
  /** Why the bytes were rejected (several reasons joined with '; '). */
  reason: string;
  /** How many bytes were dropped. */
  bytes: number;
  /** The first dropped bytes (at most 32), for the log. */
  sample: Buffer;
}

export type Em4100FramerOutput = Em4100Frame | Em4100Malformed;

const STX = 0x02;
const ETX = 0x03;
const CR = 0x0d;
const LF = 0x0a;
const SAMPLE_MAX = 32;
const BINARY_LEN = 10;
const BINARY_LENGTH_BYTE = 0x0a;
const BINARY_TYPE_EM = 0x02;

export function xor(bytes: Uint8Array): number {
  let x = 0;
  for (const b of bytes) x ^= b;
  return x;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const isHex = (c: number | undefined): boolean => c !== undefined && hexValue(c) >= 0;

/** 12 ASCII hex characters at buf[at..] -> 6 bytes (5 data + checksum). */
function hexBytes(buf: Uint8Array, at: number): Buffer {
  const out = Buffer.alloc(6);
  for (let i = 0; i < 6; i++) out[i] = (hexValue(buf[at + 2 * i]!) << 4) | hexValue(buf[at + 2 * i + 1]!);
  return out;
}

/** Bytes on the wire for one frame of `data` (5 bytes) in `format`. */
export function encodeFrame(format: Em4100Format, data: Uint8Array): Buffer {
  if (data.length !== 5) throw new RangeError(`EM4100 data is 5 bytes, got ${data.length}`);
  const sum = xor(data);
  if (format === 'binary') {
    const body = Buffer.from([BINARY_LENGTH_BYTE, BINARY_TYPE_EM, ...data]);
    return Buffer.from([STX, ...body, xor(body), ETX]);
  }
  const ascii = Buffer.from(Buffer.from([...data, sum]).toString('hex').toUpperCase(), 'latin1');
  return format === 'em18' ? ascii : Buffer.concat([Buffer.from([STX]), ascii, Buffer.from([ETX])]);
}

/** Collects rejected bytes between valid frames. */
class Rejects {
  count = 0;
  private sample: number[] = [];
  private reasons = new Set<string>();

  add(buf: Uint8Array, from: number, to: number, reason: string): void {
    if (to <= from) return;
    this.count += to - from;
    this.reasons.add(reason);
    for (let i = from; i < to && this.sample.length < SAMPLE_MAX; i++) this.sample.push(buf[i]!);
  }

  flush(out: Em4100FramerOutput[]): void {
    if (this.count === 0) return;
    out.push({ type: 'malformed', reason: [...this.reasons].join('; '), bytes: this.count, sample: Buffer.from(this.sample) });
    this.count = 0;
    this.sample = [];
    this.reasons = new Set();
  }
}

type Step = { consumed: number; frame?: Buffer } | 'need-more';

export class Em4100Framer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(readonly format: Em4100Format) {}

  /** Feed received bytes; returns the frames and rejections they complete. */
  push(chunk: Uint8Array): Em4100FramerOutput[] {
    const out: Em4100FramerOutput[] = [];
    const rejects = new Rejects();
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : Buffer.from(chunk);
    let i = 0;
    while (i < buf.length) {
      const step = this.step(buf, i, rejects);
      if (step === 'need-more') break;
      if (step.frame) {
        rejects.flush(out);
        out.push({ type: 'frame', data: step.frame });
      }
      i += step.consumed;
    }
    this.pending = Buffer.from(buf.subarray(i));
    rejects.flush(out);
    return out;
  }

  /** Bytes held back as the start of a frame not yet complete. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Drop any partial frame (e.g. after the link went down). */
  reset(): void {
    this.pending = Buffer.alloc(0);
  }

  private step(buf: Buffer, i: number, rejects: Rejects): Step {
    switch (this.format) {
      case 'rdm6300':
        return this.stepRdm6300(buf, i, rejects);
      case 'em18':
        return this.stepEm18(buf, i, rejects);
      case 'binary':
        return this.stepBinary(buf, i, rejects);
    }
  }

  private stepRdm6300(buf: Buffer, i: number, rejects: Rejects): Step {
    const b = buf[i]!;
    if (b === CR || b === LF) return { consumed: 1 };
    if (b !== STX) {
      rejects.add(buf, i, i + 1, 'bytes outside a frame');
      return { consumed: 1 };
    }
    // STX at i: 12 hex characters, then ETX at i + 13.
    for (let j = i + 1; j < i + 13; j++) {
      if (j >= buf.length) return 'need-more';
      const c = buf[j]!;
      if (c === STX) {
        rejects.add(buf, i, j, 'truncated frame');
        return { consumed: j - i }; // restart at the new STX
      }
      if (!isHex(c)) {
        rejects.add(buf, i, j + 1, 'non-hex character in frame');
        return { consumed: j + 1 - i };
      }
    }
    if (i + 13 >= buf.length) return 'need-more';
    if (buf[i + 13] !== ETX) {
      const restart = buf[i + 13] === STX;
      rejects.add(buf, i, restart ? i + 13 : i + 14, 'missing ETX');
      return { consumed: restart ? 13 : 14 };
    }
    const bytes = hexBytes(buf, i + 1);
    if (xor(bytes.subarray(0, 5)) !== bytes[5]) {
      rejects.add(buf, i, i + 14, 'checksum mismatch');
      return { consumed: 14 };
    }
    return { consumed: 14, frame: bytes.subarray(0, 5) };
  }

  private stepEm18(buf: Buffer, i: number, rejects: Rejects): Step {
    const b = buf[i]!;
    if (b === CR || b === LF) return { consumed: 1 };
    if (!isHex(b)) {
      rejects.add(buf, i, i + 1, 'bytes outside a frame');
      return { consumed: 1 };
    }
    for (let j = i + 1; j < i + 12; j++) {
      if (j >= buf.length) return 'need-more';
      if (!isHex(buf[j])) {
        rejects.add(buf, i, j, 'too few hex characters');
        return { consumed: j - i };
      }
    }
    const bytes = hexBytes(buf, i);
    if (xor(bytes.subarray(0, 5)) !== bytes[5]) {
      rejects.add(buf, i, i + 1, 'checksum mismatch');
      return { consumed: 1 }; // slide: a frame may start at the next character
    }
    return { consumed: 12, frame: bytes.subarray(0, 5) };
  }

  private stepBinary(buf: Buffer, i: number, rejects: Rejects): Step {
    if (buf[i] !== STX) {
      rejects.add(buf, i, i + 1, 'bytes outside a frame');
      return { consumed: 1 };
    }
    // Reject early on a bad header so garbage does not stall the buffer.
    const headerOk =
      (buf.length <= i + 1 || buf[i + 1] === BINARY_LENGTH_BYTE) && (buf.length <= i + 2 || buf[i + 2] === BINARY_TYPE_EM);
    if (!headerOk) {
      const type = buf[i + 2];
      const reason =
        buf[i + 1] === BINARY_LENGTH_BYTE && type !== undefined
          ? `card type 0x${type.toString(16).padStart(2, '0')} is not EM4100`
          : 'bad length byte';
      rejects.add(buf, i, i + 1, reason);
      return { consumed: 1 };
    }
    if (buf.length < i + BINARY_LEN) return 'need-more';
    if (buf[i + 9] !== ETX) {
      rejects.add(buf, i, i + 1, 'missing ETX');
      return { consumed: 1 };
    }
    if (xor(buf.subarray(i + 1, i + 8)) !== buf[i + 8]) {
      rejects.add(buf, i, i + 1, 'BCC mismatch');
      return { consumed: 1 };
    }
    return { consumed: BINARY_LEN, frame: Buffer.from(buf.subarray(i + 3, i + 8)) };
  }
}
