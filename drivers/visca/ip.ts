/**
 * VISCA over IP message header (UDP port 52381).
 *
 * Source: Sony SRG-300H / SRG-120DH technical manual, "VISCA over IP"
 * section (p.31-32 of the command list): every datagram is an 8-byte header
 * and a payload of 1..16 bytes.
 *
 *   byte 0-1  payload type   01 00 VISCA command, 01 10 VISCA inquiry,
 *                            01 11 VISCA reply, 01 20 VISCA device setting command,
 *                            02 00 control command, 02 01 control reply
 *   byte 2-3  payload length (big endian)
 *   byte 4-7  sequence number (big endian); the controller increments it per
 *             message (wrapping to 0), the camera copies it into its replies
 *   byte 8-   payload
 *
 *   example   01 00 00 06 00 00 00 01 81 01 04 00 02 FF   (CAM_Power on, seq 1)
 *
 * Control command payloads: RESET 01 (sequence number back to 0; the header's
 * number is ignored), ERROR 0F 01 (abnormal sequence number) / 0F 02
 * (abnormal message type). Control reply payload: 01 = ACK of RESET.
 * A datagram is one message: decoding is all or nothing, never throws.
 */
import { hex } from './framer.js';
import type { Decoded } from './codec.js';

export const VISCA_IP_PORT = 52381;
export const VIP_HEADER = 8;
export const VIP_MAX_PAYLOAD = 16;

export const VIP_TYPE = {
  command: 0x0100,
  inquiry: 0x0110,
  reply: 0x0111,
  deviceSetting: 0x0120,
  control: 0x0200,
  controlReply: 0x0201,
} as const;
export type VipTypeName = keyof typeof VIP_TYPE;
const TYPE_NAMES = new Map<number, VipTypeName>(Object.entries(VIP_TYPE).map(([k, v]) => [v, k as VipTypeName]));

export const VIP_RESET = 0x01;
export const VIP_RESET_ACK = 0x01;
export const VIP_ERROR = 0x0f;
export const VIP_ERROR_SEQUENCE = 0x01;
export const VIP_ERROR_MESSAGE = 0x02;

export interface VipMessage {
  type: VipTypeName;
  seq: number;
  payload: Buffer;
}

export function encodeVip(type: VipTypeName, seq: number, payload: Uint8Array): Buffer {
  if (payload.length < 1 || payload.length > VIP_MAX_PAYLOAD) throw new RangeError(`VISCA over IP payload must be 1..16 bytes, got ${payload.length}`);
  if (!Number.isInteger(seq) || seq < 0 || seq > 0xffffffff) throw new RangeError(`VISCA over IP sequence number out of range: ${seq}`);
  const out = Buffer.alloc(VIP_HEADER + payload.length);
  out.writeUInt16BE(VIP_TYPE[type], 0);
  out.writeUInt16BE(payload.length, 2);
  out.writeUInt32BE(seq, 4);
  out.set(payload, VIP_HEADER);
  return out;
}

export function decodeVip(datagram: Uint8Array): Decoded<VipMessage> {
  const buf = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  if (buf.length < VIP_HEADER + 1) return { ok: false, error: `VISCA over IP datagram too short (${buf.length} bytes): ${hex(buf)}` };
  const typeCode = buf.readUInt16BE(0);
  const type = TYPE_NAMES.get(typeCode);
  if (!type) return { ok: false, error: `unknown VISCA over IP payload type 0x${typeCode.toString(16).padStart(4, '0')}: ${hex(buf.subarray(0, VIP_HEADER))}` };
  const length = buf.readUInt16BE(2);
  if (length < 1 || length > VIP_MAX_PAYLOAD || length !== buf.length - VIP_HEADER) {
    return { ok: false, error: `VISCA over IP payload length ${length} does not match the datagram (${buf.length - VIP_HEADER} bytes): ${hex(buf)}` };
  }
  return { ok: true, value: { type, seq: buf.readUInt32BE(4), payload: Buffer.from(buf.subarray(VIP_HEADER)) } };
}

/** Next sequence number (wraps to 0 after 0xFFFFFFFF). */
export const nextSeq = (seq: number): number => (seq >= 0xffffffff ? 0 : seq + 1);
