/**
 * The recording service (docs/recording.md): records lessons by the lesson
 * clock (the room's rule: all lessons, some courses, none), or when a teacher
 * or technician asks; one Capture (supervised ffmpeg) per source; when a
 * recording stops, its segments are joined into one MP4 and sidecar per
 * source (finish.ts) and queued for upload. A recording a crash interrupted
 * is resumed (its lesson still runs) or finished at the next start-up.
 * State goes out as the retained `recording` message.
 */
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { LiveTargetConfig, RecordingConfig, RecordingSourceConfig } from '../config/recording-schema.js';
import type { LessonClockApi, LessonOccurrence } from '../lessons/types.js';
import type { RosterIndexExtra } from '../lessons/roster.js';
import type { AlertMessage, RecordingMessage } from '../schemas/bus.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { Capture } from './capture.js';
import { childEnv, reapOrphans } from './orphans.js';
import { readSourceCredentials } from './credentials.js';
import { composedMedia, describeSource, lessonInfo, sourceTable, unscheduledLesson } from './sources.js';
import { Finisher } from './finisher.js';
import { LiveControl } from './live-control.js';
import { RecordingsRepo, type RecordingRow, type RecordingsStore } from './repo.js';
import { healthOf, recordingMessage, recordingMetrics, updateSourceGauge, updateUploadGauge, type RecordingMetrics, type SourceView } from './status.js';
import { RecordingStorage } from './storage.js';
import type { RecorderControl, RecorderHealth, RecordingActionResult, RecordingActor, RecordingLessonInfo, SourceCredentials } from './types.js';
import { UploadLink, type UploaderLike } from './upload-link.js';

export interface RecordingServiceDeps {
  config: RecordingConfig;
  roomId: string;
  dataDir: string;
  timeZone: string;
  store: RecordingsStore & { recordAudit(a: { actor: string; role: string; action: string; target: string; args: unknown; result: 'ok' | 'error' | 'refused'; error?: string; ts: number }): Promise<unknown> };
  clock: Clock;
  logger: Logger;
  lessons: Pick<LessonClockApi, 'on' | 'off' | 'current'>;
  roster: () => RosterIndexExtra;
  publish: (payload: RecordingMessage) => Promise<void>;
  raiseAlert: (alert: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
  /** Recalls a PTZ preset on a camera device (the device supervisor). */
  ptz?: (device: string, preset: number) => Promise<void>;
  uploader?: UploaderLike | null;
  registry?: Registry;
  ffmpegPath?: string;
  /** How often the state is published while recording (elapsed time, bytes); default 5 s. */
  publishEveryMs?: number;
}

interface Active {
  row: RecordingRow;
  capture: Capture;
}

const AUTOMATION: RecordingActor = { username: 'lesson-clock', role: 'automation' };
/** Room a lesson needs before its recording may start: about 45 minutes of a 1080p camera at 4 Mbit/s (at most a quarter of the quota). */
const RESERVE_BYTES = 1.5 * 2 ** 30;

export class RecordingService implements RecorderControl {
  private readonly log: Logger;
  private readonly repo: RecordingsRepo;
  private readonly storage: RecordingStorage;
  private readonly views = new Map<string, SourceView>();
  private readonly active = new Map<string, Active>();
  private readonly byId: Map<string, RecordingSourceConfig>;
  private readonly metrics: RecordingMetrics | null;
  private readonly pushes: LiveControl;
  private readonly upload: UploadLink;
  private readonly finisher: Finisher;
  private timer: NodeJS.Timeout | null = null;
  private housekeeping: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly directory: string;
  private readonly onStart = (l: LessonOccurrence) => void this.lessonStarted(l);
  private readonly onEnd = (l: LessonOccurrence) => void this.lessonEnded(l);

