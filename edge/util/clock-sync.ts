/**
 * Whether the wall clock is NTP-synchronised now: stamped on every event
 * (`event_log.clock_synced`) and on every batch (`clockSynced`), so that the
 * cloud corrects the time of events stamped by an unsynchronised clock
 * (docs/sync.md, "Clock skew").
 *
 * The kernel keeps the answer (adjtimex(2): STA_UNSYNC is cleared by the NTP
 * daemon that disciplines the clock, systemd-timesyncd, chrony or ntpd), and
 * `timedatectl show -p NTPSynchronized --value` reads it through systemd
 * ("yes" / "no"). Node has no adjtimex binding, so the probe asks timedatectl
 * once a minute, in the background, and `synced()` returns the latest answer:
 * an event is never delayed by the probe. Anything but a clear "yes" (no
 * systemd, timedatectl missing, a timeout) counts as not synchronised, which
 * is the safe side: the cloud then corrects with its own estimate.
 */
import { execFile } from 'node:child_process';
import type { Logger } from './logger.js';

export const CLOCK_SYNC_PROBE_INTERVAL_MS = 60_000;
const PROBE_TIMEOUT_MS = 5_000;

/** Runs the probe command; resolves with its standard output. */
export type ProbeExec = () => Promise<string>;

export const timedatectlExec: ProbeExec = () =>
  new Promise((resolve, reject) => {
    execFile('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: PROBE_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err) reject(new Error(`timedatectl: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });

export interface ClockSyncOptions {
  logger: Logger;
  exec?: ProbeExec;
  intervalMs?: number;
}

export class ClockSyncProbe {
  private state = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  /** The last failure reported, so a probe that keeps failing the same way logs it once. */
  private lastProblem: string | null = null;
  private readonly log: Logger;

  constructor(private readonly opts: ClockSyncOptions) {
    this.log = opts.logger.child({ ns: 'edge:clock' });
  }

  /** The latest answer (false until the first probe says "yes"). */
  synced(): boolean {
    return this.state;
  }

  /** Probes now and then every interval, until stop(). Resolves after the first probe. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.probe();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One probe; never throws. */
  async probe(): Promise<boolean> {
    let next: boolean;
    let problem: string | null = null;
    try {
      const out = (await (this.opts.exec ?? timedatectlExec)()).trim();
      if (out === 'yes' || out === 'no') next = out === 'yes';
      else {
        next = false;
        problem = `unexpected answer ${JSON.stringify(out.slice(0, 80))}`;
      }
    } catch (err) {
      next = false;
      problem = err instanceof Error ? err.message : String(err);
    }
    if (problem !== null && problem !== this.lastProblem) {
      this.log.info({ problem }, 'cannot tell whether the clock is NTP-synchronised; events are stamped as not synchronised');
    }
    this.lastProblem = problem;
    if (next !== this.state) this.log.info({ synced: next }, next ? 'clock is NTP-synchronised' : 'clock is not NTP-synchronised');
    this.state = next;
    return next;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.probe().finally(() => this.schedule());
    }, this.opts.intervalMs ?? CLOCK_SYNC_PROBE_INTERVAL_MS);
    this.timer.unref?.();
  }
}
