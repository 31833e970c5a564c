/**
 * Device-side simulator of a generic Mifare / ISO 14443 UID reader (one UID
 * per line; formats in docs/drivers/uid-reader.md) for tests and the demo
 * room. It sits on the device end of a byte transport (a memory pair or a
 * pty) and prints what such a reader prints when a card is presented: the
 * UID in the configured encoding and byte order, then the terminator. Many
 * of these readers print once per presentation; some repeat while the card
 * stays (`repeats`).
 */
import type { ByteTransport } from '../transports/types.js';
import { encodeUidLine, type UidByteOrder, type UidEncoding } from '../uid-reader/codec.js';
import { encodeLine, type UidTerminator } from '../uid-reader/framer.js';

export interface UidReaderSimOptions {
  encoding?: UidEncoding;
  byteOrder?: UidByteOrder;
  terminator?: UidTerminator;
  /** Gap between repeated lines while the card stays (default 100 ms). */
  intervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class UidReaderSim {
  readonly encoding: UidEncoding;
  readonly byteOrder: UidByteOrder;
  readonly terminator: UidTerminator;
  private readonly intervalMs: number;

  constructor(
    private readonly transport: ByteTransport,
    opts: UidReaderSimOptions = {},
  ) {
    this.encoding = opts.encoding ?? 'hex';
    this.byteOrder = opts.byteOrder ?? 'msb';
    this.terminator = opts.terminator ?? 'crlf';
    this.intervalMs = opts.intervalMs ?? 100;
    transport.start();
  }

  /** The bytes the reader sends for the canonical `uid` (4, 7 or 10 bytes of hex, UID0 first). */
  line(uid: string): Buffer {
    return encodeLine(encodeUidLine(uid, { encoding: this.encoding, byteOrder: this.byteOrder }), this.terminator);
  }

  /** A card presented: its line, `repeats` times (default once); resolves after the last one. */
  async present(uid: string, repeats = 1): Promise<void> {
    const bytes = this.line(uid);
    for (let i = 0; i < repeats; i++) {
      if (i > 0) await sleep(this.intervalMs);
      await this.transport.write(bytes);
    }
  }

  /** Line noise or a misconfigured reader: raw bytes as they are. */
  async garbage(bytes: Uint8Array | readonly number[] | string): Promise<void> {
    await this.transport.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Uint8Array.from(bytes));
  }

  async close(): Promise<void> {
    await this.transport.stop();
  }
}