  constructor(private readonly deps: RecordingServiceDeps) {
    this.log = deps.logger.child({ ns: 'edge:recording' });
    this.directory = deps.config.directory ?? join(deps.dataDir, 'recordings');
    this.repo = new RecordingsRepo(deps.store);
    this.storage = new RecordingStorage({ directory: this.directory, limits: deps.config.storage, repo: this.repo, logger: this.log, now: () => deps.clock.now() });
    this.byId = sourceTable(deps.config);
    for (const id of this.byId.keys()) this.views.set(id, { state: 'idle', lessonId: null, since: null, reason: null, elapsedMs: 0, bytes: 0 });
    this.metrics = recordingMetrics(deps.registry);

    this.pushes = new LiveControl({
      targets: deps.config.live,
      sources: new Map(deps.config.sources.map((s) => [s.id, s])),
      env: childEnv(deps.dataDir),
      credentials: (s) => this.credentials(s),
      logger: this.log,
      ffmpegPath: deps.ffmpegPath,
      onStatus: (source, status) => {
        const v = this.views.get(source);
        // A push that retrying soon cannot fix (refused stream key, no SRT in ffmpeg) needs a technician: once per episode.
        if (status.state === 'error' && v?.live?.state !== 'error') {
          void deps.raiseAlert({ severity: 'warning', code: 'live-push-error', message: `live push ${status.target}: ${status.reason ?? 'failed'}`, data: { source, target: status.target } });
        }
        if (v) v.live = status;
        this.publishSoon();
      },
    });
    this.finisher = new Finisher({
      repo: this.repo,
      logger: this.log,
      metrics: this.metrics,
      raiseAlert: deps.raiseAlert,
      ffmpegPath: deps.ffmpegPath,
      describe: (id) => describeSource(deps.config, this.byId, id),
      queued: (row) => this.upload.enqueue(row.row, row.done),
      settled: (row) => {
        if (!this.active.has(row.source)) this.setView(row.source, { state: 'idle', lessonId: null, since: null, reason: null, bytes: 0, elapsedMs: 0 });
        this.publishNow();
      },
    });
    this.upload = new UploadLink({ uploader: deps.uploader ?? null, repo: this.repo, logger: this.log, now: () => deps.clock.now(), timeZone: deps.timeZone, onChange: () => this.publishSoon() });
  }

  sources(): string[] {
    return [...this.byId.keys()];
  }

  status(): RecordingMessage {
    return recordingMessage(this.views, this.upload.status());
  }

  health(): RecorderHealth {
    const d = this.storage.state;
    const l = this.storage.limits;
    const u = this.upload.status();
    return healthOf(
      this.views,
      { directory: this.directory, usedBytes: d.usedBytes, maxBytes: l.maxBytes, freeBytes: d.freeBytes, minFreeBytes: l.minFreeBytes },
      { configured: this.upload.configured, pendingFiles: u?.pendingFiles ?? 0, pendingBytes: u?.pendingBytes ?? 0, failedFiles: u?.failedFiles ?? 0, inWindow: this.upload.inWindow() },
    );
  }

  /** At service start: reaps orphaned ffmpegs, finishes or resumes what a previous run left, then follows the lesson clock. */
  async open(): Promise<void> {
    reapOrphans(this.deps.dataDir, this.log);
    await this.storage.measure().catch((e: unknown) => this.log.warn({ err: e }, 'could not measure the recordings directory'));
    const current = this.deps.lessons.current();
    for (const row of this.repo.unfinished()) {
      const source = this.byId.get(row.source);
      if (row.state === 'recording' && source && current?.lessonId === row.lessonId && !this.active.has(row.source)) {
        this.log.warn({ lessonId: row.lessonId, source: row.source }, 'resuming a recording interrupted by a restart');
        this.run(row, source);
        if (this.active.has(row.source)) this.pushes.sourceStarted(row.source);
      } else {
        this.log.warn({ lessonId: row.lessonId, source: row.source, state: row.state }, 'finishing a recording interrupted by a restart');
        this.finisher.queue(row);
      }
    }
    this.deps.lessons.on('start', this.onStart);
    this.deps.lessons.on('end', this.onEnd);
    if (current && this.ruleRecords(current)) await this.lessonStarted(current);
    this.upload.start();
    this.timer = setInterval(() => this.publishNow(), this.deps.publishEveryMs ?? 5000);
    this.timer.unref();
    this.housekeeping = setInterval(() => void this.housekeep(), 60_000);
    this.housekeeping.unref();
    this.publishNow();
  }

  async close(): Promise<void> {
    // Service shutdown: close every segment cleanly; the recording stays `recording` in the store,
    // so the next start resumes it (same lesson) or finishes it.
    this.stopped = true;
    this.deps.lessons.off('start', this.onStart);
    this.deps.lessons.off('end', this.onEnd);
    if (this.timer) clearInterval(this.timer);
    if (this.housekeeping) clearInterval(this.housekeeping);
    await Promise.all([...this.active.values()].map((a) => a.capture.stop()));
    this.active.clear();
    await this.pushes.stopAll();
    await this.finisher.idle();
    await this.upload.stop();
  }

