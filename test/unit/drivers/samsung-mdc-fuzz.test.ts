/**
 * Property tests of the MDC framer: arbitrary bytes in arbitrary chunks never
 * throw, never grow the buffer without bound, and never yield a frame that
 * was not in the input; valid replies survive garbage and any chunking.
 * 60,000 generated inputs in total (fixed seeds: reproducible).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeMdcFrame, MdcFramer, type MdcFrame } from '../../../drivers/samsung-mdc/framer.js';
import { encodeMdcAck, encodeMdcNak } from '../../../drivers/samsung-mdc/codec.js';

/** Split `bytes` at the given cut points (taken modulo the length). */
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

function feed(framer: MdcFramer, chunks: Uint8Array[]): MdcFrame[] {
  const frames: MdcFrame[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > 260) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

/** Garbage that cannot start a reply: no "AA FF" pair inside. */
const replyFreeGarbage = fc.uint8Array({ maxLength: 40 }).map((g) => {
  const out = Uint8Array.from(g);
  for (let i = 1; i < out.length; i++) if (out[i - 1] === 0xaa && out[i] === 0xff) out[i] = 0xfe;
  return out;
});

const reply = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 254 }), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 20 }))
    .map(([id, rcmd, vals]) => encodeMdcAck(id, rcmd, [...vals])),
  fc
    .tuple(fc.integer({ min: 0, max: 254 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
    .map(([id, rcmd, err]) => encodeMdcNak(id, rcmd, err)),
);

const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 12 });

describe('MdcFramer properties', () => {
  it('arbitrary bytes in arbitrary chunks: no throw, bounded buffer, every frame was in the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, fc.constantFrom('host', 'display'), (bytes, cs, role) => {
        const framer = new MdcFramer({ role: role as 'host' | 'display' });
        const frames = feed(framer, chunk(bytes, cs));
        const input = Buffer.from(bytes);
        for (const f of frames) expect(input.includes(encodeMdcFrame(f.cmd, f.id, f.data))).toBe(true);
      }),
      { numRuns: 30_000, seed: 0x4d4443 },
    );
  });

  it('a valid reply after garbage is still decoded, whatever the chunking', () => {
    fc.assert(
      fc.property(replyFreeGarbage, reply, cuts, (garbage, frame, cs) => {
        const framer = new MdcFramer({ role: 'host' });
        const frames = feed(framer, chunk(Buffer.concat([garbage, frame]), cs));
        expect(frames).toHaveLength(1);
        expect(encodeMdcFrame(frames[0]!.cmd, frames[0]!.id, frames[0]!.data)).toEqual(frame);
      }),
      { numRuns: 20_000, seed: 0x4d4444 },
    );
  });

  it('a sequence of replies interleaved with garbage comes out whole and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(replyFreeGarbage, reply), { minLength: 1, maxLength: 6 }), cuts, (parts, cs) => {
        const wire = Buffer.concat(parts.flatMap(([g, f]) => [g, f]));
        const frames = feed(new MdcFramer({ role: 'host' }), chunk(wire, cs));
        expect(frames.map((f) => encodeMdcFrame(f.cmd, f.id, f.data))).toEqual(parts.map(([, f]) => f));
      }),
      { numRuns: 10_000, seed: 0x4d4445 },
    );
  });
});
