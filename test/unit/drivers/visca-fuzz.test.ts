/**
 * Property tests of the VISCA framer and the VISCA-over-IP datagram decoder:
 * arbitrary input never throws, never grows the buffer, never yields a packet
 * that was not in the input; valid replies survive garbage and any chunking.
 * 80,000 generated inputs (fixed seeds: reproducible).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isViscaHeader, ViscaFramer } from '../../../drivers/visca/framer.js';
import { decodeViscaReply, encodeViscaAck, encodeViscaCompletion, encodeViscaError } from '../../../drivers/visca/codec.js';
import { decodeVip, encodeVip, VIP_TYPE, type VipTypeName } from '../../../drivers/visca/ip.js';

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

function feed(framer: ViscaFramer, chunks: Uint8Array[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > 15) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

const address = fc.integer({ min: 1, max: 7 });
/** Any reply a camera sends (data of inquiry answers without FF). */
const reply = fc.oneof(
  fc.tuple(address, fc.integer({ min: 1, max: 2 })).map(([a, s]) => encodeViscaAck(a, s)),
  fc.tuple(address, fc.integer({ min: 1, max: 2 })).map(([a, s]) => encodeViscaCompletion(a, s)),
  fc.tuple(address, fc.array(fc.integer({ min: 0, max: 0xfe }), { minLength: 1, maxLength: 12 })).map(([a, d]) => encodeViscaCompletion(a, 0, d)),
  fc.tuple(address, fc.integer({ min: 0, max: 2 }), fc.constantFrom(0x02, 0x03, 0x04, 0x05, 0x41)).map(([a, s, e]) => encodeViscaError(a, s, e)),
);
const garbage = fc.uint8Array({ maxLength: 60 });
const cuts = fc.array(fc.nat({ max: 200 }), { maxLength: 10 });

describe('ViscaFramer properties', () => {
  it('arbitrary bytes in arbitrary chunks: no throw, bounded buffer, every packet well-formed and from the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), cuts, fc.constantFrom('host', 'device'), (bytes, cs, role) => {
        const framer = new ViscaFramer({ role: role as 'host' | 'device' });
        const frames = feed(framer, chunk(bytes, cs));
        const input = Buffer.from(bytes);
        for (const f of frames) {
          expect(f.length).toBeGreaterThanOrEqual(3);
          expect(f.length).toBeLessThanOrEqual(16);
          expect(isViscaHeader(f[0]!, role as 'host' | 'device')).toBe(true);
          expect(f.indexOf(0xff)).toBe(f.length - 1);
          expect(input.includes(f)).toBe(true);
          decodeViscaReply(f); // never throws either
        }
      }),
      { numRuns: 20_000, seed: 0x56495343 },
    );
  });

  it('any garbage ended by FF, then a reply, in any chunking: the reply is the last packet, decoded', () => {
    fc.assert(
      fc.property(garbage, reply, cuts, (g, r, cs) => {
        const wire = Buffer.concat([g, Buffer.from([0xff]), r]);
        const frames = feed(new ViscaFramer({ role: 'host' }), chunk(wire, cs));
        expect(frames.at(-1)).toEqual(r);
        expect(decodeViscaReply(frames.at(-1)!).ok).toBe(true);
      }),
      { numRuns: 20_000, seed: 0x56495344 },
    );
  });

  it('garbage, a pause, then a reply in any chunking: the reply is decoded', () => {
    fc.assert(
      fc.property(garbage, reply, cuts, (g, r, cs) => {
        const clock = { t: 0 };
        const framer = new ViscaFramer({ role: 'host', staleMs: 100, now: () => clock.t });
        feed(framer, [g]);
        clock.t = 1000;
        const frames = feed(framer, chunk(r, cs));
        expect(frames).toEqual([r]);
      }),
      { numRuns: 20_000, seed: 0x56495345 },
    );
  });

  it('replies separated by FF-terminated garbage come out whole and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(garbage, reply), { minLength: 1, maxLength: 6 }), cuts, (parts, cs) => {
        const wire = Buffer.concat(parts.flatMap(([g, r]) => [g, Buffer.from([0xff]), r]));
        const frames = feed(new ViscaFramer({ role: 'host' }), chunk(wire, cs));
        // Each reply follows an FF, so it is framed exactly; garbage may add packets in between.
        let i = 0;
        for (const f of frames) if (i < parts.length && f.equals(parts[i]![1])) i++;
        expect(i).toBe(parts.length);
      }),
      { numRuns: 10_000, seed: 0x56495346 },
    );
  });
});

const vipType = fc.constantFrom(...(Object.keys(VIP_TYPE) as VipTypeName[]));

describe('VISCA over IP decoder properties', () => {
  it('arbitrary datagrams: no throw; whatever decodes re-encodes to the same bytes', () => {
    const header = fc.tuple(fc.constantFrom(0x01, 0x02, 0x05), fc.constantFrom(0x00, 0x01, 0x10, 0x11, 0x20), fc.nat({ max: 20 }));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.tuple(header, fc.uint8Array({ maxLength: 24 })).map(([[t0, t1, len], rest]) =>
        Uint8Array.from([t0, t1, 0, len, ...rest]))), (bytes) => {
        const r = decodeVip(bytes);
        if (r.ok) expect(encodeVip(r.value.type, r.value.seq, r.value.payload)).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 20_000, seed: 0x564950 },
    );
  });

  it('every valid message decodes to what was encoded', () => {
    fc.assert(
      fc.property(vipType, fc.nat({ max: 0xffffffff }), fc.uint8Array({ minLength: 1, maxLength: 16 }), (type, seq, payload) => {
        expect(decodeVip(encodeVip(type, seq, payload))).toEqual({ ok: true, value: { type, seq, payload: Buffer.from(payload) } });
      }),
      { numRuns: 20_000, seed: 0x564951 },
    );
  });
});
