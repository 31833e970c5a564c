/**
 * Device-side simulator of an EM4100 reader (RDM6300, EM-18 or a binary
 * desk reader; formats in docs/drivers/em4100.md) for tests and the demo
 * room. It sits on the device end of a byte transport (a memory pair or a
 * pty) and writes what the reader would: while a card stays on the antenna
 * the frame repeats every `intervalMs` (~50 ms on an RDM6300).
 */
import type { ByteTransport } from '../transports/types.js';
import { encodeCard } from '../em4100/codec.js';
import type { Em4100Format } from '../em4100/framer.js';

export interface Em4100SimOptions {
  format?: Em4100Format;
  /** Gap between repeated frames while the card stays (default 50 ms). */
  intervalMs?: number;
  /** EM-18 only: end each frame with CR LF, as some EM-18 boards do (default false). */
  crlf?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Em4100Sim {
  readonly format: Em4100Format;
  private readonly intervalMs: number;
  private readonly crlf: boolean;

  constructor(
    private readonly transport: ByteTransport,
    opts: Em4100SimOptions = {},
  ) {
    this.format = opts.format ?? 'rdm6300';
    this.intervalMs = opts.intervalMs ?? 50;
    this.crlf = opts.crlf ?? false;
    transport.start();
  }

  /** The bytes of one frame for `uid` (10 hex digits) in this reader's format. */
  frame(uid: string): Buffer {
    const bytes = encodeCard(this.format, uid);
    return this.format === 'em18' && this.crlf ? Buffer.concat([bytes, Buffer.from('\r\n')]) : bytes;
  }

  /** A card held on the reader long enough for `repeats` frames; resolves after the last one. */
  async present(uid: string, repeats = 3): Promise<void> {
    const bytes = this.frame(uid);
    for (let i = 0; i < repeats; i++) {
      if (i > 0) await sleep(this.intervalMs);
      await this.transport.write(bytes);
    }
  }

  /** Line noise: raw bytes as they are. */
  async garbage(bytes: Uint8Array | readonly number[]): Promise<void> {
    await this.transport.write(Uint8Array.from(bytes));
  }

  async close(): Promise<void> {
    await this.transport.stop();
  }
}
