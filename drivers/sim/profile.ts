/**
 * Generic device-side simulator for `panel-profile` (tests and the demo
 * room): a panel that speaks exactly the table of a profile. It recognises
 * the profile's command frames (the volume template with any level), applies
 * them to its state and answers with the profile's replies: `ack.ok` after a
 * set, `power.on` / `power.off` to the power query, `ack.error` for values
 * out of range, for lines it does not know (ascii with a terminator) and
 * after errorNext().
 *
 * Reply frames are derived from the patterns — hex `??` become 00, an ascii
 * pattern that is a plain literal (optionally ^...$ anchored) is sent as is —
 * or given in `replies` when a pattern is a real regular expression. Equal
 * muteOn/muteOff frames are treated as a toggle key.
 */
import type { ByteTransport } from '../transports/types.js';
import { compilePattern, PATTERN_IDS, type CompiledPattern } from '../profile/codec.js';
import { parseHexBytes, type ProfileOptions } from '../profile/schema.js';

export interface ProfileSimState {
  power: boolean;
  input: string | null;
  volume: number;
  muted: boolean;
}

export interface ProfileSimOptions {
  /** Concrete reply frames (hex "AA FF 01 03 41", ascii text without terminator), overriding derived ones. */
  replies?: { ok?: string; error?: string; on?: string; off?: string };
  initial?: Partial<ProfileSimState>;
  replyDelayMs?: number;
}

type Action = { kind: 'power'; on: boolean } | { kind: 'input'; name: string } | { kind: 'volume' } | { kind: 'mute'; on: boolean } | { kind: 'mute-toggle' } | { kind: 'query' };

interface Recogniser {
  name: string;
  source: string;
  action: Action;
}

type CompiledRecogniser = Recogniser & { re: RegExp };

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const hexRe = (bytes: Buffer): string => [...bytes].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
const MAX_TEXT = 512;

/**
 * A string that a simple regular expression matches: literals and escapes,
 * groups (first alternative), classes (first member), `.`, and quantifiers
 * (the fewest repeats). Undefined for anything it does not understand; the
 * caller checks the sample against the pattern anyway.
 */
export function sampleFor(source: string): string | undefined {
  let i = 0;
  const fail = (): never => {
    throw new Error('unsupported');
  };
  const escape = (): string => {
    const e = source[i++] ?? fail();
    if (e === 'd') return '0';
    if (e === 'w') return 'a';
    if (e === 's') return ' ';
    if (e === 'x') {
      const code = Number.parseInt(source.slice(i, i + 2), 16);
      i += 2;
      return Number.isNaN(code) ? fail() : String.fromCharCode(code);
    }
    return /[A-Za-z0-9]/.test(e) ? fail() : e;
  };
  const atom = (): string => {
    const c = source[i++] ?? fail();
    if (c === '^' || c === '$') return '';
    if (c === '.') return 'x';
    if (c === '\\') return escape();
    if (c === '(') {
      if (source.startsWith('?:', i)) i += 2;
      else if (source[i] === '?') fail();
      const s = alternatives();
      if (source[i++] !== ')') fail();
      return s;
    }
    if (c === '[') {
      if (source[i] === '^') fail();
      const first = source[i] === '\\' ? (i++, escape()) : (source[i++] ?? fail());
      while (i < source.length && source[i] !== ']') i += source[i] === '\\' ? 2 : 1;
      if (source[i++] !== ']') fail();
      return first;
    }
    if ('*+?{|)'.includes(c)) fail();
    return c;
  };
  const repeated = (a: string): string => {
    const q = source[i];
    if (q === '?' || q === '*' || q === '+') {
      i++;
      if (source[i] === '?') i++;
      return q === '+' ? a : '';
    }
    if (q === '{') {
      const m = /^\{(\d+)(,\d*)?\}\??/.exec(source.slice(i)) ?? fail();
      i += m[0].length;
      return a.repeat(Number(m[1]));
    }
    return a;
  };
  const sequence = (): string => {
    let out = '';
    while (i < source.length && source[i] !== '|' && source[i] !== ')') out += repeated(atom());
    return out;
  };
  const alternatives = (): string => {
    const first = sequence();
    while (source[i] === '|') {
      i++;
      sequence();
    }
    return first;
  };
  try {
    const s = alternatives();
    return i === source.length ? s : undefined;
  } catch {
    return undefined;
  }
}

