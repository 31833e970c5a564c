/**
 * Hitevision IFP codec: keys <-> frames.
 *
 * Key codes from shared/PROTOCOLS.md: 00 power on, 01 power off, 02 mute
 * (a toggle key, like the remote's), 06 source menu, 0A HDMI1, 0B HDMI2,
 * 0C OPS, 0D PC1. Return frames (newer firmware, see ./framer.ts) carry the
 * key and a status byte, 01 = done.
 */
import { encodeHvFrame, hex, type HvFrame } from './framer.js';

export const HV_GROUP = 0x01;

export const HV_KEYS = {
  powerOn: 0x00,
  powerOff: 0x01,
  muteToggle: 0x02,
  sourceMenu: 0x06,
  hdmi1: 0x0a,
  hdmi2: 0x0b,
  ops: 0x0c,
  pc: 0x0d,
} as const;

export const HV_INPUTS = { hdmi1: HV_KEYS.hdmi1, hdmi2: HV_KEYS.hdmi2, ops: HV_KEYS.ops, pc: HV_KEYS.pc } as const;
export type HvInputName = keyof typeof HV_INPUTS;
export const HV_INPUT_NAMES = Object.keys(HV_INPUTS) as HvInputName[];

export const HV_STATUS_DONE = 0x01;

/** 7F 08 99 A2 B3 C4 02 FF 01 key CF */
export function encodeHvKey(key: number): Buffer {
  return encodeHvFrame([HV_GROUP, key]);
}

/** 7F 09 99 A2 B3 C4 02 FF 01 key status CF (what newer firmware answers). */
export function encodeHvReturn(key: number, status: number): Buffer {
  return encodeHvFrame([HV_GROUP, key, status]);
}

export type HvMessage = { kind: 'key'; key: number } | { kind: 'return'; key: number; status: number };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function decodeHvFrame(frame: HvFrame): Decoded<HvMessage> {
  const [group, key, status] = [frame.payload[0], frame.payload[1], frame.payload[2]];
  if (group !== HV_GROUP || key === undefined) return { ok: false, error: `unknown Hitevision frame payload ${hex(frame.payload)}` };
  if (frame.payload.length === 2) return { ok: true, value: { kind: 'key', key } };
  if (frame.payload.length === 3 && status !== undefined) return { ok: true, value: { kind: 'return', key, status } };
  return { ok: false, error: `unknown Hitevision frame payload ${hex(frame.payload)}` };
}
