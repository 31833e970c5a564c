/**
 * VISCA codec: packets <-> typed messages, shared by the serial driver, the
 * VISCA-over-IP driver and the camera simulators.
 *
 * Source: Sony SRG-300H / SRG-120DH technical manual, "VISCA command list"
 * pp.28-31 (command/ACK protocol, camera-issued messages, CAM_Power,
 * CAM_Zoom, CAM_Memory, CAM_PowerInq), matching the Sony EVI-D70/EVI-D100
 * manuals' tables:
 *
 *   CAM_Power on / off      8x 01 04 00 02 FF / 8x 01 04 00 03 FF
 *   CAM_Zoom stop           8x 01 04 07 00 FF
 *   CAM_Zoom tele / wide    8x 01 04 07 2p FF / 8x 01 04 07 3p FF   (p = speed 0 low .. 7 high)
 *   CAM_Zoom direct         8x 01 04 47 0p 0q 0r 0s FF              (pqrs = position)
 *   CAM_Memory reset/set/recall  8x 01 04 3F 00/01/02 pp FF
 *   CAM_PowerInq            8x 09 04 00 FF  ->  y0 50 02 FF (on) / y0 50 03 FF (standby)
 *   ACK                     z0 4y FF   (y = socket 1 or 2)
 *   Completion              z0 5y FF   (inquiry answers: z0 50 data... FF)
 *   Errors                  z0 60 02 FF syntax, z0 60 03 FF command buffer full,
 *                           z0 6y 04 FF cancelled, z0 6y 05 FF no socket,
 *                           z0 6y 41 FF command not executable
 *   IF_Clear                8x 01 00 01 FF -> z0 50 FF;  Cancel 8x 2y FF
 *   Network change          z0 38 FF (camera powered / chain changed)
 */
import { hex, isViscaHeader, VISCA_BROADCAST, VISCA_TERMINATOR } from './framer.js';

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export const VISCA_ERRORS: Record<number, string> = {
  0x01: 'message length error',
  0x02: 'syntax error',
  0x03: 'command buffer full',
  0x04: 'command cancelled',
  0x05: 'no socket',
  0x41: 'command not executable',
};

export function viscaErrorName(code: number): string {
  return VISCA_ERRORS[code] ?? `error 0x${code.toString(16).padStart(2, '0')}`;
}

/** Highest direct-zoom position of the SRG-300H optical range (x30 at 0x4000). */
export const ZOOM_MAX = 0x4000;

export type ZoomDirection = 'in' | 'out' | 'stop';
export type PresetAction = 'reset' | 'set' | 'recall';
const PRESET_CODE: Record<PresetAction, number> = { reset: 0x00, set: 0x01, recall: 0x02 };

export type ViscaRequest =
  | { kind: 'power'; on: boolean }
  | { kind: 'zoom'; direction: ZoomDirection; speed?: number }
  | { kind: 'zoom-direct'; position: number }
  | { kind: 'preset'; action: PresetAction; preset: number }
  | { kind: 'power-inquiry' }
  | { kind: 'if-clear' }
  | { kind: 'cancel'; socket: number };

export function isInquiry(req: ViscaRequest): boolean {
  return req.kind === 'power-inquiry';
}

function checkAddress(address: number): void {
  if (!Number.isInteger(address) || address < 1 || address > 7) throw new RangeError(`VISCA address out of range 1..7: ${address}`);
}

function nibble(n: number, what: string, max: number): number {
  if (!Number.isInteger(n) || n < 0 || n > max) throw new RangeError(`VISCA ${what} out of range 0..${max}: ${n}`);
  return n;
}