export class ProfileSim {
  readonly state: ProfileSimState;
  silent = false;
  /** Names of the commands recognised, in order ('powerOn', 'input:hdmi1', 'volume', 'query', ...). */
  readonly received: string[] = [];
  private buf = '';
  private errorPending = false;
  private readonly recognisers: CompiledRecogniser[];
  private readonly reply: { ok?: Buffer; error?: Buffer; on?: Buffer; off?: Buffer };
  private readonly replyDelayMs: number;

  constructor(
    private readonly transport: ByteTransport,
    private readonly profile: ProfileOptions,
    options: ProfileSimOptions = {},
  ) {
    this.state = { power: false, input: null, volume: 20, muted: false, ...options.initial };
    this.replyDelayMs = options.replyDelayMs ?? 0;
    this.recognisers = this.buildRecognisers();
    const q = profile.commands.query?.power;
    this.reply = {
      ok: profile.ack && this.replyFrame(PATTERN_IDS.ok, profile.ack.ok, options.replies?.ok),
      error: profile.ack?.error === undefined ? undefined : this.replyFrame(PATTERN_IDS.error, profile.ack.error, options.replies?.error),
      on: q && this.replyFrame(PATTERN_IDS.on, q.replies.on, options.replies?.on),
      off: q && this.replyFrame(PATTERN_IDS.off, q.replies.off, options.replies?.off),
    };
    transport.on('data', this.onData);
    transport.start();
  }

  /** Answer the next recognised command with ack.error. */
  errorNext(): void {
    this.errorPending = true;
  }

  async close(): Promise<void> {
    this.transport.off('data', this.onData);
    await this.transport.stop();
  }

  private get terminator(): string | undefined {
    return this.profile.encoding === 'ascii' ? this.profile.terminator : undefined;
  }

  private buildRecognisers(): CompiledRecogniser[] {
    const p = this.profile;
    const c = p.commands;
    const term = this.terminator;
    const literal = (text: string): string => {
      if (p.encoding === 'hex') return hexRe(parseHexBytes(text) ?? Buffer.alloc(0));
      return escapeRe(text); // the terminator is handled by line splitting
    };
    const list: Recogniser[] = [
      { name: 'powerOn', source: literal(c.powerOn), action: { kind: 'power', on: true } },
      { name: 'powerOff', source: literal(c.powerOff), action: { kind: 'power', on: false } },
      ...Object.entries(c.inputs).map(([name, text]) => ({ name: `input:${name}`, source: literal(text), action: { kind: 'input', name } as Action })),
    ];
    if (c.muteOn !== undefined && c.muteOff !== undefined) {
      if (c.muteOn === c.muteOff) list.push({ name: 'mute', source: literal(c.muteOn), action: { kind: 'mute-toggle' } });
      else {
        list.push({ name: 'muteOn', source: literal(c.muteOn), action: { kind: 'mute', on: true } });
        list.push({ name: 'muteOff', source: literal(c.muteOff), action: { kind: 'mute', on: false } });
      }
    }
    if (c.volume !== undefined) {
      const m = /\{level(?::(\d))?\}|\{levelHex\}/.exec(c.volume);
      if (m) {
        const before = c.volume.slice(0, m.index);
        const after = c.volume.slice(m.index + m[0].length);
        const slot =
          p.encoding === 'hex' ? '([\\s\\S])' : m[0] === '{levelHex}' ? '([0-9A-Fa-f]{2})' : m[1] ? `(\\d{${m[1]}})` : '(\\d{1,3})';
        const part = (t: string): string => (p.encoding === 'hex' ? (t.trim() ? literal(t) : '') : escapeRe(t));
        list.push({ name: 'volume', source: part(before) + slot + part(after), action: { kind: 'volume' } });
      }
    }
    const q = c.query?.power;
    if (q) list.push({ name: 'query', source: literal(q.send), action: { kind: 'query' } });
    return list.map((r) => ({ ...r, re: new RegExp(term ? `^${r.source}$` : r.source) }));
  }

