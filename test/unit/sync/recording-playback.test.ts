/**
 * The cloud's playback helpers and the sidecar schema: the Range header by RFC 9110's rules
 * (served, unsatisfiable, ignored), the playback audit's session dedup on a fake monotonic
 * clock, and the sidecar's zod schema against the recorder's RecordingSidecar type.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RecordingSidecar } from '../../../edge/recording/types.js';
import { PLAYBACK_SESSION_MS, PlaybackSessions, parseRange } from '../../../sync/cloud/playback.js';
import { parseRecordingSidecar, recordingIndexKey, type RecordingSidecarData } from '../../../sync/recording-protocol.js';
import { makeSidecar } from '../../integration/recording-cloud-fixtures.js';

describe('Range header', () => {
  it.each([
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=900-5000', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-10', { kind: 'partial', start: 990, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['BYTES=5-5', { kind: 'partial', start: 5, end: 5 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-2000', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    // Ignored (the whole file, 200): invalid, other units, several ranges, reversed.
    ['bytes=5-1', { kind: 'full' }],
    ['bytes=abc', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['items=0-1', { kind: 'full' }],
    ['bytes=0-1,5-9', { kind: 'full' }],
    ['bytes=99999999999999999999-', { kind: 'full' }],
  ] as const)('%s of 1000 bytes', (header, answer) => {
    expect(parseRange(header, 1000)).toEqual(answer);
  });

  it('no header is the whole file; an empty file satisfies no range', () => {
    expect(parseRange(undefined, 1000)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('playback sessions (audit dedup)', () => {
  it('one session per technician and recording until a pause longer than the window', () => {
    let t = 0;
    const s = new PlaybackSessions(() => t);
    expect(s.touch('wang', 'r/l/cam1')).toBe(true);
    t += 1000;
    expect(s.touch('wang', 'r/l/cam1')).toBe(false);
    expect(s.touch('li', 'r/l/cam1')).toBe(true);
    expect(s.touch('wang', 'r/l/cam2')).toBe(true);
    // Requests keep the session alive (a long lesson's playback is one row)...
    for (let i = 0; i < 10; i++) {
      t += PLAYBACK_SESSION_MS - 1;
      expect(s.touch('wang', 'r/l/cam1')).toBe(false);
    }
    // ...and watching again after a pause is a new one.
    t += PLAYBACK_SESSION_MS + 1;
    expect(s.touch('wang', 'r/l/cam1')).toBe(true);
  });
});

describe('sidecar', () => {
  const good = makeSidecar({ lessonId: 'jy-0101-r203/2025-03-03/p1', source: 'cam1', media: { bytes: 10, sha256: 'a'.repeat(64) }, startsAt: '2025-03-03T00:30:00.000Z', endsAt: '2025-03-03T01:15:00+08:00' });

  it('matches the recorder\'s type and parses what it writes', () => {
    expectTypeOf<RecordingSidecarData>().toExtend<RecordingSidecar>();
    expectTypeOf<RecordingSidecar>().toExtend<RecordingSidecarData>();
    expect(parseRecordingSidecar(JSON.stringify(good))).toEqual(good);
    expect(recordingIndexKey({ source: 'cam1', segment: 0, ext: 'json' })).toBe('cam1-0.json');
    expect(recordingIndexKey({ source: 'cam1', segment: 0, ext: 'mp4' })).toBe('cam1-0');
  });

  it('names every bad field', () => {
    expect(() => parseRecordingSidecar('{')).toThrow('not JSON');
    const bad = { ...good, version: 2, lesson: { startsAt: 'yesterday', endsAt: good.lesson.endsAt }, file: { ...good.file, bytes: -1 }, lessonId: '../x' };
    const msg = (() => {
      try {
        parseRecordingSidecar(JSON.stringify(bad));
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    })();
    for (const f of ['version', 'lesson.startsAt', 'file.bytes', 'lessonId']) expect(msg).toContain(f);
  });
});
