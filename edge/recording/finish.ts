/**
 * Finishing a source's recording (docs/recording.md, "Finishing"): the
 * journal capture.ts wrote, plus any segment a crash left unjournaled, joined
 * without re-encoding into `{outDir}/{source}.mp4` (faststart) with its JSON
 * sidecar `{outDir}/{source}.json`. Both are written to a temp file, fsynced
 * and renamed, so finishing again after a crash mid-finish gives complete files.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { appendFile, open, readdir, readFile, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import { SEGMENT_RE } from './ffmpeg.js';
import { firstStream, probe } from './probe.js';
import type { RecordingGap, RecordingLessonInfo, RecordingSidecar, SegmentRecord } from './types.js';

export const JOURNAL_FILE = 'journal.jsonl';
const TS_PACKET = 188;
/** Consecutive segments further apart than this are a gap (segments cut on keyframes, so small slack is normal). */
export const GAP_TOLERANCE_MS = 1000;

/** A journal line written at each ffmpeg spawn. `after`: why the previous run ended (absent: a new recorder process). */
export interface RunRecord {
  type: 'run';
  run: number;
  startedAt: number;
  firstIndex: number;
  after?: string;
}
/** `recovered`: adopted by finish.ts after a crash (journaled so that finishing again does not trim it again). */
export type JournalLine = RunRecord | ({ type: 'segment'; recovered?: true } & SegmentRecord);

export interface Journal {
  runs: RunRecord[];
  /** By index, the last line of an index winning. */
  segments: SegmentRecord[];
  /** Lines that did not parse (a line torn by a power cut mid-append). */
  badLines: number;
  /** Files of segments a previous finish adopted. */
  recovered: string[];
  lastRun: number;
  lastIndex: number;
}

function isSegment(v: Record<string, unknown>): boolean {
  return (
    Number.isInteger(v.index) && typeof v.file === 'string' && Number.isInteger(v.run) && typeof v.startedAt === 'number' && typeof v.endedAt === 'number' && typeof v.sha256 === 'string'
  );
}

/** Parses journal text; tolerant of a torn last line, which is counted, never thrown. */
export function parseJournal(text: string): Journal {
  const runs: RunRecord[] = [];
  const byIndex = new Map<number, SegmentRecord>();
  const recovered = new Set<string>();
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      badLines++;
      continue;
    }
    if (v.type === 'run' && Number.isInteger(v.run) && typeof v.startedAt === 'number' && Number.isInteger(v.firstIndex)) {
      runs.push({ type: 'run', run: v.run as number, startedAt: v.startedAt, firstIndex: v.firstIndex as number, ...(typeof v.after === 'string' ? { after: v.after } : {}) });
    } else if (v.type === 'segment' && isSegment(v)) {
      const s: SegmentRecord = {
        index: v.index as number,
        file: v.file as string,
        run: v.run as number,
        startedAt: v.startedAt as number,
        endedAt: v.endedAt as number,
        bytes: typeof v.bytes === 'number' ? v.bytes : 0,
        sha256: v.sha256 as string,
      };
      byIndex.set(s.index, s);
      if (v.recovered === true) recovered.add(s.file);
    } else {
      badLines++;
    }
  }
  const segments = [...byIndex.values()].sort((a, b) => a.index - b.index);
  return {
    runs,
    segments,
    badLines,
    recovered: [...recovered].sort(),
    lastRun: Math.max(0, ...runs.map((r) => r.run), ...segments.map((s) => s.run)),
    lastIndex: Math.max(-1, ...segments.map((s) => s.index), ...runs.map((r) => r.firstIndex - 1)),
  };
}

