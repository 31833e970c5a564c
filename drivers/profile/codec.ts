/**
 * Table-driven profile codec: validated options -> the bytes to send and the
 * compiled reply patterns. Options must have passed profileOptionsSchema
 * (./schema.ts); compileProfile() then cannot meet a bad frame or pattern.
 */
import type { CompiledPattern } from './framer.js';
import { parseHexBytes, hexTokens, type ProfileOptions } from './schema.js';

export type { CompiledPattern };

export interface CompiledProfile {
  encoding: 'hex' | 'ascii';
  terminator: string | undefined;
  powerOn: Buffer;
  powerOff: Buffer;
  inputs: ReadonlyMap<string, Buffer>;
  volume: ((level: number) => Buffer) | undefined;
  volumeMax: number;
  muteOn: Buffer | undefined;
  muteOff: Buffer | undefined;
  powerQuery: { send: Buffer; on: CompiledPattern; off: CompiledPattern } | undefined;
  ack: { ok: CompiledPattern; error: CompiledPattern | undefined } | undefined;
}

export const PATTERN_IDS = { ok: 'ack.ok', error: 'ack.error', on: 'power.on', off: 'power.off' } as const;

export function compilePattern(id: string, encoding: 'hex' | 'ascii', source: string): CompiledPattern {
  if (encoding === 'hex') {
    const tokens = hexTokens(source, true);
    if (!tokens) throw new Error(`${id}: not a hex pattern: "${source}"`);
    return { id, kind: 'hex', bytes: tokens.map((t) => (t === '??' ? null : Number.parseInt(t, 16))), source };
  }
  return { id, kind: 'regex', re: new RegExp(source), source };
}

function frameBytes(options: ProfileOptions, text: string): Buffer {
  if (options.encoding === 'hex') {
    const bytes = parseHexBytes(text);
    if (!bytes) throw new Error(`not a hex frame: "${text}"`);
    return bytes;
  }
  return Buffer.from(text + (options.terminator ?? ''), 'latin1');
}

/** Fill the volume template: {level}, {level:N} (zero-padded), {levelHex} (two hex digits / one byte). */
export function fillVolume(template: string, level: number): string {
  return template.replace(/\{level(?::(\d))?\}|\{levelHex\}/, (m: string, width: string | undefined) => {
    if (m === '{levelHex}') return level.toString(16).toUpperCase().padStart(2, '0');
    return width ? String(level).padStart(Number(width), '0') : String(level);
  });
}

export function compileProfile(options: ProfileOptions): CompiledProfile {
  const c = options.commands;
  const enc = options.encoding;
  const volumeTemplate = c.volume;
  const q = c.query?.power;
  return {
    encoding: enc,
    terminator: enc === 'ascii' ? options.terminator : undefined,
    powerOn: frameBytes(options, c.powerOn),
    powerOff: frameBytes(options, c.powerOff),
    inputs: new Map(Object.entries(c.inputs).map(([name, text]) => [name, frameBytes(options, text)])),
    volume:
      volumeTemplate === undefined
        ? undefined
        : (level: number) => {
            if (!Number.isInteger(level) || level < 0 || level > options.volumeMax) {
              throw new RangeError(`volume out of range 0..${options.volumeMax}: ${level}`);
            }
            return frameBytes(options, fillVolume(volumeTemplate, level));
          },
    volumeMax: options.volumeMax,
    muteOn: c.muteOn === undefined ? undefined : frameBytes(options, c.muteOn),
    muteOff: c.muteOff === undefined ? undefined : frameBytes(options, c.muteOff),
    powerQuery: q && {
      send: frameBytes(options, q.send),
      on: compilePattern(PATTERN_IDS.on, enc, q.replies.on),
      off: compilePattern(PATTERN_IDS.off, enc, q.replies.off),
    },
    ack: options.ack && {
      ok: compilePattern(PATTERN_IDS.ok, enc, options.ack.ok),
      error: options.ack.error === undefined ? undefined : compilePattern(PATTERN_IDS.error, enc, options.ack.error),
    },
  };
}
