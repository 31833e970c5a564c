/**
 * Line framer of the generic UID readers: bytes -> one text line per card.
 *
 * Readers of this kind (USB readers in CDC-serial mode, RS-232/TTL reader
 * modules) print each UID as ASCII followed by a terminator; the framing is
 * a reader setting (docs/drivers/uid-reader.md):
 * - `crlf` (default) and `lf`: a line ends at LF; a CR before it is dropped.
 *   So both settings read readers that send CR LF as well as bare LF.
 * - `cr`: a line ends at CR; an LF after it is skipped as blank space.
 * - `etx`: a frame is an optional STX (02), the text, then ETX (03); a new
 *   STX before the ETX drops the bytes before it as a truncated frame.
 *
 * Around the text, spaces, tabs, CR and LF are trimmed; empty lines are
 * ignored. push() never throws: a line with bytes outside printable ASCII,
 * or longer than `maxLine` without a terminator (the rest up to the next
 * terminator is dropped with it), is reported as one `malformed` output per
 * push with the count, the reasons and a sample, so the driver can count and
 * log it. At most `maxLine` bytes are buffered.
 */
export type UidTerminator = 'cr' | 'lf' | 'crlf' | 'etx';
export const UID_TERMINATORS = ['crlf', 'lf', 'cr', 'etx'] as const satisfies readonly UidTerminator[];

export interface UidLine {
  type: 'line';
  /** The trimmed printable ASCII text of the line. */
  text: string;
}

export interface UidLineMalformed {
  type: 'malformed';
  /** Why bytes were rejected (several reasons joined with '; '). */
  reason: string;
  /** How many bytes were dropped. */
  bytes: number;
  /** The first dropped bytes (at most 32), for the log. */
  sample: Buffer;
}

export type UidFramerOutput = UidLine | UidLineMalformed;

const STX = 0x02;
const ETX = 0x03;
const CR = 0x0d;
const LF = 0x0a;
const SAMPLE_MAX = 32;
/** Longest line accepted by default: a 10-byte UID in decimal is 25 digits, in hex with separators 29 characters. */
export const DEFAULT_MAX_LINE = 64;

const isBlank = (b: number): boolean => b === 0x20 || b === 0x09 || b === CR || b === LF;
const isPrintable = (b: number): boolean => b >= 0x20 && b <= 0x7e;

export function terminatorByte(t: UidTerminator): number {
  return t === 'cr' ? CR : t === 'etx' ? ETX : LF;
}

/** The bytes a reader set to `terminator` sends for `text`. */
export function encodeLine(text: string, terminator: UidTerminator): Buffer {
  const body = Buffer.from(text, 'latin1');
  switch (terminator) {
    case 'cr':
      return Buffer.concat([body, Buffer.from([CR])]);
    case 'lf':
      return Buffer.concat([body, Buffer.from([LF])]);
    case 'crlf':
      return Buffer.concat([body, Buffer.from([CR, LF])]);
    case 'etx':
      return Buffer.concat([Buffer.from([STX]), body, Buffer.from([ETX])]);
  }
}

class Rejects {
  count = 0;
  private sample: number[] = [];
  private reasons = new Set<string>();

  add(bytes: Uint8Array, reason: string): void {
    if (bytes.length === 0) return;
    this.count += bytes.length;
    this.reasons.add(reason);
    for (let i = 0; i < bytes.length && this.sample.length < SAMPLE_MAX; i++) this.sample.push(bytes[i]!);
  }

  flush(out: UidFramerOutput[]): void {
    if (this.count === 0) return;
    out.push({ type: 'malformed', reason: [...this.reasons].join('; '), bytes: this.count, sample: Buffer.from(this.sample) });
    this.count = 0;
    this.sample = [];
    this.reasons = new Set();
  }
}

export class UidLineFramer {
  private readonly term: number;
  private pending: number[] = [];
  /** Dropping an over-long line until its terminator. */
  private discarding = false;

  constructor(
    readonly terminator: UidTerminator,
    private readonly maxLine = DEFAULT_MAX_LINE,
  ) {
    this.term = terminatorByte(terminator);
  }

  /** Feed received bytes; returns the lines and rejections they complete. */
  push(chunk: Uint8Array): UidFramerOutput[] {
    const out: UidFramerOutput[] = [];
    const rejects = new Rejects();
    for (const b of chunk) {
      if (b === this.term) {
        if (this.discarding) this.discarding = false;
        else this.endLine(out, rejects);
        continue;
      }
      if (this.discarding) {
        rejects.add(Uint8Array.of(b), 'line too long');
        continue;
      }
      if (this.terminator === 'etx' && b === STX) {
        const before = Uint8Array.from(this.pending);
        if (before.some((c) => !isBlank(c))) rejects.add(before, 'truncated frame (STX before ETX)');
        this.pending = [STX];
        continue;
      }
      if (this.pending.length === 0 && isBlank(b)) continue; // blank space between lines
      this.pending.push(b);
      if (this.pending.length > this.maxLine) {
        rejects.add(Uint8Array.from(this.pending), 'line too long');
        this.pending = [];
        this.discarding = true;
      }
    }
    rejects.flush(out);
    return out;
  }

  /** Bytes held back as the start of a line not yet complete. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Drop any partial line (e.g. after the link went down). */
  reset(): void {
    this.pending = [];
    this.discarding = false;
  }

  private endLine(out: UidFramerOutput[], rejects: Rejects): void {
    const raw = this.pending;
    this.pending = [];
    let from = 0;
    let to = raw.length;
    if (this.terminator === 'etx' && raw[0] === STX) from = 1;
    while (from < to && isBlank(raw[from]!)) from++;
    while (to > from && isBlank(raw[to - 1]!)) to--;
    if (from === to) {
      if (this.terminator === 'etx' && raw[0] === STX) rejects.add(Uint8Array.from(raw), 'empty frame');
      return;
    }
    const body = raw.slice(from, to);
    if (!body.every(isPrintable)) {
      rejects.add(Uint8Array.from(raw), 'non-printable bytes in line');
      return;
    }
    rejects.flush(out); // keep outputs in arrival order
    out.push({ type: 'line', text: Buffer.from(body).toString('latin1') });
  }
}
