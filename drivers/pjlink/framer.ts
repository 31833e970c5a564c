/**
 * PJLink framing: bytes <-> lines.
 *
 * Source: JBMIA "PJLink Specifications" Version 1.04 (2013-12-10), §2
 * "Command format" (class 1) and Version 2.00 (2017-01-31) §2 (class 2):
 * every command and every response is one line of ASCII ended by CR (0x0D),
 * at most 136 bytes long; a command line is `%` class body SP param, a
 * response line `%` class body `=` param; the connection greeting is
 * `PJLINK 0` (no authentication) or `PJLINK 1 <8 hex digits>` and an
 * authentication failure is `PJLINK ERRA`. With authentication the first
 * command of a connection is prefixed by a 32-hex-digit MD5 digest.
 *
 * The framer is a stream parser: it cuts lines at CR, bounds what it holds,
 * and inside each line looks for the first position from which the rest is a
 * well-formed PJLink line of the expected direction (resynchronisation after
 * garbage). There is no checksum in PJLink; the strict line grammar is the
 * check. Bad input is reported in the result's `errors`, never thrown.
 */

export const PJLINK_CR = 0x0d;
const LF = 0x0a;
/** Spec maximum (136) plus room for an authentication digest (32). */
export const PJLINK_MAX_LINE = 136 + 32;

export interface FramerResult<F> {
  frames: F[];
  /** One line per rejected piece of input (garbage skipped, line too long, unparsable line). */
  errors: string[];
}

/**
 * 'controller' parses what a projector sends (responses, greeting, ERRA);
 * 'projector' parses what a controller sends (commands, with an optional
 * digest prefix, and the class 2 search `%2SRCH`).
 */
export type PjlinkFramerRole = 'controller' | 'projector';

/** Printable ASCII only: the class 1 commands and replies used here are ASCII. */
/** Case-insensitive: some projectors answer in lower case (seen by multiOTP/pjlink, 2.0.1.0). */
const RESPONSE_LINE = /^(?:%[1-9a-z][a-z0-9]{4}=[\x20-\x7e]*|PJLINK (?:0|1 [0-9a-f]{8}|ERRA))$/i;
const COMMAND_LINE = /^(?:[0-9A-Fa-f]{32})?%[1-9A-Za-z][A-Za-z0-9]{4}(?: [\x20-\x7e]*|)$/;

/** Render bytes for an error message: printable ASCII as is, the rest as \xNN. */
export function printable(bytes: Uint8Array, max = 48): string {
  let out = '';
  const n = Math.min(bytes.length, max);
  for (let i = 0; i < n; i++) {
    const b = bytes[i] ?? 0;
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return bytes.length > max ? `${out}…` : out;
}

export class PjlinkLineFramer {
  private buf: Buffer = Buffer.alloc(0);
  private readonly grammar: RegExp;
  /** Bytes dropped from the current (overlong) line, reported when its CR arrives. */
  private dropped = 0;

  constructor(readonly role: PjlinkFramerRole) {
    this.grammar = role === 'controller' ? RESPONSE_LINE : COMMAND_LINE;
  }

  /** Bytes held waiting for the CR of a line. */
  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
    this.dropped = 0;
  }

  push(chunk: Uint8Array): FramerResult<string> {
    const result: FramerResult<string> = { frames: [], errors: [] };
    let data = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let start = 0;
    for (;;) {
      const cr = data.indexOf(PJLINK_CR, start);
      if (cr < 0) break;
      this.line(data.subarray(start, cr), result);
      start = cr + 1;
    }
    data = data.subarray(start);
    if (data.length > PJLINK_MAX_LINE) {
      // No line is longer than this: keep only the tail, where a frame may still start.
      const cut = data.length - PJLINK_MAX_LINE;
      this.dropped += cut;
      data = data.subarray(cut);
    }
    this.buf = Buffer.from(data);
    return result;
  }

  private line(raw: Buffer, result: FramerResult<string>): void {
    const dropped = this.dropped;
    this.dropped = 0;
    // A LF after the previous CR (CR LF senders) and empty lines are not errors.
    let from = 0;
    while (from < raw.length && raw[from] === LF) from++;
    const bytes = raw.subarray(from);
    if (bytes.length === 0 && dropped === 0) return;
    if (dropped > 0) result.errors.push(`line too long: dropped ${dropped} byte(s)`);
    const text = bytes.toString('latin1');
    const at = this.frameStart(text);
    if (at < 0) {
      if (bytes.length > 0) result.errors.push(`not a PJLink line: "${printable(bytes)}"`);
      return;
    }
    if (at > 0) result.errors.push(`skipped ${at} byte(s) before a line: "${printable(bytes.subarray(0, at))}"`);
    result.frames.push(text.slice(at));
  }

  /** First index from which the rest of the line is a well-formed line, or -1. */
  private frameStart(text: string): number {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const candidate =
        c === 0x25 /* % */ ||
        (this.role === 'controller' ? (c | 0x20) === 0x70 /* P or p */ : isHex(c) && i + 32 < text.length && text.charCodeAt(i + 32) === 0x25);
      if (candidate && this.grammar.test(text.slice(i))) return i;
    }
    return -1;
  }
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** One line on the wire: the text plus CR. */
export function encodePjlinkLine(text: string): Buffer {
  return Buffer.from(`${text}\r`, 'latin1');
}
