import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { localDate } from '../../../edge/lessons/dates.js';

const direct = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).toISODate();

describe('localDate (cached per zone and day)', () => {
  it('agrees with luxon around midnights and DST changes, in any order of zones and instants', () => {
    const zones = ['Asia/Shanghai', 'Europe/Berlin', 'America/Santiago', 'UTC', 'Australia/Lord_Howe'];
    const starts = [Date.UTC(2026, 2, 28, 12), Date.UTC(2026, 9, 24, 12), Date.UTC(2026, 3, 4, 12), Date.UTC(2026, 8, 5, 12)];
    let checked = 0;
    for (const base of starts) {
      // Every 7 minutes over three days, zones interleaved, forwards then backwards.
      const instants: number[] = [];
      for (let t = base; t < base + 3 * 86_400_000; t += 7 * 60_000) instants.push(t, t - 1, t + 1);
      for (const ms of [...instants, ...instants.reverse()]) {
        for (const zone of zones) {
          expect(localDate(ms, zone)).toBe(direct(ms, zone));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10_000);
  });
});