  async live(req: { target: string; action: 'start' | 'stop'; by: RecordingActor }): Promise<RecordingActionResult> {
    const r = await this.pushes.act(req.target, req.action);
    await this.audit(req.by, `recording.live.${req.action}`, req.target, r, null);
    return r;
  }

  /**
   * New live targets from a configuration push (edge/config/apply.ts, validated there): unchanged
   * pushes keep running; `when: lessons` targets added for a source recording now start at once.
   * The push itself is audited as `config.push`.
   */
  async replaceLive(targets: LiveTargetConfig[]): Promise<void> {
    await this.pushes.replace(targets, new Set(this.active.keys()));
    this.publishSoon();
  }

  private ruleRecords(l: LessonOccurrence): boolean {
    const rule = this.deps.config.rule;
    return rule.mode === 'all' || (rule.mode === 'courses' && rule.courses.includes(l.course));
  }

  private async lessonStarted(l: LessonOccurrence): Promise<void> {
    if (this.stopped || !this.ruleRecords(l)) return;
    await this.begin(this.lessonInfo(l), [...this.byId.keys()], AUTOMATION);
  }

  private async lessonEnded(l: LessonOccurrence): Promise<void> {
    const ending = [...this.active.values()].filter((a) => a.row.lessonId === l.lessonId);
    if (!ending.length) return;
    // The sidecar names the lesson as it ended (ended early, extended), not as it was planned at its start.
    const info = this.lessonInfo(l);
    for (const a of ending) {
      a.row = { ...a.row, lesson: info };
      await this.repo.updateLesson(a.row.id, info);
    }
    await this.end(
      ending.map((a) => a.row.source),
      AUTOMATION,
    );
  }

  private lessonInfo(l: LessonOccurrence): RecordingLessonInfo {
    return lessonInfo(this.deps.roomId, this.deps.roster(), l);
  }

  private unknown(source: string): RecordingActionResult {
    return { ok: false, sources: {}, error: { code: 'unknown-source', message: `no recording source "${source}" (sources: ${this.sources().join(', ')})` } };
  }

  /** Starts recording `source` (all when absent) for the current lesson, or an unscheduled recording when none. */
  async start(req: { source?: string; by: RecordingActor }): Promise<RecordingActionResult> {
    if (req.source !== undefined && !this.byId.has(req.source)) {
      const r = this.unknown(req.source);
      await this.audit(req.by, 'recording.start', req.source, r, null);
      return r;
    }
    const current = this.deps.lessons.current();
    const info = current ? this.lessonInfo(current) : unscheduledLesson(this.deps.roomId, this.deps.clock.now(), this.deps.timeZone);
    return this.begin(info, req.source ? [req.source] : [...this.byId.keys()], req.by);
  }

  /** Stops and finishes `source` (all when absent). */
  async stop(req: { source?: string; by: RecordingActor }): Promise<RecordingActionResult> {
    if (req.source !== undefined && !this.byId.has(req.source)) {
      const r = this.unknown(req.source);
      await this.audit(req.by, 'recording.stop', req.source, r, null);
      return r;
    }
    const sources = (req.source ? [req.source] : [...this.active.keys()]).filter((s) => this.active.has(s));
    if (sources.length === 0) {
      const r: RecordingActionResult = { ok: true, sources: Object.fromEntries((req.source ? [req.source] : this.sources()).map((s) => [s, this.views.get(s)!.state])) };
      await this.audit(req.by, 'recording.stop', req.source ?? '*', r, null);
      return r;
    }
    return this.end(sources, req.by);
  }

