/**
 * Property tests of the panel-profile reply scanner, in hex and ascii-lines
 * modes: arbitrary input in arbitrary chunks never throws and keeps the
 * buffer bounded; every match was in the input; an expected reply after
 * garbage is found. 45,000 generated inputs (fixed seeds).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_TEXT, ProfileScanner, type ScanMatch } from '../../../drivers/profile/framer.js';
import { compilePattern } from '../../../drivers/profile/codec.js';

function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  out.push(bytes.subarray(prev));
  return out;
}

const cuts = fc.array(fc.nat({ max: 300 }), { maxLength: 10 });

const OK = compilePattern('ack.ok', 'hex', '7F 09 99 A2 B3 C4 02 FF 01 ?? 01 CF');
const ERR = compilePattern('ack.error', 'hex', '7F 09 99 A2 B3 C4 02 FF 01 ?? 00 CF');
const SHORT = compilePattern('power.on', 'hex', 'AA FF ?? 03 41');
const HEX_PATTERNS = [OK, ERR, SHORT];
const hexAlphabet = fc.constantFrom(0x7f, 0x09, 0x99, 0xa2, 0xb3, 0xc4, 0x02, 0xff, 0x01, 0x00, 0xcf, 0xaa, 0x03, 0x41);
const hexNoise = fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.array(hexAlphabet, { maxLength: 120 }).map((a) => Uint8Array.from(a)));
const hexReply = fc
  .tuple(fc.constantFrom(OK, ERR, SHORT), fc.integer({ min: 0, max: 255 }))
  .map(([p, any]) => ({ id: p.id, bytes: Buffer.from(p.kind === 'hex' ? p.bytes.map((x) => x ?? any) : []) }));

function feed(s: ProfileScanner, chunks: Uint8Array[], bound: number): ScanMatch[] {
  const out: ScanMatch[] = [];
  for (const c of chunks) {
    out.push(...s.push(c, HEX_PATTERNS).matches);
    if (s.buffered > bound) throw new Error(`buffer grew to ${s.buffered}`);
  }
  return out;
}

describe('ProfileScanner properties (hex)', () => {
  it('arbitrary bytes: no throw, buffer below the longest pattern, every match was in the input', () => {
    fc.assert(
      fc.property(hexNoise, cuts, (bytes, cs) => {
        const input = Buffer.from(bytes);
        for (const m of feed(new ProfileScanner('hex'), chunk(bytes, cs), 11)) {
          expect(input.includes(Buffer.from(m.text, 'latin1'))).toBe(true);
        }
      }),
      { numRuns: 20_000, seed: 0x505201 },
    );
  });

  it('an expected reply after garbage that holds no reply is found last, whatever the chunking', () => {
    fc.assert(
      fc.property(hexNoise, hexReply, cuts, (garbage, reply, cs) => {
        const s = new ProfileScanner('hex');
        const before = s.push(garbage, HEX_PATTERNS).matches.length;
        fc.pre(before === 0 && s.buffered === 0); // garbage alone ends cleanly: nothing pending
        const matches = feed(s, chunk(reply.bytes, cs), 11);
        expect(matches.map((m) => m.id)).toEqual([reply.id]);
      }),
      { numRuns: 10_000, seed: 0x505202 },
    );
  });
});

describe('ProfileScanner properties (ascii lines)', () => {
  const ok = compilePattern('ack.ok', 'ascii', '^OK$');
  const err = compilePattern('ack.error', 'ascii', '^ERR');
  const text = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.array(fc.constantFrom(...Buffer.from('OKER\r\n x', 'latin1')), { maxLength: 200 }).map((a) => Uint8Array.from(a)),
  );

  it('arbitrary text: no throw, bounded buffer, every match is a line of the input', () => {
    fc.assert(
      fc.property(text, cuts, (bytes, cs) => {
        const s = new ProfileScanner('ascii', '\r');
        const input = Buffer.from(bytes).toString('latin1');
        for (const c of chunk(bytes, cs)) {
          for (const m of s.push(c, [ok, err]).matches) expect(input.includes(m.text)).toBe(true);
          if (s.buffered > MAX_TEXT) throw new Error(`buffer grew to ${s.buffered}`);
        }
      }),
      { numRuns: 10_000, seed: 0x505203 },
    );
  });

  it('a reply line after garbage ended by a terminator is found last', () => {
    fc.assert(
      fc.property(text, fc.constantFrom('OK', 'ERR 1', 'ERR'), cuts, (garbage, line, cs) => {
        const wire = Buffer.concat([garbage, Buffer.from(`\r${line}\r`, 'latin1')]);
        const s = new ProfileScanner('ascii', '\r');
        const matches = chunk(wire, cs).flatMap((c) => s.push(c, [ok, err]).matches);
        expect(matches.at(-1)).toEqual({ id: line === 'OK' ? 'ack.ok' : 'ack.error', text: line });
      }),
      { numRuns: 5_000, seed: 0x505204 },
    );
  });
});
