/**
 * Which live pushes run (专递课堂): a target with `when: lessons` goes live
 * while its source records a lesson; any target can be started and stopped
 * by a teacher or technician. Each push is its own ffmpeg reading the source
 * (live.ts), so a failing push never touches the recording.
 */
import type { LiveTargetConfig, RecordingSourceConfig } from '../config/recording-schema.js';
import type { LivePushStatus } from '../schemas/bus.js';
import type { Logger } from '../util/logger.js';
import { inputArgs } from './ffmpeg.js';
import { LivePush } from './live.js';
import type { RecordingActionResult, SourceCredentials } from './types.js';

export class LiveControl {
  private readonly pushes = new Map<string, LivePush>();
  private readonly targets: Map<string, LiveTargetConfig>;

  constructor(
    private readonly opts: {
      targets: LiveTargetConfig[];
      sources: Map<string, RecordingSourceConfig>;
      credentials: (s: RecordingSourceConfig) => SourceCredentials | undefined;
      logger: Logger;
      ffmpegPath?: string;
      /** Tags the pushes' ffmpeg (orphans.ts). */
      env?: Record<string, string>;
      onStatus: (source: string, status: LivePushStatus) => void;
    },
  ) {
    this.targets = new Map(opts.targets.map((t) => [t.id, t]));
  }

  sourceStarted(source: string): void {
    for (const t of this.targets.values()) if (t.source === source && t.when === 'lessons') this.begin(t);
  }

  async sourceStopped(source: string): Promise<void> {
    await Promise.all([...this.targets.values()].filter((t) => t.source === source && t.when === 'lessons').map((t) => this.end(t)));
  }

  async act(target: string, action: 'start' | 'stop'): Promise<RecordingActionResult> {
    const t = this.targets.get(target);
    if (!t) {
      return { ok: false, sources: {}, error: { code: 'unknown-target', message: `no live target "${target}" (targets: ${[...this.targets.keys()].join(', ') || 'none'})` } };
    }
    if (action === 'start') this.begin(t);
    else await this.end(t);
    return { ok: true, sources: {} };
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.targets.values()].map((t) => this.end(t)));
  }

  private begin(t: LiveTargetConfig): void {
    if (this.pushes.has(t.id)) return;
    const source = this.opts.sources.get(t.source);
    if (!source) return;
    let creds: SourceCredentials | undefined;
    try {
      creds = this.opts.credentials(source);
    } catch (e) {
      this.opts.onStatus(t.source, { state: 'error', target: t.id, since: null, reason: e instanceof Error ? e.message : String(e) });
      return;
    }
    const push = new LivePush({
      target: t,
      input: inputArgs(source, creds),
      // A camera's H.264 goes out as it comes; made-up or captured pictures are encoded.
      copy: source.kind === 'rtsp' && !source.reencode,
      logger: this.opts.logger,
      ffmpegPath: this.opts.ffmpegPath,
      ...(this.opts.env ? { env: this.opts.env } : {}),
    });
    push.on('status', (s: LivePushStatus) => this.opts.onStatus(t.source, s));
    this.pushes.set(t.id, push);
    push.start();
    this.opts.onStatus(t.source, push.status);
  }

  private async end(t: LiveTargetConfig): Promise<void> {
    const push = this.pushes.get(t.id);
    if (!push) return;
    this.pushes.delete(t.id);
    await push.stop();
    this.opts.onStatus(t.source, { state: 'off', target: t.id, since: null, reason: null });
  }
}
