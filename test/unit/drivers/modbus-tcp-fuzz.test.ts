/**
 * Property test of the Modbus TCP client framer (MbapResponseFramer):
 * arbitrary bytes and chunkings never throw and never grow the buffer
 * without bound; the awaited reply after garbage is decoded whole, however
 * the stream is cut. The garbage mixes random bytes with what trips a
 * length-prefixed framer: whole and truncated replies to other
 * transactions, and plausible headers (the awaited transaction id and
 * function; protocol id 0) whose claimed length runs past the end of the
 * stream. (A header that a later valid frame would complete is ambiguous on a
 * stream without checksum: such pieces are left out, see
 * drivers/modbus-tcp/mbap.ts.) Fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeMbap, MbapResponseFramer } from '../../../drivers/modbus-tcp/mbap.js';
import { assemble, chunk, cuts, fakeHeader, feed, replyPdu, request, tid, unit } from './modbus-tcp-fuzz-helpers.js';

describe('MbapResponseFramer properties', () => {
  it('arbitrary bytes and chunks: no throw, bounded, at most one frame, and only the awaited transaction', () => {
    fc.assert(
      fc.property(tid, request, fc.uint8Array({ maxLength: 400 }), cuts, (t, req, bytes, cs) => {
        const f = new MbapResponseFramer();
        f.expect({ transactionId: t, fc: req.fc });
        const frames = feed((c) => f.push(c), () => f.buffered, chunk(bytes, cs));
        expect(frames.length).toBeLessThanOrEqual(1);
        for (const fr of frames) {
          expect(fr.transactionId).toBe(t);
          expect([req.fc, req.fc | 0x80]).toContain(fr.pdu[0]);
        }
      }),
      { numRuns: 10_000, seed: 0x4d424131 },
    );
  });

  it('the reply after garbage (random bytes, late and truncated replies, long headers) is decoded whole, however the stream is cut', () => {
    fc.assert(
      fc.property(
        tid,
        unit,
        request,
        fc.array(fc.tuple(fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 30 }), fc.nat({ max: 0xffff })), { maxLength: 4 }),
        fc.boolean(),
        fc.nat({ max: 0xffff }),
        cuts,
        (t, u, req, kinds, exception, seed, cs) => {
          const reply = encodeMbap(t, u, replyPdu(req, exception, seed));
          const other = (n: number): number => (t + 1 + (n % 0xfffe)) & 0xffff;
          const pieces = kinds.map(([kind, bytes, n]) => {
            if (kind === 0) return { bytes };
            const late = encodeMbap(other(n), u, replyPdu(req, false, n));
            if (kind === 1) return { bytes: late };
            if (kind === 2) return { bytes: late.subarray(0, n % late.length) };
            return { bytes: fakeHeader(t, u, n % 2 === 0 ? req.fc : req.fc | 0x80), claim: 6 + 254 };
          });
          const stream = assemble(pieces, reply);
          const f = new MbapResponseFramer();
          f.expect({ transactionId: t, fc: req.fc });
          const frames = feed((c) => f.push(c), () => f.buffered, chunk(stream, cs));
          // Compared as hex: vitest's deep equality on Buffers costs more than the framing.
          expect(frames.map((fr) => `${fr.transactionId}/${fr.unitId}/${fr.pdu.toString('hex')}`)).toEqual([`${t}/${u}/${reply.subarray(7).toString('hex')}`]);
        },
      ),
      { numRuns: 20_000, seed: 0x4d424132 },
    );
  });
});

