/**
 * Samsung MDC codec: frames <-> typed messages.
 *
 * Sources: Samsung MDC protocol, 320TSn-3 user manual p29 and MD40B manual
 * p42; vgavro/samsung-mdc samsung_mdc/commands.py (POWER 0x11, VOLUME 0x12
 * range 0-100, MUTE 0x13, INPUT_SOURCE 0x14 codes, STATUS 0x00 reply layout
 * power, volume, mute, input, aspect, N_TIME_NF, F_TIME_NF) and
 * samsung_mdc/connection.py (ACK 'A' 0x41 / NAK 'N' 0x4E, reply
 * AA FF id len ack rcmd values... cs).
 *
 * A "get" is the command with no data; a "set" carries the value. The ACK of
 * either carries the value now in effect, so a set is confirmed by its ACK.
 */
import type { StatePatch } from '../contract.js';
import { encodeMdcFrame, hex, MDC_REPLY_CMD, type MdcFrame } from './framer.js';

export const MDC_CMD = { status: 0x00, power: 0x11, volume: 0x12, mute: 0x13, input: 0x14 } as const;
export type MdcCommandName = keyof typeof MDC_CMD;

/** Display id 0xFE addresses every display on the chain; nobody acknowledges it. */
export const MDC_BROADCAST_ID = 0xfe;
export const MDC_ACK = 0x41;
export const MDC_NAK = 0x4e;

/** Input names offered by the driver and their MDC INPUT_SOURCE codes. */
export const MDC_INPUTS = {
  hdmi1: 0x21,
  hdmi2: 0x23,
  hdmi3: 0x31,
  dp: 0x25,
  pc: 0x14,
  whiteboard: 0x64,
} as const;
export type MdcInputName = keyof typeof MDC_INPUTS;
export const MDC_INPUT_NAMES = Object.keys(MDC_INPUTS) as MdcInputName[];

/** Other INPUT_SOURCE codes a display may report (commands.py), named for state only. */
const OTHER_INPUTS: Record<number, string> = {
  0x04: 's-video',
  0x08: 'component',
  0x0c: 'av',
  0x0d: 'av2',
  0x0e: 'scart1',
  0x18: 'dvi',
  0x1e: 'bnc',
  0x1f: 'dvi-video',
  0x20: 'magicinfo',
  0x22: 'hdmi1-pc',
  0x24: 'hdmi2-pc',
  0x26: 'dp2',
  0x27: 'dp3',
  0x30: 'rf-tv',
  0x32: 'hdmi3-pc',
  0x33: 'hdmi4',
  0x34: 'hdmi4-pc',
  0x40: 'tv-dtv',
  0x50: 'plug-in-mode',
  0x55: 'hdbaset',
  0x60: 'magicinfo-s',
  0x61: 'screen-mirroring',
  0x62: 'internal-usb',
  0x63: 'url-launcher',
};

export function inputName(code: number): string {
  for (const [name, c] of Object.entries(MDC_INPUTS)) if (c === code) return name;
  return OTHER_INPUTS[code] ?? `unknown-0x${code.toString(16).padStart(2, '0')}`;
}

export type MdcRequest =
  | { kind: 'set-power'; on: boolean }
  | { kind: 'set-volume'; level: number }
  | { kind: 'set-mute'; on: boolean }
  | { kind: 'set-input'; source: MdcInputName }
  | { kind: 'get'; what: MdcCommandName };

/** The command byte a request uses (and its reply's rcmd). */
export function requestCmd(req: MdcRequest): number {
  switch (req.kind) {
    case 'set-power':
      return MDC_CMD.power;
    case 'set-volume':
      return MDC_CMD.volume;
    case 'set-mute':
      return MDC_CMD.mute;
    case 'set-input':
      return MDC_CMD.input;
    case 'get':
      return MDC_CMD[req.what];
  }
}

export function encodeMdcRequest(displayId: number, req: MdcRequest): Buffer {
  if (!Number.isInteger(displayId) || displayId < 0 || displayId > 0xfe) {
    throw new RangeError(`MDC display id out of range: ${displayId}`);
  }
  const cmd = requestCmd(req);
  switch (req.kind) {
    case 'set-power':
      return encodeMdcFrame(cmd, displayId, [req.on ? 1 : 0]);
    case 'set-volume':
      if (!Number.isInteger(req.level) || req.level < 0 || req.level > 100) {
        throw new RangeError(`MDC volume out of range 0..100: ${req.level}`);
      }
      return encodeMdcFrame(cmd, displayId, [req.level]);
    case 'set-mute':
      return encodeMdcFrame(cmd, displayId, [req.on ? 1 : 0]);
    case 'set-input':
      return encodeMdcFrame(cmd, displayId, [MDC_INPUTS[req.source]]);
    case 'get':
      return encodeMdcFrame(cmd, displayId, []);
  }
}

