/**
 * Exponential backoff with jitter, shared by the reconnecting transports
 * (serial, tcp). Delay n (0-based) is `initialMs * factor^n`, capped at
 * `maxMs`, then spread by ±`jitter` (a fraction) so that many devices losing
 * the same USB hub or switch do not retry in lock-step. The jittered delay
 * never exceeds `maxMs`.
 */
export interface BackoffOptions {
  /** First delay, ms (default 250). */
  initialMs?: number;
  /** Largest delay, ms (default 10 000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Relative spread, 0..1 (default 0.2: ±20 %). */
  jitter?: number;
  /** Random source in [0, 1) (injectable for tests). */
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = Math.max(1, opts.initialMs ?? 250);
    this.maxMs = Math.max(this.initialMs, opts.maxMs ?? 10_000);
    this.factor = Math.max(1, opts.factor ?? 2);
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.2));
    this.random = opts.random ?? Math.random;
  }

  /** Attempts made since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt, in whole ms; advances the sequence. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    this.attempt++;
    const spread = 1 - this.jitter + 2 * this.jitter * this.random();
    return Math.max(1, Math.min(this.maxMs, Math.round(base * spread)));
  }

  /** Back to the initial delay (call when the link is up again). */
  reset(): void {
    this.attempt = 0;
  }
}
