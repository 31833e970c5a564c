/**
 * In-memory byte pair: two ends, what one writes the other receives
 * (asynchronously, like a wire). Used by tests and by the demo room, where a
 * device simulator (drivers/sim) sits on the far end.
 */
import { TransportDownError, TransportEmitter, type ByteTransport } from './types.js';

export class MemoryEnd extends TransportEmitter implements ByteTransport {
  peer!: MemoryEnd;
  private up = false;
  private started = false;
  /** While unplugged, start() does not bring the link up (simulates a missing port). */
  private unplugged = false;

  constructor(readonly description: string) {
    super();
  }

  get isUp(): boolean {
    return this.up;
  }

  start(): void {
    this.started = true;
    if (!this.up && !this.unplugged) {
      this.up = true;
      queueMicrotask(() => this.emit('up'));
    }
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.up) {
      this.up = false;
      this.emit('down', undefined);
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (!this.up) throw new TransportDownError(this.description);
    const copy = Buffer.from(bytes);
    const peer = this.peer;
    setImmediate(() => {
      if (peer.up) peer.emit('data', copy);
    });
  }

  /** Test helper: the cable is pulled (both ends go down) or put back. */
  setUnplugged(unplugged: boolean): void {
    for (const end of [this, this.peer]) {
      end.unplugged = unplugged;
      if (unplugged && end.up) {
        end.up = false;
        end.emit('down', new Error(`${end.description} unplugged`));
      } else if (!unplugged && end.started && !end.up) {
        end.up = true;
        queueMicrotask(() => end.emit('up'));
      }
    }
  }
}

export function createMemoryPair(name = 'memory'): [host: MemoryEnd, device: MemoryEnd] {
  const a = new MemoryEnd(`${name} (host end)`);
  const b = new MemoryEnd(`${name} (device end)`);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
