/**
 * When and how fast the edge uploads recordings (docs/sync.md, "Recording
 * uploads"; config `recording.upload.window` and `maxBytesPerSecond`):
 *
 * - UploadWindow: the daily window, in the room's time zone (luxon), that may
 *   wrap midnight (18:00–07:00). Outside it nothing is sent, so recordings
 *   never compete with a lesson's live traffic on the school's uplink.
 * - TokenBucket: the bandwidth cap on the bytes the tus client streams, one
 *   bucket for the whole queue. Each read is taken from the bucket before it
 *   is written; a read larger than what is in the bucket waits off the debt,
 *   so the average rate is the cap whatever the read size.
 *
 * Both take their clocks as arguments, so tests run them on fake time.
 */
import { DateTime } from 'luxon';

export interface WindowSpec {
  /** HH:MM, the room's local time. */
  from: string;
  to: string;
}

const minutesOf = (hhmm: string): number => {
  const m = /^([01][0-9]|2[0-3]):([0-5][0-9])$/.exec(hhmm);
  if (!m) throw new Error(`upload window: ${hhmm} is not HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
};

export class UploadWindow {
  private readonly from: number;
  private readonly to: number;

  constructor(
    spec: WindowSpec,
    private readonly zone: string,
  ) {
    this.from = minutesOf(spec.from);
    this.to = minutesOf(spec.to);
    if (!DateTime.now().setZone(zone).isValid) throw new Error(`upload window: unknown time zone ${zone}`);
  }

  /** Minutes since local midnight, as the wall clock of the room shows them. */
  private localMinutes(epochMs: number): number {
    const t = DateTime.fromMillis(epochMs, { zone: this.zone });
    return t.hour * 60 + t.minute;
  }

  /** from == to is the whole day; from > to wraps midnight. */
  isOpen(epochMs: number): boolean {
    if (this.from === this.to) return true;
    const m = this.localMinutes(epochMs);
    return this.from < this.to ? m >= this.from && m < this.to : m >= this.from || m < this.to;
  }

  /** 0 when open; otherwise the ms until the window next opens (a DST jump is luxon's to resolve). */
  msUntilOpen(epochMs: number): number {
    if (this.isOpen(epochMs)) return 0;
    const now = DateTime.fromMillis(epochMs, { zone: this.zone });
    let open = now.startOf('day').set({ hour: Math.floor(this.from / 60), minute: this.from % 60 });
    if (open.toMillis() <= epochMs) open = open.plus({ days: 1 });
    return Math.max(1, open.toMillis() - epochMs);
  }
}

/** Resolves after ms, or at once (rejecting) when the signal aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class TokenBucket {
  private tokens: number;
  private last: number;
  /** Serialises takers: the queue has one upload at a time, but a cap must hold even if it had more. */
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly bytesPerSecond: number,
    private readonly opts: { monotonic?: () => number; sleep?: Sleep; burstBytes?: number } = {},
  ) {
    if (!(bytesPerSecond > 0)) throw new Error('maxBytesPerSecond must be positive');
    this.tokens = this.burst;
    this.last = this.clock();
  }

  private get burst(): number {
    return this.opts.burstBytes ?? this.bytesPerSecond;
  }

  private clock(): number {
    return (this.opts.monotonic ?? (() => performance.now()))();
  }

  private refill(): void {
    const t = this.clock();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.bytesPerSecond);
    this.last = t;
  }

  /** Waits until `n` bytes may be sent: takes them from the bucket and waits off any debt. */
  take(n: number, signal?: AbortSignal): Promise<void> {
    const run = this.chain.then(async () => {
      const sleep = this.opts.sleep ?? realSleep;
      this.refill();
      this.tokens -= n;
      // In debt: wait it off before the bytes go, so no second ever carries more than burst + cap.
      while (this.tokens < 0) {
        await sleep(Math.ceil((-this.tokens / this.bytesPerSecond) * 1000), signal);
        this.refill();
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
