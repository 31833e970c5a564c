/**
 * Modbus codec: PDUs (function code + data) <-> typed requests/responses, and
 * the RTU ADU around them (unit id + PDU + CRC). Modbus TCP wraps the same
 * PDUs in an MBAP header (drivers/modbus-tcp/mbap.ts).
 *
 * Sources: MODBUS Application Protocol Specification V1.1b3 (§6.1 FC01 Read
 * Coils, §6.2 FC02 Read Discrete Inputs, §6.3 FC03 Read Holding Registers,
 * §6.4 FC04 Read Input Registers, §6.5 FC05 Write Single Coil, §6.6 FC06
 * Write Single Register, §6.11 FC0F Write Multiple Coils, §6.12 FC10 Write
 * Multiple Registers, §7 exception responses and codes) and MODBUS over
 * Serial Line Specification V1.02 (§2.5.1 RTU frame, CRC).
 *
 * Both sides are here: the master encodes requests and decodes responses; the
 * simulators (drivers/sim/modbus-*.ts) decode requests and encode responses.
 */
import { DeviceNakError } from '../errors.js';
import { crcOk, withCrc } from './crc.js';

export type ReadRequest = { fc: 3 | 4; address: number; quantity: number };
export type BitReadRequest = { fc: 1 | 2; address: number; quantity: number };
export type ModbusRequest =
  | BitReadRequest
  | ReadRequest
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15; address: number; values: boolean[] }
  | { fc: 16; address: number; values: number[] };

export type ModbusResponse =
  | { fc: 1 | 2; bits: boolean[] }
  | { fc: 3 | 4; registers: number[] }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15 | 16; address: number; quantity: number };

/** What a server answered: a normal response or an exception (fc | 0x80). */
export type ModbusReply = { unitId: number; ok: true; response: ModbusResponse } | { unitId: number; ok: false; fc: number; exception: number };
/** A response PDU decoded: a normal response or an exception. */
export type PduReply = { ok: true; response: ModbusResponse } | { ok: false; fc: number; exception: number };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Quantity limits of the Application Protocol spec (§6.1-§6.4, §6.11, §6.12). */
export const LIMITS = { readBits: 2000, readRegisters: 125, writeCoils: 1968, writeRegisters: 123 } as const;

/** Exception codes, Application Protocol §7. */
export const EXCEPTION_NAMES: Record<number, string> = {
  0x01: 'illegal function',
  0x02: 'illegal data address',
  0x03: 'illegal data value',
  0x04: 'server device failure',
  0x05: 'acknowledge',
  0x06: 'server device busy',
  0x08: 'memory parity error',
  0x0a: 'gateway path unavailable',
  0x0b: 'gateway target device failed to respond',
};

export function exceptionName(code: number): string {
  return EXCEPTION_NAMES[code] ?? `exception 0x${code.toString(16).padStart(2, '0')}`;
}

/**
 * The code's name as the spec's §7 table spells it ("ILLEGAL DATA ADDRESS"),
 * for operators who look it up there; codes the spec does not define are
 * "UNKNOWN EXCEPTION".
 */
export function exceptionSpecName(code: number): string {
  return EXCEPTION_NAMES[code]?.toUpperCase() ?? 'UNKNOWN EXCEPTION';
}

