/**
 * Device-side simulator of a Wiegand reader for tests and the demo room: it
 * drives the D0/D1 lines of a FakeGpioBackend with timestamped edges, as a
 * reader would (SIA AC-01; docs/drivers/wiegand.md): both lines idle high, a
 * `pulseUs` low pulse per bit on D0 (0) or D1 (1), one bit every
 * `bitIntervalUs`. Successive frames are at least 30 ms apart in edge time
 * (more than the 25 ms that ends a frame), whatever the wall clock does, so
 * back-to-back presentations stay separate frames.
 *
 * Edges are delivered synchronously by FakeGpioBackend.replay(); the driver
 * ends a frame 25 ms (wall time) after its last edge, or at the first edge
 * of the next frame.
 */
import type { FakeGpioBackend } from '../transports/gpio-fake.js';
import { encodeWiegand, parseBits, type Bit, type WiegandFormat } from '../wiegand/codec.js';

export interface WiegandSimOptions {
  chip?: string;
  d0Line: number;
  d1Line: number;
  /** Low pulse width (default 50 us). */
  pulseUs?: number;
  /** Start-to-start time between bits (default 2000 us). */
  bitIntervalUs?: number;
  /** Time source in ns for the first edge of a frame (default process.hrtime.bigint). */
  nowNs?: () => bigint;
}

export interface SimEdge {
  line: number;
  /** Electrical level after the edge. */
  value: 0 | 1;
  tsNs: bigint;
}

export type WiegandNoise = 'short' | 'long' | 'both-low';

const FRAME_SEPARATION_NS = 30_000_000n;

export class WiegandSim {
  readonly chip: string;
  private readonly d0: number;
  private readonly d1: number;
  private readonly pulseNs: bigint;
  private readonly intervalNs: bigint;
  private readonly nowNs: () => bigint;
  private lastNs: bigint | undefined;

  constructor(
    private readonly gpio: FakeGpioBackend,
    opts: WiegandSimOptions,
  ) {
    this.chip = opts.chip ?? 'gpiochip0';
    this.d0 = opts.d0Line;
    this.d1 = opts.d1Line;
    this.pulseNs = BigInt(Math.round((opts.pulseUs ?? 50) * 1000));
    this.intervalNs = BigInt(Math.round((opts.bitIntervalUs ?? 2000) * 1000));
    this.nowNs = opts.nowNs ?? (() => process.hrtime.bigint());
    // Idle high, without an edge (a powered reader with its pull-ups).
    gpio.setLevel(this.chip, this.d0, 1);
    gpio.setLevel(this.chip, this.d1, 1);
  }

  /** Edges of one frame of `bits`, the first at `startNs`. */
  edgesFor(bits: readonly Bit[], startNs: bigint): SimEdge[] {
    const edges: SimEdge[] = [];
    bits.forEach((bit, i) => {
      const line = bit === 1 ? this.d1 : this.d0;
      const at = startNs + BigInt(i) * this.intervalNs;
      edges.push({ line, value: 0, tsNs: at }, { line, value: 1, tsNs: at + this.pulseNs });
    });
    return edges;
  }

  /** A card presented: one frame with facility code `fc` and card number `card`. Returns the edges sent. */
  present(fc: number, card: number, format: WiegandFormat = 'w26'): SimEdge[] {
    return this.sendBits(encodeWiegand(format, fc, card));
  }

  /** Any frame of bits, e.g. "1011..." (bad parity, truncated frames). Returns the edges sent. */
  sendBits(bits: readonly Bit[] | string): SimEdge[] {
    const list = typeof bits === 'string' ? parseBits(bits) : bits;
    return this.replay(this.edgesFor(list, this.nextStart()));
  }

  /**
   * Line noise, as one burst: `short` glitches (1 us pulses on both lines),
   * a `long` pulse (5 ms low on D0), or `both-low` (D1 falls while D0 is low).
   */
  noise(kind: WiegandNoise = 'both-low'): SimEdge[] {
    const t = this.nextStart();
    const { d0, d1 } = this;
    const us = (n: number): bigint => BigInt(n) * 1000n;
    const edges: SimEdge[] =
      kind === 'short'
        ? [
            { line: d0, value: 0, tsNs: t },
            { line: d0, value: 1, tsNs: t + us(1) },
            { line: d1, value: 0, tsNs: t + us(300) },
            { line: d1, value: 1, tsNs: t + us(301) },
          ]
        : kind === 'long'
          ? [
              { line: d0, value: 0, tsNs: t },
              { line: d0, value: 1, tsNs: t + us(5000) },
            ]
          : [
              { line: d0, value: 0, tsNs: t },
              { line: d1, value: 0, tsNs: t + us(20) },
              { line: d0, value: 1, tsNs: t + us(50) },
              { line: d1, value: 1, tsNs: t + us(70) },
            ];
    return this.replay(edges);
  }

  /** Deliver edges (in time order) to the fake backend. */
  replay(edges: readonly SimEdge[]): SimEdge[] {
    for (const e of edges) {
      this.gpio.replay(this.chip, e.line, [{ value: e.value, tsNs: e.tsNs }]);
      if (this.lastNs === undefined || e.tsNs > this.lastNs) this.lastNs = e.tsNs;
    }
    return [...edges];
  }

  private nextStart(): bigint {
    const now = this.nowNs();
    if (this.lastNs === undefined) return now;
    const earliest = this.lastNs + FRAME_SEPARATION_NS;
    return now > earliest ? now : earliest;
  }
}