/** Encode a request for camera `address` (1..7). */
export function encodeViscaRequest(address: number, req: ViscaRequest): Buffer {
  checkAddress(address);
  const h = 0x80 | address;
  switch (req.kind) {
    case 'power':
      return Buffer.from([h, 0x01, 0x04, 0x00, req.on ? 0x02 : 0x03, VISCA_TERMINATOR]);
    case 'zoom': {
      if (req.direction === 'stop') return Buffer.from([h, 0x01, 0x04, 0x07, 0x00, VISCA_TERMINATOR]);
      // Without a speed the "standard" variant (02 tele / 03 wide) is used.
      const base = req.direction === 'in' ? 0x02 : 0x03;
      const code = req.speed === undefined ? base : (base << 4) | nibble(req.speed, 'zoom speed', 7);
      return Buffer.from([h, 0x01, 0x04, 0x07, code, VISCA_TERMINATOR]);
    }
    case 'zoom-direct': {
      const p = nibble(req.position, 'zoom position', 0xffff);
      return Buffer.from([h, 0x01, 0x04, 0x47, (p >> 12) & 0xf, (p >> 8) & 0xf, (p >> 4) & 0xf, p & 0xf, VISCA_TERMINATOR]);
    }
    case 'preset':
      return Buffer.from([h, 0x01, 0x04, 0x3f, PRESET_CODE[req.action], nibble(req.preset, 'preset', 0xfe), VISCA_TERMINATOR]);
    case 'power-inquiry':
      return Buffer.from([h, 0x09, 0x04, 0x00, VISCA_TERMINATOR]);
    case 'if-clear':
      return Buffer.from([h, 0x01, 0x00, 0x01, VISCA_TERMINATOR]);
    case 'cancel':
      return Buffer.from([h, 0x20 | nibble(req.socket, 'socket', 0xf), VISCA_TERMINATOR]);
  }
}

export type ViscaReply =
  /** Command accepted into socket 1 or 2. */
  | { kind: 'ack'; address: number; socket: number }
  /** Command executed (socket 1/2), or an inquiry answered / IF_Clear done (socket 0, `data` = the answer). */
  | { kind: 'completion'; address: number; socket: number; data: Buffer }
  | { kind: 'error'; address: number; socket: number; code: number }
  | { kind: 'network-change'; address: number };

/** Decode a packet a camera sent (framed, 0xFF-terminated). */
export function decodeViscaReply(packet: Uint8Array): Decoded<ViscaReply> {
  const bad = (why: string): Decoded<ViscaReply> => ({ ok: false, error: `${why}: ${hex(packet)}` });
  const h = packet[0];
  const t = packet[1];
  if (h === undefined || t === undefined || packet.length < 3) return bad('VISCA reply too short');
  if (packet[packet.length - 1] !== VISCA_TERMINATOR) return bad('VISCA reply not terminated by FF');
  if (h === VISCA_BROADCAST || !isViscaHeader(h, 'host')) return bad('not a camera reply header');
  const address = (h >> 4) - 8;
  const socket = t & 0x0f;
  const body = Buffer.from(packet.subarray(2, packet.length - 1));
  switch (t & 0xf0) {
    case 0x40:
      if (body.length !== 0 || socket === 0) return bad('malformed ACK');
      return { ok: true, value: { kind: 'ack', address, socket } };
    case 0x50:
      if (socket !== 0 && body.length !== 0) return bad('malformed completion');
      return { ok: true, value: { kind: 'completion', address, socket, data: body } };
    case 0x60: {
      const code = body[0];
      if (code === undefined || body.length !== 1) return bad('malformed error reply');
      return { ok: true, value: { kind: 'error', address, socket, code } };
    }
    case 0x30:
      if (t === 0x38 && body.length === 0) return { ok: true, value: { kind: 'network-change', address } };
      return bad('unknown camera message');
    default:
      return bad('unknown camera message');
  }
}

/** Power state from a CAM_PowerInq answer (`y0 50 0p FF`, data = [0p]). */
export function decodePowerInquiry(data: Uint8Array): Decoded<'on' | 'off'> {
  if (data.length === 1 && data[0] === 0x02) return { ok: true, value: 'on' };
  if (data.length === 1 && data[0] === 0x03) return { ok: true, value: 'off' };
  return { ok: false, error: `bad CAM_PowerInq answer: ${hex(data)}` };
}

