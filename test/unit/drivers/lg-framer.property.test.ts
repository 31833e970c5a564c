/**
 * Property tests of the LG reply framer: arbitrary bytes in arbitrary chunks
 * never throw and never grow the buffer past one reply; every frame returned
 * was in the input; a valid reply after any garbage is still decoded.
 * 45,000 generated inputs (fixed seeds: reproducible).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeLgReply, LgReplyFramer, LG_MAX_DATA_DIGITS, type LgReply } from '../../../drivers/lg/framer.js';

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

const MAX_REPLY = 7 + LG_MAX_DATA_DIGITS + 1;

function feed(framer: LgReplyFramer, chunks: Uint8Array[]): LgReply[] {
  const frames: LgReply[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > MAX_REPLY) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

/** Bytes drawn mostly from the reply alphabet, so partial replies are common. */
const alphabet = fc.constantFrom(...Buffer.from('abfx 0123456789OKNGx\r', 'latin1'), 0x00, 0xff, 0x7f);
const noisy = fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.array(alphabet, { maxLength: 120 }).map((a) => Uint8Array.from(a)));

const reply = fc
  .tuple(
    fc.constantFrom(...'abcdefghijklmnopqrstuvwyz'), // any Command2 but 'x' (see the third property)
    fc.integer({ min: 0, max: 0x63 }),
    fc.boolean(),
    fc.stringMatching(/^[0-9a-f]{0,4}$/),
  )
  .map(([cmd2, setId, ok, data]) => ({ bytes: encodeLgReply(cmd2, setId, ok, data), frame: { cmd2, setId, ok, data } }));

const cuts = fc.array(fc.nat({ max: 300 }), { maxLength: 10 });

describe('LgReplyFramer properties', () => {
  it('arbitrary bytes in arbitrary chunks: no throw, bounded buffer, every frame was in the input', () => {
    fc.assert(
      fc.property(noisy, cuts, (bytes, cs) => {
        const frames = feed(new LgReplyFramer(), chunk(bytes, cs));
        const input = Buffer.from(bytes).toString('latin1').toLowerCase();
        for (const f of frames) {
          const text = encodeLgReply(f.cmd2, f.setId, f.ok, f.data).toString('latin1').toLowerCase();
          expect(input.includes(text)).toBe(true);
        }
      }),
      { numRuns: 20_000, seed: 0x4c4701 },
    );
  });

  it('a valid reply after any garbage is decoded, whatever the chunking', () => {
    fc.assert(
      fc.property(noisy, reply, cuts, (garbage, r, cs) => {
        const frames = feed(new LgReplyFramer(), chunk(Buffer.concat([garbage, r.bytes]), cs));
        expect(frames.at(-1)).toEqual(r.frame);
      }),
      { numRuns: 20_000, seed: 0x4c4702 },
    );
  });

  it('replies separated by garbage without O/K/N/G come out whole and in order (Command2 x included)', () => {
    const clean = fc.uint8Array({ maxLength: 20 }).map((g) => g.map((c) => ([0x4f, 0x4b, 0x4e, 0x47].includes(c) ? 0x20 : c)));
    const anyReply = fc
      .tuple(fc.constantFrom(...'abefx'), fc.integer({ min: 0, max: 0x63 }), fc.boolean(), fc.stringMatching(/^[0-9a-f]{2}$/))
      .map(([cmd2, setId, ok, data]) => ({ cmd2, setId, ok, data }));
    fc.assert(
      fc.property(fc.array(fc.tuple(clean, anyReply), { minLength: 1, maxLength: 5 }), cuts, (parts, cs) => {
        // Garbage can end in a letter that then looks like Command2: separate with a CR, as a line would.
        const wire = Buffer.concat(parts.flatMap(([g, f]) => [g, Buffer.from('\r'), encodeLgReply(f.cmd2, f.setId, f.ok, f.data)]));
        expect(feed(new LgReplyFramer(), chunk(wire, cs))).toEqual(parts.map(([, f]) => f));
      }),
      { numRuns: 5_000, seed: 0x4c4703 },
    );
  });
});
