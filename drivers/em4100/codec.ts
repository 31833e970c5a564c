/**
 * EM4100 codec: 5-byte card frames <-> typed card reads.
 *
 * An EM4100 tag holds 40 bits: an 8-bit version/customer byte and a 32-bit
 * number. Readers print the whole 40 bits as 10 hex digits (the UID); the
 * number printed on the card is the decimal value of the last 4 bytes,
 * conventionally as 10 digits with leading zeros (Seeed RDM6300 datasheet
 * "the tag number is equal to the later 4 bytes in decimal"; EM-18 example
 * 4500C5D1E9 -> 0012964329; binary-reader example 06 00 8E 6D 5D ->
 * 0009334109).
 */
import { encodeFrame, type Em4100Format } from './framer.js';

export interface Em4100Card {
  /** 10 upper-case hex digits, e.g. "62E3086CED". */
  uid: string;
  /** Decimal of the last 4 bytes, zero-padded to 10 digits, e.g. "3808980205". */
  number: string;
}

const UID = /^[0-9A-Fa-f]{10}$/;

export function decodeCard(data: Uint8Array): Em4100Card {
  if (data.length !== 5) throw new RangeError(`EM4100 data is 5 bytes, got ${data.length}`);
  const buf = Buffer.from(data);
  return {
    uid: buf.toString('hex').toUpperCase(),
    number: buf.readUInt32BE(1).toString().padStart(10, '0'),
  };
}

/** "62E3086CED" -> its 5 bytes; throws RangeError on anything but 10 hex digits. */
export function parseUid(uid: string): Buffer {
  if (!UID.test(uid)) throw new RangeError(`EM4100 UID must be 10 hex digits, got ${JSON.stringify(uid)}`);
  return Buffer.from(uid, 'hex');
}

/** Bytes a reader in `format` sends for the card `uid`. */
export function encodeCard(format: Em4100Format, uid: string): Buffer {
  return encodeFrame(format, parseUid(uid));
}
