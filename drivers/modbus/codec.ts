/**
 * Modbus RTU codec: ADUs (unit id + PDU + CRC) <-> typed requests/responses.
 *
 * Sources: MODBUS Application Protocol Specification V1.1b3 (§6.3 FC03 Read
 * Holding Registers, §6.4 FC04 Read Input Registers, §6.5 FC05 Write Single
 * Coil, §6.6 FC06 Write Single Register, §6.11 FC0F Write Multiple Coils,
 * §6.12 FC10 Write Multiple Registers, §7 exception responses and codes) and
 * MODBUS over Serial Line Specification V1.02 (§2.5.1 RTU frame, CRC).
 *
 * Both sides are here: the master encodes requests and decodes responses; the
 * simulator (drivers/sim/modbus-rtu.ts) decodes requests and encodes responses.
 */
import { DeviceNakError } from '../errors.js';
import { crcOk, withCrc } from './crc.js';

export type ReadRequest = { fc: 3 | 4; address: number; quantity: number };
export type ModbusRequest =
  | ReadRequest
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15; address: number; values: boolean[] }
  | { fc: 16; address: number; values: number[] };

export type ModbusResponse =
  | { fc: 3 | 4; registers: number[] }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15 | 16; address: number; quantity: number };

/** What a server answered: a normal response or an exception (fc | 0x80). */
export type ModbusReply = { unitId: number; ok: true; response: ModbusResponse } | { unitId: number; ok: false; fc: number; exception: number };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Quantity limits of the Application Protocol spec (§6.3, §6.4, §6.11, §6.12). */
export const LIMITS = { readRegisters: 125, writeCoils: 1968, writeRegisters: 123 } as const;

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

/** The server answered with an exception response. */
export class ModbusExceptionError extends DeviceNakError {
  constructor(
    device: string,
    command: string,
    readonly functionCode: number,
    readonly exceptionCode: number,
  ) {
    super(device, command, `Modbus exception ${exceptionCode} (${exceptionName(exceptionCode)}) to function ${functionCode}`);
  }
}

const u16 = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff;

function checkRequest(req: ModbusRequest): void {
  if (!u16(req.address)) throw new RangeError(`Modbus address out of range: ${req.address}`);
  const count = req.fc === 3 || req.fc === 4 ? req.quantity : req.fc === 15 || req.fc === 16 ? req.values.length : 1;
  const max = req.fc === 3 || req.fc === 4 ? LIMITS.readRegisters : req.fc === 15 ? LIMITS.writeCoils : req.fc === 16 ? LIMITS.writeRegisters : 1;
  if (!Number.isInteger(count) || count < 1 || count > max) throw new RangeError(`Modbus FC${req.fc} quantity out of range 1..${max}: ${count}`);
  if (req.address + count > 0x10000) throw new RangeError(`Modbus FC${req.fc} range runs past 0xFFFF`);
  if (req.fc === 6 && !u16(req.value)) throw new RangeError(`Modbus register value out of range: ${req.value}`);
  if (req.fc === 16 && !req.values.every(u16)) throw new RangeError('Modbus register value out of range');
}

/** The PDU (function code + data) of a request. */
export function encodeRequestPdu(req: ModbusRequest): Buffer {
  checkRequest(req);
  switch (req.fc) {
    case 3:
    case 4: {
      const b = Buffer.alloc(5);
      b.writeUInt8(req.fc, 0);
      b.writeUInt16BE(req.address, 1);
      b.writeUInt16BE(req.quantity, 3);
      return b;
    }
    case 5:
    case 6: {
      const b = Buffer.alloc(5);
      b.writeUInt8(req.fc, 0);
      b.writeUInt16BE(req.address, 1);
      b.writeUInt16BE(req.fc === 5 ? (req.value ? 0xff00 : 0x0000) : req.value, 3);
      return b;
    }
    case 15: {
      const n = req.values.length;
      const bytes = Math.ceil(n / 8);
      const b = Buffer.alloc(6 + bytes);
      b.writeUInt8(15, 0);
      b.writeUInt16BE(req.address, 1);
      b.writeUInt16BE(n, 3);
      b.writeUInt8(bytes, 5);
      req.values.forEach((on, i) => {
        if (on) b[6 + (i >> 3)] = (b[6 + (i >> 3)] ?? 0) | (1 << (i & 7));
      });
      return b;
    }
    case 16: {
      const n = req.values.length;
      const b = Buffer.alloc(6 + 2 * n);
      b.writeUInt8(16, 0);
      b.writeUInt16BE(req.address, 1);
      b.writeUInt16BE(n, 3);
      b.writeUInt8(2 * n, 5);
      req.values.forEach((v, i) => b.writeUInt16BE(v, 6 + 2 * i));
      return b;
    }
  }
}

/** The full RTU ADU of a request: unit id, PDU, CRC. */
export function encodeRequest(unitId: number, req: ModbusRequest): Buffer {
  if (!Number.isInteger(unitId) || unitId < 0 || unitId > 247) throw new RangeError(`Modbus unit id out of range: ${unitId}`);
  return withCrc(Buffer.concat([Buffer.of(unitId), encodeRequestPdu(req)]));
}

/** Length of the normal response ADU to `req` (exception responses are 5 bytes). */
export function expectedResponseLength(req: ModbusRequest): number {
  return req.fc === 3 || req.fc === 4 ? 5 + 2 * req.quantity : 8;
}

export const EXCEPTION_ADU_LENGTH = 5;

/**
 * Decode a response ADU (CRC already checked by the framer, checked again
 * here) to `req` from `unitId`. Anything that does not answer that request is
 * an error result, never an exception thrown.
 */
