/**
 * Wiegand codec: frames of bits <-> facility code and card number.
 *
 * Formats (SIA AC-01 "Access Control Standard Protocol for the 26-Bit
 * Wiegand Reader Interface"; HID "Understanding Card Data Formats" for the
 * 26- and 34-bit layouts; shared/PROTOCOLS.md):
 * - W26: bit 1 = even parity over bits 2-13, bits 2-9 = 8-bit facility code,
 *   bits 10-25 = 16-bit card number, bit 26 = odd parity over bits 14-25.
 *   FC 123 / card 4567 = 1 01111011 0001000111010111 0.
 * - W34: bit 1 = even parity over bits 2-17, bits 2-17 = 16-bit facility
 *   code, bits 18-33 = 16-bit card number, bit 34 = odd parity over bits
 *   18-33.
 * Bits are numbered from 1 in the order sent (most significant first).
 *
 * What the driver reports (docs/drivers/wiegand.md):
 * - `uid`: the data bits between the parity bits (facility code and card
 *   number) as upper-case hex, 6 digits for W26 (`7B11D7`), 8 for W34. For
 *   an EM4100 card read by a W26 reader these are the last 3 bytes of its
 *   10-digit EM4100 UID.
 * - `number`: "FC,card" in decimal as printed on 26-bit cards, zero-padded
 *   (`123,04567`; W34: `00123,04567`).
 */
export type WiegandFormat = 'w26' | 'w34';
export const WIEGAND_FORMATS = ['w26', 'w34'] as const satisfies readonly WiegandFormat[];
export type Bit = 0 | 1;

interface Layout {
  bits: number;
  facilityBits: number;
  cardBits: number;
  /** Decimal widths of "FC,card". */
  facilityDigits: number;
  cardDigits: number;
}

export const LAYOUTS: Record<WiegandFormat, Layout> = {
  w26: { bits: 26, facilityBits: 8, cardBits: 16, facilityDigits: 3, cardDigits: 5 },
  w34: { bits: 34, facilityBits: 16, cardBits: 16, facilityDigits: 5, cardDigits: 5 },
};

export interface WiegandCard {
  format: WiegandFormat;
  facility: number;
  card: number;
  /** Data bits (facility + card) as upper-case hex. */
  uid: string;
  /** "FC,card", zero-padded decimal. */
  number: string;
}

export type WiegandDecodeResult = { ok: true; card: WiegandCard } | { ok: false; reason: string };

const ones = (bits: readonly Bit[]): number => bits.reduce<number>((n, b) => n + b, 0);

function toNumber(bits: readonly Bit[]): number {
  let n = 0;
  for (const b of bits) n = n * 2 + b;
  return n;
}

/** Decode one frame of bits; `format: 'auto'` picks the layout from the bit count. Never throws. */
export function decodeWiegand(bits: readonly Bit[], format: WiegandFormat | 'auto'): WiegandDecodeResult {
  const fmt = format === 'auto' ? WIEGAND_FORMATS.find((f) => LAYOUTS[f].bits === bits.length) : format;
  if (fmt === undefined || LAYOUTS[fmt].bits !== bits.length) {
    const want = fmt === undefined ? '26 or 34' : String(LAYOUTS[fmt].bits);
    return { ok: false, reason: `wrong bit count: ${bits.length} bit(s), expected ${want}` };
  }
  const layout = LAYOUTS[fmt];
  const data = bits.slice(1, -1);
  const half = data.length / 2;
  if ((bits[0]! + ones(data.slice(0, half))) % 2 !== 0) return { ok: false, reason: `${fmt}: even parity (first bit) fails` };
  if ((bits[bits.length - 1]! + ones(data.slice(half))) % 2 !== 1) return { ok: false, reason: `${fmt}: odd parity (last bit) fails` };
  const facility = toNumber(data.slice(0, layout.facilityBits));
  const card = toNumber(data.slice(layout.facilityBits));
  return {
    ok: true,
    card: {
      format: fmt,
      facility,
      card,
      uid: toNumber(data).toString(16).toUpperCase().padStart(data.length / 4, '0'),
      number: `${String(facility).padStart(layout.facilityDigits, '0')},${String(card).padStart(layout.cardDigits, '0')}`,
    },
  };
}

/** The bits a reader sends for facility `facility` and card `card`; throws RangeError when they do not fit. */
export function encodeWiegand(format: WiegandFormat, facility: number, card: number): Bit[] {
  const layout = LAYOUTS[format];
  const check = (name: string, v: number, width: number): void => {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** width) throw new RangeError(`${format} ${name} must be 0..${2 ** width - 1}, got ${v}`);
  };
  check('facility code', facility, layout.facilityBits);
  check('card number', card, layout.cardBits);
  const field = (v: number, width: number): Bit[] =>
    Array.from({ length: width }, (_, i) => ((Math.floor(v / 2 ** (width - 1 - i)) % 2) as Bit));
  const data = [...field(facility, layout.facilityBits), ...field(card, layout.cardBits)];
  const half = data.length / 2;
  const even = (ones(data.slice(0, half)) % 2) as Bit;
  const odd = ((ones(data.slice(half)) + 1) % 2) as Bit;
  return [even, ...data, odd];
}

/** "10111..." -> bits; throws RangeError on other characters. */
export function parseBits(text: string): Bit[] {
  if (!/^[01]*$/.test(text)) throw new RangeError(`bits must be 0/1 characters, got ${JSON.stringify(text)}`);
  return [...text].map((c) => (c === '1' ? 1 : 0));
}

export const formatBits = (bits: readonly Bit[]): string => bits.join('');
