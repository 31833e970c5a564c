/**
 * NEC LCD monitor codec: requests -> packets, replies -> state.
 *
 * Sources: NEC "External Control, NEC LCD Monitor" manual: 5.1-5.4 get /
 * set parameter and their replies (result 00 no error, 01 unsupported;
 * OP code page, OP code, type, max value, current value as ASCII hex),
 * 7.1 power status read ("01D6" -> "02" result "D6" "00" max current;
 * 0001 on, 0002 stand-by, 0003 suspend, 0004 off), 7.2 power control
 * ("C203D6" + 0001 on / 0004 off; reply result + "C203D6" + mode); monitor
 * ID n is addressed as 'A' + n - 1 (section 4.1). Operation codes from the
 * NEC P702 user manual (English-32, command diagram): input 00h/60h (VGA
 * 01, DVI 03, VIDEO 05, S-VIDEO 07, DVD/HD 0C, OPTION 0D, DisplayPort 0F,
 * HDMI 11), sound mute 00h/8Dh (1 on, 2 off). Volume 00h/62h (0..100) is
 * from the manual's operation code table [unverified: table not at hand].
 */
import type { StatePatch } from '../contract.js';
import { encodeNecPacket, type NecPacket } from './framer.js';

const CONTROLLER = 0x30; // '0'

export const NEC_OP = {
  input: { page: 0x00, code: 0x60 },
  volume: { page: 0x00, code: 0x62 },
  mute: { page: 0x00, code: 0x8d },
} as const;
export type NecParameter = keyof typeof NEC_OP;

export const NEC_INPUTS: Readonly<Record<string, number>> = {
  hdmi1: 0x11,
  dp: 0x0f,
  dvi: 0x03,
  vga: 0x01,
  option: 0x0d,
  video: 0x05,
  'dvd-hd': 0x0c,
};

export const NEC_POWER = { on: 1, standby: 2, suspend: 3, off: 4 } as const;

const h2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
const h4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');

/** Monitor ID 1..100 -> destination address byte ('A' = 1). */
export function monitorAddress(id: number): number {
  if (!Number.isInteger(id) || id < 1 || id > 100) throw new RangeError(`NEC monitor id out of range 1..100: ${id}`);
  return 0x40 + id;
}

export type NecRequest =
  | { kind: 'power'; on: boolean }
  | { kind: 'power-status' }
  | { kind: 'get'; what: NecParameter }
  | { kind: 'set'; what: NecParameter; value: number };

export function encodeNecRequest(monitorId: number, req: NecRequest): Buffer {
  const dest = monitorAddress(monitorId);
  switch (req.kind) {
    case 'power':
      return encodeNecPacket(dest, CONTROLLER, 'A', `C203D6${h4(req.on ? NEC_POWER.on : NEC_POWER.off)}`);
    case 'power-status':
      return encodeNecPacket(dest, CONTROLLER, 'A', '01D6');
    case 'get':
      return encodeNecPacket(dest, CONTROLLER, 'C', h2(NEC_OP[req.what].page) + h2(NEC_OP[req.what].code));
    case 'set':
      if (!Number.isInteger(req.value) || req.value < 0 || req.value > 0xffff) throw new RangeError(`NEC value out of range: ${req.value}`);
      return encodeNecPacket(dest, CONTROLLER, 'E', h2(NEC_OP[req.what].page) + h2(NEC_OP[req.what].code) + h4(req.value));
  }
}

/** The reply a request expects: message type and the key that identifies it. */
export function replyKey(req: NecRequest): string {
  switch (req.kind) {
    case 'power':
      return 'B:C203D6';
    case 'power-status':
      return 'B:D6';
    case 'get':
      return `D:${h2(NEC_OP[req.what].page)}${h2(NEC_OP[req.what].code)}`;
    case 'set':
      return `F:${h2(NEC_OP[req.what].page)}${h2(NEC_OP[req.what].code)}`;
  }
}

