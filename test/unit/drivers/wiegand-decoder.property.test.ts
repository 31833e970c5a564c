/**
 * Property tests of the Wiegand edge decoder + codec: 24,000 random edge
 * streams (12,000 + 12,000).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWiegand, encodeWiegand, LAYOUTS, type WiegandFormat } from '../../../drivers/wiegand/codec.js';
import { MAX_EDGES, WiegandDecoder, type WiegandDecoderOutput, type WiegandLine } from '../../../drivers/wiegand/decoder.js';

const NO_THROW_RUNS = 12_000;
const RESYNC_RUNS = 12_000;
const GAP_NS = 25_000_000;

interface E {
  line: WiegandLine;
  value: 0 | 1;
  tsNs: bigint;
}

const rawEdge = fc.record({
  line: fc.constantFrom<WiegandLine>(0, 1),
  value: fc.constantFrom<0 | 1>(0, 1),
  dtNs: fc.integer({ min: -100_000, max: 40_000_000 }), // may go back in time (edges out of order)
});

/** Plain checks (expect() per edge would dominate the run time). */
function checkOutputs(outs: WiegandDecoderOutput[]): void {
  for (const o of outs) {
    if (o.type === 'malformed') {
      if (o.reason.length === 0 || o.edges <= 0) throw new Error(`bad malformed output ${JSON.stringify(o)}`);
    } else {
      if (o.bits.some((b: number) => b !== 0 && b !== 1)) throw new Error(`bad bits ${o.bits.join(',')}`);
      decodeWiegand(o.bits, 'auto'); // never throws
    }
  }
}

/**
 * Physically possible noise: each line alternates low/high (what the kernel
 * reports), any widths and gaps, both lines released (high) at the end.
 */
const noise = fc
  .array(fc.record({ line: fc.constantFrom<WiegandLine>(0, 1), dtNs: fc.integer({ min: 0, max: 40_000_000 }) }), { maxLength: 40 })
  .map((steps) => {
    const level: [0 | 1, 0 | 1] = [1, 1];
    let t = 1_000_000_000n;
    const edges: E[] = [];
    for (const s of steps) {
      t += BigInt(s.dtNs);
      level[s.line] = level[s.line] === 1 ? 0 : 1;
      edges.push({ line: s.line, value: level[s.line], tsNs: t });
    }
    // Release any line left low.
    for (const line of [0, 1] as const) {
      if (level[line] === 0) {
        t += 1000n;
        level[line] = 1;
        edges.push({ line, value: 1, tsNs: t });
      }
    }
    return edges;
  });

describe('wiegand decoder properties', () => {
  it(`never throws on random edge streams and never holds ${MAX_EDGES} edges (${NO_THROW_RUNS} inputs)`, () => {
    fc.assert(
      fc.property(fc.array(rawEdge, { maxLength: 200 }), (steps) => {
        const d = new WiegandDecoder();
        let t = 0n;
        for (const s of steps) {
          t += BigInt(s.dtNs);
          checkOutputs(d.push(s.line, s.value, t));
          if (d.pending >= MAX_EDGES) throw new Error(`${d.pending} edges pending`);
        }
        checkOutputs(d.flush());
        expect(d.pending).toBe(0);
      }),
      { numRuns: NO_THROW_RUNS },
    );
  });

  it(`decodes a valid frame that follows noise after more than 25 ms of silence (${RESYNC_RUNS} inputs)`, () => {
    fc.assert(
      fc.property(
        noise,
        fc.constantFrom<WiegandFormat>('w26', 'w34'),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: GAP_NS + 1, max: 1_000_000_000 }),
        fc.integer({ min: 20_000, max: 100_000 }), // pulse 20-100 us
        fc.integer({ min: 200_000, max: 20_000_000 }), // gap between pulses 200 us - 20 ms
        fc.constantFrom<WiegandLine>(0, 1),
        fc.integer({ min: 0, max: 4_000_000 }), // that line's edges arrive up to 4 ms late (two gpiomon processes)
        (noiseEdges, format, fc16, card, gapNs, pulseNs, intervalNs, lateLine, skewNs) => {
          const facility = format === 'w26' ? fc16 % 256 : fc16;
          const bits = encodeWiegand(format, facility, card);
          const start = noiseEdges.reduce((m, e) => (e.tsNs > m ? e.tsNs : m), 0n) + BigInt(gapNs);
          const frame: E[] = bits.flatMap((b, i) => {
            const t = start + BigInt(i) * BigInt(pulseNs + intervalNs);
            return [
              { line: b, value: 0 as const, tsNs: t },
              { line: b, value: 1 as const, tsNs: t + BigInt(pulseNs) },
            ];
          });
          const arrival = (e: E): bigint => e.tsNs + (e.line === lateLine ? BigInt(skewNs) : 0n);
          const delivered = [...frame].sort((a, b) => (arrival(a) < arrival(b) ? -1 : arrival(a) > arrival(b) ? 1 : 0));
          const d = new WiegandDecoder();
          const outs = [...noiseEdges, ...delivered].flatMap((e) => d.push(e.line, e.value, e.tsNs));
          checkOutputs(outs);
          const last = d.flush();
          expect(last).toHaveLength(1);
          const out = last[0]!;
          expect(out.type).toBe('bits');
          const decoded = out.type === 'bits' ? decodeWiegand(out.bits, 'auto') : undefined;
          expect(decoded).toMatchObject({ ok: true, card: { format, facility, card } });
          expect(out.type === 'bits' ? out.bits.length : 0).toBe(LAYOUTS[format].bits);
        },
      ),
      { numRuns: RESYNC_RUNS },
    );
  });
});
