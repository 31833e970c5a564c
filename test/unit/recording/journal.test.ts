/**
 * The recording journal (journal.jsonl): parsing (a torn last line after a
 * power cut), numbering after a restart, which run wrote a segment, gaps and
 * their reasons, and adoption of unjournaled segments (the empty and the
 * unreadable ones are reported, never silently dropped). Real files in a temp dir.
 */
import { appendFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adoptUnjournaled, computeGaps, finishRecording, lastPesStart, parseJournal, readJournal, runOf, segmentIndex, type RunRecord } from '../../../edge/recording/finish.js';
import { segmentFileName } from '../../../edge/recording/ffmpeg.js';
import type { SegmentRecord } from '../../../edge/recording/types.js';
import { silentLogger } from '../../../edge/util/logger.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rec-journal-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T0 = 1_741_000_000_000;
const seg = (index: number, run: number, startedAt: number, endedAt: number): SegmentRecord => ({ index, file: segmentFileName(index), run, startedAt, endedAt, bytes: 1880, sha256: 'ab'.repeat(32) });
const runLine = (run: number, firstIndex: number, startedAt: number, after?: string): RunRecord => ({ type: 'run', run, firstIndex, startedAt, ...(after ? { after } : {}) });
const jsonl = (lines: unknown[]) => lines.map((l) => JSON.stringify(l)).join('\n') + '\n';

describe('parseJournal', () => {
  it('reads runs and segments, counts a torn last line and continues numbering after the last index and run', () => {
    const text = jsonl([runLine(1, 0, T0), { type: 'segment', ...seg(0, 1, T0, T0 + 2000) }, { type: 'segment', ...seg(1, 1, T0 + 2000, T0 + 4000) }, runLine(2, 3, T0 + 6000, 'camera unreachable')]) + '{"type":"segment","index":3,"fi';
    const j = parseJournal(text);
    expect(j.runs.map((r) => r.run)).toEqual([1, 2]);
    expect(j.runs[1]!.after).toBe('camera unreachable');
    expect(j.segments.map((s) => s.index)).toEqual([0, 1]);
    expect(j.badLines).toBe(1);
    expect(j.lastRun).toBe(2);
    // Run 2 started at index 3 (index 2 was the partial one on disk): the next run starts after it even with no segment of run 2 yet.
    expect(j.lastIndex).toBe(2);
  });

  it('remembers segments a finish adopted (so finishing again reports them without trimming them again)', () => {
    const j = parseJournal(jsonl([runLine(1, 0, T0), { type: 'segment', ...seg(0, 1, T0, T0 + 2000) }, { type: 'segment', recovered: true, ...seg(1, 1, T0 + 2000, T0 + 2600) }]));
    expect(j.segments.map((s) => s.index)).toEqual([0, 1]);
    expect(j.recovered).toEqual([segmentFileName(1)]);
  });

  it('an empty or missing journal starts at run 0, index -1', async () => {
    expect(parseJournal('')).toMatchObject({ runs: [], segments: [], badLines: 0, lastRun: 0, lastIndex: -1 });
    expect(readJournal(join(dir, 'nothing-here'))).toMatchObject({ lastRun: 0, lastIndex: -1 });
  });

  it('rejects lines of the wrong shape (counted) and keeps the last line of an index', () => {
    const j = parseJournal(jsonl([{ type: 'segment', index: 'x' }, { type: 'other' }, { type: 'segment', ...seg(4, 1, T0, T0 + 1) }, { type: 'segment', ...seg(4, 1, T0, T0 + 2) }]));
    expect(j.badLines).toBe(2);
    expect(j.segments).toHaveLength(1);
    expect(j.segments[0]!.endedAt).toBe(T0 + 2);
  });
});

describe('lastPesStart (trimming the PES a crash may have torn)', () => {
  /** One 188-byte TS packet: PID, payload_unit_start, optional adaptation field, payload head. */
  const pkt = (pid: number, pusi: boolean, payload: number[], adaptation = 0): Buffer => {
    const b = Buffer.alloc(188, 0xff);
    b[0] = 0x47;
    b[1] = (pusi ? 0x40 : 0) | (pid >> 8);
    b[2] = pid & 0xff;
    b[3] = (adaptation ? 0x30 : 0x10);
    let p = 4;
    if (adaptation) {
      b[4] = adaptation;
      p += 1 + adaptation;
    }
    Buffer.from(payload).copy(b, p);
    return b;
  };
  const PES = [0, 0, 1, 0xe0];

  it('finds the last packet that starts a PES, skipping continuations and PSI tables', () => {
    const ts = Buffer.concat([pkt(0x100, true, PES), pkt(0x100, false, [1, 2]), pkt(0x101, true, PES, 7), pkt(0x100, false, [3]), pkt(0, true, [0, 0, 0xb0]), pkt(0x1000, true, [0, 2, 0xb0])]);
    expect(lastPesStart(ts)).toBe(2 * 188);
  });

  it('null without any PES start', () => {
    expect(lastPesStart(Buffer.concat([pkt(0, true, [0, 0, 0xb0]), pkt(0x100, false, [1])]))).toBeNull();
    expect(lastPesStart(Buffer.alloc(0))).toBeNull();
  });
});