/** The journal of a recording directory (an empty one when there is none yet). */
export function readJournal(dir: string): Journal {
  let text = '';
  try {
    text = readFileSync(join(dir, JOURNAL_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  return parseJournal(text);
}

/** Index of a segment file name, or null when it is not one. */
export function segmentIndex(file: string): number | null {
  const m = SEGMENT_RE.exec(file);
  return m ? Number(m[1]) : null;
}

/** The run that wrote segment `index`: the last run that started at or before it. */
export function runOf(runs: RunRecord[], index: number): RunRecord | null {
  let best: RunRecord | null = null;
  for (const r of runs) if (r.firstIndex <= index && (!best || r.firstIndex > best.firstIndex || (r.firstIndex === best.firstIndex && r.run > best.run))) best = r;
  return best;
}

/**
 * Gaps between consecutive segments (by index) further apart than `toleranceMs`. Between runs the
 * reason is why the previous run ended (the next run's `after`), or "recorder restarted" when a
 * new recorder process took over; within a run, the source's media time jumped: "source dropped".
 */
export function computeGaps(segments: SegmentRecord[], runs: RunRecord[], toleranceMs = GAP_TOLERANCE_MS): RecordingGap[] {
  const sorted = [...segments].sort((a, b) => a.index - b.index);
  const gaps: RecordingGap[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.startedAt - a.endedAt <= toleranceMs) continue;
    let reason = 'source dropped';
    if (b.run !== a.run) {
      const run = runs.find((r) => r.run === b.run);
      reason = run?.after ? `recorder restarted after: ${run.after}` : 'recorder restarted';
    } else if (b.index !== a.index + 1) {
      reason = `segments ${a.index + 1}..${b.index - 1} lost`;
    }
    gaps.push({ from: a.endedAt, to: b.startedAt, reason });
  }
  return gaps;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

type Recovered = NonNullable<RecordingSidecar['recovered']>[number];

/**
 * Length of `ts` without its last PES packet: where the last TS packet starting a PES
 * (payload_unit_start with a 00 00 01 start code) begins. ffmpeg's MPEG-TS muxer writes each PES
 * contiguously, and a video PES has no length to check, so the one a crash may have torn is
 * dropped whole (one frame at most); null when there is no PES start.
 */
export function lastPesStart(ts: Buffer): number | null {
  for (let off = ts.length - TS_PACKET; off >= 0; off -= TS_PACKET) {
    const b1 = ts[off + 1]!;
    const afc = (ts[off + 3]! >> 4) & 3;
    if (ts[off] !== 0x47 || !(b1 & 0x40) || !(afc & 1)) continue;
    const p = off + 4 + (afc & 2 ? 1 + ts[off + 4]! : 0);
    if (p + 3 <= off + TS_PACKET && ts[p] === 0 && ts[p + 1] === 0 && ts[p + 2] === 1) return off;
  }
  return null;
}

/**
 * Segments on disk without a journal line: the one being written when ffmpeg or the recorder
 * died. Kept when ffprobe reads them after trimming a torn last TS packet; dropped (and reported) otherwise.
 */
export async function adoptUnjournaled(
  dir: string,
  journal: Journal,
  opts: { ffprobePath?: string; logger?: Logger } = {},
): Promise<{ adopted: SegmentRecord[]; recovered: Recovered[] }> {
  const known = new Set(journal.segments.map((s) => s.index));
  const files = (await readdir(dir)).filter((f) => segmentIndex(f) !== null && !known.has(segmentIndex(f)!)).sort();
  const adopted: SegmentRecord[] = [];
  const recovered: Recovered[] = [];
  const all = [...journal.segments];
  for (const file of files) {
    const path = join(dir, file);
    const index = segmentIndex(file)!;
    const size = (await stat(path)).size;
    const whole = size - (size % TS_PACKET);
    if (whole === 0) {
      recovered.push({ file, kept: false, reason: 'empty (no whole MPEG-TS packet)' });
      continue;
    }
    const keep = lastPesStart((await readFile(path)).subarray(0, whole)) ?? whole;
    if (keep !== size) await truncate(path, keep);
    if (keep === 0) {
      recovered.push({ file, kept: false, reason: 'no whole PES packet' });
      continue;
    }
    let durationMs: number | null = null;
    let reason = 'no video stream';
    try {
      const p = await probe(path, opts.ffprobePath ? { ffprobePath: opts.ffprobePath } : {});
      if (firstStream(p, 'video')) durationMs = p.durationMs;
      if (durationMs === null || durationMs <= 0) reason = firstStream(p, 'video') ? 'no media time' : reason;
    } catch (e) {
      reason = (e as Error).message;
    }
    if (durationMs === null || durationMs <= 0) {
      recovered.push({ file, kept: false, reason });
      opts.logger?.warn({ file, reason }, 'unjournaled segment dropped');
      continue;
    }
    const run = runOf(journal.runs, index);
    // Its start is where the run's previous segment ended (segments are contiguous within a run).
    const prev = all.filter((s) => s.index < index && (!run || s.run === run.run)).sort((a, b) => b.index - a.index)[0];
    const startedAt = prev?.endedAt ?? run?.startedAt ?? (await stat(path)).mtimeMs - durationMs;
    const seg: SegmentRecord = { index, file, run: run?.run ?? journal.lastRun, startedAt, endedAt: startedAt + durationMs, bytes: keep, sha256: await sha256File(path) };
    // Journaled, so that finishing again (after a crash mid-finish) uses it as it is now.
    await appendJournalLine(dir, { type: 'segment', recovered: true, ...seg });
    adopted.push(seg);
    all.push(seg);
    recovered.push({ file, kept: true });
    opts.logger?.info({ file, durationMs }, 'unjournaled segment adopted');
  }
  return { adopted, recovered };
}

/** Appends one line to the journal and fsyncs it: a journaled segment must survive the power cut right after. */
export async function appendJournalLine(dir: string, line: JournalLine): Promise<void> {
  const path = join(dir, JOURNAL_FILE);
  await appendFile(path, `${JSON.stringify(line)}\n`);
  await fsyncPath(path);
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` through a temp file, fsync and rename (and fsyncs the directory). */
async function writeAtomic(path: string, data: string, dir: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await fsyncPath(tmp);
  await rename(tmp, path);
  await fsyncPath(dir);
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 2 ** 20 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${(stderr || err.message).trim().split('\n').slice(-4).join(' | ')}`));
      else resolve();
    });
  });
}

const iso = (ms: number): string => new Date(Math.round(ms)).toISOString();

