/**
 * One supervised ffmpeg per source (docs/recording.md, "Capture and
 * segments"): short MPEG-TS segments, each journaled (sha256, wall-clock
 * times, fsync) as ffmpeg closes it, so a crash, kill -9 or power cut loses
 * at most the segment being written. A run that ends unexpectedly is
 * respawned with jittered backoff and continues the numbering; a camera that
 * sends a codec we cannot stream-copy is an error, not a restart loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Backoff } from '../../drivers/transports/backoff.js';
import type { RecordingSourceConfig } from '../config/recording-schema.js';
import type { Logger } from '../util/logger.js';
import { encodeArgs, globalArgs, inputArgs, isEncoded, redact, segmentArgs } from './ffmpeg.js';
import { appendJournalLine, readJournal, segmentIndex, sha256File, type JournalLine } from './finish.js';
import type { CaptureState, SegmentRecord, SourceCredentials } from './types.js';

export interface CaptureOptions {
  sourceId: string;
  source: RecordingSourceConfig;
  credentials?: SourceCredentials;
  /** This (lesson, source)'s directory: segments, per-run CSV lists, journal.jsonl. */
  dir: string;
  segmentSeconds: number;
  /** Keyframe interval when we encode (default 2 s, capped at segmentSeconds). */
  gopSeconds?: number;
  logger: Logger;
  ffmpegPath?: string;
  /** Respawn delay after an unexpected end (default 1 s doubling to 60 s, ±20 % jitter). */
  backoff?: { initialMs: number; maxMs: number };
  /** No media-time progress for this long: the run is killed and respawned (default 15 s). */
  stallTimeoutMs?: number;
  now?: () => number;
  /**
   * Input and encoding args that replace the source's own (the composed view: two inputs, an
   * overlay filter, an encoder); `source` then only names what failures are about.
   */
  media?: string[];
  /** More passwords that `media` may hold (the composed view's second camera), redacted like `credentials`'. */
  extraSecrets?: string[];
  /** Added to ffmpeg's environment: the service tags its children to find them after a crash (orphans.ts). */
  env?: Record<string, string>;
}

/** Known ffmpeg messages -> what a technician should check. Lines are redacted before matching. */
export function classifyFailure(line: string, source: RecordingSourceConfig, hasCredentials: boolean): string | null {
  if (/401 Unauthorized/i.test(line)) {
    return hasCredentials ? 'the camera refused the username or password (401 Unauthorized): check the source\'s credentialsFile' : 'the camera asks for a username and password (401 Unauthorized): set the source\'s credentialsFile';
  }
  if (/403 Forbidden/i.test(line)) return 'the camera refused access for this user (403 Forbidden)';
  if (/404 Not Found/i.test(line)) return 'wrong stream path: the camera answered 404 Not Found for this URL';
  if (/Connection refused/i.test(line)) return 'camera unreachable: connection refused (camera off, wrong port, or its RTSP service down)';
  if (/timed out|Connection timed out/i.test(line)) return 'camera unreachable: connection timed out (network, address or camera power)';
  if (/No route to host|Network is unreachable|Name or service not known|Temporary failure in name resolution/i.test(line)) return `camera unreachable: ${line.replace(/^.*?: /, '')}`;
  if (source.kind === 'v4l2') {
    if (line.includes(source.device) && /No such file or directory/i.test(line)) return `capture device ${source.device} missing (No such file or directory): is the capture card plugged in?`;
    if (/Device or resource busy/i.test(line)) return `capture device ${source.device} busy: another program is using it`;
    if (source.audioDevice && /cannot open audio device/i.test(line)) return `audio device ${source.audioDevice} cannot be opened`;
  }
  return null;
}

const STDERR_KEEP = 20;
const STOP_GRACE_MS = 4000;

