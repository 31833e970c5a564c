/**
 * Property tests of the EM4100 framers: 100,002 random inputs in all
 * (3 formats x (20,000 + 13,334)).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Em4100Framer, EM4100_FORMATS, encodeFrame, xor, type Em4100Format } from '../../../drivers/em4100/framer.js';

const NO_THROW_RUNS = 20_000;
const RESYNC_RUNS = 13_334;
const FRAME_LEN: Record<Em4100Format, number> = { rdm6300: 14, em18: 12, binary: 10 };

/** Split `bytes` into chunks of the given sizes (cycled). */
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

const isHex = (c: number | undefined): boolean =>
  c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

/** Independent reference: is there a complete valid frame at buf[p..]? */
function validAt(format: Em4100Format, buf: Buffer, p: number): boolean {
  const len = FRAME_LEN[format];
  if (p + len > buf.length) return false;
  if (format === 'binary') {
    return (
      buf[p] === 0x02 &&
      buf[p + 1] === 0x0a &&
      buf[p + 2] === 0x02 &&
      buf[p + 9] === 0x03 &&
      xor(buf.subarray(p + 1, p + 8)) === buf[p + 8]
    );
  }
  const start = format === 'rdm6300' ? p + 1 : p;
  if (format === 'rdm6300' && (buf[p] !== 0x02 || buf[p + 13] !== 0x03)) return false;
  for (let i = 0; i < 12; i++) if (!isHex(buf[start + i])) return false;
  const bytes = Buffer.from(buf.subarray(start, start + 12).toString('latin1'), 'hex');
  return xor(bytes.subarray(0, 5)) === bytes[5];
}

/**
 * Garbage whose tail, together with the first bytes of the frame after it,
 * itself forms a valid frame is indistinguishable from a real frame (any
 * reader would accept it); such inputs are exempt from the resync property.
 */
function ambiguous(format: Em4100Format, garbage: Uint8Array, frame: Buffer): boolean {
  const all = Buffer.concat([garbage, frame]);
  const len = FRAME_LEN[format];
  for (let p = Math.max(0, garbage.length - len + 1); p < garbage.length; p++) if (validAt(format, all, p)) return true;
  return false;
}

describe.each(EM4100_FORMATS.map((format) => ({ format })))('em4100 framer properties, $format', ({ format }) => {
  it(`never throws and keeps at most one partial frame (${NO_THROW_RUNS} inputs)`, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.array(fc.integer({ min: 1, max: 17 }), { maxLength: 6 }), (bytes, sizes) => {
        const framer = new Em4100Framer(format);
        for (const c of chunk(bytes, sizes)) {
          for (const out of framer.push(c)) {
            if (out.type === 'frame') expect(out.data).toHaveLength(5);
            else {
              expect(out.bytes).toBeGreaterThan(0);
              expect(out.sample.length).toBeLessThanOrEqual(Math.min(32, out.bytes));
            }
          }
          expect(framer.buffered).toBeLessThan(FRAME_LEN[format]);
        }
      }),
      { numRuns: NO_THROW_RUNS },
    );
  });

  it(`decodes a valid frame that follows random garbage (${RESYNC_RUNS} inputs)`, () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 48 }),
        fc.uint8Array({ minLength: 5, maxLength: 5 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { maxLength: 6 }),
        (garbage, data, sizes) => {
          const frame = encodeFrame(format, data);
          fc.pre(!ambiguous(format, garbage, frame));
          const framer = new Em4100Framer(format);
          const outs = chunk(Buffer.concat([garbage, frame]), sizes).flatMap((c) => framer.push(c));
          const last = outs.filter((o) => o.type === 'frame').at(-1);
          expect(last?.type === 'frame' ? last.data.toString('hex') : undefined).toBe(Buffer.from(data).toString('hex'));
          expect(framer.buffered).toBe(0);
        },
      ),
      { numRuns: RESYNC_RUNS },
    );
  });
});