  /** A concrete frame for a reply pattern, checked against the pattern. */
  private replyFrame(id: string, patternText: string, given: string | undefined): Buffer {
    const p = this.profile;
    const pattern: CompiledPattern = compilePattern(id, p.encoding, patternText);
    let body: string | undefined;
    if (given !== undefined) body = p.encoding === 'hex' ? parseHexBytes(given)?.toString('latin1') : given;
    else if (pattern.kind === 'hex') body = Buffer.from(pattern.bytes.map((b) => b ?? 0)).toString('latin1');
    else body = sampleFor(patternText);
    if (body === undefined) throw new Error(`profile simulator: give replies.${id.split('.')[1]} for the pattern ${JSON.stringify(patternText)}`);
    const ok = pattern.kind === 'hex' ? pattern.bytes.length === body.length && pattern.bytes.every((b, i) => b === null || b === body.charCodeAt(i)) : pattern.re.test(body);
    if (!ok) throw new Error(`profile simulator: reply ${JSON.stringify(body)} does not match ${id} ${JSON.stringify(patternText)}`);
    return Buffer.from(body + (this.terminator ?? ''), 'latin1');
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buf += chunk.toString('latin1');
    const term = this.terminator;
    if (term) {
      for (let end = this.buf.indexOf(term); end >= 0; end = this.buf.indexOf(term)) {
        const line = this.buf.slice(0, end).replace(/^[\r\n]+|[\r\n]+$/g, '');
        this.buf = this.buf.slice(end + term.length);
        if (line === '') continue;
        const hit = this.recognisers.find((r) => r.re.test(line));
        if (hit) this.handle(hit, hit.re.exec(line)?.[1]);
        else if (!this.silent && this.reply.error) this.send(this.reply.error);
      }
    } else {
      for (;;) {
        let best: { r: CompiledRecogniser; m: RegExpExecArray } | undefined;
        for (const r of this.recognisers) {
          const m = r.re.exec(this.buf);
          if (m && (!best || m.index < best.m.index)) best = { r, m };
        }
        if (!best) break;
        this.buf = this.buf.slice(best.m.index + best.m[0].length);
        this.handle(best.r, best.m[1]);
      }
    }
    if (this.buf.length > MAX_TEXT) this.buf = this.buf.slice(-MAX_TEXT);
  };

  private handle(r: Recogniser, slot: string | undefined): void {
    this.received.push(r.name);
    if (this.silent) return;
    const s = this.state;
    const a = r.action;
    if (this.errorPending && a.kind !== 'query') {
      this.errorPending = false;
      if (this.reply.error) this.send(this.reply.error);
      return;
    }
    switch (a.kind) {
      case 'power':
        s.power = a.on;
        break;
      case 'input':
        s.input = a.name;
        break;
      case 'mute':
        s.muted = a.on;
        break;
      case 'mute-toggle':
        s.muted = !s.muted;
        break;
      case 'volume': {
        const hexSlot = /\{levelHex\}/.test(this.profile.commands.volume ?? '');
        const level = slot === undefined ? NaN : this.profile.encoding === 'hex' ? slot.charCodeAt(0) : Number.parseInt(slot, hexSlot ? 16 : 10);
        if (!(level >= 0 && level <= this.profile.volumeMax)) {
          if (this.reply.error) this.send(this.reply.error);
          return;
        }
        s.volume = level;
        break;
      }
      case 'query': {
        const frame = s.power ? this.reply.on : this.reply.off;
        if (frame) this.send(frame);
        return;
      }
    }
    if (this.reply.ok) this.send(this.reply.ok);
  }

  private send(bytes: Buffer): void {
    const go = (): void => {
      if (this.transport.isUp && !this.silent) this.transport.write(bytes).catch(() => undefined);
    };
    if (this.replyDelayMs > 0) setTimeout(go, this.replyDelayMs);
    else go();
  }
}