export function decodeResponse(unitId: number, req: ModbusRequest, adu: Uint8Array): Decoded<ModbusReply> {
  const b = Buffer.from(adu.buffer, adu.byteOffset, adu.byteLength);
  const fail = (error: string): Decoded<ModbusReply> => ({ ok: false, error });
  if (b.length < EXCEPTION_ADU_LENGTH || !crcOk(b)) return fail('bad CRC or too short');
  if (b[0] !== unitId) return fail(`reply from unit ${b[0]} to a request for unit ${unitId}`);
  const fc = b[1] ?? 0;
  if (fc === (req.fc | 0x80)) {
    if (b.length !== EXCEPTION_ADU_LENGTH) return fail('exception reply of wrong length');
    return { ok: true, value: { unitId, ok: false, fc: req.fc, exception: b[2] ?? 0 } };
  }
  if (fc !== req.fc) return fail(`reply with function ${fc} to function ${req.fc}`);
  if (b.length !== expectedResponseLength(req)) return fail(`reply of ${b.length} bytes, expected ${expectedResponseLength(req)}`);
  switch (req.fc) {
    case 3:
    case 4: {
      if (b[2] !== 2 * req.quantity) return fail(`byte count ${b[2]} for ${req.quantity} registers`);
      const registers: number[] = [];
      for (let i = 0; i < req.quantity; i++) registers.push(b.readUInt16BE(3 + 2 * i));
      return { ok: true, value: { unitId, ok: true, response: { fc: req.fc, registers } } };
    }
    case 5:
    case 6: {
      const address = b.readUInt16BE(2);
      const raw = b.readUInt16BE(4);
      const sent = req.fc === 5 ? (req.value ? 0xff00 : 0) : req.value;
      if (address !== req.address || raw !== sent) return fail('write echo does not match the request');
      const response: ModbusResponse = req.fc === 5 ? { fc: 5, address, value: raw === 0xff00 } : { fc: 6, address, value: raw };
      return { ok: true, value: { unitId, ok: true, response } };
    }
    case 15:
    case 16: {
      const address = b.readUInt16BE(2);
      const quantity = b.readUInt16BE(4);
      if (address !== req.address || quantity !== req.values.length) return fail('write reply does not match the request');
      return { ok: true, value: { unitId, ok: true, response: { fc: req.fc, address, quantity } } };
    }
  }
}

// ---- server side (simulator) ----

export type ServerRequest = { unitId: number; request: ModbusRequest } | { unitId: number; unsupported: number };

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

/** Decode a request ADU (CRC checked by the caller). */
export function decodeRequest(adu: Uint8Array): Decoded<ServerRequest> {
  const b = Buffer.from(adu.buffer, adu.byteOffset, adu.byteLength);
  const unitId = b[0] ?? 0;
  const fc = b[1] ?? 0;
  if (b.length < 4) return { ok: false, error: 'request too short' };
  const address = b.length >= 4 ? b.readUInt16BE(2) : 0;
  switch (fc) {
    case 3:
    case 4:
      if (b.length !== 8) return { ok: false, error: 'bad request length' };
      return { ok: true, value: { unitId, request: { fc, address, quantity: b.readUInt16BE(4) } } };
    case 5:
      if (b.length !== 8) return { ok: false, error: 'bad request length' };
      return { ok: true, value: { unitId, request: { fc, address, value: b.readUInt16BE(4) === 0xff00 } } };
    case 6:
      if (b.length !== 8) return { ok: false, error: 'bad request length' };
      return { ok: true, value: { unitId, request: { fc, address, value: b.readUInt16BE(4) } } };
    case 15:
    case 16: {
      const quantity = b.readUInt16BE(4);
      const count = b[6] ?? 0;
      if (b.length !== 9 + count) return { ok: false, error: 'bad request length' };
      if (fc === 16) {
        if (count !== 2 * quantity) return { ok: false, error: 'byte count does not match quantity' };
        const values: number[] = [];
        for (let i = 0; i < quantity; i++) values.push(b.readUInt16BE(7 + 2 * i));
        return { ok: true, value: { unitId, request: { fc, address, values } } };
      }
      if (count !== Math.ceil(quantity / 8)) return { ok: false, error: 'byte count does not match quantity' };
      const values: boolean[] = [];
      for (let i = 0; i < quantity; i++) values.push((((b[7 + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 1);
      return { ok: true, value: { unitId, request: { fc, address, values } } };
    }
    default:
      return { ok: true, value: { unitId, unsupported: fc } };
  }
}

export function encodeResponse(unitId: number, res: ModbusResponse): Buffer {
  let pdu: Buffer;
  switch (res.fc) {
    case 3:
    case 4:
      pdu = Buffer.alloc(2 + 2 * res.registers.length);
      pdu[0] = res.fc;
      pdu[1] = 2 * res.registers.length;
      res.registers.forEach((v, i) => pdu.writeUInt16BE(v & 0xffff, 2 + 2 * i));
      break;
    case 5:
    case 6:
      pdu = Buffer.alloc(5);
      pdu[0] = res.fc;
      pdu.writeUInt16BE(res.address, 1);
      pdu.writeUInt16BE(res.fc === 5 ? (res.value ? 0xff00 : 0) : res.value, 3);
      break;
    case 15:
    case 16:
      pdu = Buffer.alloc(5);
      pdu[0] = res.fc;
      pdu.writeUInt16BE(res.address, 1);
      pdu.writeUInt16BE(res.quantity, 3);
      break;
  }
  return withCrc(Buffer.concat([Buffer.of(unitId), pdu]));
}

export function encodeException(unitId: number, fc: number, code: number): Buffer {
  return withCrc(Buffer.of(unitId, (fc | 0x80) & 0xff, code));
}
