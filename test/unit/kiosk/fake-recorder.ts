/**
 * A small fake of the recorder's control surface (edge/recording/types.ts,
 * RecorderControl) for the API's and the kiosk's tests: only what the API
 * boundary sees. Like the real recorder it answers unknown sources and live
 * targets with a refusal, audits what it is asked with the `by` it gets, and
 * publishes its state as the bus's retained `recording` message (through
 * `publish`, bound once the service runs): starting, then recording after
 * `settleMs`; stopping, then idle. The real recorder's own tests are
 * elsewhere.
 */
import type { RecorderControl, RecorderHealth, RecordingAction, RecordingActionResult, RecordingActor } from '../../../edge/recording/types.js';
import type { RecordingMessage, RecordingSourceStatus } from '../../../edge/schemas/bus.js';

export interface FakeCall {
  op: 'start' | 'stop' | 'live';
  source?: string;
  target?: string;
  action?: RecordingAction;
  by: RecordingActor;
}

type Audit = (a: { actor: string; role: string; action: string; target: string; args: unknown; result: 'ok' | 'error' | 'refused'; error?: string; ts: number }) => Promise<unknown>;

export class FakeRecorder implements RecorderControl {
  readonly calls: FakeCall[] = [];
  private readonly msg: RecordingMessage;
  /** Bound when the service runs: the bus (retained) and the store's audit. */
  publish: (msg: RecordingMessage) => Promise<void> = async () => undefined;
  audit: Audit = async () => undefined;
  /** The next start/stop/live answers this refusal (once). */
  refuseNext: { code: string; message: string } | null = null;
  /** The next start/stop/live throws this (once). */
  throwNext: Error | null = null;
  /** While set, start/stop wait for it before answering (a slow recorder: the kiosk's button stays disabled). */
  gate: Promise<void> | null = null;
  /** The lesson a start records. */
  lessonId: string | null = null;

  constructor(
    private readonly opts: { sources: string[]; liveTargets?: Record<string, string>; now: () => number; settleMs?: number },
  ) {
    this.msg = { sources: Object.fromEntries(opts.sources.map((s) => [s, { state: 'idle', lessonId: null, since: null }])) };
  }

  sources(): string[] {
    return [...this.opts.sources];
  }

  status(): RecordingMessage {
    return structuredClone(this.msg);
  }

  health(): RecorderHealth {
    const states = Object.values(this.msg.sources).map((s) => s.state);
    return {
      status: states.includes('error') ? 'error' : states.includes('degraded') ? 'degraded' : 'ok',
      sources: Object.fromEntries(Object.entries(this.msg.sources).map(([id, s]) => [id, { state: s.state, reason: s.reason ?? null, lessonId: s.lessonId }])),
      disk: { directory: '/tmp/fake-recordings', usedBytes: 0, maxBytes: 100 * 2 ** 30, freeBytes: 50 * 2 ** 30, minFreeBytes: 2 * 2 ** 30 },
      upload: { configured: false, pendingFiles: 0, pendingBytes: 0, failedFiles: 0, inWindow: true },
    };
  }

  /** Sets one source's status (as the recorder's supervision would) and publishes it. */
  async set(source: string, patch: Partial<RecordingSourceStatus>): Promise<void> {
    const cur = this.msg.sources[source];
    if (!cur) throw new Error(`fake recorder: no source ${source}`);
    this.msg.sources[source] = { ...cur, ...patch };
    await this.publish(this.status());
  }

  /** Sets the uploads part of the message and publishes it. */
  async setUpload(upload: RecordingMessage['upload']): Promise<void> {
    this.msg.upload = upload;
    await this.publish(this.status());
  }

  async start(req: { source?: string; by: RecordingActor }): Promise<RecordingActionResult> {
    return this.act('start', req.source, req.by);
  }

  async stop(req: { source?: string; by: RecordingActor }): Promise<RecordingActionResult> {
    return this.act('stop', req.source, req.by);
  }

  async live(req: { target: string; action: RecordingAction; by: RecordingActor }): Promise<RecordingActionResult> {
    this.calls.push({ op: 'live', target: req.target, action: req.action, by: req.by });
    const early = await this.early(req.by, `recording.live.${req.action}`, req.target);
    if (early) return early;
    const source = this.opts.liveTargets?.[req.target];
    if (!source) return this.done(req.by, `recording.live.${req.action}`, req.target, { ok: false, sources: {}, error: { code: 'unknown-target', message: `no live target "${req.target}"` } });
    await this.set(source, { live: { state: req.action === 'start' ? 'live' : 'off', target: req.target, since: req.action === 'start' ? this.opts.now() : null, reason: null } });
    return this.done(req.by, `recording.live.${req.action}`, req.target, { ok: true, sources: { [source]: this.msg.sources[source]!.state } });
  }

  private async act(op: RecordingAction, source: string | undefined, by: RecordingActor): Promise<RecordingActionResult> {
    this.calls.push({ op, ...(source !== undefined ? { source } : {}), by });
    const action = `recording.${op}`;
    const target = source ?? '*';
    const early = await this.early(by, action, target);
    if (early) return early;
    if (source !== undefined && !(source in this.msg.sources)) {
      return this.done(by, action, target, { ok: false, sources: {}, error: { code: 'unknown-source', message: `no recording source "${source}" (sources: ${this.opts.sources.join(', ')})` } });
    }
    const ids = source !== undefined ? [source] : this.opts.sources;
    const settle = this.opts.settleMs ?? 200;
    const result: RecordingActionResult = { ok: true, sources: {} };
    for (const id of ids) {
      const s = this.msg.sources[id]!;
      if (op === 'start' && (s.state === 'idle' || s.state === 'error')) {
        this.msg.sources[id] = { state: 'starting', lessonId: this.lessonId, since: null, reason: null };
        setTimeout(() => void this.set(id, { state: 'recording', since: this.opts.now() }), settle);
      } else if (op === 'stop' && (s.state === 'starting' || s.state === 'recording' || s.state === 'degraded')) {
        this.msg.sources[id] = { ...s, state: 'stopping' };
        setTimeout(() => void this.set(id, { state: 'idle', lessonId: null, since: null, reason: null, live: undefined }), settle);
      }
      result.sources[id] = this.msg.sources[id]!.state;
    }
    await this.publish(this.status());
    if (this.gate) await this.gate;
    return this.done(by, action, target, result);
  }

  /** A scripted refusal or failure, once. */
  private async early(by: RecordingActor, action: string, target: string): Promise<RecordingActionResult | null> {
    if (this.throwNext) {
      const e = this.throwNext;
      this.throwNext = null;
      throw e;
    }
    if (!this.refuseNext) return null;
    const error = this.refuseNext;
    this.refuseNext = null;
    return this.done(by, action, target, { ok: false, sources: {}, error });
  }

  private async done(by: RecordingActor, action: string, target: string, r: RecordingActionResult): Promise<RecordingActionResult> {
    await this.audit({ actor: by.username, role: by.role, action, target, args: { sources: r.sources }, result: r.ok ? 'ok' : 'refused', ...(r.error ? { error: r.error.message } : {}), ts: this.opts.now() });
    return r;
  }
}
