/**
 * Online/offline bookkeeping of a polled request/reply device: offline after
 * `offlineAfter` consecutive unanswered requests (0: never from silence,
 * only when the transport goes down), online again at the first answer;
 * each change logged once and emitted as `online`; malformed input logged
 * and emitted as `malformed`. Shared by the display drivers.
 */
import type { DriverEmitter } from '../contract.js';
import type { Logger } from '../../edge/util/logger.js';

export class Reachability {
  private online: boolean | null = null;
  private failures = 0;

  constructor(
    private readonly o: {
      /** What the log lines call the device ("display", "monitor"). */
      what: string;
      log: Logger;
      emitter: DriverEmitter;
      /** Consecutive failures before offline; 0 = silence never makes it offline. */
      offlineAfter: number;
      /** Called after each change, once the `online` event is out (the kit marks state stale with it). */
      onChange?: (online: boolean) => void;
    },
  ) {}

  /** A request went unanswered. */
  failure(reason: string): void {
    if (this.o.offlineAfter === 0) return;
    this.failures++;
    if (this.failures >= this.o.offlineAfter) this.set(false, reason);
  }

  /** The device answered. */
  success(): void {
    this.failures = 0;
    this.set(true);
  }

  /** The transport went down. */
  down(reason: string): void {
    this.failures = 0;
    this.set(false, reason);
  }

  set(online: boolean, reason?: string): void {
    if (this.online === online) return;
    this.online = online;
    if (online) this.o.log.info(`${this.o.what} reachable`);
    else this.o.log.warn({ reason }, `${this.o.what} unreachable`);
    this.o.emitter.emit('online', online, reason);
    this.o.onChange?.(online);
  }

  /** Last reported reachability (null before the first report). */
  get isOnline(): boolean | null {
    return this.online;
  }

  malformed(detail: string): void {
    this.o.log.warn({ detail }, `malformed data from ${this.o.what}`);
    this.o.emitter.emit('malformed', detail);
  }
}
