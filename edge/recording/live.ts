/**
 * A live push of one source to the district's media server (专递课堂, 名师课堂):
 * one supervised ffmpeg per push, in its own process group, reading the source
 * on its own (an RTSP camera serves several clients; a test picture is made
 * again), so a failing push never touches the recording.
 *
 * - RTMP(S): FLV (H.264 + AAC). SRT: MPEG-TS. The encoded mode is x264
 *   veryfast/zerolatency with a keyframe every 2 s, so a viewer joining waits
 *   at most that long; the copy mode passes the camera's H.264 through.
 * - `-progress pipe:1` tells `live` (media is being written to the server)
 *   from `connecting`; progress that stops advancing for `stallTimeoutMs` is a
 *   stall (a blackholed link can block ffmpeg's writes forever): killed and
 *   retried.
 * - A failure goes `retrying` with a redacted reason and respawns after a
 *   jittered exponential backoff. What retrying soon cannot fix (the server
 *   refuses the application or stream name, the ffmpeg here lacks the
 *   protocol, the codec cannot go into the container) goes `error`, and is
 *   still retried at the maximum backoff, since a fix on the server heals it.
 * - The URL holds the stream key: it never reaches logs, states or errors.
 *   Everything ffmpeg prints goes through `redactSecrets` first.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { LiveTargetConfig } from '../config/recording-schema.js';
import type { LivePushStatus } from '../schemas/bus.js';
import type { Logger } from '../util/logger.js';

export interface LivePushOptions {
  target: LiveTargetConfig;
  /** ffmpeg input args for the source (from the caller); a file-like source must be paced with -re. May hold credentials: never logged. */
  input: string[];
  /** Stream-copy the video (a camera's H.264) or encode it (x264). Audio is always AAC. */
  copy: boolean;
  logger: Logger;
  ffmpegPath?: string;
  /** Between respawns: doubling from initialMs up to maxMs, jittered (default 2 s..60 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** No advancing progress for this long: the push is stalled and restarted (default 20 s). */
  stallTimeoutMs?: number;
  now?: () => number;
  /** Video bitrate when encoding (default 2500 kbit/s). */
  videoKbps?: number;
  /** Added to ffmpeg's environment: the service tags its children to find them after a crash (orphans.ts). */
  env?: Record<string, string>;
}

/** A push that stayed live this long was healthy: its next failure starts the backoff again. */
const STABLE_MS = 30_000;
/** How long stop() lets ffmpeg end the stream cleanly before killing it. */
const STOP_GRACE_MS = 3_000;
const MAX_REASON = 500;

/**
 * `scheme://host[:port]/app/***` at most: credentials, the stream key (any path after the first
 * segment) and the query (SRT's streamid and passphrase) are hidden.
 */
export function redactUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(.*)$/i.exec(url);
  if (!m) return '***';
  const [, scheme, authority, path, query] = m;
  const host = authority!.includes('@') ? `***@${authority!.slice(authority!.lastIndexOf('@') + 1)}` : authority!;
  const segments = path!.split('/').filter(Boolean);
  const app = segments[0] !== undefined ? `/${segments[0]}` : '';
  const hidden = segments.length > 1 || query!.length > 0;
  return `${scheme}://${host}${app}${hidden ? (app ? '/***' : '?***') : ''}`;
}

/** Any URL in `text` redacted, and the target's secret parts wherever they appear on their own. */
export function redactSecrets(text: string, targetUrl: string): string {
  let out = text.split(targetUrl).join(redactUrl(targetUrl));
  for (const secret of secretParts(targetUrl)) out = out.split(secret).join('***');
  return out.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]*[^\s'":,.;)]/gi, (u) => redactUrl(u));
}

