/**
 * Contact debouncing for GPIO inputs: a level counts once it has held for
 * `debounceMs`. Buttons and reed contacts bounce for a few milliseconds when
 * they close; a wire near a contactor picks up spikes. Accepting a level
 * only after it stays put rejects both (a spike shorter than debounceMs never
 * reaches the driver), at the price of debounceMs of latency.
 *
 * Time comes from two places: the edges' timestamps (kernel timestamps where
 * the backend has them), which decide between consecutive edges; and a timer
 * of debounceMs after the last edge, which settles the final level when no
 * further edge comes. So a burst of edges delivered at once (a backend
 * catching up, or a replayed recording) is judged by when the edges really
 * happened.
 */
import type { GpioEdgeEvent } from '../transports/gpio.js';

export class Debouncer {
  private stable: 0 | 1 = 0;
  private pending: GpioEdgeEvent | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly debounceNs: bigint;

  /** `commit` is called with each new settled level (never twice with the same level). */
  constructor(
    private readonly debounceMs: number,
    private readonly commit: (value: 0 | 1) => void,
  ) {
    this.debounceNs = BigInt(Math.round(debounceMs * 1e6));
  }

  get level(): 0 | 1 {
    return this.stable;
  }

  /** Set the settled level without committing (the level read at open). */
  reset(level: 0 | 1): void {
    this.stop();
    this.stable = level;
  }

  edge(e: GpioEdgeEvent): void {
    if (this.debounceMs <= 0) return this.settle(e.value);
    const prev = this.pending;
    if (prev && e.tsNs - prev.tsNs >= this.debounceNs) this.settle(prev.value);
    this.pending = e;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const p = this.pending;
      this.pending = undefined;
      if (p) this.settle(p.value);
    }, this.debounceMs);
  }

  /** Forget pending edges (driver closed). */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }

  private settle(value: 0 | 1): void {
    if (value === this.stable) return;
    this.stable = value;
    this.commit(value);
  }
}