export type NecReply =
  | { key: string; monitor: number; result: number; kind: 'power'; mode: number }
  | { key: string; monitor: number; result: number; kind: 'parameter'; page: number; code: number; max: number; current: number };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

const HEX = /^[0-9A-Fa-f]+$/;
const num = (s: string): number => Number.parseInt(s, 16);

/** Decode a reply packet from a monitor (destination '0', source = its address). */
export function decodeNecReply(p: NecPacket): Decoded<NecReply> {
  const bad = (why: string): Decoded<NecReply> => ({ ok: false, error: `${why}: type ${p.type} message ${JSON.stringify(p.message)}` });
  if (p.destination !== CONTROLLER) return bad('reply not addressed to the controller');
  const m = p.message;
  const monitor = p.source - 0x40;
  if (p.type === 'B' && m.length === 12 && m.slice(2, 8) === 'C203D6' && HEX.test(m)) {
    return { ok: true, value: { key: 'B:C203D6', monitor, result: num(m.slice(0, 2)), kind: 'power', mode: num(m.slice(8, 12)) } };
  }
  if (p.type === 'B' && m.length === 16 && m.slice(0, 2) === '02' && m.slice(4, 6) === 'D6' && HEX.test(m)) {
    return { ok: true, value: { key: 'B:D6', monitor, result: num(m.slice(2, 4)), kind: 'power', mode: num(m.slice(12, 16)) } };
  }
  if ((p.type === 'D' || p.type === 'F') && m.length === 16 && HEX.test(m)) {
    return {
      ok: true,
      value: {
        key: `${p.type}:${m.slice(2, 6).toUpperCase()}`,
        monitor,
        result: num(m.slice(0, 2)),
        kind: 'parameter',
        page: num(m.slice(2, 4)),
        code: num(m.slice(4, 6)),
        max: num(m.slice(8, 12)),
        current: num(m.slice(12, 16)),
      },
    };
  }
  return bad('unknown reply');
}

export function inputNameOf(code: number, inputs: Readonly<Record<string, number>>): string {
  for (const [name, c] of Object.entries(inputs)) if (c === code) return name;
  return `unknown-0x${code.toString(16).padStart(2, '0')}`;
}

/** State carried by a successful reply. */
export function replyToPatch(reply: NecReply, inputs: Readonly<Record<string, number>>): Decoded<StatePatch> {
  if (reply.kind === 'power') {
    if (reply.mode < 1 || reply.mode > 4) return { ok: false, error: `unknown power mode ${reply.mode}` };
    return { ok: true, value: { power: reply.mode === NEC_POWER.on ? 'on' : 'off' } };
  }
  const key = `${h2(reply.page)}${h2(reply.code)}`;
  if (key === '0060') return { ok: true, value: { input: inputNameOf(reply.current, inputs) } };
  if (key === '0062') return reply.current <= 100 ? { ok: true, value: { volume: reply.current } } : { ok: false, error: `volume ${reply.current} > 100` };
  if (key === '008D') return { ok: true, value: { mute: reply.current === 1 } };
  return { ok: false, error: `reply for an operation this driver does not use: ${key}` };
}

/** Encode replies (simulator and tests). */
export function encodeNecPowerReply(monitorId: number, result: number, mode: number, status: boolean): Buffer {
  const msg = status ? `02${h2(result)}D600${h4(4)}${h4(mode)}` : `${h2(result)}C203D6${h4(mode)}`;
  return encodeNecPacket(CONTROLLER, monitorAddress(monitorId), 'B', msg);
}

export function encodeNecParameterReply(
  monitorId: number,
  type: 'D' | 'F',
  result: number,
  op: { page: number; code: number },
  max: number,
  current: number,
): Buffer {
  return encodeNecPacket(CONTROLLER, monitorAddress(monitorId), type, `${h2(result)}${h2(op.page)}${h2(op.code)}00${h4(max)}${h4(current)}`);
}
