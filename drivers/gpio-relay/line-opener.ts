/**
 * Opening a GPIO line, again and again until it works: at boot the chip may
 * not be there yet (a USB GPIO expander, udev not done with permissions).
 * Used by the gpio-relay and gpio-input drivers. The first failure is logged
 * as an error and reported offline; retries follow with backoff (the same
 * Backoff the byte transports use) and are logged at debug until one
 * succeeds, which is logged once.
 */
import { Backoff } from '../transports/backoff.js';
import type { Logger } from '../../edge/util/logger.js';

export interface LineOpenerOptions<T> {
  /** What to open (chip + line in the error). */
  describe: string;
  open: () => Promise<T>;
  /** A line is open (first time or after retries). */
  opened: (handle: T) => void;
  /** Release a line that opened after stop(). */
  discard: (handle: T) => Promise<void>;
  /** Opening failed; `first` for the first failure of a run. */
  failed: (error: Error, first: boolean) => void;
  log: Logger;
  backoff?: { initialMs?: number; maxMs?: number };
}

export class LineOpener<T> {
  private readonly backoff: Backoff;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private active = false;
  private failures = 0;

  constructor(private readonly o: LineOpenerOptions<T>) {
    this.backoff = new Backoff({ initialMs: o.backoff?.initialMs ?? 1000, maxMs: o.backoff?.maxMs ?? 30_000 });
  }

  /**
   * Try once now. On failure, keep retrying in the background and reject with
   * the first error (so the caller can record why the device is offline).
   */
  async start(): Promise<void> {
    this.active = true;
    const error = await this.attempt();
    if (error) throw new Error(`${this.o.describe}: ${error.message}`, { cause: error });
  }

  stop(): void {
    this.active = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async attempt(): Promise<Error | undefined> {
    try {
      const handle = await this.o.open();
      if (!this.active) {
        await this.o.discard(handle).catch(() => undefined); // stopped while opening
        return undefined;
      }
      if (this.failures > 0) this.o.log.info({ line: this.o.describe, attempts: this.failures + 1 }, 'gpio line opened after retries');
      this.failures = 0;
      this.backoff.reset();
      this.o.opened(handle);
      return undefined;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      const first = this.failures === 0;
      this.failures++;
      if (first) this.o.log.error({ line: this.o.describe, err: error.message }, 'cannot open gpio line; retrying');
      else this.o.log.debug({ line: this.o.describe, err: error.message, attempt: this.failures }, 'gpio line still cannot be opened');
      this.o.failed(error, first);
      if (this.active) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          if (this.active) void this.attempt();
        }, this.backoff.next());
      }
      return error;
    }
  }
}