  private async begin(lesson: RecordingLessonInfo, sources: string[], by: RecordingActor): Promise<RecordingActionResult> {
    const result: RecordingActionResult = { ok: true, sources: {} };
    // Another lesson's recording still running (an unscheduled one, or the bell came early): that one ends first.
    const others = [...this.active.values()].filter((a) => a.row.lessonId !== lesson.lessonId).map((a) => a.row.source);
    if (others.length) await this.end(others, by);
    const todo = sources.filter((s) => !this.active.has(s));
    for (const s of sources) if (this.active.has(s)) result.sources[s] = this.views.get(s)!.state;
    if (todo.length) {
      const room = await this.storage.ensureRoom(Math.min(RESERVE_BYTES, this.storage.limits.maxBytes / 4)).catch((e: unknown) => ({ ok: false as const, reason: `cannot check the disk: ${String(e)}` }));
      if (!room.ok) {
        for (const s of todo) this.setView(s, { state: 'error', lessonId: lesson.lessonId, since: null, reason: `not recording: ${room.reason}` });
        await this.deps.raiseAlert({ severity: 'critical', code: 'recording-disk-full', message: `lesson ${lesson.lessonId} is not recorded: ${room.reason}`, data: { lessonId: lesson.lessonId } });
        const r: RecordingActionResult = { ok: false, sources: Object.fromEntries(todo.map((s) => [s, 'error' as const])), error: { code: 'disk-full', message: room.reason } };
        await this.audit(by, 'recording.start', todo.join(','), r, lesson.lessonId);
        this.publishNow();
        return r;
      }
    }
    for (const s of todo) {
      const source = this.byId.get(s)!;
      const row = await this.repo.create({
        lessonId: lesson.lessonId,
        source: s,
        dir: (part) => join(this.directory, 'segments', ...lesson.lessonId.split('/'), `${s}-${part}`),
        // A second part (stopped and started again in one lesson) gets its own folder: file names stay {source}.mp4.
        outDir: (part) => join(this.directory, 'lessons', ...lesson.lessonId.split('/'), ...(part > 0 ? [`part-${part}`] : [])),
        lesson,
        startedBy: by.username,
        startedAt: this.deps.clock.now(),
      });
      this.run(row, source);
      const v = this.views.get(s)!;
      result.sources[s] = v.state;
      if (v.state === 'error') {
        result.ok = false;
        result.error = { code: 'source-error', message: v.reason ?? `source ${s} cannot record` };
        continue;
      }
      if (source.ptz && this.deps.ptz) {
        const { device, preset } = source.ptz;
        void this.deps.ptz(device, preset).catch((e: unknown) => this.log.warn({ err: e, source: s, device, preset }, 'could not recall the camera preset'));
      }
      this.pushes.sourceStarted(s);
    }
    await this.audit(by, 'recording.start', sources.join(','), result, lesson.lessonId);
    this.publishNow();
    return result;
  }

  private run(row: RecordingRow, source: RecordingSourceConfig): void {
    let credentials: SourceCredentials | undefined;
    let composed: { media: string[]; secrets: string[] } | null;
    try {
      credentials = this.credentials(source);
      composed = composedMedia(this.deps.config, this.byId, source.id, (s) => this.credentials(s));
    } catch (e) {
      // Nothing can be recorded without them: the row fails now rather than at the next start-up.
      const reason = `camera credentials unreadable: ${e instanceof Error ? e.message : String(e)}`;
      this.setView(source.id, { state: 'error', lessonId: row.lessonId, since: null, reason });
      void this.repo.markFailed(row.id, reason);
      void this.deps.raiseAlert({ severity: 'warning', code: 'recording-source-error', message: `recording source ${source.id}: ${reason}`, data: { source: source.id, lessonId: row.lessonId } });
      return;
    }
    const capture = new Capture({
      sourceId: source.id,
      source,
      credentials,
      dir: row.dir,
      segmentSeconds: this.deps.config.segmentSeconds,
      logger: this.log,
      ffmpegPath: this.deps.ffmpegPath,
      env: childEnv(this.deps.dataDir),
      ...(composed ? { media: composed.media, extraSecrets: composed.secrets } : {}),
    });
    this.active.set(source.id, { row, capture });
    this.setView(source.id, { state: 'starting', lessonId: row.lessonId, since: row.startedAt, reason: null });
    let alerted = false;
    capture.on('state', (state: string, reason: string | null) => {
      if (this.active.get(source.id)?.capture !== capture) return;
      if (state === 'stopped') return;
      if (state === 'degraded' || state === 'error') this.metrics?.failures.inc();
      this.setView(source.id, { state: state as SourceView['state'], reason });
      if ((state === 'error' || state === 'degraded') && !alerted) {
        alerted = true;
        void this.deps.raiseAlert({
          severity: 'warning',
          code: 'recording-source-error',
          message: `recording source ${source.id}: ${reason ?? state}`,
          data: { source: source.id, lessonId: row.lessonId },
        });
      }
      if (state === 'recording') alerted = false;
      this.publishNow();
    });
    capture.on('segment', (seg: { bytes: number }) => {
      this.metrics?.segments.inc();
      this.metrics?.bytes.inc(seg.bytes);
      const v = this.views.get(source.id);
      if (v) {
        v.bytes = capture.bytes();
        v.elapsedMs = capture.mediaMs();
      }
    });
    capture.start();
  }