/** "0x0100": register addresses as vendor manuals print them. */
export function hexAddress(address: number): string {
  return `0x${address.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** The server answered with an exception response. */
export class ModbusExceptionError extends DeviceNakError {
  /**
   * `where` (optional) says what was being read, e.g. 'reading "co2" at
   * 0x0100', so that the message names the metric and address.
   */
  constructor(
    device: string,
    command: string,
    readonly functionCode: number,
    readonly exceptionCode: number,
    where?: string,
  ) {
    super(device, command, `Modbus exception ${exceptionCode} (${exceptionName(exceptionCode)}) to function ${functionCode}${where ? ` ${where}` : ''}`);
  }
}

const u16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;
const isBitRead = (fc: number): fc is 1 | 2 => fc === 1 || fc === 2;
const isRegRead = (fc: number): fc is 3 | 4 => fc === 3 || fc === 4;

function checkRequest(req: ModbusRequest): void {
  if (!u16(req.address)) throw new RangeError(`Modbus address out of range: ${req.address}`);
  let count: number;
  let max: number;
  if (req.fc === 1 || req.fc === 2) [count, max] = [req.quantity, LIMITS.readBits];
  else if (req.fc === 3 || req.fc === 4) [count, max] = [req.quantity, LIMITS.readRegisters];
  else if (req.fc === 15) [count, max] = [req.values.length, LIMITS.writeCoils];
  else if (req.fc === 16) [count, max] = [req.values.length, LIMITS.writeRegisters];
  else [count, max] = [1, 1];
  if (!Number.isInteger(count) || count < 1 || count > max) throw new RangeError(`Modbus FC${req.fc} quantity out of range 1..${max}: ${count}`);
  if (req.address + count > 0x10000) throw new RangeError(`Modbus FC${req.fc} range runs past 0xFFFF`);
  if (req.fc === 6 && !u16(req.value)) throw new RangeError(`Modbus register value out of range: ${req.value}`);
  if (req.fc === 16 && !req.values.every(u16)) throw new RangeError('Modbus register value out of range');
}

/** Pack bits LSB first, as FC01/02 replies and FC0F requests carry them (§6.1, §6.11). */
export function packBits(bits: readonly boolean[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((on, i) => {
    if (on) out[i >> 3] = (out[i >> 3] ?? 0) | (1 << (i & 7));
  });
  return out;
}

/** The first `count` bits of `bytes`, LSB first (padding bits ignored). */
export function unpackBits(bytes: Uint8Array, count: number): boolean[] {
  const bits: boolean[] = [];
  for (let i = 0; i < count; i++) bits.push((((bytes[i >> 3] ?? 0) >> (i & 7)) & 1) === 1);
  return bits;
}

/** The PDU (function code + data) of a request. */
export function encodeRequestPdu(req: ModbusRequest): Buffer {
  checkRequest(req);
  const head = (fc: number, address: number, word: number): Buffer => {
    const b = Buffer.alloc(5);
    b.writeUInt8(fc, 0);
    b.writeUInt16BE(address, 1);
    b.writeUInt16BE(word, 3);
    return b;
  };
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      return head(req.fc, req.address, req.quantity);
    case 5:
      return head(5, req.address, req.value ? 0xff00 : 0x0000);
    case 6:
      return head(6, req.address, req.value);
    case 15: {
      const bits = packBits(req.values);
      return Buffer.concat([head(15, req.address, req.values.length), Buffer.of(bits.length), bits]);
    }
    case 16: {
      const n = req.values.length;
      const data = Buffer.alloc(1 + 2 * n);
      data.writeUInt8(2 * n, 0);
      req.values.forEach((v, i) => data.writeUInt16BE(v, 1 + 2 * i));
      return Buffer.concat([head(16, req.address, n), data]);
    }
  }
}

/** The full RTU ADU of a request: unit id, PDU, CRC. */
export function encodeRequest(unitId: number, req: ModbusRequest): Buffer {
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 247) throw new RangeError(`Modbus unit id out of range: ${unitId}`);
  return withCrc(Buffer.concat([Buffer.of(unitId), encodeRequestPdu(req)]));
}

/** Length of the normal response PDU to `req` (exception PDUs are 2 bytes). */
export function expectedResponsePduLength(req: ModbusRequest): number {
  if (isBitRead(req.fc)) return 2 + Math.ceil((req as BitReadRequest).quantity / 8);
  if (isRegRead(req.fc)) return 2 + 2 * (req as ReadRequest).quantity;
  return 5;
}

/** Length of the normal response ADU to `req` (exception responses are 5 bytes). */
export function expectedResponseLength(req: ModbusRequest): number {
  return 3 + expectedResponsePduLength(req);
}

/** The byte count a read reply must announce (FC01-04), else undefined. */
export function expectedByteCount(req: ModbusRequest): number | undefined {
  if (isBitRead(req.fc) || isRegRead(req.fc)) return expectedResponsePduLength(req) - 2;
  return undefined;
}

export const EXCEPTION_ADU_LENGTH = 5;
export const EXCEPTION_PDU_LENGTH = 2;

/**
 * Decode a response PDU to `req`. Anything that does not answer that request
 * is an error result, never an exception thrown.
 */
export function decodeResponsePdu(req: ModbusRequest, pdu: Uint8Array): Decoded<PduReply> {
  const b = Buffer.from(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const fail = (error: string): Decoded<PduReply> => ({ ok: false, error });
  const fc = b[0];
  if (fc === undefined) return fail('empty reply');
  if (fc === (req.fc | 0x80)) {
    if (b.length !== EXCEPTION_PDU_LENGTH) return fail('exception reply of wrong length');
    return { ok: true, value: { ok: false, fc: req.fc, exception: b[1] ?? 0 } };
  }
  if (fc !== req.fc) return fail(`reply with function ${fc} to function ${req.fc}`);
  const want = expectedResponsePduLength(req);
  if (b.length !== want) return fail(`reply of ${b.length + 3} bytes, expected ${want + 3}`);
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4: {
      const count = expectedByteCount(req);
      if (b[1] !== count) return fail(`byte count ${b[1]} for ${req.quantity} ${isBitRead(req.fc) ? 'bits' : 'registers'}`);
      if (req.fc === 1 || req.fc === 2) return { ok: true, value: { ok: true, response: { fc: req.fc, bits: unpackBits(b.subarray(2), req.quantity) } } };
      const registers: number[] = [];
      for (let i = 0; i < req.quantity; i++) registers.push(b.readUInt16BE(2 + 2 * i));
      return { ok: true, value: { ok: true, response: { fc: req.fc, registers } } };
    }
    case 5:
    case 6: {
      const address = b.readUInt16BE(1);
      const raw = b.readUInt16BE(3);
      const sent = req.fc === 5 ? (req.value ? 0xff00 : 0) : req.value;
      if (address !== req.address || raw !== sent) return fail('write echo does not match the request');
      const response: ModbusResponse = req.fc === 5 ? { fc: 5, address, value: raw === 0xff00 } : { fc: 6, address, value: raw };
      return { ok: true, value: { ok: true, response } };
    }
    case 15:
    case 16: {
      const address = b.readUInt16BE(1);
      const quantity = b.readUInt16BE(3);
      if (address !== req.address || quantity !== req.values.length) return fail('write reply does not match the request');
      return { ok: true, value: { ok: true, response: { fc: req.fc, address, quantity } } };
    }
  }
}

/**
 * Decode an RTU response ADU (CRC already checked by the framer, checked
 * again here) to `req` from `unitId`.
 */
export function decodeResponse(unitId: number, req: ModbusRequest, adu: Uint8Array): Decoded<ModbusReply> {
  const b = Buffer.from(adu.buffer, adu.byteOffset, adu.byteLength);
  if (b.length < EXCEPTION_ADU_LENGTH || !crcOk(b)) return { ok: false, error: 'bad CRC or too short' };
  if (b[0] !== unitId) return { ok: false, error: `reply from unit ${b[0]} to a request for unit ${unitId}` };
  const r = decodeResponsePdu(req, b.subarray(1, b.length - 2));
  return r.ok ? { ok: true, value: { unitId, ...r.value } } : r;
}

// ---- server side (simulators) ----

export type ServerRequest = { unitId: number; request: ModbusRequest } | { unitId: number; unsupported: number };
export type ServerPdu = { request: ModbusRequest } | { unsupported: number };

/**
 * Length of the request ADU starting at `b[at]` if it can be known from the
 * bytes so far: a number, 'need-more', or 'unknown' (unsupported function).
 */
export function requestLength(b: Uint8Array, at = 0): number | 'need-more' | 'unknown' {
  const fc = b[at + 1];
  if (fc === undefined) return 'need-more';
  if (fc >= 1 && fc <= 6) return 8;
  if (fc === 15 || fc === 16) {
    const count = b[at + 6];
    return count === undefined ? 'need-more' : 9 + count;
  }
  return 'unknown';
}

/** Decode a request PDU (function code + data). */
export function decodeRequestPdu(pdu: Uint8Array): Decoded<ServerPdu> {
  const b = Buffer.from(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const fc = b[0] ?? 0;
  if (b.length < 1) return { ok: false, error: 'request too short' };
  const fixed = (): boolean => b.length === 5;
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      if (!fixed()) return { ok: false, error: 'bad request length' };
      return { ok: true, value: { request: { fc, address: b.readUInt16BE(1), quantity: b.readUInt16BE(3) } } };
    case 5:
      if (!fixed()) return { ok: false, error: 'bad request length' };
      return { ok: true, value: { request: { fc, address: b.readUInt16BE(1), value: b.readUInt16BE(3) === 0xff00 } } };
    case 6:
      if (!fixed()) return { ok: false, error: 'bad request length' };
      return { ok: true, value: { request: { fc, address: b.readUInt16BE(1), value: b.readUInt16BE(3) } } };
    case 15:
    case 16: {
      if (b.length < 6) return { ok: false, error: 'bad request length' };
      const address = b.readUInt16BE(1);
      const quantity = b.readUInt16BE(3);
      const count = b[5] ?? 0;
      if (b.length !== 6 + count) return { ok: false, error: 'bad request length' };
      if (fc === 16) {
        if (count !== 2 * quantity) return { ok: false, error: 'byte count does not match quantity' };
        const values: number[] = [];
        for (let i = 0; i < quantity; i++) values.push(b.readUInt16BE(6 + 2 * i));
        return { ok: true, value: { request: { fc, address, values } } };
      }
      if (count !== Math.ceil(quantity / 8)) return { ok: false, error: 'byte count does not match quantity' };
      return { ok: true, value: { request: { fc, address, values: unpackBits(b.subarray(6), quantity) } } };
    }
    default:
      return { ok: true, value: { unsupported: fc } };
  }
}

/** Decode an RTU request ADU (CRC checked by the caller). */
export function decodeRequest(adu: Uint8Array): Decoded<ServerRequest> {
  if (adu.length < 4) return { ok: false, error: 'request too short' };
  const unitId = adu[0] ?? 0;
  const r = decodeRequestPdu(adu.subarray(1, adu.length - 2));
  return r.ok ? { ok: true, value: { unitId, ...r.value } } : r;
}

export function encodeResponsePdu(res: ModbusResponse): Buffer {
  switch (res.fc) {
    case 1:
    case 2: {
      const bits = packBits(res.bits);
      return Buffer.concat([Buffer.of(res.fc, bits.length), bits]);
    }
    case 3:
    case 4: {
      const pdu = Buffer.alloc(2 + 2 * res.registers.length);
      pdu[0] = res.fc;
      pdu[1] = 2 * res.registers.length;
      res.registers.forEach((v, i) => pdu.writeUInt16BE(v & 0xffff, 2 + 2 * i));
      return pdu;
    }
    case 5:
    case 6:
    case 15:
    case 16: {
      const pdu = Buffer.alloc(5);
      pdu[0] = res.fc;
      pdu.writeUInt16BE(res.address, 1);
      const word = res.fc === 5 ? (res.value ? 0xff00 : 0) : res.fc === 6 ? res.value : res.quantity;
      pdu.writeUInt16BE(word, 3);
      return pdu;
    }
  }
}

export function encodeResponse(unitId: number, res: ModbusResponse): Buffer {
  return withCrc(Buffer.concat([Buffer.of(unitId), encodeResponsePdu(res)]));
}

export function encodeExceptionPdu(fc: number, code: number): Buffer {
  return Buffer.of((fc | 0x80) & 0xff, code & 0xff);
}

export function encodeException(unitId: number, fc: number, code: number): Buffer {
  return withCrc(Buffer.concat([Buffer.of(unitId), encodeExceptionPdu(fc, code)]));
}
