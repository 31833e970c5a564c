/**
 * Property tests of the Hitevision framer: arbitrary bytes in arbitrary
 * chunks never throw and never hold more than one frame; every frame was in
 * the input; a valid frame after any garbage is decoded. 45,000 inputs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeHvFrame, HvFramer, HV_MAGIC, HV_MAX_LEN, type HvFrame } from '../../../drivers/hitevision/framer.js';

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

function feed(framer: HvFramer, chunks: Uint8Array[]): HvFrame[] {
  const frames: HvFrame[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > HV_MAX_LEN + 2) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

/** Garbage rich in frame bytes: 7F, lengths, magic, CF. */
const alphabet = fc.constantFrom(0x7f, 0x08, 0x09, ...HV_MAGIC, 0x01, 0xcf, 0x00, 0x55);
const noisy = fc.oneof(fc.uint8Array({ maxLength: 100 }), fc.array(alphabet, { maxLength: 100 }).map((a) => Uint8Array.from(a)));
const frame = fc.uint8Array({ minLength: 1, maxLength: 10 }).map((p) => encodeHvFrame([...p]));
const cuts = fc.array(fc.nat({ max: 200 }), { maxLength: 10 });

describe('HvFramer properties', () => {
  it('arbitrary bytes: no throw, bounded buffer, every frame was in the input', () => {
    fc.assert(
      fc.property(noisy, cuts, (bytes, cs) => {
        const input = Buffer.from(bytes);
        for (const f of feed(new HvFramer(), chunk(bytes, cs))) {
          expect(input.includes(encodeHvFrame([...f.payload]))).toBe(true);
        }
      }),
      { numRuns: 20_000, seed: 0x485601 },
    );
  });

  it('a valid frame after garbage without 7F is decoded, whatever the chunking', () => {
    const clean = fc.uint8Array({ maxLength: 40 }).map((g) => g.map((x) => (x === 0x7f ? 0x7e : x)));
    fc.assert(
      fc.property(clean, frame, cuts, (garbage, f, cs) => {
        const frames = feed(new HvFramer(), chunk(Buffer.concat([garbage, f]), cs));
        expect(frames.map((x) => encodeHvFrame([...x.payload]))).toEqual([f]);
      }),
      { numRuns: 20_000, seed: 0x485602 },
    );
  });

  it('after arbitrary garbage and two frames, the second frame is always the last decoded', () => {
    // Without a checksum a garbage 7F + length + magic may swallow the first frame (at most
    // one frame's worth); the one after it is always decoded. Payloads without 7F.
    const plain = fc.uint8Array({ minLength: 1, maxLength: 10 }).map((p) => encodeHvFrame([...p].map((x) => (x === 0x7f ? 0 : x))));
    fc.assert(
      fc.property(noisy, plain, plain, cuts, (garbage, f1, f2, cs) => {
        const frames = feed(new HvFramer(), chunk(Buffer.concat([garbage, f1, f2]), cs));
        expect(frames.length).toBeGreaterThan(0);
        expect(encodeHvFrame([...frames.at(-1)!.payload])).toEqual(f2);
      }),
      { numRuns: 5_000, seed: 0x485603 },
    );
  });
});
