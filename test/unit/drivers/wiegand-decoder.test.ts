import { describe, expect, it } from 'vitest';
import { parseBits } from '../../../drivers/wiegand/codec.js';
import { MAX_EDGES, WiegandDecoder, type WiegandDecoderOutput, type WiegandLine } from '../../../drivers/wiegand/decoder.js';

const W26_FIXTURE = '10111101100010001110101110';
const us = (n: number): bigint => BigInt(Math.round(n * 1000));
const ms = (n: number): bigint => BigInt(Math.round(n * 1_000_000));

interface E {
  line: WiegandLine;
  value: 0 | 1;
  tsNs: bigint;
}

/** Edges of a frame as a reader sends it: 50 us pulses every 2 ms (SIA AC-01 timing). */
function frame(bits: string, start: bigint, pulse = us(50), interval = ms(2)): E[] {
  return [...bits].flatMap((b, i) => {
    const line: WiegandLine = b === '1' ? 1 : 0;
    const t = start + BigInt(i) * interval;
    return [
      { line, value: 0 as const, tsNs: t },
      { line, value: 1 as const, tsNs: t + pulse },
    ];
  });
}

const run = (d: WiegandDecoder, edges: E[]): WiegandDecoderOutput[] => edges.flatMap((e) => d.push(e.line, e.value, e.tsNs));
const bitsOf = (outs: WiegandDecoderOutput[]): string[] => outs.flatMap((o) => (o.type === 'bits' ? [o.bits.join('')] : []));

describe('wiegand decoder', () => {
  it('turns the W26 fixture edges into its bits when flushed', () => {
    const d = new WiegandDecoder();
    const edges = frame(W26_FIXTURE, ms(1000));
    expect(run(d, edges)).toEqual([]);
    expect(d.pending).toBe(52);
    expect(d.flush()).toEqual([{ type: 'bits', bits: parseBits(W26_FIXTURE), startNs: ms(1000), endNs: ms(1000) + ms(50) + us(50) }]);
    expect(d.pending).toBe(0);
    expect(d.flush()).toEqual([]);
  });

  it('ends a frame at the first edge more than 25 ms after it (two cards back to back)', () => {
    const d = new WiegandDecoder();
    const first = frame(W26_FIXTURE, ms(0));
    const second = frame('0'.repeat(34), first.at(-1)!.tsNs + ms(25) + 1n);
    const outs = run(d, [...first, ...second]);
    expect(bitsOf(outs)).toEqual([W26_FIXTURE]);
    expect(bitsOf(d.flush())).toEqual(['0'.repeat(34)]);
  });

  it('keeps a frame together across gaps of up to 25 ms between bits', () => {
    const d = new WiegandDecoder();
    run(d, frame('1010', ms(0), us(50), ms(25)));
    expect(bitsOf(d.flush())).toEqual(['1010']);
  });

  it('orders bits by time when the two lines arrive out of order (one gpiomon per line)', () => {
    const d = new WiegandDecoder();
    const edges = frame(W26_FIXTURE, ms(10));
    const d0 = edges.filter((e) => e.line === 0);
    const d1 = edges.filter((e) => e.line === 1);
    run(d, [...d1, ...d0]);
    expect(bitsOf(d.flush())).toEqual([W26_FIXTURE]);
  });

  it.each([
    ['a pulse too short', frame('1', 0n, us(2)), /D1 pulse too short \(2000 ns\)/],
    ['a pulse too long', frame('0', 0n, us(1500)), /D0 pulse too long \(1500 us\)/],
    [
      'both lines low',
      [
        { line: 0, value: 0, tsNs: 0n },
        { line: 1, value: 0, tsNs: us(10) },
        { line: 0, value: 1, tsNs: us(50) },
        { line: 1, value: 1, tsNs: us(60) },
      ],
      /both lines low at once/,
    ],
    ['a line left low', [{ line: 1, value: 0, tsNs: 0n }], /D1 still low at the end of the frame/],
    [
      'a missed falling edge',
      [
        { line: 0, value: 0, tsNs: 0n },
        { line: 0, value: 0, tsNs: us(40) },
        { line: 0, value: 1, tsNs: us(80) },
      ],
      /D0 fell while already low/,
    ],
    ['a rising edge on an idle line', [{ line: 0, value: 1, tsNs: 0n }], /D0 rose while already high/],
  ] as const)('reports %s as noise', (_, edges, reason) => {
    const d = new WiegandDecoder();
    run(d, [...edges]);
    const out = d.flush();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'malformed', reason, edges: edges.length });
  });

  it('reports the release of a stuck line, then decodes the next frame', () => {
    const d = new WiegandDecoder();
    run(d, [{ line: 0, value: 0, tsNs: 0n }]);
    expect(d.flush()).toMatchObject([{ type: 'malformed', reason: /D0 still low/ }]);
    run(d, [{ line: 0, value: 1, tsNs: ms(100) }]);
    expect(d.flush()).toMatchObject([{ type: 'malformed', reason: 'D0 released after being held low' }]);
    run(d, frame(W26_FIXTURE, ms(200)));
    expect(bitsOf(d.flush())).toEqual([W26_FIXTURE]);
  });

  it('noise then a valid frame more than 25 ms later: one malformed, then the card', () => {
    const d = new WiegandDecoder();
    const noise = frame('11', 0n, us(1));
    const outs = run(d, [...noise, ...frame(W26_FIXTURE, ms(30))]);
    expect(outs).toMatchObject([{ type: 'malformed', reason: /pulse too short/ }]);
    expect(bitsOf(d.flush())).toEqual([W26_FIXTURE]);
  });

  it('honours custom pulse bounds', () => {
    const d = new WiegandDecoder({ pulseMinUs: 60, pulseMaxUs: 100 });
    run(d, frame('1', 0n, us(50)));
    expect(d.flush()).toMatchObject([{ type: 'malformed', reason: /too short/ }]);
    run(d, frame('1', ms(100), us(80)));
    expect(bitsOf(d.flush())).toEqual(['1']);
  });

  it(`ends a frame of more than ${MAX_EDGES - 1} edges without a gap as malformed`, () => {
    const d = new WiegandDecoder();
    const outs = run(d, frame('0'.repeat(100), 0n));
    expect(outs).toMatchObject([{ type: 'malformed', reason: /more than 159 edges/, edges: MAX_EDGES }]);
    expect(d.pending).toBe(200 - MAX_EDGES);
  });
});