export class Capture extends EventEmitter {
  private readonly opts: CaptureOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly stallTimeoutMs: number;
  private readonly secrets: string[];
  private _state: CaptureState = 'stopped';
  private _reason: string | null = null;
  private child: ChildProcess | null = null;
  private run = 0;
  private nextIndex = 0;
  private readonly records: SegmentRecord[] = [];
  private hasRecorded = false;
  private wanted = false;
  private fatal: string | null = null;
  private failure: string | null = null;
  private stderrTail: string[] = [];
  private respawnTimer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private journalChain: Promise<void> = Promise.resolve();
  private exited: Promise<void> = Promise.resolve();
  private lastAfter: string | undefined;
  /** The current run: wall-clock origin of its media time, progress, and how far its CSV list has been read. */
  private runInfo = { spawnedAt: 0, origin: Infinity, outUs: -1, progressAt: 0, listFile: '', listRead: 0, firstIndex: 0 };

  constructor(opts: CaptureOptions) {
    super();
    this.opts = opts;
    this.log = opts.logger.child({ ns: 'edge:recording', source: opts.sourceId });
    this.now = opts.now ?? Date.now;
    this.backoff = new Backoff({ initialMs: opts.backoff?.initialMs ?? 1000, maxMs: opts.backoff?.maxMs ?? 60_000 });
    this.stallTimeoutMs = opts.stallTimeoutMs ?? 15_000;
    this.secrets = [...(opts.credentials ? [opts.credentials.password] : []), ...(opts.extraSecrets ?? [])];
  }

  get state(): CaptureState {
    return this._state;
  }

  get reason(): string | null {
    return this._reason;
  }

  segments(): SegmentRecord[] {
    return [...this.records];
  }

  bytes(): number {
    return this.records.reduce((n, s) => n + s.bytes, 0);
  }

  mediaMs(): number {
    return Math.round(this.records.reduce((n, s) => n + (s.endedAt - s.startedAt), 0));
  }

  /** The pid of the running ffmpeg (for diagnostics and tests), or null. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Starts recording; an existing directory (a recorder restarted mid-lesson) is continued, never overwritten. */
  start(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.fatal = null;
    mkdirSync(this.opts.dir, { recursive: true });
    const journal = readJournal(this.opts.dir);
    this.records.splice(0, this.records.length, ...journal.segments);
    this.run = journal.lastRun;
    this.nextIndex = journal.lastIndex + 1;
    this.lastAfter = undefined;
    this.spawnRun();
  }

  /** Graceful stop: `q` on stdin so ffmpeg closes (and lists) the last segment; SIGINT, then SIGKILL, if it does not. */
  async stop(): Promise<void> {
    this.wanted = false;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    this.respawnTimer = null;
    const child = this.child;
    if (child) {
      this.setState('stopping', null);
      try {
        child.stdin?.end('q\n');
      } catch {
        /* stdin already closed: the signals below still apply */
      }
      const t1 = setTimeout(() => this.signal(child, 'SIGINT'), STOP_GRACE_MS);
      const t2 = setTimeout(() => this.signal(child, 'SIGKILL'), 2 * STOP_GRACE_MS);
      await this.exited;
      clearTimeout(t1);
      clearTimeout(t2);
    }
    await this.journalChain;
    this.setState('stopped', null);
  }

  private setState(state: CaptureState, reason: string | null): void {
    if (state === this._state && reason === this._reason) return;
    this._state = state;
    this._reason = reason;
    if (state === 'error' || state === 'degraded') this.log.warn({ state, reason }, 'recording source unhealthy');
    else this.log.info({ state }, 'recording source state');
    this.emit('state', state, reason);
  }

