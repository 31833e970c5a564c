/**
 * Which live pushes run (专递课堂): a target with `when: lessons` goes live
 * while its source records a lesson; any target can be started and stopped
 * by a teacher or technician. Each push is its own ffmpeg reading the source
 * (live.ts), so a failing push never touches the recording. The targets can
 * be replaced while running (a configuration push from the district:
 * edge/config/apply.ts): only the pushes of removed or changed targets stop.
 */
import type { LiveTargetConfig, RecordingSourceConfig } from '../config/recording-schema.js';
import { diffLive } from '../config/diff.js';
import type { LivePushStatus } from '../schemas/bus.js';
import type { Logger } from '../util/logger.js';
import { inputArgs } from './ffmpeg.js';
import { LivePush } from './live.js';
import type { RecordingActionResult, SourceCredentials } from './types.js';

export class LiveControl {
  private readonly pushes = new Map<string, LivePush>();
  private targets: Map<string, LiveTargetConfig>;

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

  /**
   * The targets from now on (ids unique: the config push checks it). Pushes
   * of removed or changed targets stop; unchanged ones keep running (a live
   * lesson is not interrupted); added or changed `when: lessons` targets
   * start at once when their source is in `recordingNow`. A changed target a
   * teacher started by hand is stopped and stays off until started again.
   */
  async replace(targets: readonly LiveTargetConfig[], recordingNow: ReadonlySet<string>): Promise<void> {
    const before = this.targets;
    const diff = diffLive([...before.values()], targets);
    // Swapped first, so a source starting while the old pushes stop already uses the new targets.
    this.targets = new Map(targets.map((t) => [t.id, t]));
    await Promise.all([...diff.removed, ...diff.changed].map((id) => this.end(before.get(id)!)));
    for (const id of [...diff.added, ...diff.changed]) {
      const t = this.targets.get(id);
      if (t && t.when === 'lessons' && recordingNow.has(t.source)) this.begin(t);
    }
  }

  /** Ids of the targets pushing now (in any state but off). */
  running(): string[] {
    return [...this.pushes.keys()];
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
