/**
 * A small async mutex with a FIFO queue: one request in flight per port
 * (shared/STYLE.md pattern 4, after zigbee-herdsman's per-port queue).
 *
 * The lock is a plain object so that several drivers on one physical line
 * (Modbus units on one RS-485 bus) can be handed the same instance and take
 * turns on the wire.
 */
export class Mutex {
  private held = false;
  private readonly queue: Array<() => void> = [];

  /** True while someone holds the lock. */
  get locked(): boolean {
    return this.held;
  }

  /** Callers waiting for the lock (not counting the holder). */
  get waiting(): number {
    return this.queue.length;
  }

  /** Wait for the lock; resolves with a release function (calling it twice is harmless). */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.held = true;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.release();
        });
      };
      if (!this.held) grant();
      else this.queue.push(grant);
    });
  }

  /** Run `fn` holding the lock; the lock is released however `fn` ends. */
  async runExclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.held = false;
  }
}
