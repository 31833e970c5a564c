/**
 * Wiegand framer: timestamped edges on D0 and D1 -> frames of bits.
 *
 * The interface (SIA AC-01; shared/PROTOCOLS.md): both lines idle high; a
 * low pulse on D0 sends a 0, on D1 a 1; pulses last 20-100 us, 200 us to
 * 20 ms apart; a frame ends after more than 25 ms without edges.
 *
 * Input is the edge events of both lines (value after the edge, kernel
 * timestamp in ns). The two lines may be watched by separate processes, so
 * edges of a frame can arrive slightly out of order between lines: a frame
 * is collected first and sorted by timestamp when it ends. A frame ends when
 * an edge arrives more than `gapMs` after the latest edge of the frame, or
 * when the owner calls flush() (the driver does after `gapMs` of quiet).
 *
 * A frame is noise, reported as `malformed` with its reasons, when a pulse is
 * shorter than `pulseMinUs` or longer than `pulseMaxUs`, when both lines are
 * low at once, when a line is still low at the end of the frame, or when an
 * edge does not fit the line's level (a missed edge). push() never throws and
 * keeps at most `maxEdges` edges: a frame longer than that ends as malformed.
 * Bit counts and parity are the codec's business (./codec.ts).
 */
import type { Bit } from './codec.js';

export type WiegandLine = 0 | 1; // 0 = D0, 1 = D1

export interface WiegandTiming {
  /** Silence that ends a frame (default 25 ms). */
  gapMs: number;
  /** Shorter low pulses are noise (default 5 us). */
  pulseMinUs: number;
  /** Longer low pulses are noise (default 1000 us). */
  pulseMaxUs: number;
}

export const DEFAULT_TIMING: WiegandTiming = { gapMs: 25, pulseMinUs: 5, pulseMaxUs: 1000 };

export interface WiegandBits {
  type: 'bits';
  bits: Bit[];
  /** Timestamp of the first and last edge of the frame. */
  startNs: bigint;
  endNs: bigint;
}

export interface WiegandNoise {
  type: 'malformed';
  /** Why the frame was rejected (distinct reasons joined with '; '). */
  reason: string;
  /** Edges in the rejected frame. */
  edges: number;
}

export type WiegandDecoderOutput = WiegandBits | WiegandNoise;

interface TimedEdge {
  line: WiegandLine;
  value: 0 | 1;
  tsNs: bigint;
}

/** Enough for 64-bit formats (two edges per bit) with some spare. */
export const MAX_EDGES = 160;
const NAMES = ['D0', 'D1'] as const;

export class WiegandDecoder {
  private readonly gapNs: bigint;
  private readonly minNs: bigint;
  private readonly maxNs: bigint;
  private edges: TimedEdge[] = [];
  private latestNs = 0n;
  /** Electrical level of each line at the end of the last frame (idle high). */
  private level: [0 | 1, 0 | 1] = [1, 1];

  constructor(timing: Partial<WiegandTiming> = {}) {
    const t = { ...DEFAULT_TIMING, ...timing };
    this.gapNs = BigInt(Math.round(t.gapMs * 1e6));
    this.minNs = BigInt(Math.round(t.pulseMinUs * 1e3));
    this.maxNs = BigInt(Math.round(t.pulseMaxUs * 1e3));
  }

  /** One edge: `value` is the line's electrical level after it. Returns the frame(s) it ends. */
  push(line: WiegandLine, value: 0 | 1, tsNs: bigint): WiegandDecoderOutput[] {
    const out: WiegandDecoderOutput[] = [];
    if (this.edges.length > 0 && tsNs - this.latestNs > this.gapNs) out.push(this.finish());
    if (this.edges.length === 0 || tsNs > this.latestNs) this.latestNs = tsNs;
    this.edges.push({ line, value, tsNs });
    if (this.edges.length >= MAX_EDGES) out.push(this.finish(`more than ${MAX_EDGES - 1} edges without a ${this.gapNs / 1_000_000n} ms gap`));
    return out;
  }

  /** End the frame in progress (after `gapMs` of quiet); returns it, if any. */
  flush(): WiegandDecoderOutput[] {
    return this.edges.length > 0 ? [this.finish()] : [];
  }

  /** Edges collected for the frame in progress. */
  get pending(): number {
    return this.edges.length;
  }

  /** Forget the frame in progress and assume both lines idle (e.g. after reopening the lines). */
  reset(): void {
    this.edges = [];
    this.level = [1, 1];
  }

  private finish(extraReason?: string): WiegandDecoderOutput {
    const edges = this.edges.sort((a, b) => (a.tsNs < b.tsNs ? -1 : a.tsNs > b.tsNs ? 1 : 0)); // stable
    this.edges = [];
    const reasons = new Set<string>();
    if (extraReason) reasons.add(extraReason);
    const level = this.level;
    const start: [bigint | undefined, bigint | undefined] = [undefined, undefined];
    const pulses: { line: WiegandLine; at: bigint }[] = [];
    for (const e of edges) {
      const name = NAMES[e.line];
      const other = e.line === 0 ? 1 : 0;
      if (e.value === 0) {
        if (level[e.line] === 0) {
          reasons.add(`${name} fell while already low (missed edge)`);
          continue;
        }
        level[e.line] = 0;
        if (level[other] === 0) reasons.add('both lines low at once');
        start[e.line] = e.tsNs;
        continue;
      }
      if (level[e.line] === 1) {
        reasons.add(`${name} rose while already high (missed edge)`);
        continue;
      }
      level[e.line] = 1;
      const began = start[e.line];
      start[e.line] = undefined;
      if (began === undefined) {
        reasons.add(`${name} released after being held low`);
        continue;
      }
      const width = e.tsNs - began;
      if (width < this.minNs) reasons.add(`${name} pulse too short (${width} ns)`);
      else if (width > this.maxNs) reasons.add(`${name} pulse too long (${width / 1000n} us)`);
      else pulses.push({ line: e.line, at: began });
    }
    for (const line of [0, 1] as const) if (level[line] === 0) reasons.add(`${NAMES[line]} still low at the end of the frame`);
    const first = edges[0]!;
    const last = edges[edges.length - 1]!;
    if (reasons.size > 0) return { type: 'malformed', reason: [...reasons].join('; '), edges: edges.length };
    // A pulse is recorded at its rising edge; order the bits by when their pulses began.
    pulses.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return { type: 'bits', bits: pulses.map((p) => p.line), startNs: first.tsNs, endNs: last.tsNs };
  }
}
