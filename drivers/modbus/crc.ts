/**
 * Modbus RTU CRC-16 (Modbus over Serial Line Specification V1.02, §6.2.2 and
 * Appendix B): initial value 0xFFFF, reflected polynomial 0xA001, appended
 * low byte first. Example: 01 03 00 00 00 06 -> C5 C8.
 */

const TABLE: Uint16Array = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** One step of the CRC: feed `byte` into `crc` (start from 0xFFFF). */
export function crc16Update(crc: number, byte: number): number {
  return (crc >>> 8) ^ (TABLE[(crc ^ byte) & 0xff] ?? 0);
}

/** CRC-16/MODBUS of bytes[start, end). */
export function crc16(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0);
  return crc;
}

/** Return `pdu` with its CRC appended, low byte first. */
export function withCrc(bytes: Uint8Array): Buffer {
  const out = Buffer.alloc(bytes.length + 2);
  out.set(bytes, 0);
  const crc = crc16(bytes);
  out[bytes.length] = crc & 0xff;
  out[bytes.length + 1] = crc >>> 8;
  return out;
}

/** True when the last two bytes of `frame` are the CRC of the rest. */
export function crcOk(frame: Uint8Array, start = 0, end = frame.length): boolean {
  if (end - start < 3) return false;
  const crc = crc16(frame, start, end - 2);
  return frame[end - 2] === (crc & 0xff) && frame[end - 1] === crc >>> 8;
}
