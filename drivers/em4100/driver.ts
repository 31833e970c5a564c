/**
 * EM4100 125 kHz card reader driver (`em4100`).
 *
 * Follows the reader output formats of the Seeed RDM6300 / "125Khz RFID
 * module - UART" datasheet (02 + 10 ASCII hex + 2 ASCII hex XOR checksum +
 * 03, 9600 8N1), the EM-18 reader module datasheet (the same 12 characters
 * without STX/ETX) and the binary "STX Length CardType SNR BCC ETX" format of
 * USB/RS-232 EM4100 desk readers (example 02 0A 02 06 00 8E 6D 5D B0 03);
 * see docs/drivers/em4100.md. Framing is in ./framer.ts, the card number in
 * ./codec.ts.
 *
 * Readers repeat the frame for as long as a card stays on the antenna (every
 * ~50 ms on the RDM6300). The driver emits one `card` event per presentation:
 * a UID seen again less than `debounceMs` after its previous frame is the
 * same presentation; after `debounceMs` without frames it is a new tap.
 * The reader is listen-only: every command is unsupported.
 */
import { z } from 'zod';
import { cardReader, type Capability } from '../capabilities.js';
import { DriverEmitter, type DeviceDriver, type DriverContext, type DriverDefinition, type StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import { attachTransport, detachTransport, type ByteTransport } from '../transports/types.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';
import { decodeCard } from './codec.js';
import { EM4100_FORMATS, Em4100Framer, type Em4100Malformed } from './framer.js';

export const em4100OptionsSchema = z
  .object({
    /** Reader output format: RDM6300 ASCII with STX/ETX, EM-18 bare ASCII, or binary. */
    format: z.enum(EM4100_FORMATS).default('rdm6300'),
    /** A card on the reader repeats its frame; the same UID is a new tap only after this long without frames. */
    debounceMs: z.number().int().min(0).max(60_000).default(1500),
  })
  .strict();
export type Em4100Options = z.infer<typeof em4100OptionsSchema>;

export function em4100Capabilities(): Capability[] {
  return [cardReader()];
}

export class Em4100Driver extends DriverEmitter implements DeviceDriver {
  private readonly transport: ByteTransport;
  private readonly opts: Em4100Options;
  private readonly device: string;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly framer: Em4100Framer;
  /** UID -> monotonic ms of its latest frame, for debouncing. */
  private readonly lastSeen = new Map<string, number>();
  private opened = false;
  private online: boolean | null = null;

  constructor(ctx: DriverContext<Em4100Options>) {
    super();
    if (ctx.transport.type !== 'bytes') throw new Error(`${ctx.deviceId}: em4100 needs a byte transport (serial or tcp)`);
    this.transport = ctx.transport.transport;
    this.opts = ctx.options;
    this.device = ctx.deviceId;
    this.clock = ctx.clock;
    this.log = ctx.logger.child({ ns: 'drv:em4100', device: ctx.deviceId });
    this.framer = new Em4100Framer(ctx.options.format);
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
    this.lastSeen.clear();
    this.online = null;
  }

  async execute(command: string, _args: Record<string, unknown>): Promise<StatePatch> {
    throw new DeviceError('unsupported', this.device, command, 'an EM4100 card reader takes no commands');
  }

  private readonly onUp = (): void => {
    if (this.online === true) return;
    this.online = true;
    this.log.info({ transport: this.transport.description }, 'card reader connected');
    this.emit('online', true);
  };

  private readonly onDown = (error: Error | undefined): void => {
    this.framer.reset(); // a frame cut by the outage must not join bytes after it
    if (this.online === false) return;
    this.online = false;
    const reason = error ? error.message : 'transport closed';
    this.log.warn({ transport: this.transport.description, reason }, 'card reader disconnected');
    this.emit('online', false, reason);
  };

  private readonly onData = (chunk: Buffer): void => {
    try {
      for (const out of this.framer.push(chunk)) {
        if (out.type === 'frame') this.onCard(out.data);
        else this.malformed(out);
      }
    } catch (e) {
      // The framer never throws; a listener of ours might. Never let it reach the transport.
      this.log.error({ err: e instanceof Error ? e.message : String(e) }, 'card frame handling failed');
    }
  };

  private onCard(data: Buffer): void {
    const card = decodeCard(data);
    const now = this.clock.monotonic();
    for (const [uid, seen] of this.lastSeen) if (now - seen >= this.opts.debounceMs) this.lastSeen.delete(uid);
    const repeat = this.lastSeen.has(card.uid);
    this.lastSeen.set(card.uid, now);
    if (repeat) return;
    this.log.debug({ uid: card.uid }, 'card presented');
    this.emit('card', { uid: card.uid, number: card.number, format: this.opts.format, ts: this.clock.now() });
  }

  private malformed(m: Em4100Malformed): void {
    const detail = `${this.device}: ${m.reason} (${m.bytes} byte(s): ${m.sample.toString('hex')}${m.bytes > m.sample.length ? '...' : ''})`;
    this.log.warn({ reason: m.reason, bytes: m.bytes, sample: m.sample.toString('hex') }, 'malformed data from card reader');
    this.emit('malformed', detail);
  }
}

export const em4100Driver: DriverDefinition<Em4100Options> = {
  driver: 'em4100',
  kinds: ['card-reader'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'EM4100 125 kHz readers: RDM6300 / EM-18 ASCII and binary STX-LEN-TYPE frames (Seeed RDM6300 datasheet, EM-18 datasheet)',
  optionsSchema: em4100OptionsSchema,
  capabilities: () => em4100Capabilities(),
  create: (ctx) => new Em4100Driver(ctx),
};
