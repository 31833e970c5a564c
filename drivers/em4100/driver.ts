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
 * The reader is listen-only: every command is unsupported. Transport,
 * online state, debounce and malformed bytes: ../util/card-reader.ts.
 */
import { z } from 'zod';
import { cardReader, type Capability } from '../capabilities.js';
import type { DriverContext, DriverDefinition } from '../contract.js';
import { ByteCardReader } from '../util/card-reader.js';
import { decodeCard } from './codec.js';
import { EM4100_FORMATS, Em4100Framer, type Em4100FramerOutput } from './framer.js';

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

export class Em4100Driver extends ByteCardReader<Em4100FramerOutput> {
  protected readonly framer: Em4100Framer;
  private readonly format: Em4100Options['format'];

  constructor(ctx: DriverContext<Em4100Options>) {
    super(ctx, 'em4100', 'an EM4100 card reader', 'frame');
    this.framer = new Em4100Framer(ctx.options.format);
    this.format = ctx.options.format;
  }

  protected handle(out: Em4100FramerOutput): void {
    if (out.type !== 'frame') return this.malformedBytes(out);
    const card = decodeCard(out.data);
    this.report({ uid: card.uid, number: card.number, format: this.format });
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