export type MdcReply =
  | { kind: 'ack'; id: number; rcmd: number; values: Buffer }
  | { kind: 'nak'; id: number; rcmd: number; error: number };

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Decode a reply frame (cmd 0xFF) into ACK/NAK. */
export function decodeMdcReply(frame: MdcFrame): Decoded<MdcReply> {
  if (frame.cmd !== MDC_REPLY_CMD) return { ok: false, error: `not a reply (cmd 0x${frame.cmd.toString(16)})` };
  const ack = frame.data[0];
  const rcmd = frame.data[1];
  if (ack === undefined || rcmd === undefined) return { ok: false, error: `reply too short: ${hex(frame.data)}` };
  if (ack === MDC_ACK) return { ok: true, value: { kind: 'ack', id: frame.id, rcmd, values: frame.data.subarray(2) } };
  if (ack === MDC_NAK) {
    const error = frame.data[2];
    if (error === undefined) return { ok: false, error: `NAK without error code: ${hex(frame.data)}` };
    return { ok: true, value: { kind: 'nak', id: frame.id, rcmd, error } };
  }
  return { ok: false, error: `neither ACK nor NAK (0x${ack.toString(16)}): ${hex(frame.data)}` };
}

function powerValue(v: number): string | undefined {
  return v === 0 ? 'off' : v === 1 ? 'on' : v === 2 ? 'rebooting' : undefined;
}

function muteValue(v: number): boolean | undefined {
  return v === 0 ? false : v === 1 ? true : undefined;
}

/**
 * Turn an ACK's values into the state they confirm. Status (0x00) replies
 * carry power, volume, mute, input, aspect, N_TIME_NF, F_TIME_NF
 * (commands.py STATUS); only the first four are state we publish.
 */
export function ackToPatch(rcmd: number, values: Uint8Array): Decoded<StatePatch> {
  const bad = (what: string): Decoded<StatePatch> => ({
    ok: false,
    error: `bad ${what} in ACK of 0x${rcmd.toString(16).padStart(2, '0')}: ${hex(values)}`,
  });
  const v0 = values[0];
  switch (rcmd) {
    case MDC_CMD.power: {
      const p = v0 === undefined ? undefined : powerValue(v0);
      return p === undefined || values.length !== 1 ? bad('power') : { ok: true, value: { power: p } };
    }
    case MDC_CMD.volume:
      return v0 === undefined || v0 > 100 || values.length !== 1 ? bad('volume') : { ok: true, value: { volume: v0 } };
    case MDC_CMD.mute: {
      const m = v0 === undefined ? undefined : muteValue(v0);
      return m === undefined || values.length !== 1 ? bad('mute') : { ok: true, value: { mute: m } };
    }
    case MDC_CMD.input:
      return v0 === undefined || values.length !== 1 ? bad('input') : { ok: true, value: { input: inputName(v0) } };
    case MDC_CMD.status: {
      if (values.length < 4) return bad('status length');
      const [p, vol, m, inp] = [values[0] ?? 0, values[1] ?? 0, values[2] ?? 0, values[3] ?? 0];
      const power = powerValue(p);
      const mute = muteValue(m);
      if (power === undefined) return bad('status power');
      if (vol > 100) return bad('status volume');
      if (mute === undefined) return bad('status mute');
      return { ok: true, value: { power, volume: vol, mute, input: inputName(inp) } };
    }
    default:
      return bad(`command`);
  }
}

/** Encode a reply (used by the simulator and tests). */
export function encodeMdcAck(displayId: number, rcmd: number, values: readonly number[]): Buffer {
  return encodeMdcFrame(MDC_REPLY_CMD, displayId, [MDC_ACK, rcmd, ...values]);
}

export function encodeMdcNak(displayId: number, rcmd: number, error: number): Buffer {
  return encodeMdcFrame(MDC_REPLY_CMD, displayId, [MDC_NAK, rcmd, error]);
}
