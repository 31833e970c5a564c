/**
 * LG RS-232C codec: requests -> command bytes, replies -> state.
 *
 * Sources:
 * - LG 55LV5400 owner's manual p135 "External control device setup":
 *   frame format, set id in hex, 'FF' reads a value, OK/NG acknowledgement,
 *   NG data 1 "Illegal Code", 2 "Not supported function", 3 "Wait more
 *   time", and "set will not send the status during the standby mode".
 * - The command reference of the same manual family (LG 37LH55 owner's
 *   manual p119, identical commands): ka power 00 off / 01 on, ke volume
 *   mute 00 = mute on (volume off) / 01 = mute off (volume on), kf volume
 *   00..64 hex (0..100), xb input select 20 AV1, 40 Component1, 60 RGB-PC,
 *   90 HDMI1, 91 HDMI2, 92 HDMI3, 93 HDMI4.
 * - Older sets select inputs with kb (LG M3701C-BA owner's manual p A4):
 *   2 AV, 4 Component 1, 5 Component 2, 6 RGB (DTV), 7 RGB (PC),
 *   8 HDMI (DTV), 9 HDMI (PC).
 */
import type { StatePatch } from '../contract.js';
import { encodeLgCommand, type LgReply } from './framer.js';

export const LG_CMD = { power: 'ka', mute: 'ke', volume: 'kf' } as const;
export type LgInputCommand = 'xb' | 'kb';

export const LG_XB_INPUTS: Readonly<Record<string, number>> = {
  hdmi1: 0x90,
  hdmi2: 0x91,
  hdmi3: 0x92,
  hdmi4: 0x93,
  pc: 0x60,
  component: 0x40,
  av: 0x20,
};

export const LG_KB_INPUTS: Readonly<Record<string, number>> = {
  hdmi: 0x08,
  'hdmi-pc': 0x09,
  pc: 0x07,
  'rgb-dtv': 0x06,
  component1: 0x04,
  component2: 0x05,
  av: 0x02,
};

/**
 * NG data codes. The TV manuals' tables start at 01; some sets (and a reading of the same
 * p135 by an independent stand-in) answer 00 for an illegal code: both are named, since 00 is
 * no other code in any LG table.
 */
export const LG_NG_REASONS: Readonly<Record<string, string>> = {
  '00': 'illegal code',
  '01': 'illegal code',
  '02': 'not supported function',
  '03': 'wait more time',
};

export function defaultInputs(command: LgInputCommand): Readonly<Record<string, number>> {
  return command === 'xb' ? LG_XB_INPUTS : LG_KB_INPUTS;
}

export type LgRequest =
  | { kind: 'set-power'; on: boolean }
  | { kind: 'set-mute'; on: boolean }
  | { kind: 'set-volume'; level: number }
  | { kind: 'set-input'; code: number }
  | { kind: 'read'; what: 'power' | 'mute' | 'volume' | 'input' };

export interface LgCodecOptions {
  setId: number;
  inputCommand: LgInputCommand;
}

function commandOf(req: LgRequest, inputCommand: LgInputCommand): string {
  switch (req.kind) {
    case 'set-power':
      return LG_CMD.power;
    case 'set-mute':
      return LG_CMD.mute;
    case 'set-volume':
      return LG_CMD.volume;
    case 'set-input':
      return inputCommand;
    case 'read':
      return req.what === 'input' ? inputCommand : LG_CMD[req.what];
  }
}

/** The letter the set echoes in its reply (Command2). */
export function replyLetter(req: LgRequest, inputCommand: LgInputCommand): string {
  return commandOf(req, inputCommand).charAt(1);
}

export function encodeLgRequest(opts: LgCodecOptions, req: LgRequest): Buffer {
  const cmd = commandOf(req, opts.inputCommand);
  switch (req.kind) {
    case 'set-power':
      return encodeLgCommand(cmd, opts.setId, [req.on ? 1 : 0]);
    case 'set-mute':
      // ke: 00 = volume mute on, 01 = volume mute off (the inverse of what one expects).
      return encodeLgCommand(cmd, opts.setId, [req.on ? 0 : 1]);
    case 'set-volume':
      if (!Number.isInteger(req.level) || req.level < 0 || req.level > 100) {
        throw new RangeError(`LG volume out of range 0..100: ${req.level}`);
      }
      return encodeLgCommand(cmd, opts.setId, [req.level]);
    case 'set-input':
      return encodeLgCommand(cmd, opts.setId, [req.code]);
    case 'read':
      return encodeLgCommand(cmd, opts.setId, ['ff']);
  }
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** Explain an NG reply's data. */
export function ngReason(data: string): string {
  const known = LG_NG_REASONS[data.padStart(2, '0').slice(-2)];
  return `NG ${data || '(no data)'}${known ? ` (${known})` : ''}`;
}

export function inputNameOf(code: number, inputs: Readonly<Record<string, number>>): string {
  for (const [name, c] of Object.entries(inputs)) if (c === code) return name;
  return `unknown-0x${code.toString(16).padStart(2, '0')}`;
}

/** Turn an OK reply into the state it reports (the value now in effect). */
export function replyToPatch(reply: LgReply, inputs: Readonly<Record<string, number>>): Decoded<StatePatch> {
  const bad = (): Decoded<StatePatch> => ({ ok: false, error: `unexpected data "${reply.data}" in the reply to k${reply.cmd2}/x${reply.cmd2}` });
  if (!/^[0-9a-f]{2}$/.test(reply.data)) return bad();
  const v = Number.parseInt(reply.data, 16);
  switch (reply.cmd2) {
    case 'a':
      return v === 0 || v === 1 ? { ok: true, value: { power: v === 1 ? 'on' : 'off' } } : bad();
    case 'e':
      return v === 0 || v === 1 ? { ok: true, value: { mute: v === 0 } } : bad();
    case 'f':
      return v <= 100 ? { ok: true, value: { volume: v } } : bad();
    case 'b':
      return { ok: true, value: { input: inputNameOf(v, inputs) } };
    default:
      return { ok: false, error: `reply to a command this driver does not send: "${reply.cmd2}"` };
  }
}
