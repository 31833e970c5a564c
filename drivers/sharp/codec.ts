/**
 * Sharp PN codec: requests -> command lines, response lines -> replies/state.
 *
 * Source: Sharp PN-L862B operation manual p51-53 (RS-232C command table):
 * POWR W 0 standby / 1 on, R 0 standby, 1 normal, 2 input signal waiting;
 * INPS WR 2 D-SUB, 10 HDMI1, 13 HDMI2, 18 HDMI3, 21 OPTION, 24 APPLICATION,
 * 27 USB-C; VOLM WR 0-100; MUTE WR 0 off / 1 on. Parameters are 4
 * characters ("VOLM0020"); "????" reads the current value, answered by the
 * value alone. Responses: OK; ERR (no such command, or not usable in the
 * monitor's current state); WAIT (execution takes time, OK or ERR follows:
 * POWR, INPS, ...); LOCKED (RS-232C operation lock); UNSELECTED (another
 * monitor id is selected, shared/PROTOCOLS.md). With an ID number set, the
 * monitor appends " 001" (its id) to responses.
 */
import type { StatePatch } from '../contract.js';

export const SHARP_INPUTS: Readonly<Record<string, number>> = {
  hdmi1: 10,
  hdmi2: 13,
  hdmi3: 18,
  dsub: 2,
  option: 21,
  application: 24,
  'usb-c': 27,
};

export type SharpCommand = 'POWR' | 'INPS' | 'VOLM' | 'MUTE';

export type SharpRequest = { kind: 'set'; command: SharpCommand; value: number } | { kind: 'read'; command: SharpCommand };

export function encodeSharpRequest(req: SharpRequest): Buffer {
  if (req.kind === 'read') return Buffer.from(`${req.command}????\r`, 'latin1');
  if (!Number.isInteger(req.value) || req.value < 0 || req.value > 9999) throw new RangeError(`Sharp parameter out of range: ${req.value}`);
  return Buffer.from(`${req.command}${String(req.value).padStart(4, '0')}\r`, 'latin1');
}

export type SharpResponse =
  | { kind: 'ok' }
  | { kind: 'wait' }
  | { kind: 'refused'; reason: 'ERR' | 'LOCKED' | 'UNSELECTED' | 'TIMEOUT' }
  | { kind: 'value'; value: number };

/** Classify one response line; the monitor's " 001"-style id suffix is ignored. */
export function decodeSharpLine(line: string): SharpResponse | undefined {
  const text = line.trim().replace(/\s+\d{3}$/, '');
  switch (text) {
    case 'OK':
      return { kind: 'ok' };
    case 'WAIT':
      return { kind: 'wait' };
    case 'ERR':
    case 'LOCKED':
    case 'UNSELECTED':
    case 'TIMEOUT':
      return { kind: 'refused', reason: text };
  }
  return /^-?\d{1,5}$/.test(text) ? { kind: 'value', value: Number(text) } : undefined;
}

export const SHARP_REFUSAL: Readonly<Record<string, string>> = {
  ERR: 'ERR (no such command, or not usable in the monitor\'s current state)',
  LOCKED: 'LOCKED (RS-232C control is locked by the operation lock)',
  UNSELECTED: 'UNSELECTED (another monitor id is selected)',
  TIMEOUT: 'TIMEOUT (the monitor timed out waiting for the command)',
};

export function inputNameOf(code: number, inputs: Readonly<Record<string, number>>): string {
  for (const [name, c] of Object.entries(inputs)) if (c === code) return name;
  return `unknown-${code}`;
}

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

/** State from a read value. POWR 2 (input signal waiting) is on: it shows the picture once a signal comes. */
export function readToPatch(command: SharpCommand, value: number, inputs: Readonly<Record<string, number>>): Decoded<StatePatch> {
  switch (command) {
    case 'POWR':
      return value >= 0 && value <= 2 ? { ok: true, value: { power: value === 0 ? 'off' : 'on' } } : { ok: false, error: `POWR value ${value}` };
    case 'INPS':
      return { ok: true, value: { input: inputNameOf(value, inputs) } };
    case 'VOLM':
      return value >= 0 && value <= 100 ? { ok: true, value: { volume: value } } : { ok: false, error: `VOLM value ${value}` };
    case 'MUTE':
      return value === 0 || value === 1 ? { ok: true, value: { mute: value === 1 } } : { ok: false, error: `MUTE value ${value}` };
  }
}
