/**
 * Property tests of the UID line framer + codec: 24,000 random inputs
 * (4 terminators x (3,000 + 3,000)), in random chunkings.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUidLine, encodeUidLine } from '../../../drivers/uid-reader/codec.js';
import { DEFAULT_MAX_LINE, encodeLine, UID_TERMINATORS, UidLineFramer } from '../../../drivers/uid-reader/framer.js';

const NO_THROW_RUNS = 3_000;
const RESYNC_RUNS = 3_000;

function chunk(bytes: Uint8Array, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let i = 0;
  let k = 0;
  while (i < bytes.length) {
    const n = sizes.length ? sizes[k++ % sizes.length]! : bytes.length;
    out.push(Buffer.from(bytes.subarray(i, i + n)));
    i += n;
  }
  return out;
}

/** Bytes that make a reader resynchronise: the terminator (etx: a fresh STX). */
const RESYNC: Record<(typeof UID_TERMINATORS)[number], number> = { crlf: 0x0a, lf: 0x0a, cr: 0x0d, etx: 0x02 };

describe.each(UID_TERMINATORS.map((terminator) => ({ terminator })))('uid line framer properties, $terminator', ({ terminator }) => {
  it(`never throws, buffers at most maxLine bytes, only printable lines (${NO_THROW_RUNS} inputs)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 160 }), fc.array(fc.integer({ min: 1, max: 23 }), { maxLength: 6 }), (bytes, sizes) => {
        const framer = new UidLineFramer(terminator);
        for (const c of chunk(bytes, sizes)) {
          for (const out of framer.push(c)) {
            if (out.type === 'line') {
              expect(out.text).toMatch(/^[\x20-\x7e]+$/);
              decodeUidLine(out.text, { encoding: 'hex', byteOrder: 'msb' }); // never throws either
              decodeUidLine(out.text, { encoding: 'decimal', byteOrder: 'lsb' });
            } else {
              expect(out.bytes).toBeGreaterThan(0);
              expect(out.sample.length).toBeLessThanOrEqual(Math.min(32, out.bytes));
            }
          }
          expect(framer.buffered).toBeLessThanOrEqual(DEFAULT_MAX_LINE);
        }
      }),
      { numRuns: NO_THROW_RUNS },
    );
  });

  it(`decodes a valid line after garbage and a resync byte (${RESYNC_RUNS} inputs)`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom(4, 7, 10).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
        fc.constantFrom('hex' as const, 'decimal' as const),
        fc.constantFrom('msb' as const, 'lsb' as const),
        fc.array(fc.integer({ min: 1, max: 23 }), { maxLength: 6 }),
        (garbage, uidBytes, encoding, byteOrder, sizes) => {
          const uid = Buffer.from(uidBytes).toString('hex').toUpperCase();
          const text = encodeUidLine(uid, { encoding, byteOrder });
          const wire = Buffer.concat([garbage, Buffer.from([RESYNC[terminator]]), encodeLine(text, terminator)]);
          const framer = new UidLineFramer(terminator);
          const outs = chunk(wire, sizes).flatMap((c) => framer.push(c));
          const last = outs.filter((o) => o.type === 'line').at(-1);
          expect(last?.type === 'line' ? last.text : undefined).toBe(text);
          const size = uidBytes.length as 4 | 7 | 10;
          expect(decodeUidLine(text, { encoding, byteOrder, uidBytes: size })).toMatchObject({ ok: true, uid });
          expect(framer.buffered).toBe(0);
        },
      ),
      { numRuns: RESYNC_RUNS },
    );
  });
});
