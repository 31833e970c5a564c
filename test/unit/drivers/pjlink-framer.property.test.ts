/**
 * Property tests of the PJLink line framer (fast-check, fixed seeds): any
 * bytes in any chunks never throw and never grow the buffer past one line;
 * every line returned is well formed and was in the input, CR-terminated; a
 * valid line after garbage is always decoded, whatever the chunking.
 * "Garbage" is arbitrary bytes (CR and LF included) except '%', the header
 * byte: garbage that itself holds a '%' plus a well-formed line tail is, by
 * construction, a line. 55,000 generated inputs in total.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PJLINK_MAX_LINE, PjlinkLineFramer, type PjlinkFramerRole } from '../../../drivers/pjlink/framer.js';
import { decodePjlinkCommand, decodePjlinkReply } from '../../../drivers/pjlink/codec.js';

/** Split `bytes` at the given cut points (taken modulo the length). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))].sort((x, y) => x - y);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    if (p > prev) out.push(bytes.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  out.push(bytes.subarray(prev));
  return out;
}

function feed(framer: PjlinkLineFramer, chunks: Uint8Array[]): string[] {
  const frames: string[] = [];
  for (const c of chunks) {
    frames.push(...framer.push(c).frames);
    if (framer.buffered > PJLINK_MAX_LINE) throw new Error(`buffer grew to ${framer.buffered}`);
  }
  return frames;
}

const PERCENT = 0x25;
const garbage = fc.uint8Array({ maxLength: 60 }).map((g) => Uint8Array.from(g, (x) => (x === PERCENT ? 0x3f : x)));
const hexChars = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 100 });
const body = fc.constantFrom('POWR', 'INPT', 'AVMT', 'ERST', 'LAMP', 'INST', 'NAME', 'INF1', 'INF2', 'INFO', 'CLSS', 'SNUM', 'FREZ');
const cls = fc.constantFrom('1', '2');

/** Lines a projector sends. */
const reply = fc.oneof(
  fc.constant('PJLINK 0'),
  fc.constant('PJLINK ERRA'),
  hexChars(8).map((r) => `PJLINK 1 ${r}`),
  fc.tuple(cls, body, printable).map(([c, b, p]) => `%${c}${b}=${p}`),
);
/** Lines a controller sends. */
const command = fc
  .tuple(fc.option(hexChars(32), { nil: undefined }), cls, body, fc.option(printable, { nil: undefined }))
  .map(([d, c, b, p]) => `${d ?? ''}%${c}${b}${p === undefined ? '' : ` ${p}`}`);

const lineFor = (role: PjlinkFramerRole) => (role === 'controller' ? reply : command);
const cuts = fc.array(fc.nat({ max: 400 }), { maxLength: 12 });
const crlf = (line: string) => Buffer.from(`${line}\r`, 'latin1');

describe('PjlinkLineFramer properties', () => {
  it('arbitrary bytes in arbitrary chunks: no throw, bounded buffer, every line is well formed and was in the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), cuts, fc.constantFrom<PjlinkFramerRole>('controller', 'projector'), (bytes, cs, role) => {
        const frames = feed(new PjlinkLineFramer(role), chunk(bytes, cs));
        const input = Buffer.from(bytes);
        for (const f of frames) {
          expect(input.includes(crlf(f))).toBe(true);
          expect((role === 'controller' ? decodePjlinkReply(f) : decodePjlinkCommand(f)).ok).toBe(true);
        }
      }),
      { numRuns: 20_000, seed: 0x504a4c31 },
    );
  });

  it('a valid line after garbage is decoded, whatever the chunking (controller side)', () => {
    fc.assert(
      fc.property(garbage, reply, cuts, (g, line, cs) => {
        const frames = feed(new PjlinkLineFramer('controller'), chunk(Buffer.concat([g, crlf(line)]), cs));
        expect(frames.at(-1)).toBe(line);
      }),
      { numRuns: 20_000, seed: 0x504a4c32 },
    );
  });

  it('a valid command after garbage is decoded, whatever the chunking (projector side)', () => {
    fc.assert(
      fc.property(garbage, command, cuts, (g, line, cs) => {
        const frames = feed(new PjlinkLineFramer('projector'), chunk(Buffer.concat([g, crlf(line)]), cs));
        // Hex garbage right before a digest-less command may read as a digest; the command itself is intact.
        expect(frames.at(-1)?.endsWith(line)).toBe(true);
      }),
      { numRuns: 10_000, seed: 0x504a4c33 },
    );
  });

  it('replies interleaved with garbage come out whole and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(garbage, reply), { minLength: 1, maxLength: 6 }), cuts, (parts, cs) => {
        const wire = Buffer.concat(parts.flatMap(([g, l]) => [g, crlf(l)]));
        const frames = feed(new PjlinkLineFramer('controller'), chunk(wire, cs));
        expect(frames).toEqual(parts.map(([, l]) => l));
      }),
      { numRuns: 5_000, seed: 0x504a4c34 },
    );
  });
});
