import { describe, expect, it } from 'vitest';
import { Backoff } from '../../../drivers/transports/backoff.js';

const take = (b: Backoff, n: number): number[] => Array.from({ length: n }, () => b.next());

describe('Backoff', () => {
  it('doubles from 250 ms up to 10 s by default (no jitter at random = 0.5)', () => {
    const b = new Backoff({ random: () => 0.5 });
    expect(take(b, 9)).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    expect(b.attempts).toBe(9);
  });

  it('spreads each delay by ±jitter and never exceeds maxMs', () => {
    const low = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, random: () => 0 });
    const high = new Backoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, random: () => 0.999999 });
    expect(take(low, 5)).toEqual([80, 160, 320, 640, 800]);
    expect(take(high, 5)).toEqual([120, 240, 480, 960, 1000]);
  });

  it('draws different delays from real randomness, within bounds', () => {
    const b = new Backoff({ initialMs: 1000, maxMs: 1000 });
    const delays = take(b, 50);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(800);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    expect(new Set(delays).size).toBeGreaterThan(1);
  });

  it('starts over after reset()', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 1000, random: () => 0.5 });
    take(b, 4);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(10);
  });

  it('does not overflow after many attempts', () => {
    const b = new Backoff({ initialMs: 250, maxMs: 10_000, random: () => 0.5 });
    take(b, 5000);
    expect(b.next()).toBe(10_000);
  });
});