  private async end(sources: string[], by: RecordingActor): Promise<RecordingActionResult> {
    const result: RecordingActionResult = { ok: true, sources: {} };
    const stopping = sources.map((s) => ({ s, a: this.active.get(s) })).filter((x): x is { s: string; a: Active } => x.a !== undefined);
    for (const { s } of stopping) {
      this.setView(s, { state: 'stopping' });
      result.sources[s] = 'stopping';
    }
    this.publishNow();
    await Promise.all(
      stopping.map(async ({ s, a }) => {
        await a.capture.stop();
        this.active.delete(s);
        await this.pushes.sourceStopped(s);
        await this.repo.markFinishing(a.row.id, this.deps.clock.now());
        this.finisher.queue({ ...a.row, state: 'finishing' });
      }),
    );
    await this.audit(by, 'recording.stop', sources.join(','), result, stopping[0]?.a.row.lessonId ?? null);
    return result;
  }

  private credentials(s: RecordingSourceConfig): SourceCredentials | undefined {
    return readSourceCredentials(s, this.log);
  }

  private setView(source: string, patch: Partial<SourceView>): void {
    const v = this.views.get(source);
    if (!v) return;
    Object.assign(v, patch);
    updateSourceGauge(this.metrics, this.views);
  }

  private publishPending = false;
  private publishSoon(): void {
    if (this.publishPending) return;
    this.publishPending = true;
    setTimeout(() => {
      this.publishPending = false;
      this.publishNow();
    }, 250).unref();
  }

  private publishNow(): void {
    for (const [id, a] of this.active) {
      const v = this.views.get(id);
      if (v) {
        v.bytes = a.capture.bytes();
        v.elapsedMs = a.capture.mediaMs();
      }
    }
    const status = this.status();
    updateUploadGauge(this.metrics, status.upload);
    void this.deps.publish(status).catch((e: unknown) => this.log.warn({ err: e }, 'could not publish the recording state'));
  }

  private async housekeep(): Promise<void> {
    try {
      await this.storage.applyRetention();
      const d = await this.storage.measure();
      this.metrics?.disk.set({ kind: 'used' }, d.usedBytes);
      if (d.freeBytes !== null) this.metrics?.disk.set({ kind: 'free' }, d.freeBytes);
      this.metrics?.disk.set({ kind: 'quota' }, this.storage.limits.maxBytes);
      // Running out mid-lesson: make room from uploaded recordings, else stop rather than fill the disk.
      if (this.active.size && !(await this.storage.ensureRoom(0)).ok) {
        const verdict = await this.storage.ensureRoom(0);
        const sources = [...this.active.keys()];
        await this.end(sources, { username: 'disk-quota', role: 'automation' });
        for (const s of sources) this.setView(s, { state: 'error', reason: `stopped: ${verdict.ok ? 'disk full' : verdict.reason}` });
        await this.deps.raiseAlert({ severity: 'critical', code: 'recording-disk-full', message: `recording stopped: ${verdict.ok ? 'disk full' : verdict.reason}`, data: {} });
      }
    } catch (e) {
      this.log.warn({ err: e }, 'recording housekeeping failed');
    }
  }

  private async audit(by: RecordingActor, action: string, target: string, r: RecordingActionResult, lessonId: string | null): Promise<void> {
    await this.deps.store
      .recordAudit({
        actor: by.username,
        role: by.role,
        action,
        target: target.slice(0, 256) || '*',
        // The lesson goes in args, not in the entry's lessonId: that would tie the entry to the lesson's
        // completeness receipt, which may already be issued when the recording stops at the bell.
        args: { sources: r.sources, ...(lessonId ? { lessonId } : {}) },
        result: r.ok ? 'ok' : r.error?.code === 'unknown-source' ? 'refused' : 'error',
        ...(r.error ? { error: r.error.message.slice(0, 2000) } : {}),
        ts: this.deps.clock.now(),
      })
      .catch((e: unknown) => this.log.error({ err: e, action }, 'could not audit a recording action'));
  }
}

