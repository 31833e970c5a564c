/**
 * Sharp PN RS-232C framing: bytes <-> lines.
 *
 * Source: Sharp PN-L862B operation manual p51-53 ("Controlling the Monitor
 * with a computer (RS-232C)") and the same section of the PN-R603 / PN-655U
 * manuals: a command is 4 command characters + 4 parameter characters + CR
 * ("VOLM0020\r"); every response ends with the return code CR LF ("OK",
 * "ERR", "WAIT", "LOCKED", or a value for a "????" read).
 *
 * The framer cuts the stream into lines at CR or LF (so CR, LF and CR LF all
 * end a line), skips empty lines, keeps printable ASCII lines up to
 * MAX_LINE characters, keeps the printable tail of a line with noise in
 * front of it, and reports anything else. It never throws.
 */
import type { FramerResult } from '../samsung-mdc/framer.js';

export type { FramerResult };

/** Longest line kept (responses are a few characters; commands 8). */
export const MAX_LINE = 64;

const show = (s: string): string => JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);

export class SharpLineFramer {
  private buf = '';

  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = '';
  }

  push(chunk: Uint8Array): FramerResult<string> {
    const result: FramerResult<string> = { frames: [], errors: [] };
    this.buf += Buffer.from(chunk).toString('latin1');
    for (;;) {
      const end = this.buf.search(/[\r\n]/);
      if (end < 0) break;
      const line = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 1);
      if (line === '') continue;
      if (/^[\x20-\x7e]+$/.test(line) && line.length <= MAX_LINE) {
        result.frames.push(line);
        continue;
      }
      // Line noise before a response (a glitch on the cable, a monitor waking up): the printable
      // tail after the last control byte is the response; the rest is reported.
      const tail = /[\x20-\x7e]+$/.exec(line)?.[0] ?? '';
      if (tail !== '' && tail.length < line.length && tail.length <= MAX_LINE) {
        result.errors.push(`noise before a Sharp line dropped: ${show(line.slice(0, line.length - tail.length))}`);
        result.frames.push(tail);
      } else result.errors.push(`not a Sharp line: ${show(line)}`);
    }
    if (this.buf.length > MAX_LINE) {
      result.errors.push(`dropped ${this.buf.length} character(s) without a return code: ${show(this.buf)}`);
      this.buf = '';
    }
    return result;
  }
}
