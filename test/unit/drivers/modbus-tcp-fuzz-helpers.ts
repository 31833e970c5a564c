/**
 * Shared by the Modbus TCP framer property tests: stream chunking, request
 * and reply generators, and garbage assembly.
 */
import fc from 'fast-check';
import { encodeExceptionPdu, encodeResponsePdu, type ModbusRequest } from '../../../drivers/modbus/codec.js';
import { MAX_ADU_LENGTH, type MbapFrame } from '../../../drivers/modbus-tcp/mbap.js';

export function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
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

export const cuts = fc.array(fc.nat({ max: 600 }), { maxLength: 10 });
export const tid = fc.nat({ max: 0xffff });
export const unit = fc.nat({ max: 0xff });

/** Requests of every function the codec knows, within the spec's limits. */
export const request: fc.Arbitrary<ModbusRequest> = fc.oneof(
  fc.record({ fc: fc.constantFrom(1 as const, 2 as const), address: fc.nat({ max: 0xf000 }), quantity: fc.integer({ min: 1, max: 400 }) }),
  fc.record({ fc: fc.constantFrom(3 as const, 4 as const), address: fc.nat({ max: 0xff00 }), quantity: fc.integer({ min: 1, max: 125 }) }),
  fc.record({ fc: fc.constant(5 as const), address: fc.nat({ max: 0xffff }), value: fc.boolean() }),
  fc.record({ fc: fc.constant(6 as const), address: fc.nat({ max: 0xffff }), value: fc.nat({ max: 0xffff }) }),
  fc.record({ fc: fc.constant(15 as const), address: fc.nat({ max: 0xf000 }), values: fc.array(fc.boolean(), { minLength: 1, maxLength: 80 }) }),
  fc.record({ fc: fc.constant(16 as const), address: fc.nat({ max: 0xf000 }), values: fc.array(fc.nat({ max: 0xffff }), { minLength: 1, maxLength: 123 }) }),
);

/** A normal or exception reply PDU to `req`. */
export function replyPdu(req: ModbusRequest, exception: boolean, seed: number): Buffer {
  if (exception) return encodeExceptionPdu(req.fc, 1 + (seed % 4));
  switch (req.fc) {
    case 1:
    case 2:
      return encodeResponsePdu({ fc: req.fc, bits: Array.from({ length: req.quantity }, (_, i) => ((seed >> i % 16) & 1) === 1) });
    case 3:
    case 4:
      return encodeResponsePdu({ fc: req.fc, registers: Array.from({ length: req.quantity }, (_, i) => (seed * (i + 7)) & 0xffff) });
    case 5:
      return encodeResponsePdu({ fc: 5, address: req.address, value: req.value });
    case 6:
      return encodeResponsePdu({ fc: 6, address: req.address, value: req.value });
    case 15:
    case 16:
      return encodeResponsePdu({ fc: req.fc, address: req.address, quantity: req.values.length });
  }
}

/** A header (protocol id 0, function `fc`) claiming the largest length. */
export function fakeHeader(t: number, u: number, fc: number): Buffer {
  return Buffer.from([t >> 8, t & 0xff, 0, 0, 0, 254, u, fc]);
}

export interface Piece {
  bytes: Uint8Array;
  /** Bytes the piece claims from its start (its MBAP length + 6), if it looks like a header. */
  claim?: number;
}

/**
 * Concatenate `pieces` then `tail`; a piece with a claim is kept only if the
 * claim runs past the end of the stream (else a later frame would complete it).
 */
export function assemble(pieces: Piece[], tail: Buffer): Buffer {
  let kept = [...pieces];
  for (;;) {
    const total = kept.reduce((n, p) => n + p.bytes.length, 0) + tail.length;
    let at = 0;
    const next = kept.filter((p) => {
      const ok = p.claim === undefined || at + p.claim > total;
      at += p.bytes.length;
      return ok;
    });
    if (next.length === kept.length) return Buffer.concat([...kept.map((p) => p.bytes), tail]);
    kept = next;
  }
}

export function feed(push: (c: Uint8Array) => { frames: MbapFrame[] }, buffered: () => number, chunks: Uint8Array[]): MbapFrame[] {
  const frames: MbapFrame[] = [];
  for (const c of chunks) {
    frames.push(...push(c).frames);
    if (buffered() > 4 * MAX_ADU_LENGTH) throw new Error(`buffer grew to ${buffered()}`);
  }
  return frames;
}