describe('segment names and runs', () => {
  it('segmentIndex parses only segment files', () => {
    expect(segmentIndex('seg-000012.ts')).toBe(12);
    expect(segmentIndex('seg-1234567.ts')).toBe(1_234_567);
    expect(segmentIndex('seg-12.ts')).toBeNull();
    expect(segmentIndex('run-000001.csv')).toBeNull();
  });

  it('runOf finds the run whose range holds the index', () => {
    const runs = [runLine(1, 0, T0), runLine(2, 5, T0), runLine(3, 5, T0), runLine(4, 9, T0)];
    expect(runOf(runs, 0)?.run).toBe(1);
    expect(runOf(runs, 4)?.run).toBe(1);
    // Run 2 ended before writing anything: run 3 started at the same index.
    expect(runOf(runs, 5)?.run).toBe(3);
    expect(runOf(runs, 20)?.run).toBe(4);
    expect(runOf([], 1)).toBeNull();
  });
});

describe('computeGaps', () => {
  it('none for contiguous segments (keyframe slack under the tolerance)', () => {
    expect(computeGaps([seg(0, 1, T0, T0 + 2000), seg(1, 1, T0 + 2400, T0 + 4000)], [])).toEqual([]);
  });

  it('between runs: why the previous run ended, or a recorder restart', () => {
    const runs = [runLine(1, 0, T0), runLine(2, 2, T0 + 9000, 'camera unreachable: connection refused'), runLine(3, 4, T0 + 20_000)];
    const segs = [seg(0, 1, T0, T0 + 2000), seg(1, 1, T0 + 2000, T0 + 4000), seg(2, 2, T0 + 9500, T0 + 11_500), seg(3, 2, T0 + 11_500, T0 + 13_500), seg(4, 3, T0 + 20_300, T0 + 22_300)];
    expect(computeGaps(segs, runs)).toEqual([
      { from: T0 + 4000, to: T0 + 9500, reason: 'recorder restarted after: camera unreachable: connection refused' },
      { from: T0 + 13_500, to: T0 + 20_300, reason: 'recorder restarted' },
    ]);
  });

  it('within a run: lost segments are named, a media-time jump is a source drop', () => {
    const segs = [seg(0, 1, T0, T0 + 2000), seg(2, 1, T0 + 4000, T0 + 6000), seg(3, 1, T0 + 9000, T0 + 11_000)];
    expect(computeGaps(segs, [runLine(1, 0, T0)])).toEqual([
      { from: T0 + 2000, to: T0 + 4000, reason: 'segments 1..1 lost' },
      { from: T0 + 6000, to: T0 + 9000, reason: 'source dropped' },
    ]);
  });
});

describe('adoptUnjournaled and finishRecording without usable segments', () => {
  it('reports empty and unreadable unjournaled segments, truncated to whole TS packets, and finishing then fails clearly', async () => {
    const d = join(dir, 'bad');
    await rm(d, { recursive: true, force: true });
    await mkdir(d, { recursive: true });
    await writeFile(join(d, 'journal.jsonl'), jsonl([runLine(1, 0, T0)]));
    await writeFile(join(d, segmentFileName(0)), Buffer.alloc(100));
    await writeFile(join(d, segmentFileName(1)), Buffer.alloc(188 * 3 + 50, 0x47));
    await appendFile(join(d, 'notes.txt'), 'not a segment');
    const j = readJournal(d);
    const { adopted, recovered } = await adoptUnjournaled(d, j);
    expect(adopted).toEqual([]);
    expect(recovered).toHaveLength(2);
    expect(recovered[0]).toEqual({ file: segmentFileName(0), kept: false, reason: 'empty (no whole MPEG-TS packet)' });
    expect(recovered[1]!.kept).toBe(false);
    expect(recovered[1]!.reason).toBeTruthy();
    expect((await stat(join(d, segmentFileName(1)))).size).toBe(188 * 3);
    await expect(
      finishRecording({ dir: d, source: { id: 'cam', kind: 'rtsp' }, lesson: { roomId: 'r', lessonId: 'l', course: 'c', classId: 'k', teacherId: null, startsAt: T0, endsAt: T0 + 1 }, allSources: ['cam'], outDir: d, logger: silentLogger() }),
    ).rejects.toThrow(/no usable segments for source cam .*seg-000000\.ts: empty/);
  });
});
