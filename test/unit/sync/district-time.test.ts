/**
 * The edge's estimate of the district's clock from the acks' timestamps
 * (sync/district-time.ts): the best (largest) sample of the window, carried
 * forward on the monotonic clock, unmoved by jumps of the edge's wall clock.
 */
import { describe, expect, it } from 'vitest';
import { DistrictTime } from '../../../sync/district-time.js';

const HOUR = 3_600_000;
const D0 = 1_760_000_000_000;

function make(windowMs?: number) {
  let mono = 10_000;
  const t = new DistrictTime(() => mono, windowMs);
  return { t, advance: (ms: number) => (mono += ms) };
}

describe('DistrictTime', () => {
  it('has no estimate before the first ack, then carries the ack forward on the monotonic clock', () => {
    const { t, advance } = make();
    expect(t.now()).toBeUndefined();
    t.sample(D0);
    expect(t.now()).toBe(D0);
    advance(30_000);
    expect(t.now()).toBe(D0 + 30_000);
  });

  it('keeps the sample with the least transit: a late ack (waited in the broker) does not pull it back', () => {
    const { t, advance } = make();
    t.sample(D0); // fast ack
    advance(10_000);
    t.sample(D0 + 10_000 - 4_000); // sent 4 s before it arrived
    expect(t.now()).toBe(D0 + 10_000);
    advance(1_000);
    t.sample(D0 + 11_000 + 0); // as good as the first: still the same estimate
    expect(t.now()).toBe(D0 + 11_000);
    // A better sample (the first ack had 50 ms of transit after all) wins.
    t.sample(D0 + 11_050);
    expect(t.now()).toBe(D0 + 11_050);
  });

  it('forgets samples older than the window, except the newest, so it follows a district clock that was corrected back', () => {
    const { t, advance } = make(HOUR);
    t.sample(D0 + 60_000); // the district's clock was a minute fast
    advance(HOUR / 2);
    t.sample(D0 + HOUR / 2); // corrected
    expect(t.now()).toBe(D0 + 60_000 + HOUR / 2);
    advance(HOUR / 2 + 1);
    expect(t.now()).toBe(D0 + HOUR + 1);
    advance(5 * HOUR); // no ack for hours: the newest sample still counts
    expect(t.now()).toBe(D0 + 6 * HOUR + 1);
  });

  it('ignores timestamps that are not plausible ms', () => {
    const { t } = make();
    t.sample(Number.NaN);
    t.sample(-5);
    t.sample(0);
    t.sample(1.5);
    expect(t.now()).toBeUndefined();
  });

  it('stays bounded under a long run of ever-worse samples', () => {
    const { t, advance } = make(10 * HOUR);
    for (let i = 0; i < 10_000; i++) {
      t.sample(D0 - i);
      advance(1);
    }
    // Sample i came at monotonic 10,000 + i with offset D0 - 10,000 - 2i. The oldest were dropped to
    // keep the bound, so the head is sample 9,744 (the best of the last 256), read at monotonic 20,000.
    expect(t.now()).toBe(20_000 + D0 - 10_000 - 2 * 9_744);
  });
});
