/** The kiosk's recording rules (kiosk/ui/recording.ts): elapsed time, which sources show, the start/stop button, a lesson's upload. */
import { describe, expect, it } from 'vitest';
import { formatElapsed, lessonUpload, recordingBadges, recordingButton } from '../../../kiosk/ui/recording.js';

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

  it('shows every source that is not idle, sorted by id, with the elapsed time only while recording; nothing without a recorder', () => {
    const now = 1_800_000_000_000;
    expect(recordingBadges(null, now)).toEqual([]);
    expect(recordingBadges({ sources: { main: { state: 'idle', lessonId: null, since: null } } }, now)).toEqual([]);
    const badges = recordingBadges(
      {
        sources: {
          main: { state: 'recording', lessonId: 'l1', since: now - 754_000 },
          board: { state: 'error', lessonId: 'l1', since: now - 10_000, reason: 'camera refused the connection' },
          spare: { state: 'idle', lessonId: null, since: null },
          cam2: { state: 'starting', lessonId: 'l1', since: null },
          cam3: { state: 'degraded', lessonId: 'l1', since: now - 60_000, reason: 'no packets for 5 s' },
          cam4: { state: 'stopping', lessonId: 'l1', since: now - 60_000, reason: null },
        },
      },
      now,
    );
    expect(badges).toEqual([
      { source: 'board', state: 'error', elapsed: null, reason: 'camera refused the connection', live: null },
      { source: 'cam2', state: 'starting', elapsed: null, reason: null, live: null },
      { source: 'cam3', state: 'degraded', elapsed: null, reason: 'no packets for 5 s', live: null },
      { source: 'cam4', state: 'stopping', elapsed: null, reason: null, live: null },
      { source: 'main', state: 'recording', elapsed: '12:34', reason: null, live: null },
    ]);
  });

  it('keeps a reason only for degraded and failed sources, and shows a live push that is not off', () => {
    const now = 1_800_000_000_000;
    const live = (state: 'off' | 'connecting' | 'live' | 'retrying' | 'error') => ({ state, target: 'district', since: now - 1000, reason: null });
    const [a, b, c] = recordingBadges(
      {
        sources: {
          a: { state: 'recording', lessonId: 'l1', since: now - 1000, reason: 'stale reason', live: live('live') },
          b: { state: 'recording', lessonId: 'l1', since: null, live: live('off') },
          c: { state: 'degraded', lessonId: 'l1', since: now, reason: '', live: live('retrying') },
        },
      },
      now,
    );
    expect(a).toMatchObject({ state: 'recording', elapsed: '00:01', reason: null, live: 'live' });
    expect(b).toMatchObject({ state: 'recording', elapsed: null, live: null });
    expect(c).toMatchObject({ state: 'degraded', reason: null, live: 'retrying' });
  });
});

describe('kiosk recording button', () => {
  const rec = (...states: Array<'idle' | 'starting' | 'recording' | 'degraded' | 'stopping' | 'error'>) => ({
    sources: Object.fromEntries(states.map((state, i) => [`s${i}`, { state, lessonId: null, since: null }])),
  });

  it('is not offered unless the edge offers it', () => {
    expect(recordingButton(rec('recording'), false, false)).toBeNull();
    expect(recordingButton(null, false, false)).toBeNull();
  });

  it('starts when every source is idle or failed, or nothing was published yet', () => {
    expect(recordingButton(null, true, false)).toEqual({ action: 'start', disabled: false });
    expect(recordingButton(rec('idle', 'idle'), true, false)).toEqual({ action: 'start', disabled: false });
    expect(recordingButton(rec('error', 'idle'), true, false)).toEqual({ action: 'start', disabled: false });
  });

  it('stops while any source is starting, recording or reconnecting, even when another failed', () => {
    for (const s of ['starting', 'recording', 'degraded'] as const) expect(recordingButton(rec('error', s), true, false)).toEqual({ action: 'stop', disabled: false });
  });

  it('is disabled while sources are still finishing, and while a request is in flight', () => {
    expect(recordingButton(rec('stopping', 'idle'), true, false)).toEqual({ action: 'stop', disabled: true });
    expect(recordingButton(rec('idle'), true, true)).toEqual({ action: 'start', disabled: true });
    expect(recordingButton(rec('recording'), true, true)).toEqual({ action: 'stop', disabled: true });
  });
});

describe('kiosk lesson upload line', () => {
  const withUpload = (lessons: Record<string, { files: number; uploadedFiles: number; bytes: number; uploadedBytes: number }>) => ({
    sources: {},
    upload: { pendingFiles: 0, pendingBytes: 0, failedFiles: 0, lessons },
  });

  it('shows nothing for a lesson without recordings, or without an upload status', () => {
    expect(lessonUpload(null, 'l1')).toBeNull();
    expect(lessonUpload({ sources: {} }, 'l1')).toBeNull();
    expect(lessonUpload(withUpload({ l2: { files: 1, uploadedFiles: 0, bytes: 10, uploadedBytes: 0 } }), 'l1')).toBeNull();
    expect(lessonUpload(withUpload({ l1: { files: 0, uploadedFiles: 0, bytes: 0, uploadedBytes: 0 } }), 'l1')).toBeNull();
  });

  it('waits, uploads with a percentage by bytes, and is done when every file is up', () => {
    expect(lessonUpload(withUpload({ l1: { files: 2, uploadedFiles: 0, bytes: 1000, uploadedBytes: 0 } }), 'l1')).toEqual({ state: 'waiting' });
    expect(lessonUpload(withUpload({ l1: { files: 2, uploadedFiles: 0, bytes: 1000, uploadedBytes: 455 } }), 'l1')).toEqual({ state: 'uploading', percent: 45 });
    expect(lessonUpload(withUpload({ l1: { files: 2, uploadedFiles: 2, bytes: 1000, uploadedBytes: 1000 } }), 'l1')).toEqual({ state: 'done' });
  });

  it('never reads 0 % or 100 % while uploading, and counts files when the sizes are unknown', () => {
    expect(lessonUpload(withUpload({ l1: { files: 2, uploadedFiles: 0, bytes: 1_000_000, uploadedBytes: 1 } }), 'l1')).toEqual({ state: 'uploading', percent: 1 });
    expect(lessonUpload(withUpload({ l1: { files: 2, uploadedFiles: 1, bytes: 1000, uploadedBytes: 1000 } }), 'l1')).toEqual({ state: 'uploading', percent: 99 });
    expect(lessonUpload(withUpload({ l1: { files: 4, uploadedFiles: 1, bytes: 0, uploadedBytes: 0 } }), 'l1')).toEqual({ state: 'uploading', percent: 25 });
  });
});