export interface FinishOptions {
  dir: string;
  source: { id: string; kind: string; label?: string };
  lesson: RecordingLessonInfo;
  allSources: string[];
  outDir: string;
  logger: Logger;
  ffmpegPath?: string;
  ffprobePath?: string;
}

export interface FinishResult {
  file: string;
  sidecarFile: string;
  sidecar: RecordingSidecar;
}

/** Joins a recording directory's segments into `{outDir}/{source}.mp4` and writes its sidecar. */
export async function finishRecording(opts: FinishOptions): Promise<FinishResult> {
  const log = opts.logger;
  const journal = readJournal(opts.dir);
  const { adopted, recovered: found } = await adoptUnjournaled(opts.dir, journal, { ...(opts.ffprobePath ? { ffprobePath: opts.ffprobePath } : {}), logger: log });
  const segments = [...journal.segments, ...adopted].sort((a, b) => a.index - b.index);
  const recovered = [...journal.recovered.map((file): Recovered => ({ file, kept: true })), ...found].sort((a, b) => a.file.localeCompare(b.file));
  if (segments.length === 0) {
    const dropped = recovered.map((r) => `${r.file}: ${r.reason ?? 'dropped'}`).join('; ');
    throw new Error(`no usable segments for source ${opts.source.id} in ${opts.dir}${dropped ? ` (${dropped})` : ' (nothing was recorded)'}`);
  }
  const listFile = join(opts.dir, 'concat.txt');
  // Plain names relative to the list file: the concat demuxer's "safe" mode accepts them.
  await writeFile(listFile, `ffconcat version 1.0\n${segments.map((s) => `file '${s.file}'`).join('\n')}\n`);
  const name = `${opts.source.id}.mp4`;
  const file = join(opts.outDir, name);
  const tmp = join(opts.outDir, `.${name}.tmp-${process.pid}`);
  // No re-encode: -c copy. MPEG-TS carries AAC as ADTS, MP4 wants raw AAC with its config: aac_adtstoasc
  // (it applies only to audio streams, so a silent source is fine). faststart moves the moov atom to
  // the front so a player (or the district's web player) can start before the whole file arrives.
  // discardcorrupt: an adopted segment ends in a PES packet the crash cut short; the TS demuxer flags it
  // corrupt, and a torn AAC frame would otherwise be a decoding error at that point of the file.
  await run(
    opts.ffmpegPath ?? 'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', '-fflags', '+discardcorrupt', '-f', 'concat', '-i', listFile, '-map', '0:v', '-map', '0:a?', '-c', 'copy', '-bsf:a', 'aac_adtstoasc', '-movflags', '+faststart', '-f', 'mp4', tmp],
    10 * 60_000,
  );
  await fsyncPath(tmp);
  await rename(tmp, file);
  await fsyncPath(opts.outDir);
  await unlink(listFile).catch(() => undefined);
  const probed = await probe(file, opts.ffprobePath ? { ffprobePath: opts.ffprobePath } : {});
  const bytes = (await stat(file)).size;
  const gaps = computeGaps(segments, journal.runs);
  const l = opts.lesson;
  const sidecar: RecordingSidecar = {
    version: 1,
    roomId: l.roomId,
    lessonId: l.lessonId,
    course: l.course,
    classId: l.classId,
    ...(l.className !== undefined ? { className: l.className } : {}),
    teacherId: l.teacherId,
    ...(l.teacherName !== undefined ? { teacherName: l.teacherName } : {}),
    lesson: { startsAt: iso(l.startsAt), endsAt: iso(l.endsAt) },
    source: { id: opts.source.id, kind: opts.source.kind, ...(opts.source.label !== undefined ? { label: opts.source.label } : {}) },
    sources: opts.allSources,
    recorded: {
      from: iso(segments[0]!.startedAt),
      to: iso(segments[segments.length - 1]!.endedAt),
      mediaMs: Math.round(segments.reduce((sum, s) => sum + (s.endedAt - s.startedAt), 0)),
    },
    file: {
      name,
      bytes,
      sha256: await sha256File(file),
      durationMs: probed.durationMs ?? 0,
      video: firstStream(probed, 'video')?.codecName ?? null,
      audio: firstStream(probed, 'audio')?.codecName ?? null,
    },
    gaps: gaps.map((g) => ({ from: iso(g.from), to: iso(g.to), ms: Math.round(g.to - g.from), reason: g.reason })),
    segments: segments.map((s) => ({ index: s.index, file: s.file, run: s.run, from: iso(s.startedAt), to: iso(s.endedAt), bytes: s.bytes, sha256: s.sha256 })),
    ...(recovered.length ? { recovered } : {}),
  };
  const sidecarFile = join(opts.outDir, `${opts.source.id}.json`);
  await writeAtomic(sidecarFile, `${JSON.stringify(sidecar, null, 2)}\n`, opts.outDir);
  log.info({ source: opts.source.id, file, segments: segments.length, gaps: gaps.length, durationMs: sidecar.file.durationMs }, 'recording finished');
  return { file, sidecarFile, sidecar };
}
