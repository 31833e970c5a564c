/**
 * Request/response matching for drivers, after zigbee-herdsman's waitress
 * (Koenkk/zigbee-herdsman src/utils/waitress.ts): a caller registers a
 * matcher with a timeout; every decoded frame is offered to the waiting
 * matchers in registration order; the first match resolves its waiter. A
 * waiter that sees no match in time rejects with a DeviceTimeoutError naming
 * the device, the command and the time waited.
 *
 * Timers are the global setTimeout/clearTimeout, so tests drive them with
 * vitest's fake timers.
 */
import { DeviceTimeoutError } from '../errors.js';

export type FrameMatcher<F> = (frame: F) => boolean;

export interface WaitOptions {
  /** Command name used in the timeout error, e.g. 'power'. */
  command: string;
  timeoutMs: number;
}

export interface Wait<F> {
  /** Resolves with the matching frame; rejects with DeviceTimeoutError or the error given to rejectAll/cancel. */
  readonly promise: Promise<F>;
  /** Stop waiting; the promise rejects with `reason` (default: a cancellation error). */
  cancel(reason?: Error): void;
}

interface Waiter<F> {
  id: number;
  command: string;
  matcher: FrameMatcher<F>;
  resolve: (frame: F) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Waitress<F> {
  private readonly waiters = new Map<number, Waiter<F>>();
  private nextId = 1;

  /** @param device device id used in timeout errors */
  constructor(private readonly device: string) {}

  /** Number of waiters not yet resolved, rejected or cancelled. */
  get pending(): number {
    return this.waiters.size;
  }

  /**
   * Register a matcher. Register before writing the request, so a reply that
   * arrives at once is not missed.
   */
  waitFor(matcher: FrameMatcher<F>, options: WaitOptions): Wait<F> {
    const id = this.nextId++;
    let settle!: Pick<Waiter<F>, 'resolve' | 'reject'>;
    const promise = new Promise<F>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const timer = setTimeout(() => {
      if (this.waiters.delete(id)) {
        settle.reject(new DeviceTimeoutError(this.device, options.command, options.timeoutMs));
      }
    }, options.timeoutMs);
    this.waiters.set(id, { id, command: options.command, matcher, timer, ...settle });
    return {
      promise,
      cancel: (reason?: Error) => {
        const w = this.waiters.get(id);
        if (!w) return;
        this.waiters.delete(id);
        clearTimeout(w.timer);
        w.reject(reason ?? new Error(`${this.device}: ${options.command}: wait cancelled`));
      },
    };
  }

  /**
   * Offer a frame to the waiters. Returns true when a waiter took it. A
   * matcher that throws counts as no match (a bad frame must never break the
   * receive path).
   */
  resolve(frame: F): boolean {
    for (const w of this.waiters.values()) {
      let hit = false;
      try {
        hit = w.matcher(frame);
      } catch {
        hit = false;
      }
      if (hit) {
        this.waiters.delete(w.id);
        clearTimeout(w.timer);
        w.resolve(frame);
        return true;
      }
    }
    return false;
  }

  /** Reject every waiter (transport down, driver closed); `makeError` gets each waiter's command. */
  rejectAll(makeError: (command: string) => Error): void {
    const all = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of all) {
      clearTimeout(w.timer);
      w.reject(makeError(w.command));
    }
  }
}
