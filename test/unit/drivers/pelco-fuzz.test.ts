/**
 * Property tests of the Pelco-D framer: arbitrary input never throws, keeps
 * the buffer bounded and yields only checksummed messages from the input;
 * valid messages survive garbage and any chunking. 60,000 generated inputs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodePelcoFrame, PelcoDFramer, type PelcoFrame } from '../../../drivers/pelco-d/framer.js';

function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  out.push(bytes.subarray(prev));
  return out;
}

function feed(framer: PelcoDFramer, chunks: Uint8Array[]): PelcoFrame[] {
  const frames: PelcoFrame[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > 6) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

const byte = fc.integer({ min: 0, max: 255 });
const message = fc.record({ address: fc.integer({ min: 1, max: 255 }), cmd1: byte, cmd2: byte, data1: byte, data2: byte });
const cuts = fc.array(fc.nat({ max: 200 }), { maxLength: 10 });
/** Line noise without the sync byte. */
const syncFree = fc.uint8Array({ maxLength: 40 }).map((g) => g.map((x) => (x === 0xff ? 0xfe : x)));

describe('PelcoDFramer properties', () => {
  it('arbitrary bytes in arbitrary chunks: no throw, bounded buffer, every message checksummed and from the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), cuts, (bytes, cs) => {
        const frames = feed(new PelcoDFramer(), chunk(bytes, cs));
        const input = Buffer.from(bytes);
        for (const f of frames) expect(input.includes(encodePelcoFrame(f))).toBe(true);
      }),
      { numRuns: 20_000, seed: 0x50454c43 },
    );
  });

  it('any garbage, a pause, then a message in any chunking: the message is decoded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), message, cuts, (g, m, cs) => {
        const clock = { t: 0 };
        const framer = new PelcoDFramer({ staleMs: 100, now: () => clock.t });
        feed(framer, [g]);
        clock.t = 1000;
        expect(feed(framer, chunk(encodePelcoFrame(m), cs))).toEqual([m]);
      }),
      { numRuns: 20_000, seed: 0x50454c44 },
    );
  });

  it('messages interleaved with sync-free garbage come out whole and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(syncFree, message), { minLength: 1, maxLength: 6 }), cuts, (parts, cs) => {
        const wire = Buffer.concat(parts.flatMap(([g, m]) => [g, encodePelcoFrame(m)]));
        expect(feed(new PelcoDFramer(), chunk(wire, cs))).toEqual(parts.map(([, m]) => m));
      }),
      { numRuns: 20_000, seed: 0x50454c45 },
    );
  });
});
