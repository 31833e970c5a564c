/**
 * Generic Mifare / ISO 14443 UID reader driver (`uid-reader`).
 *
 * For the many 13.56 MHz readers that print one card UID per line over a
 * serial port (USB readers in CDC-serial / virtual COM mode, RS-232 and TTL
 * reader modules). There is no vendor protocol to follow beyond the line
 * format each reader's configuration tool sets; the UID itself follows
 * ISO/IEC 14443-3 (single/double/triple size UID, UID0 first) - see
 * docs/drivers/uid-reader.md. Framing is in ./framer.ts, the line format in
 * ./codec.ts.
 *
 * The driver emits one `card` event per presentation (debounced like the
 * EM4100 driver: a UID seen again within `debounceMs` of its previous line is
 * the same presentation). The reader is listen-only: every command is
 * unsupported.
 */
import { z } from 'zod';
import { cardReader, type Capability } from '../capabilities.js';
import type { DriverContext, DriverDefinition } from '../contract.js';
import { ByteCardReader } from '../util/card-reader.js';
import { decodeUidLine } from './codec.js';
import { UID_TERMINATORS, UidLineFramer, type UidFramerOutput } from './framer.js';

/** `format` of the card events of this driver. */
export const UID_READER_FORMAT = 'iso14443';

export const uidReaderOptionsSchema = z
  .object({
    /** How the reader prints the UID: hex digits, or one decimal number. */
    encoding: z.enum(['hex', 'decimal']).default('hex'),
    /** msb: UID0 first / most significant; lsb: reversed (typical of decimal output). */
    byteOrder: z.enum(['msb', 'lsb']).default('msb'),
    /** What ends a line: crlf (default) and lf end at LF, cr at CR, etx = STX text ETX. */
    terminator: z.enum(UID_TERMINATORS).default('crlf'),
    /** UID size in bytes; without it 4/7/10 are accepted (hex) or inferred from the value (decimal). */
    uidBytes: z.union([z.literal(4), z.literal(7), z.literal(10)]).optional(),
    /** The same UID is a new tap only after this long without lines of it. */
    debounceMs: z.number().int().min(0).max(60_000).default(1500),
  })
  .strict();
export type UidReaderOptions = z.infer<typeof uidReaderOptionsSchema>;

export function uidReaderCapabilities(): Capability[] {
  return [cardReader()];
}

export class UidReaderDriver extends ByteCardReader<UidFramerOutput> {
  protected readonly framer: UidLineFramer;
  private readonly opts: UidReaderOptions;

  constructor(ctx: DriverContext<UidReaderOptions>) {
    super(ctx, 'uid-reader', 'a UID card reader', 'line');
    this.opts = ctx.options;
    this.framer = new UidLineFramer(ctx.options.terminator);
  }

  protected handle(out: UidFramerOutput): void {
    if (out.type !== 'line') return this.malformedBytes(out);
    const read = decodeUidLine(out.text, this.opts);
    if (!read.ok) {
      this.log.warn({ reason: read.reason }, 'malformed line from card reader');
      this.emit('malformed', `${this.device}: ${read.reason}`);
      return;
    }
    this.report({ uid: read.uid, ...(read.number !== undefined ? { number: read.number } : {}), format: UID_READER_FORMAT });
  }
}

export const uidReaderDriver: DriverDefinition<UidReaderOptions> = {
  driver: 'uid-reader',
  kinds: ['card-reader'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'Mifare / ISO 14443 UID readers printing one UID per line (hex or decimal, either byte order; ISO/IEC 14443-3 UID)',
  optionsSchema: uidReaderOptionsSchema,
  capabilities: () => uidReaderCapabilities(),
  create: (ctx) => new UidReaderDriver(ctx),
};
