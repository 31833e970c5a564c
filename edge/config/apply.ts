/**
 * Applying a configuration push (docs/config-push.md): validate, apply, check
 * the devices, and roll back automatically if the check fails. Live targets
 * (recording.live) are not checked (a media server's reachability shows on
 * the bus as the push's state, it is no reason to roll back): they are
 * replaced once the devices passed, so a push that is rolled back never
 * touches a live lesson.
 *
 *   validate ──refused──▶ record + audit, nothing touched
 *      │ ok
 *   record "applying" (committed)          ◀─ a crash from here on restarts with the last good config
 *      │
 *   reconfigure devices (only the changed ones)
 *      │
 *   check: every added/changed device online (+ status query) within checkTimeoutMs
 *      ├─ ok ──▶ live targets replaced; commit "applied" + config.active + audit; scenes replaced
 *      └─ fail ─▶ devices (and live targets, if replaced) back as they were; commit "rolled-back" + audit
 *
 * `applyConfigPush` is the one entry point: the district downlink
 * (sync/config-downlink.ts) and technicians' commands call it. Pushes run one
 * at a time, in arrival order.
 */
import type { DeviceConfig, EdgeConfig } from './schema.js';
import type { LiveTargetConfig } from './recording-schema.js';
import type { DriverRegistry } from '../devices/registry.js';
import { checkDevices, type CheckTarget, type DeviceCheck } from '../devices/check.js';
import type { Metrics } from '../metrics.js';
import type { Store, Tx } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { diffConfig, type DeviceDiff } from './diff.js';
import { ConfigVersions, type StoredVersion } from './persisted.js';
import { formatProblems, sectionsOf, validatePush, withSections, type PushedSections } from './push.js';

export const MAX_REPORTED_PROBLEMS = 20;

export interface ConfigPushRequest {
  /** The pushed document: `devices` and/or `scenes`, or a whole config file whose other sections are unchanged. */
  config: unknown;
  /** The issuer's version number (the district's increases with every push); 0 or absent when none. */
  version?: number;
  /** Who pushed it (audited): a technician's user name, `district`, ... */
  issuedBy: string;
  issuedAt?: number;
  /** `cloud` (the district downlink) or `command` (a technician's remote command). */
  source?: string;
  /** Audit role of the issuer (default: `cloud` for the district, `technician` otherwise). */
  role?: string;
  /** Runs in the transaction that commits the outcome (e.g. a downlink's own bookkeeping). */
  onCommit?: (tx: Tx) => void;
}

export interface ConfigPushResult {
  outcome: 'applied' | 'unchanged' | 'rolled-back' | 'refused' | 'interrupted';
  version: number;
  /** The row in the store's config_versions. */
  id?: number;
  /** Devices by id; whether the scenes and the live targets (recording.live) changed. liveChanged is always set here; optional as on the wire (sync/config-downlink.ts). */
  changes?: { added: string[]; removed: string[]; changed: string[]; scenesChanged: boolean; liveChanged?: boolean };
  /** Devices that failed the check (rolled-back), with the reason. */
  failed?: Array<{ deviceId: string; reason: string }>;
  /** `path: reason` (refused), the first MAX_REPORTED_PROBLEMS. */
  problems?: string[];
  problemCount?: number;
  /** Free text for rolled-back/interrupted outcomes. */
  message?: string;
  ts: number;
}

/** What the applier needs of the device supervisor. */
export interface ApplyDevices extends CheckTarget {
  reconfigure(next: readonly DeviceConfig[]): Promise<DeviceDiff>;
}

/** What the applier needs of the recorder: its live targets replaced (RecordingService.replaceLive). */
export interface ApplyLive {
  replace(targets: LiveTargetConfig[]): Promise<void>;
}

export interface ConfigApplierDeps {
  /** The config in force at start (file, or file + the stored overlay). */
  config: EdgeConfig;
  store: Pick<Store, 'db' | 'write'>;
  devices: ApplyDevices;
  scenes: { replace(scenes: EdgeConfig['scenes']): void };
  /** The recorder's live targets; absent (no recorder): a push changing recording.live is rolled back. See setLive. */
  live?: ApplyLive;
  registry: DriverRegistry;
  clock: Clock;
  logger: Logger;
  metrics?: Pick<Metrics, 'configPushes'>;
  /** Default: config.configPush.checkTimeoutMs. */
  checkTimeoutMs?: number;
  /** How often the check looks at device status (default 100 ms). */
  checkPollMs?: number;
}

export interface ConfigStatus {
  /** Which devices, scenes and live targets are in force: the file's or a pushed version's. */
  source: 'file' | 'pushed';
  active: { id: number; version: number; issuedBy: string; appliedAt: number | null } | null;
  lastPush: { version: number; outcome: string; ts: number } | null;
}