// ---- device side (simulators, tests) ----

export type ViscaCommandDecoded =
  | { kind: 'request'; address: number; request: ViscaRequest }
  /** Addressed to us but not understood: the camera answers "syntax error". */
  | { kind: 'unknown'; address: number; inquiry: boolean };

/** Decode a packet a controller sent; `address` 8 = broadcast. */
export function decodeViscaCommand(packet: Uint8Array): Decoded<ViscaCommandDecoded> {
  const h = packet[0];
  if (h === undefined || packet.length < 3 || packet[packet.length - 1] !== VISCA_TERMINATOR || !isViscaHeader(h, 'device')) {
    return { ok: false, error: `not a VISCA command: ${hex(packet)}` };
  }
  const address = h & 0x0f;
  const b = [...packet.subarray(1, packet.length - 1)];
  const req = (request: ViscaRequest): Decoded<ViscaCommandDecoded> => ({ ok: true, value: { kind: 'request', address, request } });
  const [b0, b1, b2, b3, b4] = b;
  if (b.length === 1 && b0 !== undefined && (b0 & 0xf0) === 0x20) return req({ kind: 'cancel', socket: b0 & 0x0f });
  if (b0 === 0x01 && b1 === 0x00 && b2 === 0x01 && b.length === 3) return req({ kind: 'if-clear' });
  if (b0 === 0x09 && b1 === 0x04 && b2 === 0x00 && b.length === 3) return req({ kind: 'power-inquiry' });
  if (b0 === 0x01 && b1 === 0x04 && b3 !== undefined) {
    if (b2 === 0x00 && b.length === 4 && (b3 === 0x02 || b3 === 0x03)) return req({ kind: 'power', on: b3 === 0x02 });
    if (b2 === 0x07 && b.length === 4) {
      if (b3 === 0x00) return req({ kind: 'zoom', direction: 'stop' });
      if (b3 === 0x02) return req({ kind: 'zoom', direction: 'in' });
      if (b3 === 0x03) return req({ kind: 'zoom', direction: 'out' });
      const speed = b3 & 0x0f;
      if ((b3 & 0xf0) === 0x20 && speed <= 7) return req({ kind: 'zoom', direction: 'in', speed });
      if ((b3 & 0xf0) === 0x30 && speed <= 7) return req({ kind: 'zoom', direction: 'out', speed });
    }
    if (b2 === 0x47 && b.length === 7 && b.slice(3).every((n) => n <= 0x0f)) {
      const [p = 0, q = 0, r = 0, s = 0] = b.slice(3);
      return req({ kind: 'zoom-direct', position: (p << 12) | (q << 8) | (r << 4) | s });
    }
    if (b2 === 0x3f && b.length === 5 && b3 <= 0x02 && b4 !== undefined) {
      const action = (['reset', 'set', 'recall'] as const)[b3];
      if (action) return req({ kind: 'preset', action, preset: b4 });
    }
  }
  return { ok: true, value: { kind: 'unknown', address, inquiry: b0 === 0x09 } };
}

const replyHeader = (address: number): number => {
  checkAddress(address);
  return (address + 8) << 4;
};

export const encodeViscaAck = (address: number, socket: number): Buffer =>
  Buffer.from([replyHeader(address), 0x40 | socket, VISCA_TERMINATOR]);

export const encodeViscaCompletion = (address: number, socket: number, data: readonly number[] = []): Buffer =>
  Buffer.from([replyHeader(address), 0x50 | socket, ...data, VISCA_TERMINATOR]);

export const encodeViscaError = (address: number, socket: number, code: number): Buffer =>
  Buffer.from([replyHeader(address), 0x60 | socket, code, VISCA_TERMINATOR]);

export const encodeViscaNetworkChange = (address: number): Buffer => Buffer.from([replyHeader(address), 0x38, VISCA_TERMINATOR]);
