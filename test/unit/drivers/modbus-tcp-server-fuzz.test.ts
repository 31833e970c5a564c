/**
 * Property test of the Modbus TCP server framer (MbapRequestFramer, used by
 * the simulators): arbitrary bytes and chunkings never throw, never grow the
 * buffer without bound and yield only requests the codec takes; requests
 * after garbage (random bytes, headers of unknown functions claiming the
 * largest length, truncated requests whose length runs past the stream) are
 * decoded whole and in order, however the stream is cut. Fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeRequestPdu, encodeRequestPdu } from '../../../drivers/modbus/codec.js';
import { encodeMbap, MbapRequestFramer } from '../../../drivers/modbus-tcp/mbap.js';
import { assemble, chunk, cuts, fakeHeader, feed, request, tid, unit, type Piece } from './modbus-tcp-fuzz-helpers.js';

describe('MbapRequestFramer properties', () => {
  it('arbitrary bytes and chunks: no throw, bounded, every frame a request the codec can take', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), cuts, (bytes, cs) => {
        const f = new MbapRequestFramer();
        const frames = feed((c) => f.push(c), () => f.buffered, chunk(bytes, cs));
        for (const fr of frames) {
          expect(fr.pdu.length).toBeGreaterThanOrEqual(1);
          expect(decodeRequestPdu(fr.pdu).ok).toBe(true);
        }
      }),
      { numRuns: 10_000, seed: 0x4d424133 },
    );
  });

  it('requests after garbage (random bytes, long headers, truncated long requests) are decoded whole and in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: 2 }), fc.uint8Array({ maxLength: 30 }), tid, request), { maxLength: 4 }),
        fc.array(fc.tuple(tid, unit, request), { minLength: 1, maxLength: 3 }),
        cuts,
        (kinds, reqs, cs) => {
          const adus = reqs.map(([t, u, r]) => encodeMbap(t, u, encodeRequestPdu(r)));
          const pieces = kinds.map(([kind, bytes, t, r]): Piece => {
            if (kind === 0) return { bytes };
            // A header of a function the codec does not know (0x41..0x7F) claiming the largest length.
            if (kind === 1) return { bytes: fakeHeader(t, 1, 0x41 + (t % 0x3f)), claim: 6 + 254 };
            // The first 8..15 bytes of a request, which claims its whole length.
            const whole = encodeMbap(t, 1, encodeRequestPdu(r));
            return { bytes: whole.subarray(0, Math.min(whole.length - 1, 8 + (t % 8))), claim: whole.length };
          });
          const stream = assemble(pieces, Buffer.concat(adus));
          const f = new MbapRequestFramer();
          const frames = feed((c) => f.push(c), () => f.buffered, chunk(stream, cs));
          // Compared as hex: vitest's deep equality on Buffers costs more than the framing.
          const tail = frames.slice(-adus.length).map((fr) => encodeMbap(fr.transactionId, fr.unitId, fr.pdu).toString('hex'));
          expect(tail).toEqual(adus.map((a) => a.toString('hex')));
        },
      ),
      { numRuns: 20_000, seed: 0x4d424134 },
    );
  });
});
