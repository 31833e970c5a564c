/**
 * Property test of the RTU framing on the coil functions a relay board
 * answers (FC01 read coils, FC05 write single coil, FC0F write multiple
 * coils, and their exceptions): after garbage, with pauses anywhere in it and
 * the reply split in two bursts (a USB adapter's latency timer), the reply is
 * found whole and decodes to the answer sent. Also the server side: coil
 * requests split anywhere come out whole. 25,000 inputs, fixed seeds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeResponse, encodeException, encodeRequest, encodeResponse, type ModbusRequest, type ModbusResponse } from '../../../drivers/modbus/codec.js';
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

const unit = fc.integer({ min: 1, max: 247 });
const cuts = fc.array(fc.nat({ max: 300 }), { maxLength: 8 });
const pauses = fc.array(fc.constantFrom(0, 0, 1, 3, 5, 20), { minLength: 10, maxLength: 10 });
const coilRequest: fc.Arbitrary<ModbusRequest> = fc.oneof(
  fc.record({ fc: fc.constant(1 as const), address: fc.nat({ max: 0xf000 }), quantity: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ fc: fc.constant(5 as const), address: fc.nat({ max: 0xffff }), value: fc.boolean() }),
  fc.record({ fc: fc.constant(15 as const), address: fc.nat({ max: 0xf000 }), values: fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }) }),
);

function answer(req: ModbusRequest, seed: number): ModbusResponse {
  if (req.fc === 1) return { fc: 1, bits: Array.from({ length: req.quantity }, (_, i) => ((seed >> (i % 16)) & 1) === 1) };
  if (req.fc === 5) return { fc: 5, address: req.address, value: req.value };
  if (req.fc === 15) return { fc: 15, address: req.address, quantity: req.values.length };
  throw new Error('not a coil request');
}

describe('RTU framing of coil replies', () => {
  it('a coil reply (normal or exception) after garbage is found whole and decodes to what was sent', () => {
    fc.assert(
      fc.property(unit, coilRequest, fc.uint8Array({ maxLength: 60 }), fc.boolean(), fc.nat({ max: 0xffff }), cuts, pauses, (u, req, g, exception, seed, cs, gaps) => {
        // Garbage that cannot begin a reply from this unit (as in modbus-fuzz.test.ts).
        const garbage = Buffer.from(g.map((x) => (x === u ? (x + 1) & 0xff : x)));
        const res = answer(req, seed);
        const reply = exception ? encodeException(u, req.fc, 1 + (seed % 4)) : encodeResponse(u, res);
        const clock = { t: 0 };
        const framer = new RtuResponseFramer({ silenceMs: 4, now: () => clock.t });
        framer.expect(expectationFor(u, req));
        const split = 1 + (seed % (reply.length - 1));
        const chunks = [...chunk(garbage, cs), reply.subarray(0, split), reply.subarray(split)];
        const pausesBefore = [...gaps.slice(0, chunks.length - 1), 16];
        const frames: Buffer[] = [];
        chunks.forEach((c, i) => {
          clock.t += pausesBefore[i] ?? 0;
          frames.push(...framer.push(c).frames);
          if (framer.buffered > 600) throw new Error(`buffer grew to ${framer.buffered}`);
        });
        expect(frames.map((f) => f.toString('hex'))).toEqual([reply.toString('hex')]);
        const decoded = decodeResponse(u, req, frames[0]!);
        expect(decoded).toEqual({
          ok: true,
          value: exception ? { unitId: u, ok: false, fc: req.fc, exception: 1 + (seed % 4) } : { unitId: u, ok: true, response: res },
        });
      }),
      { numRuns: 20_000, seed: 0x434f494c },
    );
  });

  it('coil requests split anywhere come out whole and in order (simulator side)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(unit, coilRequest), { minLength: 1, maxLength: 6 }), cuts, (reqs, cs) => {
        const adus = reqs.map(([u, r]) => encodeRequest(u, r));
        const framer = new RtuRequestFramer();
        const frames = chunk(Buffer.concat(adus), cs).flatMap((c) => framer.push(c).frames);
        expect(frames.map((f) => f.toString('hex'))).toEqual(adus.map((a) => a.toString('hex')));
      }),
      { numRuns: 5_000, seed: 0x434f4950 },
    );
  });
});
