/**
 * Property tests of the Modbus RTU framers: arbitrary bytes, chunkings and
 * inter-chunk pauses never throw, never grow the buffer without bound, and
 * never yield a frame that is not a CRC-valid piece of the input; a valid
 * reply after garbage is still found. 60,000 generated inputs in total
 * (fixed seeds: reproducible).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crcOk } from '../../../drivers/modbus/crc.js';
import { encodeException, encodeRequest, encodeResponse, type ModbusRequest } from '../../../drivers/modbus/codec.js';
import { expectationFor, RtuRequestFramer, RtuResponseFramer } from '../../../drivers/modbus/framer.js';

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

const readReq = fc
  .record({ fc: fc.constantFrom(3 as const, 4 as const), address: fc.nat({ max: 0xff00 }), quantity: fc.integer({ min: 1, max: 20 }) })
  .map((r): ModbusRequest => r);
const unit = fc.integer({ min: 1, max: 247 });
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 10 });
/** Pause before each chunk, ms (t3.5 at 9600 baud is ~4 ms). */
const pauses = fc.array(fc.constantFrom(0, 0, 1, 3, 5, 20), { minLength: 12, maxLength: 12 });

function run(framer: RtuResponseFramer, clock: { t: number }, chunks: Uint8Array[], gaps: number[]): Buffer[] {
  const frames: Buffer[] = [];
  chunks.forEach((c, i) => {
    clock.t += gaps[i % gaps.length] ?? 0;
    frames.push(...framer.push(c).frames);
    if (framer.buffered > 600) throw new Error(`buffer grew to ${framer.buffered}`);
  });
  return frames;
}

describe('RtuResponseFramer properties', () => {
  it('arbitrary bytes, chunks and pauses: no throw, bounded, frames are CRC-valid replies from the input', () => {
    fc.assert(
      fc.property(unit, readReq, fc.uint8Array({ maxLength: 300 }), cuts, pauses, (u, req, bytes, cs, gaps) => {
        const clock = { t: 0 };
        const framer = new RtuResponseFramer({ silenceMs: 4, now: () => clock.t });
        framer.expect(expectationFor(u, req));
        const frames = run(framer, clock, chunk(bytes, cs), gaps);
        expect(frames.length).toBeLessThanOrEqual(1);
        for (const f of frames) {
          expect(crcOk(f)).toBe(true);
          expect(f[0]).toBe(u);
          expect(Buffer.from(bytes).includes(f)).toBe(true);
        }
      }),
      { numRuns: 25_000, seed: 0x52545531 },
    );
  });

  it('a reply (normal or exception) after garbage is found, whatever the chunking and pauses inside the garbage', () => {
    fc.assert(
      fc.property(
        unit,
        readReq,
        fc.uint8Array({ maxLength: 60 }),
        fc.boolean(),
        fc.nat({ max: 0xffff }),
        cuts,
        pauses,
        (u, req, g, exception, seed, cs, gaps) => {
          if (req.fc !== 3 && req.fc !== 4) return;
          // Garbage that cannot begin a reply from this unit.
          const garbage = Buffer.from(g.map((x) => (x === u ? (x + 1) & 0xff : x)));
          const registers = Array.from({ length: req.quantity }, (_, i) => (seed * (i + 1)) & 0xffff);
          const reply = exception ? encodeException(u, req.fc, 2) : encodeResponse(u, { fc: req.fc, registers });
          const clock = { t: 0 };
          const framer = new RtuResponseFramer({ silenceMs: 4, now: () => clock.t });
          framer.expect(expectationFor(u, req));
          const gChunks = chunk(garbage, cs);
          // Pauses anywhere in the garbage and before the reply; the reply itself arrives in two bursts
          // separated by a USB-adapter-like pause.
          const cut = 1 + (seed % (reply.length - 1));
          const frames = run(framer, clock, [...gChunks, reply.subarray(0, cut), reply.subarray(cut)], [...gaps.slice(0, gChunks.length + 1), 16]);
          expect(frames).toEqual([reply]);
        },
      ),
      { numRuns: 20_000, seed: 0x52545532 },
    );
  });
});

describe('RtuRequestFramer properties', () => {
  it('arbitrary bytes in arbitrary chunks: no throw, bounded, frames are CRC-valid pieces of the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cuts, (bytes, cs) => {
        const framer = new RtuRequestFramer();
        for (const c of chunk(bytes, cs)) {
          for (const f of framer.push(c).frames) {
            expect(crcOk(f)).toBe(true);
            expect(Buffer.from(bytes).includes(f)).toBe(true);
          }
        }
      }),
      { numRuns: 10_000, seed: 0x52545533 },
    );
  });

  it('a stream of valid requests split anywhere comes out whole and in order', () => {
    const request = fc.tuple(unit, readReq).map(([u, r]) => encodeRequest(u, r));
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 8 }), cuts, (reqs, cs) => {
        const framer = new RtuRequestFramer();
        const frames = chunk(Buffer.concat(reqs), cs).flatMap((c) => framer.push(c).frames);
        expect(frames).toEqual(reqs);
      }),
      { numRuns: 5_000, seed: 0x52545534 },
    );
  });
});
