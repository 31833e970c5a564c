/**
 * The district's wall clock as the edge can know it without trusting its own
 * (docs/sync.md, "Technicians' remote commands", expiry). A mini-PC without a
 * real-time clock may read any date after a power cut until NTP answers, and
 * the district's command expiry (`expiresAt`, cloud wall-clock ms) must not
 * then depend on that date: a clock days ahead would expire every command, a
 * clock days behind would run a stale one.
 *
 * Every acknowledgement the cloud sends carries its wall clock (`ts`) at the
 * moment of sending; the uplink samples only the acks of events appended since
 * its connection came up (an older ack may have waited in the broker's session
 * through a power cut: sync/uplink.ts, freshAckAbove). On receipt, `ts - monotonic()` is a sample of the offset
 * between the district's clock and the edge's MONOTONIC clock, which no
 * correction of the edge's wall clock moves. The sample is low by the ack's
 * transit time (and by any time it waited in the broker), so the estimate is
 * the MAXIMUM over the samples of the last window: the fastest ack is the one
 * closest to the truth, and `now()` is a lower bound of the district's time,
 * off by at most that ack's transit. The mirror image of the cloud's own skew
 * estimate (sync/cloud/clock.ts), which takes the minimum of receivedAt - sentAt.
 */

/** Samples older than this (monotonic ms) stop counting, so the estimate follows the drift of the edge's oscillator. */
export const DISTRICT_TIME_WINDOW_MS = 60 * 60_000;
/** Samples kept at most (a bound for a pathological run of ever-worse samples). */
const MAX_SAMPLES = 256;

interface Sample {
  /** Monotonic ms of receipt. */
  at: number;
  /** District wall-clock ms minus the edge's monotonic ms at receipt. */
  offset: number;
}

export class DistrictTime {
  /**
   * A monotonic deque: receipt times ascending, offsets strictly descending. A sample that
   * is older and no better than a newer one can never be the maximum again, so it is dropped
   * when the newer one arrives; the head is the estimate once the expired ones are pruned.
   */
  private samples: Sample[] = [];

  constructor(
    private readonly monotonic: () => number,
    private readonly windowMs = DISTRICT_TIME_WINDOW_MS,
  ) {}

  /** Notes a district timestamp just received (an ack's `ts`). Ignores values that are not plausible ms. */
  sample(districtTs: number): void {
    if (!Number.isSafeInteger(districtTs) || districtTs <= 0) return;
    const at = this.monotonic();
    const offset = districtTs - at;
    while (this.samples.length > 0 && this.samples[this.samples.length - 1]!.offset <= offset) this.samples.pop();
    this.samples.push({ at, offset });
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
  }

  /** The district's wall-clock ms now (a lower bound, see above), or undefined before the first sample. */
  now(): number | undefined {
    const at = this.monotonic();
    // Expired samples go, but the newest always counts, however old: it is the best information there is.
    while (this.samples.length > 1 && this.samples[0]!.at < at - this.windowMs) this.samples.shift();
    const head = this.samples[0];
    return head === undefined ? undefined : Math.round(at + head.offset);
  }
}
