/** The kiosk's recording indicator (kiosk/ui/recording.ts): elapsed time, and which sources show. */
import { describe, expect, it } from 'vitest';
import { formatElapsed, recordingBadges } from '../../../kiosk/ui/recording.js';

describe('kiosk recording indicator', () => {
  it('formats the elapsed time as mm:ss, with hours once there are any', () => {
    expect(formatElapsed(0)).toBe('00:00');
    expect(formatElapsed(999)).toBe('00:00');
    expect(formatElapsed(7_000)).toBe('00:07');
    expect(formatElapsed(754_000)).toBe('12:34');
    expect(formatElapsed(754_999)).toBe('12:34');
    expect(formatElapsed(3_599_000)).toBe('59:59');
    expect(formatElapsed(3_600_000)).toBe('1:00:00');
    expect(formatElapsed(3_723_000)).toBe('1:02:03');
    expect(formatElapsed(36_000_000 + 61_000)).toBe('10:01:01');
  });

  it('shows 00:00 for a start time ahead of the clock (skew) or a non-number', () => {
    expect(formatElapsed(-5_000)).toBe('00:00');
    expect(formatElapsed(Number.NaN)).toBe('00:00');
  });

  it('shows recording and error sources, not idle ones; nothing without a recorder', () => {
    const now = 1_800_000_000_000;
    expect(recordingBadges(null, now)).toEqual([]);
    expect(recordingBadges({ sources: { main: { state: 'idle', lessonId: null, since: null } } }, now)).toEqual([]);
    const badges = recordingBadges(
      {
        sources: {
          main: { state: 'recording', lessonId: 'l1', since: now - 754_000 },
          board: { state: 'error', lessonId: 'l1', since: now - 10_000 },
          spare: { state: 'idle', lessonId: null, since: null },
        },
      },
      now,
    );
    expect(badges).toEqual([
      { source: 'board', state: 'error', elapsed: null },
      { source: 'main', state: 'recording', elapsed: '12:34' },
    ]);
  });
});