  private signal(child: ChildProcess, sig: NodeJS.Signals): void {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** Highest segment index on disk: a partial segment a crash left must not be overwritten by the next run. */
  private highestOnDisk(): number {
    let max = -1;
    for (const f of readdirSync(this.opts.dir)) {
      const i = segmentIndex(f);
      if (i !== null && i > max) max = i;
    }
    return max;
  }

  private spawnRun(): void {
    const o = this.opts;
    this.run++;
    this.nextIndex = Math.max(this.nextIndex, this.highestOnDisk() + 1);
    const listFile = join(o.dir, `run-${String(this.run).padStart(6, '0')}.csv`);
    const spawnedAt = this.now();
    this.runInfo = { spawnedAt, origin: Infinity, outUs: -1, progressAt: spawnedAt, listFile, listRead: 0, firstIndex: this.nextIndex };
    this.failure = null;
    this.stderrTail = [];
    this.appendJournal({ type: 'run', run: this.run, startedAt: spawnedAt, firstIndex: this.nextIndex, ...(this.lastAfter ? { after: this.lastAfter } : {}) });
    const args = [
      ...globalArgs(),
      ...(o.media ?? [...inputArgs(o.source, o.credentials), ...encodeArgs(o.source, { segmentSeconds: o.segmentSeconds, ...(o.gopSeconds ? { gopSeconds: o.gopSeconds } : {}) })]),
      ...segmentArgs({ dir: o.dir, segmentSeconds: o.segmentSeconds, startNumber: this.nextIndex, listFile }),
    ];
    this.log.info({ run: this.run, firstIndex: this.nextIndex, cmd: redact(args.join(' '), this.secrets) }, 'ffmpeg starting');
    if (this._state !== 'degraded' && this._state !== 'error') this.setState('starting', null);
    // Own process group: stop() and the stall watchdog signal ffmpeg and nothing else of ours.
    const child = spawn(o.ffmpegPath ?? 'ffmpeg', args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
    this.child = child;
    let resolveExit: () => void = () => undefined;
    this.exited = new Promise((r) => (resolveExit = r));
    child.stdin?.on('error', () => undefined);
    this.lineReader(child.stdout, (l) => this.onProgressLine(l));
    this.lineReader(child.stderr, (l) => this.onStderrLine(l));
    child.on('error', (e) => {
      this.failure ??= (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'ffmpeg is not installed (apt-get install ffmpeg)' : `cannot run ffmpeg: ${e.message}`;
    });
    child.on('close', (code, signal) => {
      void this.onExit(child, code, signal).finally(resolveExit);
    });
    this.pollTimer = setInterval(() => this.poll(child), 250);
  }

  private lineReader(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
    let buf = '';
    stream?.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split(/\r?\n|\r/);
      buf = lines.pop() ?? '';
      for (const l of lines) if (l) onLine(l);
    });
  }

  private onProgressLine(line: string): void {
    const eq = line.indexOf('=');
    if (eq < 0) return;
    const key = line.slice(0, eq);
    if (key !== 'out_time_us' && key !== 'out_time_ms') return;
    // ffmpeg 5.1 reports out_time_ms in µs too; both keys carry the same number.
    const us = Number(line.slice(eq + 1));
    if (!Number.isFinite(us) || us <= this.runInfo.outUs) return;
    const t = this.now();
    this.runInfo.outUs = us;
    this.runInfo.progressAt = t;
    // Reports come after the media they count: the smallest (now - media time) is the best estimate of the run's media origin.
    this.runInfo.origin = Math.min(this.runInfo.origin, t - us / 1000);
    if (us > 0 && this._state !== 'recording' && this._state !== 'stopping' && !this.fatal) {
      this.hasRecorded = true;
      this.backoff.reset();
      this.setState('recording', null);
    }
  }

  private onStderrLine(raw: string): void {
    const line = redact(raw, this.secrets);
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_KEEP) this.stderrTail.shift();
    this.log.debug({ ffmpeg: line }, 'ffmpeg');
    const src = this.opts.source;
    const m = /^\s*Stream #0:\d+.*?: Video: (\w+)/.exec(line);
    if (m && !this.opts.media && src.kind === 'rtsp' && !isEncoded(src) && !src.codecs.includes(m[1] as 'h264' | 'hevc') && !this.fatal) {
      this.fatal = `the camera sends ${m[1]}, not ${src.codecs.join('/')}: set the camera's stream to H.264${src.codecs.includes('hevc') ? ' or H.265' : ''}, or set reencode: true for this source`;
      this.log.error({ codec: m[1] }, 'camera codec cannot be stream-copied');
      if (this.child) this.signal(this.child, 'SIGKILL');
      return;
    }
    this.failure ??= classifyFailure(line, src, this.opts.credentials !== undefined);
  }

