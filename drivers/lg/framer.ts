/**
 * LG RS-232C framing: bytes <-> frames.
 *
 * Source: LG 55LV5400 owner's manual p135, "External control device setup",
 * Transmission / Receiving protocol (shared/PROTOCOLS.md):
 *
 *   command  [Command1][Command2][ ][Set ID][ ][Data][Cr]      "ka 01 01\r"
 *   OK ack   [Command2][ ][Set ID][ ][OK][Data][x]             "a 01 OK01x"
 *   NG ack   [Command2][ ][Set ID][ ][NG][Data][x]             "a 01 NG01x"
 *
 * Set ID and data travel as lower-case hexadecimal ("if set ID is 10, it will
 * send '0', 'a'"); 'FF' as data reads the current value. A reply ends with
 * the letter 'x'; since set id and data are hex digits, the first 'x' after
 * OK/NG ends it.
 *
 * The host framer is a small state machine run at each byte offset: a
 * position that cannot start a reply is skipped (and reported), a position
 * that is a valid prefix of a reply waits for more bytes, so the buffer
 * never holds more than one reply's worth (MAX_REPLY). It never throws.
 * The device framer (for the simulator) splits commands on CR.
 */
import type { FramerResult } from '../samsung-mdc/framer.js';

export type { FramerResult };

export interface LgReply {
  /** Command2 letter echoed by the set, e.g. 'a' for ka (power). */
  cmd2: string;
  setId: number;
  ok: boolean;
  /** Lower-case hex digits after OK/NG (may be empty). */
  data: string;
}

export interface LgCommand {
  /** Two letters, e.g. 'ka', 'xb'. */
  cmd: string;
  setId: number;
  /** Data fields as lower-case hex strings, e.g. ['01'] or ['ff']. */
  data: string[];
}

/** Longest data the host framer accepts after OK/NG (the manual's replies carry 2 digits). */
export const LG_MAX_DATA_DIGITS = 16;
/** cmd2 + ' ' + id(2) + ' ' + OK(2) + data + 'x' */
const MAX_REPLY = 1 + 1 + 2 + 1 + 2 + LG_MAX_DATA_DIGITS + 1;

const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const SPACE = 0x20;
const X = 0x78;
const CR = 0x0d;

export const hex2 = (n: number): string => (n & 0xff).toString(16).padStart(2, '0');

export const printable = (bytes: Uint8Array): string =>
  JSON.stringify(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));

/** "ka 01 01\r": command letters, set id and data fields as two hex digits each. */
export function encodeLgCommand(cmd: string, setId: number, data: readonly (number | 'ff')[]): Buffer {
  if (!/^[a-z]{2}$/.test(cmd)) throw new RangeError(`LG command must be two lower-case letters: "${cmd}"`);
  if (!Number.isInteger(setId) || setId < 0 || setId > 99) throw new RangeError(`LG set id out of range 0..99: ${setId}`);
  const fields = data.map((d) => {
    if (d === 'ff') return 'ff';
    if (!Number.isInteger(d) || d < 0 || d > 0xff) throw new RangeError(`LG data out of range 00..ff: ${d}`);
    return hex2(d);
  });
  return Buffer.from(`${cmd} ${hex2(setId)} ${fields.join(' ')}\r`, 'latin1');
}

/** "a 01 OK01x" (used by the simulator and tests). */
export function encodeLgReply(cmd2: string, setId: number, ok: boolean, data: string): Buffer {
  return Buffer.from(`${cmd2} ${hex2(setId)} ${ok ? 'OK' : 'NG'}${data}x`, 'latin1');
}

type Step = { kind: 'frame'; frame: LgReply; end: number } | { kind: 'partial' } | { kind: 'bad' };

