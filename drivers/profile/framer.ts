/**
 * Table-driven profile framing: find the replies a profile declares in the
 * byte stream.
 *
 * A profile has no fixed frame format, so the scanner is told which patterns
 * may come next (the ones the request in flight waits for) and finds them:
 *
 * - hex: byte patterns with wildcards. At each offset every pattern is
 *   complete, a partial prefix (the buffer ends first) or a mismatch; the
 *   longest complete match at the earliest offset wins; a partial prefix
 *   waits for more bytes; an offset where nothing can match is garbage.
 *   The buffer never holds more than the longest pattern.
 * - ascii with a terminator: the stream is cut into lines (CR/LF trimmed at
 *   both ends, empty lines skipped); the first pattern whose regular
 *   expression matches a line wins; other lines are reported.
 * - ascii without a terminator: the earliest regular-expression match in the
 *   buffer wins (longest on a tie); the text before it is garbage; the
 *   buffer is capped at MAX_TEXT characters.
 *
 * Bad input is reported in `errors`, never thrown.
 */
import { hex } from '../samsung-mdc/framer.js';

/** A reply pattern: hex bytes with wildcards (null) or a regular expression over latin1 text. */
export type CompiledPattern =
  | { id: string; kind: 'hex'; bytes: readonly (number | null)[]; source: string }
  | { id: string; kind: 'regex'; re: RegExp; source: string };

export interface ScanMatch {
  /** The pattern's id. */
  id: string;
  /** The matched bytes as latin1 text (the line, for ascii with a terminator). */
  text: string;
}

export interface ScanResult {
  matches: ScanMatch[];
  errors: string[];
}

/** Cap on buffered text in ascii modes. */
export const MAX_TEXT = 512;

const show = (text: string): string => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);

type Verdict = 'match' | 'partial' | 'no';

function hexAt(buf: Buffer, p: number, bytes: readonly (number | null)[]): Verdict {
  for (let i = 0; i < bytes.length; i++) {
    const b = buf[p + i];
    if (b === undefined) return 'partial';
    const want = bytes[i];
    if (want !== null && want !== b) return 'no';
  }
  return 'match';
}

export class ProfileScanner {
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    private readonly encoding: 'hex' | 'ascii',
    private readonly terminator?: string,
  ) {}

  get buffered(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf = Buffer.alloc(0);
  }

  /** Add bytes; find replies among `patterns` (those the request in flight waits for). */
  push(chunk: Uint8Array, patterns: readonly CompiledPattern[]): ScanResult {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    if (this.encoding === 'hex') return this.scanHex(patterns);
    return this.terminator ? this.scanLines(patterns, this.terminator) : this.scanText(patterns);
  }

  private scanHex(patterns: readonly CompiledPattern[]): ScanResult {
    const out: ScanResult = { matches: [], errors: [] };
    const hexPatterns = patterns.flatMap((p) => (p.kind === 'hex' ? [p] : []));
    let pos = 0;
    let garbageFrom = -1;
    const flush = (to: number): void => {
      if (garbageFrom < 0) return;
      out.errors.push(`skipped ${to - garbageFrom} byte(s) matching no expected reply: ${hex(this.buf.subarray(garbageFrom, to))}`);
      garbageFrom = -1;
    };
    while (pos < this.buf.length) {
      let best: (typeof hexPatterns)[number] | undefined;
      let waiting = false;
      for (const p of hexPatterns) {
        const v = hexAt(this.buf, pos, p.bytes);
        if (v === 'match' && (!best || p.bytes.length > best.bytes.length)) best = p;
        else if (v === 'partial') waiting = true;
      }
      if (best) {
        flush(pos);
        out.matches.push({ id: best.id, text: this.buf.toString('latin1', pos, pos + best.bytes.length) });
        pos += best.bytes.length;
      } else if (waiting) {
        break;
      } else {
        if (garbageFrom < 0) garbageFrom = pos;
        pos++;
      }
    }
    flush(pos);
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : Buffer.from(this.buf.subarray(pos));
    return out;
  }

  private scanLines(patterns: readonly CompiledPattern[], terminator: string): ScanResult {
    const out: ScanResult = { matches: [], errors: [] };
    let text = this.buf.toString('latin1');
    for (;;) {
      const end = text.indexOf(terminator);
      if (end < 0) break;
      const line = text.slice(0, end).replace(/^[\r\n]+|[\r\n]+$/g, '');
      text = text.slice(end + terminator.length);
      if (line === '') continue;
      const hit = patterns.find((p) => p.kind === 'regex' && p.re.test(line));
      if (hit) out.matches.push({ id: hit.id, text: line });
      else out.errors.push(`reply matching no expected pattern: ${show(line)}`);
    }
    if (text.length > MAX_TEXT) {
      out.errors.push(`dropped ${text.length} character(s) without terminator: ${show(text)}`);
      text = '';
    }
    this.buf = Buffer.from(text, 'latin1');
    return out;
  }

  private scanText(patterns: readonly CompiledPattern[]): ScanResult {
    const out: ScanResult = { matches: [], errors: [] };
    let text = this.buf.toString('latin1');
    if (patterns.length === 0) {
      out.errors.push(`unexpected text while no reply is awaited: ${show(text)}`);
      this.buf = Buffer.alloc(0);
      return out;
    }
    for (;;) {
      let best: { id: string; index: number; text: string } | undefined;
      for (const p of patterns) {
        if (p.kind !== 'regex') continue;
        const m = p.re.exec(text);
        if (!m || m[0] === '') continue;
        if (!best || m.index < best.index || (m.index === best.index && m[0].length > best.text.length)) {
          best = { id: p.id, index: m.index, text: m[0] };
        }
      }
      if (!best) break;
      if (best.index > 0) out.errors.push(`skipped text matching no expected reply: ${show(text.slice(0, best.index))}`);
      out.matches.push({ id: best.id, text: best.text });
      text = text.slice(best.index + best.text.length);
    }
    if (text.length > MAX_TEXT) {
      out.errors.push(`dropped ${text.length - MAX_TEXT} old character(s) matching no expected reply`);
      text = text.slice(text.length - MAX_TEXT);
    }
    this.buf = Buffer.from(text, 'latin1');
    return out;
  }
}