/** The stream key (path after the application) and the query, as they may appear outside the URL. */
function secretParts(url: string): string[] {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*\/?[^/?#]*\/?([^?#]*)\??(.*)$/i.exec(url);
  const parts = [m?.[1] ?? '', m?.[2] ?? ''];
  // Query values one by one too (ffmpeg may print streamid=… on its own); short strings are not secrets worth garbling text for.
  for (const kv of (m?.[2] ?? '').split('&')) parts.push(kv.slice(kv.indexOf('=') + 1));
  return parts.filter((p) => p.length >= 4).sort((a, b) => b.length - a.length);
}

function schemeOf(url: string): string {
  return url.slice(0, url.indexOf(':')).toLowerCase();
}

/** The output half of the command line: codecs, container, target. */
export function liveOutputArgs(target: Pick<LiveTargetConfig, 'url'>, copy: boolean, videoKbps = 2500): string[] {
  const video = copy
    ? ['-c:v', 'copy']
    : [
        '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
        '-b:v', `${videoKbps}k`, '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps * 2}k`,
        '-force_key_frames', 'expr:gte(t,n_forced*2)',
      ];
  // Cameras often send G.711 or nothing: AAC is what every RTMP/SRT player takes, and costs little.
  const audio = ['-c:a', 'aac', '-b:a', '128k', '-ar', '44100'];
  const container = schemeOf(target.url) === 'srt' ? ['-f', 'mpegts'] : ['-f', 'flv', '-flvflags', 'no_duration_filesize'];
  return ['-dn', '-sn', ...video, ...audio, ...container, target.url];
}

/** The whole ffmpeg command line (the input args first). */
export function livePushArgs(input: string[], target: Pick<LiveTargetConfig, 'url'>, copy: boolean, videoKbps?: number): string[] {
  return ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning', '-progress', 'pipe:1', ...input, ...liveOutputArgs(target, copy, videoKbps)];
}

interface Failure {
  reason: string;
  /** Retrying soon cannot fix it: state error, retried at the maximum backoff. */
  permanent: boolean;
}

/** Why a push ended, from ffmpeg's (already redacted) last lines. */
export function classifyExit(p: { lines: string[]; scheme: string; wasLive: boolean; stalledMs: number | null; exit: string; target: string }): Failure {
  const text = p.lines.join('\n');
  const last = p.lines.filter((l) => l.trim()).at(-1)?.trim() ?? 'no output';
  if (p.stalledMs !== null) return { reason: `${p.target}: no media sent for ${Math.round(p.stalledMs / 1000)} s (the media server or the source stopped answering)`, permanent: false };
  const conn = /Connection to (\S+) failed: (.+)$/m.exec(text);
  // ffmpeg names the transport URL (tcp://host:port?options, srt://…): host and port say enough.
  if (conn) return { reason: `cannot connect to ${/^[a-z]+:\/\/(?:[^@/?]*@)?([^/?]+)/i.exec(conn[1]!)?.[1] ?? conn[1]}: ${conn[2]}`, permanent: false };
  if (/Protocol not found|Protocol not on whitelist/i.test(text)) return { reason: `this ffmpeg cannot write ${p.scheme}:// (${last})`, permanent: true };
  if (/not currently supported in container|Could not write header|incompatible with output codec/i.test(text)) {
    return { reason: `${p.target}: the source's codecs cannot be sent as ${p.scheme === 'srt' ? 'MPEG-TS' : 'FLV (H.264 + AAC only)'}: ${last}`, permanent: true };
  }
  const serverError = /Server error: (.+)$/m.exec(text);
  if (serverError) return { reason: `${p.target}: the media server refused the stream: ${serverError[1]}`, permanent: true };
  // nginx-rtmp refuses a publish (unknown application, on_publish answering 4xx) by closing the session: ffmpeg only sees EIO.
  if (!p.wasLive && p.scheme.startsWith('rtmp') && /Input\/output error/.test(text)) {
    return {
      reason: `${p.target}: the media server closed the session when asked to publish: it refuses this application or stream name/key (e.g. its on_publish check answered 403)`,
      permanent: true,
    };
  }
  if (p.wasLive && /Broken pipe|Connection reset|End of file|Input\/output error/i.test(text)) return { reason: `${p.target}: the media server dropped the stream (${last})`, permanent: false };
  return { reason: `${p.target}: ffmpeg ended (${p.exit}): ${last}`, permanent: false };
}

export class LivePush extends EventEmitter {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly ffmpeg: string;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly stallMs: number;
  private readonly shown: string;
  private current: LivePushStatus;
  /** Bumped by start() and stop(): callbacks of an older run do nothing. */
  private run = 0;
  private active = false;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | null = null;
  private failuresInARow = 0;
  private protocolChecked = false;
  readonly counts = { spawns: 0, failures: 0 };

  constructor(private readonly opts: LivePushOptions) {
    super();
    this.now = opts.now ?? Date.now;
    this.ffmpeg = opts.ffmpegPath ?? 'ffmpeg';
    this.initialMs = opts.backoff?.initialMs ?? 2_000;
    this.maxMs = Math.max(this.initialMs, opts.backoff?.maxMs ?? 60_000);
    this.stallMs = opts.stallTimeoutMs ?? 20_000;
    this.shown = redactUrl(opts.target.url);
    this.log = opts.logger.child({ ns: 'edge:live', target: opts.target.id, url: this.shown });
    this.current = { state: 'off', target: opts.target.id, since: null, reason: null };
  }

  get status(): LivePushStatus {
    return { ...this.current };
  }

  /** Starts pushing (no-op when already started); failures are retried until stop(). */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.run++;
    this.failuresInARow = 0;
    this.setState('connecting', null);
    void this.attempt(this.run);
  }

  /** Ends the stream (ffmpeg finishes cleanly, killed after a grace time) and goes `off`. */
  async stop(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.run++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const child = this.child;
    if (child) {
      const kill = setTimeout(() => signalGroup(child, 'SIGKILL'), STOP_GRACE_MS);
      signalGroup(child, 'SIGTERM');
      await this.exited;
      clearTimeout(kill);
    }
    this.child = null;
    this.setState('off', null);
    this.log.info('live push stopped');
  }

  private async attempt(run: number): Promise<void> {
    if (!(await this.checkProtocol(run))) return;
    if (run !== this.run) return;
    const args = livePushArgs(this.opts.input, this.opts.target, this.opts.copy, this.opts.videoKbps);
    const redacted = args.map((a) => redactSecrets(a, this.opts.target.url));
    this.log.debug({ cmd: [this.ffmpeg, ...redacted].join(' ') }, 'starting live push ffmpeg');
    this.counts.spawns++;
    const child = spawn(this.ffmpeg, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...(this.opts.env ? { env: { ...process.env, ...this.opts.env } } : {}) });
    this.child = child;
    const lines: string[] = [];
    let stderrTail = '';
    let wasLive = false;
    let liveSince = 0;
    let stalledMs: number | null = null;
    let lastTotal = -1;
    let lastAdvance = performance.now();
    const stall = setInterval(() => {
      const idle = performance.now() - lastAdvance;
      if (idle < this.stallMs) return;
      stalledMs = idle;
      signalGroup(child, 'SIGKILL');
    }, Math.min(1_000, this.stallMs / 4));
    let spawnError: Error | null = null;
    this.exited = new Promise<void>((resolve) => {
      child.once('close', (code, signal) => {
        clearInterval(stall);
        if (stderrTail.trim()) lines.push(redactSecrets(stderrTail, this.opts.target.url));
        resolve();
        if (run !== this.run) return;
        this.child = null;
        const exit = spawnError ? `could not start ${this.ffmpeg}: ${spawnError.message}` : signal ? `signal ${signal}` : `code ${code}`;
        const failure: Failure = spawnError
          ? { reason: exit, permanent: true }
          : classifyExit({ lines, scheme: schemeOf(this.opts.target.url), wasLive, stalledMs, exit, target: this.shown });
        this.failed(run, failure, wasLive ? this.now() - liveSince : 0);
      });
    });
    child.once('error', (err) => {
      spawnError = err;
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      const parts = (stderrTail + d).split('\n');
      stderrTail = parts.pop() ?? '';
      for (const l of parts) if (l.trim()) lines.push(redactSecrets(l, this.opts.target.url));
      if (lines.length > 20) lines.splice(0, lines.length - 20);
    });
    let block = new Map<string, string>();
    let stdoutTail = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      const parts = (stdoutTail + d).split('\n');
      stdoutTail = parts.pop() ?? '';
      for (const l of parts) {
        const eq = l.indexOf('=');
        if (eq < 0) continue;
        const key = l.slice(0, eq).trim();
        block.set(key, l.slice(eq + 1).trim());
        if (key !== 'progress') continue;
        // Bytes handed to the server growing with media time: the server took the publish and media flows.
        const total = Number(block.get('total_size'));
        const outUs = Number(block.get('out_time_us'));
        block = new Map();
        if (!Number.isFinite(total) || total <= lastTotal) continue;
        lastTotal = total;
        lastAdvance = performance.now();
        if (!wasLive && run === this.run && Number.isFinite(outUs) && outUs > 0) {
          wasLive = true;
          liveSince = this.now();
          this.wentLive();
        }
      }
    });
  }

  private wentLive(): void {
    const was = this.current.state;
    this.setState('live', null);
    if (was === 'connecting') this.log.info('live push is live');
    else this.log.info({ after: this.failuresInARow }, 'live push is live again');
  }

  private failed(run: number, failure: Failure, liveMs: number): void {
    if (!this.active || run !== this.run) return;
    this.counts.failures++;
    if (liveMs >= STABLE_MS) this.failuresInARow = 0;
    this.failuresInARow++;
    const n = this.failuresInARow;
    const base = failure.permanent ? this.maxMs : Math.min(this.maxMs, this.initialMs * 2 ** (n - 1));
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    const reason = failure.reason.slice(0, MAX_REASON);
    const changed = this.current.reason !== reason || this.current.state !== (failure.permanent ? 'error' : 'retrying');
    this.setState(failure.permanent ? 'error' : 'retrying', reason);
    // Logged once when the push goes down or its reason changes; the same failure again only at debug.
    const level = !changed ? 'debug' : failure.permanent ? 'error' : 'warn';
    this.log[level]({ reason, retryInMs: delay, failuresInARow: n }, failure.permanent ? 'live push cannot work as configured, retrying slowly' : 'live push failed, retrying');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.attempt(run);
    }, delay);
  }

  /** Does this ffmpeg have an output protocol for the target's scheme (srt needs libsrt, rtmps TLS)? Checked until it does. */
  private async checkProtocol(run: number): Promise<boolean> {
    if (this.protocolChecked) return true;
    const scheme = schemeOf(this.opts.target.url);
    const found = await new Promise<{ ok: boolean; why: string }>((resolve) => {
      execFile(this.ffmpeg, ['-hide_banner', '-protocols'], { timeout: 10_000 }, (err, stdout) => {
        if (err && !stdout) return resolve({ ok: false, why: `could not run ${this.ffmpeg} -protocols: ${err.message}` });
        const output = stdout.split(/^Output:\s*$/m)[1] ?? '';
        const ok = output.split('\n').some((l) => l.trim() === scheme);
        resolve({ ok, why: ok ? '' : `this ffmpeg (${this.ffmpeg}) has no ${scheme} output protocol${scheme === 'srt' ? ' (built without libsrt)' : ''}: use an rtmp:// target or an ffmpeg with ${scheme}` });
      });
    });
    if (found.ok) {
      this.protocolChecked = true;
      return true;
    }
    this.failed(run, { reason: found.why, permanent: true }, 0);
    return false;
  }

  private setState(state: LivePushStatus['state'], reason: string | null): void {
    if (this.current.state === state && this.current.reason === reason) return;
    this.current = { state, target: this.opts.target.id, since: state === this.current.state ? this.current.since : this.now(), reason };
    this.emit('status', this.status);
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* already gone */
  }
}