  private poll(child: ChildProcess): void {
    this.readList();
    if (this._state === 'stopping' || child !== this.child) return;
    const silent = this.now() - this.runInfo.progressAt;
    if (silent > this.stallTimeoutMs) {
      this.failure ??= `no media for ${Math.round(silent / 1000)} s: the source stalled`;
      this.log.warn({ silentMs: silent }, 'ffmpeg stalled, restarting it');
      this.signal(child, 'SIGKILL');
      this.runInfo.progressAt = this.now();
    }
  }

  /** Reads the run's CSV list past what was read: each complete line is a closed segment. */
  private readList(): void {
    const r = this.runInfo;
    let text: string;
    try {
      if (statSync(r.listFile).size <= r.listRead) return;
      text = readFileSync(r.listFile, 'utf8');
    } catch {
      return;
    }
    const fresh = text.slice(r.listRead);
    const end = fresh.lastIndexOf('\n');
    if (end < 0) return;
    r.listRead += Buffer.byteLength(fresh.slice(0, end + 1));
    for (const line of fresh.slice(0, end).split('\n')) {
      const [file, start, stop] = line.split(',');
      const index = file ? segmentIndex(file) : null;
      if (index === null || start === undefined || stop === undefined) continue;
      const origin = Number.isFinite(r.origin) ? r.origin : r.spawnedAt;
      this.journalSegment(file!, index, origin + Number(start) * 1000, origin + Number(stop) * 1000);
    }
  }

  private journalSegment(file: string, index: number, startedAt: number, endedAt: number): void {
    const run = this.run;
    this.journalChain = this.journalChain.then(async () => {
      try {
        const path = join(this.opts.dir, file);
        const rec: SegmentRecord = { index, file, run, startedAt: Math.round(startedAt), endedAt: Math.round(endedAt), bytes: statSync(path).size, sha256: await sha256File(path) };
        await this.writeJournalLine({ type: 'segment', ...rec });
        this.records.push(rec);
        this.nextIndex = Math.max(this.nextIndex, index + 1);
        this.emit('segment', rec);
      } catch (e) {
        this.log.error({ err: (e as Error).message, file }, 'cannot journal segment');
      }
    });
  }

  private appendJournal(line: JournalLine): void {
    this.journalChain = this.journalChain.then(() => this.writeJournalLine(line)).catch((e: Error) => this.log.error({ err: e.message }, 'cannot write journal'));
  }

  private writeJournalLine(line: JournalLine): Promise<void> {
    return appendJournalLine(this.opts.dir, line);
  }

  private async onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = null;
    this.readList();
    await this.journalChain;
    if (child !== this.child) return;
    this.child = null;
    // The segment being written at a kill is on disk without a list line; the next run starts after it.
    this.nextIndex = Math.max(this.nextIndex, this.highestOnDisk() + 1);
    if (!this.wanted) return;
    if (this.fatal) {
      this.wanted = false;
      this.setState('error', this.fatal);
      return;
    }
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    const last = this.stderrTail.filter((l) => !/^\s/.test(l)).slice(-1)[0] ?? '';
    const reason = this.failure ?? (code === 0 ? 'the source ended the stream' : `ffmpeg ended (${how})${last ? `: ${last}` : ''}`);
    this.lastAfter = reason;
    const delay = this.backoff.next();
    this.log.warn({ how, reason, retryInMs: delay }, 'ffmpeg ended unexpectedly');
    this.setState(this.hasRecorded ? 'degraded' : 'error', reason);
    this.respawnTimer = setTimeout(() => {
      this.respawnTimer = null;
      if (this.wanted) this.spawnRun();
    }, delay);
  }
}