/** Try to read one reply starting at `p`. */
function parseAt(buf: Buffer, p: number): Step {
  const at = (i: number): number | undefined => buf[p + i];
  const expect = (i: number, ok: (c: number) => boolean): 'ok' | 'partial' | 'bad' => {
    const c = at(i);
    if (c === undefined) return 'partial';
    return ok(c) ? 'ok' : 'bad';
  };
  const fixed: Array<(c: number) => boolean> = [
    isLower,
    (c) => c === SPACE,
    isHex,
    isHex,
    (c) => c === SPACE,
    (c) => c === 0x4f || c === 0x4e, // 'O' | 'N'
  ];
  for (let i = 0; i < fixed.length; i++) {
    const r = expect(i, fixed[i]!);
    if (r !== 'ok') return { kind: r };
  }
  const second = at(6);
  if (second === undefined) return { kind: 'partial' };
  const ok = at(5) === 0x4f;
  if ((ok && second !== 0x4b) || (!ok && second !== 0x47)) return { kind: 'bad' }; // "OK" | "NG"
  for (let i = 7; i <= 7 + LG_MAX_DATA_DIGITS; i++) {
    const c = at(i);
    if (c === undefined) return { kind: 'partial' };
    if (c === X) {
      const text = buf.toString('latin1', p, p + i);
      return {
        kind: 'frame',
        end: p + i + 1,
        frame: {
          cmd2: text[0] ?? '',
          setId: Number.parseInt(text.slice(2, 4), 16),
          ok,
          data: text.slice(7).toLowerCase(),
        },
      };
    }
    if (!isHex(c)) return { kind: 'bad' };
  }
  return { kind: 'bad' }; // data longer than any reply the manual lists
}

/** Host side: parses what a set sends. */
export class LgReplyFramer {
  private buf: Buffer = Buffer.alloc(0);

  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): FramerResult<LgReply> {
    const result: FramerResult<LgReply> = { frames: [], errors: [] };
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    let garbageFrom = -1;
    const flushGarbage = (to: number): void => {
      if (garbageFrom < 0) return;
      result.errors.push(`skipped ${to - garbageFrom} byte(s) that are not an LG reply: ${printable(this.buf.subarray(garbageFrom, to))}`);
      garbageFrom = -1;
    };
    while (pos < this.buf.length) {
      const step = parseAt(this.buf, pos);
      if (step.kind === 'frame') {
        flushGarbage(pos);
        result.frames.push(step.frame);
        pos = step.end;
      } else if (step.kind === 'partial') {
        break;
      } else {
        if (garbageFrom < 0) garbageFrom = pos;
        pos++;
      }
    }
    flushGarbage(pos);
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(pos));
    if (this.buf.length > MAX_REPLY) {
      // Unreachable by construction (a partial is a valid prefix); kept as a hard bound.
      result.errors.push(`dropped ${this.buf.length} buffered byte(s)`);
      this.buf = Buffer.alloc(0);
    }
    return result;
  }
}

/** Longest command line the device framer keeps (the manual's longest command, channel tuning, is ~20). */
const MAX_COMMAND = 64;
const COMMAND_RE = /^([a-z]{2}) ([0-9a-fA-F]{2})((?: [0-9a-fA-F]{2})+)$/;

/** Device side (simulator): parses what a host sends, one command per CR. */
export class LgCommandFramer {
  private buf = '';

  push(chunk: Uint8Array): FramerResult<LgCommand> {
    const result: FramerResult<LgCommand> = { frames: [], errors: [] };
    this.buf += Buffer.from(chunk).toString('latin1');
    for (;;) {
      const cr = this.buf.indexOf(String.fromCharCode(CR));
      if (cr < 0) break;
      const line = this.buf.slice(0, cr).replace(/^[\n\r]+/, '');
      this.buf = this.buf.slice(cr + 1);
      const m = COMMAND_RE.exec(line);
      if (!m) {
        if (line.length > 0) result.errors.push(`not an LG command: ${JSON.stringify(line)}`);
        continue;
      }
      result.frames.push({
        cmd: m[1] ?? '',
        setId: Number.parseInt(m[2] ?? '0', 16),
        data: (m[3] ?? '').trim().split(' ').map((d) => d.toLowerCase()),
      });
    }
    if (this.buf.length > MAX_COMMAND) {
      result.errors.push(`dropped ${this.buf.length} character(s) without CR`);
      this.buf = '';
    }
    return result;
  }
}
