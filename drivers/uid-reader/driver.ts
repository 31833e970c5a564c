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
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { decodeUidLine } from './codec.js';
import { CardDebouncer } from './debounce.js';
import { UID_TERMINATORS, UidLineFramer, type UidLineMalformed } from './framer.js';

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

export class UidReaderDriver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: UidReaderOptions;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly framer: UidLineFramer;
  private readonly debouncer: CardDebouncer;
  private opened = false;
  private online: boolean | null = null;

  constructor(ctx: DriverContext<UidReaderOptions>) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: uid-reader needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:uid-reader', device: ctx.deviceId });
    this.framer = new UidLineFramer(ctx.options.terminator);
    this.debouncer = new CardDebouncer(ctx.options.debounceMs);
  }

  async open(): Promise<void> {
    if (this.opened) return;
    this.opened = true;
    attachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
  }

  async close(): Promise<void> {
    if (!this.opened) return;
    this.opened = false;
    detachTransport(this.transport, { data: this.onData, up: this.onUp, down: this.onDown });
    await this.transport.stop();
    this.framer.reset();
    this.debouncer.clear();
    this.online = null;
  }

  async execute(command: string, _args: Record<string, unknown>): Promise<StatePatch> {
    throw new DeviceError('unsupported', this.device, command, 'a UID card reader takes no commands');
  }

  private readonly onUp = (): void => {
    if (this.online === true) return;
    this.online = true;
    this.log.info({ transport: this.transport.description }, 'card reader connected');
    this.emit('online', true);
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset(); // a line cut by the outage must not join bytes after it
    if (this.online === false) return;
    this.online = false;
    const reason = error ? error.message : 'transport closed';
    this.log.warn({ transport: this.transport.description, reason }, 'card reader disconnected');
    this.emit('online', false, reason);
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      for (const out of this.framer.push(chunk)) {
        if (out.type === 'line') this.onLine(out.text);
        else this.malformedBytes(out);
      }
    } catch (e) {
      // The framer and codec never throw; a listener of ours might. Never let it reach the transport.
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'card line handling failed');
    }
  };

  private onLine(text: string): void {
    const read = decodeUidLine(text, this.opts);
    if (!read.ok) {
      this.log.warn({ reason: read.reason }, 'malformed line from card reader');
      this.emit('malformed', `${this.device}: ${read.reason}`);
      return;
    }
    if (!this.debouncer.accept(read.uid, this.clock.monotonic())) return;
    this.log.debug({ uid: read.uid }, 'card presented');
    this.emit('card', {
      uid: read.uid,
      ...(read.number !== undefined ? { number: read.number } : {}),
      format: UID_READER_FORMAT,
      ts: this.clock.now(),
    });
  }

  private malformedBytes(m: UidLineMalformed): void {
    const detail = `${this.device}: ${m.reason} (${m.bytes} byte(s): ${m.sample.toString('hex')}${m.bytes > m.sample.length ? '...' : ''})`;
    this.log.warn({ reason: m.reason, bytes: m.bytes, sample: m.sample.toString('hex') }, 'malformed data from card reader');
    this.emit('malformed', detail);
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