export class ConfigApplier {
  private current: EdgeConfig;
  private readonly versions: ConfigVersions;
  private readonly log: Logger;
  private chain: Promise<unknown> = Promise.resolve();
  private last: ConfigStatus['lastPush'] = null;
  private live: ApplyLive | undefined;

  constructor(private readonly deps: ConfigApplierDeps) {
    this.current = deps.config;
    this.live = deps.live;
    this.versions = new ConfigVersions(deps.store);
    this.log = deps.logger.child({ ns: 'edge:config' });
  }

  /** Late binding: the service starts the recorder after the applier (it needs the lesson clock). */
  setLive(live: ApplyLive): void {
    this.live = live;
  }

  /** The config in force now. */
  config(): EdgeConfig {
    return this.current;
  }

  handledVersion(source: string): number {
    return this.versions.handledVersion(source);
  }

  status(): ConfigStatus {
    const a = this.versions.active();
    return {
      source: a ? 'pushed' : 'file',
      active: a ? { id: a.id, version: a.version, issuedBy: a.issuedBy, appliedAt: a.decidedAt } : null,
      lastPush: this.last,
    };
  }

  /**
   * Marks pushes a crash left half-applied as `interrupted` (audited). The
   * devices were started from the last good config, so nothing else to undo.
   */
  async recover(): Promise<Array<{ row: StoredVersion; result: ConfigPushResult }>> {
    const out: Array<{ row: StoredVersion; result: ConfigPushResult }> = [];
    for (const row of this.versions.unfinished()) {
      const now = this.deps.clock.now();
      const result: ConfigPushResult = {
        outcome: 'interrupted',
        version: row.version,
        id: row.id,
        message: 'the service stopped while this configuration was being applied; the last good configuration is in force',
        ts: now,
      };
      await this.versions.finish(row.id, {
        status: 'interrupted',
        result,
        activate: false,
        now,
        audit: { actor: row.issuedBy, role: row.source === 'cloud' ? 'cloud' : 'technician', action: 'config.push', target: `config v${row.version}`, args: { version: row.version, source: row.source }, result: 'error', error: result.message, ts: now },
      });
      this.deps.metrics?.configPushes.inc({ outcome: 'interrupted' });
      this.log.warn({ version: row.version, id: row.id }, 'a configuration push was interrupted by a restart; the last good configuration is in force');
      out.push({ row, result });
    }
    return out;
  }

