/**
 * LiveControl.replace, what a configuration push of recording.live does to
 * the running pushes (edge/recording/live-control.ts): unchanged targets keep
 * their push (no interruption of a live lesson), removed and changed ones
 * stop, added or changed `when: lessons` targets start at once when their
 * source is recording, others wait. The ffmpeg path does not exist, so a
 * started push sits in `error` (retried slowly) and no process is spawned.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LiveTargetConfig, RecordingSourceConfig } from '../../../edge/config/recording-schema.js';
import { LiveControl } from '../../../edge/recording/live-control.js';
import type { LivePushStatus } from '../../../edge/schemas/bus.js';
import { silentLogger } from '../../../edge/util/logger.js';

const source = (id: string): RecordingSourceConfig => ({ id, kind: 'testsrc', size: '320x240', framerate: 25, audio: false });
const t = (id: string, src: string, when: LiveTargetConfig['when'], key = id): LiveTargetConfig => ({ id, source: src, url: `rtmp://127.0.0.1:1/live/${key}`, when });

let control: LiveControl | undefined;
afterEach(async () => {
  await control?.stopAll();
  control = undefined;
});

function setup(targets: LiveTargetConfig[]) {
  const events: string[] = [];
  control = new LiveControl({
    targets,
    sources: new Map(['cam', 'board'].map((s) => [s, source(s)])),
    credentials: () => undefined,
    logger: silentLogger(),
    ffmpegPath: '/nonexistent/ffmpeg',
    onStatus: (_source: string, s: LivePushStatus) => events.push(`${s.target} ${s.state}`),
  });
  return { control, events };
}

describe('LiveControl.replace', () => {
  it('stops removed and changed pushes, keeps unchanged ones, starts added lesson targets of a recording source', async () => {
    const { control, events } = setup([t('a', 'cam', 'lessons'), t('b', 'cam', 'manual'), t('c', 'cam', 'lessons'), t('g', 'board', 'lessons')]);
    control.sourceStarted('cam');
    expect((await control.act('b', 'start')).ok).toBe(true);
    expect(control.running().sort()).toEqual(['a', 'b', 'c']);
    events.length = 0;

    await control.replace(
      [
        t('a', 'cam', 'lessons'), // unchanged: keeps its push
        t('b', 'cam', 'manual', 'b2'), // changed, manual: stopped, stays off until started again
        t('c', 'cam', 'lessons', 'c2'), // changed, lessons, source recording: back with the new URL
        t('d', 'cam', 'lessons'), // added, source recording: starts at once
        t('e', 'board', 'lessons'), // added, source not recording: waits for it
        t('f', 'cam', 'manual'), // added, manual: waits for a teacher
      ],
      new Set(['cam']),
    );
    expect(control.running().sort()).toEqual(['a', 'c', 'd']);
    // Its push may report its own failure (no ffmpeg here), but is never stopped or started again.
    expect(events.filter((e) => e === 'a off' || e === 'a connecting')).toEqual([]);
    expect(events).toContain('b off');
    expect(events).toContain('d connecting');
    expect(events.some((e) => e.startsWith('e ') || e.startsWith('f '))).toBe(false);
    // g was removed (it was not pushing, so nothing to stop) and is no longer known.
    expect((await control.act('g', 'start')).error?.code).toBe('unknown-target');
    expect((await control.act('f', 'start')).ok).toBe(true);
    control.sourceStarted('board');
    expect(control.running().sort()).toEqual(['a', 'c', 'd', 'e', 'f']);
  });

  it('a removed target that was pushing stops, and the source stopping later ends only the current targets', async () => {
    const { control, events } = setup([t('a', 'cam', 'lessons')]);
    control.sourceStarted('cam');
    await control.replace([t('z', 'cam', 'lessons')], new Set());
    expect(events).toContain('a off');
    // Not recording by the caller's word: the new lesson target waits for the next start.
    expect(control.running()).toEqual([]);
    control.sourceStarted('cam');
    expect(control.running()).toEqual(['z']);
    await control.sourceStopped('cam');
    expect(control.running()).toEqual([]);
    expect((await control.act('a', 'stop')).error?.code).toBe('unknown-target');
  });
});
