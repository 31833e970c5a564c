/**
 * A small ffprobe wrapper: what finish.ts needs to decide whether a segment
 * is usable and to describe the finished file (duration, codecs, size).
 */
import { execFile } from 'node:child_process';

export interface ProbedStream {
  index: number;
  codecType: string;
  codecName: string | null;
  profile: string | null;
  level: number | null;
  width: number | null;
  height: number | null;
  sampleRate: number | null;
  channels: number | null;
}

export interface ProbeResult {
  formatName: string;
  /** Container duration in ms; null when ffprobe cannot tell. */
  durationMs: number | null;
  streams: ProbedStream[];
}

const num = (v: unknown): number | null => {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) ? n : null;
};
const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Parses `ffprobe -print_format json -show_format -show_streams` output. */
export function parseProbe(json: string): ProbeResult {
  const raw = JSON.parse(json) as { format?: Record<string, unknown>; streams?: Array<Record<string, unknown>> };
  const duration = num(raw.format?.duration);
  return {
    formatName: str(raw.format?.format_name) ?? '',
    durationMs: duration === null ? null : Math.round(duration * 1000),
    streams: (raw.streams ?? []).map((s) => ({
      index: num(s.index) ?? 0,
      codecType: str(s.codec_type) ?? 'unknown',
      codecName: str(s.codec_name),
      profile: str(s.profile),
      level: num(s.level),
      width: num(s.width),
      height: num(s.height),
      sampleRate: num(s.sample_rate),
      channels: num(s.channels),
    })),
  };
}

/** Probes `file` (or any URL ffprobe opens); rejects with ffprobe's own message when it cannot read it. */
export function probe(file: string, opts: { ffprobePath?: string; timeoutMs?: number; inputArgs?: string[] } = {}): Promise<ProbeResult> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...(opts.inputArgs ?? []), file];
  return new Promise((resolve, reject) => {
    execFile(opts.ffprobePath ?? 'ffprobe', args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 4 * 2 ** 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`ffprobe cannot read ${file}: ${(stderr || err.message).trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      try {
        resolve(parseProbe(stdout));
      } catch (e) {
        reject(new Error(`ffprobe gave unreadable output for ${file}: ${(e as Error).message}`));
      }
    });
  });
}

/** The first stream of a type (video, audio), or null. */
export function firstStream(p: ProbeResult, type: 'video' | 'audio'): ProbedStream | null {
  return p.streams.find((s) => s.codecType === type) ?? null;
}
