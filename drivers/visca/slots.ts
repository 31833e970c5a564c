/**
 * The camera's two command sockets (Sony VISCA: "This unit has 2 sockets for
 * the command"; a third command gets "command buffer full"). A counting lock:
 * at most `size` commands outstanding, the rest wait in FIFO order, at most
 * `maxWaiting` of them.
 */
export class SocketSlots {
  private inUse = 0;
  private readonly queue: Array<() => void> = [];

  constructor(
    readonly size = 2,
    readonly maxWaiting = 8,
  ) {}

  /** Commands holding a slot. */
  get outstanding(): number {
    return this.inUse;
  }

  /** Commands waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  /** True when a new command would be refused (queue full). */
  get full(): boolean {
    return this.inUse >= this.size && this.queue.length >= this.maxWaiting;
  }

  /** Wait for a slot; resolves with its release function (calling it twice is harmless). */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.inUse++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.inUse--;
          this.queue.shift()?.();
        });
      };
      if (this.inUse < this.size) grant();
      else this.queue.push(grant);
    });
  }
}
