/**
 * UID line codec: the text a reader prints <-> the canonical card UID.
 *
 * ISO/IEC 14443-3 type A cards (Mifare Classic, Ultralight, DESFire, ...)
 * have a single (4-byte), double (7-byte) or triple (10-byte) size UID,
 * transmitted UID0 first during anticollision. The canonical UID used on the
 * bus is those bytes in that order, as upper-case hex without separators
 * (NXP's own tools print it that way, e.g. `04A32B1C5E3D80` for a 7-byte
 * UID). Readers print it in one of a few ways, set by the reader's
 * configuration utility (docs/drivers/uid-reader.md):
 * - `encoding: hex`: the bytes as hex digits; separators ' ', ':' and '-'
 *   between them are accepted and ignored, case is ignored.
 * - `encoding: decimal`: the bytes read as one unsigned number, printed in
 *   decimal (the "10-digit" format of 4-byte readers, often zero-padded).
 * - `byteOrder: msb`: UID0 comes first (hex) / is the most significant byte
 *   (decimal). `lsb`: reversed, UID0 last / least significant - the usual
 *   order of readers that print a decimal number.
 * Without `uidBytes`, hex lines must have 4, 7 or 10 bytes, and a decimal
 * number takes the smallest of those sizes that holds it (so 7- and 10-byte
 * readers in decimal mode need `uidBytes`, see the driver page).
 */
export type UidEncoding = 'hex' | 'decimal';
export type UidByteOrder = 'msb' | 'lsb';
export type UidBytes = 4 | 7 | 10;
export const UID_SIZES = [4, 7, 10] as const satisfies readonly UidBytes[];

export interface UidFormat {
  encoding: UidEncoding;
  byteOrder: UidByteOrder;
  uidBytes?: UidBytes | undefined;
}

export interface UidRead {
  /** Canonical UID: UID0 first, upper-case hex. */
  uid: string;
  /** The decimal number as the reader printed it (decimal encoding only). */
  number?: string;
}

export type UidDecodeResult = ({ ok: true } & UidRead) | { ok: false; reason: string };

const HEX_LINE = /^[0-9A-Fa-f]+(?:[ :-]?[0-9A-Fa-f]+)*$/;
const DECIMAL_LINE = /^\d+$/;
/** 2^80 has 25 decimal digits; anything longer cannot be a UID. */
const MAX_DECIMAL_DIGITS = 25;
/** Zero-padded decimal width per UID size: digits of 2^(8n) - 1. */
const DECIMAL_WIDTH: Record<UidBytes, number> = { 4: 10, 7: 17, 10: 25 };

function orderBytes(bytes: Buffer, order: UidByteOrder): Buffer {
  return order === 'lsb' ? Buffer.from(bytes).reverse() : bytes;
}

function decodeHex(text: string, fmt: UidFormat): UidDecodeResult {
  if (!HEX_LINE.test(text)) return { ok: false, reason: `not a hex UID: ${JSON.stringify(text)}` };
  const digits = text.replace(/[ :-]/g, '');
  if (digits.length % 2 !== 0) return { ok: false, reason: `odd number of hex digits (${digits.length}): ${JSON.stringify(text)}` };
  const n = digits.length / 2;
  if (fmt.uidBytes !== undefined ? n !== fmt.uidBytes : !(UID_SIZES as readonly number[]).includes(n)) {
    const want = fmt.uidBytes !== undefined ? `${fmt.uidBytes}` : '4, 7 or 10';
    return { ok: false, reason: `UID of ${n} byte(s), expected ${want}: ${JSON.stringify(text)}` };
  }
  const bytes = orderBytes(Buffer.from(digits, 'hex'), fmt.byteOrder);
  return { ok: true, uid: bytes.toString('hex').toUpperCase() };
}

function decodeDecimal(text: string, fmt: UidFormat): UidDecodeResult {
  if (!DECIMAL_LINE.test(text)) return { ok: false, reason: `not a decimal UID: ${JSON.stringify(text)}` };
  if (text.length > MAX_DECIMAL_DIGITS) return { ok: false, reason: `decimal UID too long (${text.length} digits)` };
  const value = BigInt(text);
  const size = fmt.uidBytes ?? UID_SIZES.find((s) => value < 1n << BigInt(8 * s));
  if (size === undefined || value >= 1n << BigInt(8 * size)) {
    return { ok: false, reason: `${text} does not fit in a ${size ?? 10}-byte UID` };
  }
  const hex = value.toString(16).padStart(2 * size, '0');
  const bytes = orderBytes(Buffer.from(hex, 'hex'), fmt.byteOrder);
  return { ok: true, uid: bytes.toString('hex').toUpperCase(), number: text };
}

/** Decode one line of reader output; never throws. */
export function decodeUidLine(text: string, fmt: UidFormat): UidDecodeResult {
  return fmt.encoding === 'hex' ? decodeHex(text, fmt) : decodeDecimal(text, fmt);
}

/** "04A32B1C" -> its bytes; throws RangeError unless 4, 7 or 10 bytes of hex. */
export function parseCanonicalUid(uid: string): Buffer {
  if (!/^(?:[0-9A-Fa-f]{2}){4}(?:(?:[0-9A-Fa-f]{2}){3}){0,2}$/.test(uid)) {
    throw new RangeError(`a UID is 4, 7 or 10 bytes of hex, got ${JSON.stringify(uid)}`);
  }
  return Buffer.from(uid, 'hex');
}

/** The text a reader in format `fmt` prints for the canonical `uid` (decimal zero-padded to the size's width). */
export function encodeUidLine(uid: string, fmt: Pick<UidFormat, 'encoding' | 'byteOrder'>): string {
  const bytes = orderBytes(parseCanonicalUid(uid), fmt.byteOrder);
  if (fmt.encoding === 'hex') return bytes.toString('hex').toUpperCase();
  const width = DECIMAL_WIDTH[bytes.length as UidBytes];
  return BigInt(`0x${bytes.toString('hex')}`).toString(10).padStart(width, '0');
}