  /** Validate, apply, check, roll back if needed; never throws. */
  applyConfigPush(req: ConfigPushRequest): Promise<ConfigPushResult> {
    const next = this.chain.then(() =>
      this.applyOne(req).catch(async (e: unknown) => {
        // A store failure while recording: the devices go back to the config in force (the last one committed).
        const message = `internal error: ${e instanceof Error ? e.message : String(e)}`;
        this.log.error({ err: e, version: req.version }, 'configuration push failed; restoring the configuration in force');
        await this.deps.devices.reconfigure(this.current.devices).catch((err: unknown) => this.log.error({ err }, 'could not restore the devices'));
        // Unchanged targets are left alone, so this touches only what a push replaced before its commit failed.
        if (this.live && this.current.recording) await this.live.replace(this.current.recording.live).catch((err: unknown) => this.log.error({ err }, 'could not restore the live targets'));
        return this.done({ outcome: 'rolled-back', version: req.version ?? 0, failed: [], message, ts: this.deps.clock.now() }, 'configuration push failed');
      }),
    );
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async applyOne(req: ConfigPushRequest): Promise<ConfigPushResult> {
    const version = req.version ?? 0;
    const source = req.source ?? 'command';
    const role = req.role ?? (source === 'cloud' ? 'cloud' : 'technician');
    const target = `config v${version}`;
    const meta = { version, issuedBy: req.issuedBy, issuedAt: req.issuedAt, source };
    const audit = (result: 'ok' | 'error' | 'refused', args: Record<string, unknown>, error?: string) => ({
      actor: req.issuedBy,
      role,
      action: 'config.push',
      target,
      args: { version, source, ...args },
      result,
      ...(error ? { error: error.slice(0, 2000) } : {}),
      ts: this.deps.clock.now(),
    });

    // 1. Validate against the running config: nothing is touched by a refused push.
    const v = validatePush(req.config, this.current, this.deps.registry);
    if (!v.config) {
      const problems = formatProblems(v.problems);
      const result: ConfigPushResult = { outcome: 'refused', version, problems: problems.slice(0, MAX_REPORTED_PROBLEMS), problemCount: problems.length, ts: this.deps.clock.now() };
      result.id = await this.versions.record(
        { ...meta, content: req.config },
        { status: 'refused', result, now: result.ts, audit: audit('refused', { problems: result.problems }, problems.slice(0, 5).join('; ')), extra: req.onCommit },
      );
      return this.done(result, 'configuration push refused');
    }
    const nextConfig = v.config;
    const sections: PushedSections = sectionsOf(nextConfig);
    const changes = diffConfig(this.current, nextConfig);
    const summary = { added: changes.devices.added, removed: changes.devices.removed, changed: changes.devices.changed, scenesChanged: changes.scenesChanged, liveChanged: changes.liveChanged };
    // The audit row names the live targets too: a pairing is who watches a class, worth tracing.
    const auditChanges = changes.liveChanged ? { changes: summary, live: changes.live } : { changes: summary };

    // 2. Recorded before anything changes: a crash from here on comes back with config.active (the last good one).
    const id = await this.versions.begin({ ...meta, content: sections }, this.deps.clock.now());

    // 3. Apply and check.
    const previous = this.current;
    let failed: DeviceCheck[] = [];
    let message: string | undefined;
    let liveTouched = false;
    try {
      const diff = await this.deps.devices.reconfigure(nextConfig.devices);
      const timeout = this.deps.checkTimeoutMs ?? this.current.configPush.checkTimeoutMs;
      const checks = await checkDevices(this.deps.devices, diff.start, timeout, { pollMs: this.deps.checkPollMs });
      failed = checks.filter((c) => !c.ok);
      // Only once the devices passed: a push rolled back for a device never interrupts a live lesson.
      if (failed.length === 0 && changes.liveChanged) {
        if (!this.live) throw new Error('recording.live changed but no recorder is running to apply it');
        liveTouched = true;
        await this.live.replace(nextConfig.recording?.live ?? []);
      }
    } catch (e) {
      message = `apply failed: ${e instanceof Error ? e.message : String(e)}`;
      this.log.error({ err: e, version }, 'configuration push failed while applying');
    }

    if (failed.length === 0 && message === undefined) {
      const result: ConfigPushResult = { outcome: changes.none ? 'unchanged' : 'applied', version, id, changes: summary, ts: this.deps.clock.now() };
      await this.versions.finish(id, { status: 'applied', result, activate: true, now: result.ts, audit: audit('ok', auditChanges), extra: req.onCommit });
      // Only after the commit: if it fails, applyConfigPush puts the devices and live targets back to this.current.
      this.deps.scenes.replace(nextConfig.scenes);
      this.current = nextConfig;
      return this.done(result, 'configuration push applied');
    }

    // 4. Roll back: the devices and live targets as they were (unchanged ones were never touched).
    const restore = async (what: () => Promise<unknown>) => {
      try {
        await what();
      } catch (e) {
        this.log.error({ err: e, version }, 'rollback of a configuration push failed; restart the service to come back with the last good configuration');
        message = `${message ? `${message}; ` : ''}rollback failed: ${e instanceof Error ? e.message : String(e)}`;
      }
    };
    await restore(() => this.deps.devices.reconfigure(previous.devices));
    const live = this.live;
    if (liveTouched && live) await restore(() => live.replace(previous.recording?.live ?? []));
    const reasons = failed.map((f) => ({ deviceId: f.deviceId, reason: f.reason ?? 'failed' }));
    message ??= `rolled back: ${reasons.map((f) => `${f.deviceId}: ${f.reason}`).join('; ')}`;
    const result: ConfigPushResult = { outcome: 'rolled-back', version, id, changes: summary, failed: reasons, message, ts: this.deps.clock.now() };
    await this.versions.finish(id, { status: 'rolled-back', result, activate: false, now: result.ts, audit: audit('error', { ...auditChanges, failed: reasons }, message), extra: req.onCommit });
    return this.done(result, 'configuration push rolled back');
  }

  private done(result: ConfigPushResult, msg: string): ConfigPushResult {
    this.last = { version: result.version, outcome: result.outcome, ts: result.ts };
    this.deps.metrics?.configPushes.inc({ outcome: result.outcome });
    if (result.outcome === 'applied' || result.outcome === 'unchanged') this.log.info({ version: result.version, changes: result.changes }, msg);
    else this.log.warn({ version: result.version, failed: result.failed, problems: result.problems, message: result.message }, msg);
    return result;
  }
}

/**
 * The config to start with: the file's, with the devices, scenes and live
 * targets of the last applied push when there is one (the pushed overlay wins until a
 * technician resets it). An overlay that no longer validates (e.g. a driver
 * removed by an upgrade) is ignored with the problems returned.
 */
export function effectiveConfig(
  file: EdgeConfig,
  store: Pick<Store, 'db' | 'write'>,
  registry: DriverRegistry,
): { config: EdgeConfig; source: 'file' | 'pushed'; active?: StoredVersion; problems?: string[] } {
  const active = new ConfigVersions(store).active();
  if (!active) return { config: file, source: 'file' };
  const v = validatePush(active.content, file, registry);
  if (!v.config) return { config: file, source: 'file', active, problems: formatProblems(v.problems) };
  return { config: withSections(file, v.config), source: 'pushed', active };
}
