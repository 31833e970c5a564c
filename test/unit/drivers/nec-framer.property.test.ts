/**
 * Property tests of the NEC framer: arbitrary bytes in arbitrary chunks never
 * throw, keep at most one packet buffered, and yield only packets that were
 * in the input; a valid packet after garbage is decoded. 45,000 inputs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeNecPacket, NecFramer, type NecMessageType, type NecPacket } from '../../../drivers/nec/framer.js';

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

const MAX_PACKET = 7 + 0xff + 2;

function feed(framer: NecFramer, chunks: Uint8Array[]): NecPacket[] {
  const frames: NecPacket[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > MAX_PACKET) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

const reencode = (p: NecPacket): Buffer => encodeNecPacket(p.destination, p.source, p.type, p.message);

const alphabet = fc.constantFrom(0x01, 0x30, 0x41, 0x42, 0x44, 0x02, 0x03, 0x0d, 0x43, 0x31, 0x36, 0x00, 0xff);
const noisy = fc.oneof(fc.uint8Array({ maxLength: 150 }), fc.array(alphabet, { maxLength: 150 }).map((a) => Uint8Array.from(a)));
const packet = fc
  .tuple(
    fc.integer({ min: 0x30, max: 0x7e }),
    fc.integer({ min: 0x30, max: 0x7e }),
    fc.constantFrom<NecMessageType>('A', 'B', 'C', 'D', 'E', 'F'),
    fc.stringMatching(/^[0-9A-F]{0,24}$/),
  )
  .map(([d, s, t, m]) => encodeNecPacket(d, s, t, m));
const cuts = fc.array(fc.nat({ max: 300 }), { maxLength: 10 });

describe('NecFramer properties', () => {
  it('arbitrary bytes: no throw, bounded buffer, every packet was in the input', () => {
    fc.assert(
      fc.property(noisy, cuts, (bytes, cs) => {
        const input = Buffer.from(bytes);
        for (const p of feed(new NecFramer(), chunk(bytes, cs))) expect(input.includes(reencode(p))).toBe(true);
      }),
      { numRuns: 20_000, seed: 0x4e4501 },
    );
  });

  it('a valid packet after garbage without SOH is decoded, whatever the chunking', () => {
    const clean = fc.uint8Array({ maxLength: 60 }).map((g) => g.map((x) => (x === 0x01 ? 0x00 : x)));
    fc.assert(
      fc.property(clean, packet, cuts, (garbage, p, cs) => {
        const frames = feed(new NecFramer(), chunk(Buffer.concat([garbage, p]), cs));
        expect(frames.map(reencode)).toEqual([p]);
      }),
      { numRuns: 20_000, seed: 0x4e4502 },
    );
  });

  it('after arbitrary garbage, a packet is decoded once the stream moves on (a stray SOH cannot swallow it for good)', () => {
    fc.assert(
      fc.property(noisy, packet, packet, cuts, (garbage, p1, p2, cs) => {
        // A stray SOH with a plausible length may hold the parser until its announced
        // length is reached and its checks fail; then p1 or p2 must come out.
        const filler = Buffer.alloc(MAX_PACKET, 0x20);
        const frames = feed(new NecFramer(), chunk(Buffer.concat([garbage, filler, p1, p2]), cs));
        expect(frames.map(reencode).slice(-2)).toEqual([p1, p2]);
      }),
      { numRuns: 5_000, seed: 0x4e4503 },
    );
  });
});
