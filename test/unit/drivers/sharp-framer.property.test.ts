/**
 * Property tests of the Sharp line framer: arbitrary bytes in arbitrary
 * chunks never throw and keep at most one line buffered; every line returned
 * was in the input; a response after garbage and a return code is decoded.
 * 40,000 inputs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MAX_LINE, SharpLineFramer } from '../../../drivers/sharp/framer.js';
import { decodeSharpLine } from '../../../drivers/sharp/codec.js';

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

const noisy = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.array(fc.constantFrom(...Buffer.from('OKERWAITLOCKED0123456789 \r\n', 'latin1'), 0x00, 0xff), { maxLength: 200 }).map((x) => Uint8Array.from(x)),
);
const response = fc.constantFrom('OK', 'ERR', 'WAIT', 'LOCKED', 'UNSELECTED', '0', '1', '20', '100', '10 001');
const cuts = fc.array(fc.nat({ max: 300 }), { maxLength: 10 });

describe('SharpLineFramer properties', () => {
  it('arbitrary bytes: no throw, bounded buffer, every line was in the input', () => {
    fc.assert(
      fc.property(noisy, cuts, (bytes, cs) => {
        const f = new SharpLineFramer();
        const input = Buffer.from(bytes).toString('latin1');
        for (const c of chunk(bytes, cs)) {
          for (const line of f.push(c).frames) {
            expect(input.includes(line)).toBe(true);
            expect(() => decodeSharpLine(line)).not.toThrow();
          }
          if (f.buffered > MAX_LINE) throw new Error(`buffer grew to ${f.buffered}`);
        }
      }),
      { numRuns: 20_000, seed: 0x534801 },
    );
  });

  it('a response after garbage ended by a return code is the last line, whatever the chunking', () => {
    fc.assert(
      fc.property(noisy, response, cuts, (garbage, line, cs) => {
        const f = new SharpLineFramer();
        const wire = Buffer.concat([garbage, Buffer.from(`\r\n${line}\r\n`, 'latin1')]);
        const lines = chunk(wire, cs).flatMap((c) => f.push(c).frames);
        expect(lines.at(-1)).toBe(line);
        expect(decodeSharpLine(line)).toBeDefined();
      }),
      { numRuns: 20_000, seed: 0x534802 },
    );
  });
});
