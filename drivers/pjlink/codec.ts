/**
 * PJLink codec: lines <-> typed messages, both directions (the driver uses
 * the controller side, the simulator the projector side).
 *
 * Source: JBMIA "PJLink Specifications" Version 1.04 (2013-12-10):
 *  - §2.1/2.2 command line `%1BODY SP param CR`, response line
 *    `%1BODY=param CR`; param `OK`, `ERR1` undefined command, `ERR2` out of
 *    parameter, `ERR3` unavailable time, `ERR4` projector/display failure;
 *  - §4 POWR 0/1/? (status 0 standby, 1 lamp on, 2 cooling, 3 warm-up),
 *    INPT `<type><number>` (type 1 RGB, 2 VIDEO, 3 DIGITAL, 4 STORAGE,
 *    5 NETWORK), AVMT 10/11 video, 20/21 audio, 30/31 video and audio mute
 *    off/on, ERST six digits fan/lamp/temperature/cover/filter/other
 *    (0 none, 1 warning, 2 error), LAMP `hours on` pairs per lamp;
 *  - §5 authentication: greeting `PJLINK 1 <random>`, digest =
 *    MD5(random + password) as 32 lower-case hex digits, sent before the
 *    first command; `PJLINK ERRA` when it does not match. The spec's example:
 *    random `498e4a67`, password `JBMIAProjectorLink` ->
 *    `5d8409bc1c3fa39749434aa3a5c38682`.
 * Class 2 (Version 2.00, 2017-01-31): `%2SRCH` search by UDP broadcast,
 * answered `%2ACKN=<MAC aa:bb:cc:dd:ee:ff>`.
 */
import { createHash } from 'node:crypto';
import { encodePjlinkLine } from './framer.js';

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export const PJLINK_PORT = 4352;

export const PJLINK_ERRORS = {
  ERR1: 'undefined command',
  ERR2: 'out of parameter',
  ERR3: 'unavailable time',
  ERR4: 'projector/display failure',
} as const;
export type PjlinkErrorCode = keyof typeof PJLINK_ERRORS;

export function isPjlinkErrorCode(s: string): s is PjlinkErrorCode {
  return Object.hasOwn(PJLINK_ERRORS, s);
}

/** What a projector sends. */
export type PjlinkReply =
  | { kind: 'greeting'; auth: false }
  | { kind: 'greeting'; auth: true; random: string }
  | { kind: 'auth-error' }
  | { kind: 'response'; cls: string; command: string; param: string; error?: PjlinkErrorCode };

/** What a controller sends. */
export interface PjlinkCommand {
  /** '1' or '2'. */
  cls: string;
  /** Four letters, upper case: 'POWR', 'INPT', ... */
  command: string;
  /** '?' for a query; '' for commands without a parameter (`%2SRCH`). */
  param: string;
}

export interface PjlinkCommandLine extends PjlinkCommand {
  /** The authentication digest prefixed to the line, if any (lower case). */
  digest?: string;
}

/** MD5(random + password), 32 lower-case hex digits (spec §5). */
export function pjlinkDigest(random: string, password: string): string {
  return createHash('md5').update(random + password, 'utf8').digest('hex');
}

/** One command line, CR included; `digest` goes in front (first command of an authenticated connection). */
export function encodePjlinkCommand(cmd: PjlinkCommand, digest?: string): Buffer {
  const sep = cmd.param === '' ? '' : ` ${cmd.param}`;
  return encodePjlinkLine(`${digest ?? ''}%${cmd.cls}${cmd.command.toUpperCase()}${sep}`);
}

export function encodePjlinkResponse(cls: string, command: string, param: string): Buffer {
  return encodePjlinkLine(`%${cls}${command}=${param}`);
}

export function encodePjlinkGreeting(random?: string): Buffer {
  return encodePjlinkLine(random === undefined ? 'PJLINK 0' : `PJLINK 1 ${random}`);
}

export const PJLINK_ERRA_LINE = encodePjlinkLine('PJLINK ERRA');

/** Decode one line from a projector (as cut by the controller-role framer). */
export function decodePjlinkReply(line: string): Decoded<PjlinkReply> {
  const upper = line.toUpperCase();
  if (upper === 'PJLINK 0') return { ok: true, value: { kind: 'greeting', auth: false } };
  if (upper === 'PJLINK ERRA') return { ok: true, value: { kind: 'auth-error' } };
  const g = /^PJLINK 1 ([0-9A-Fa-f]{8})$/i.exec(line);
  // The random number is used as sent (it is hashed as text).
  if (g) return { ok: true, value: { kind: 'greeting', auth: true, random: g[1] ?? '' } };
  const m = /^%([1-9A-Za-z])([A-Za-z0-9]{4})=(.*)$/.exec(line);
  if (!m) return { ok: false, error: `not a PJLink response: "${line}"` };
  const cls = m[1] ?? '';
  const command = (m[2] ?? '').toUpperCase();
  const param = m[3] ?? '';
  const code = param.toUpperCase();
  if (code === 'ERRA') return { ok: true, value: { kind: 'auth-error' } };
  if (isPjlinkErrorCode(code)) return { ok: true, value: { kind: 'response', cls, command, param: code, error: code } };
  return { ok: true, value: { kind: 'response', cls, command, param } };
}

/** Decode one line from a controller (as cut by the projector-role framer). */
export function decodePjlinkCommand(line: string): Decoded<PjlinkCommandLine> {
  const m = /^([0-9A-Fa-f]{32})?%([1-9A-Za-z])([A-Za-z0-9]{4})(?: (.*))?$/.exec(line);
  if (!m) return { ok: false, error: `not a PJLink command: "${line}"` };
  const value: PjlinkCommandLine = { cls: m[2] ?? '', command: (m[3] ?? '').toUpperCase(), param: m[4] ?? '' };
  if (m[1] !== undefined) value.digest = m[1].toLowerCase();
  return { ok: true, value };
}

// ---- values ---------------------------------------------------------------

export type PjlinkPower = 'off' | 'on' | 'cooling' | 'warming';
const POWER_BY_CODE: Record<string, PjlinkPower> = { '0': 'off', '1': 'on', '2': 'cooling', '3': 'warming' };

export function parsePower(param: string): Decoded<PjlinkPower> {
  const p = POWER_BY_CODE[param];
  return p ? { ok: true, value: p } : { ok: false, error: `POWR: bad status "${param}" (0..3 expected)` };
}

export const POWER_CODE: Record<PjlinkPower, string> = { off: '0', on: '1', cooling: '2', warming: '3' };

/** Input code: type 1..6 (class 2 adds 6 INTERNAL) and number 1..9 (class 2: also A..Z). */
export const INPUT_CODE = /^[1-6][1-9A-Z]$/;

export function parseInput(param: string): Decoded<string> {
  return INPUT_CODE.test(param) ? { ok: true, value: param } : { ok: false, error: `INPT: bad input "${param}"` };
}

export interface PjlinkMute {
  video: boolean;
  audio: boolean;
}

/** AVMT query reply: 11 video muted, 21 audio muted, 31 both, 30 none (10/20 accepted as none). */
export function parseAvMute(param: string): Decoded<PjlinkMute> {
  switch (param) {
    case '11':
      return { ok: true, value: { video: true, audio: false } };
    case '21':
      return { ok: true, value: { video: false, audio: true } };
    case '31':
      return { ok: true, value: { video: true, audio: true } };
    case '30':
    case '10':
    case '20':
      return { ok: true, value: { video: false, audio: false } };
    default:
      return { ok: false, error: `AVMT: bad mute status "${param}"` };
  }
}

export const ERST_FIELDS = ['fan', 'lamp', 'temperature', 'cover', 'filter', 'other'] as const;
export type ErstField = (typeof ERST_FIELDS)[number];
export type ErstLevel = 'ok' | 'warning' | 'error';
export type PjlinkErrorStatus = Record<ErstField, ErstLevel>;

export function parseErrorStatus(param: string): Decoded<PjlinkErrorStatus> {
  if (!/^[012]{6}$/.test(param)) return { ok: false, error: `ERST: bad error status "${param}" (6 digits 0..2 expected)` };
  const levels: ErstLevel[] = ['ok', 'warning', 'error'];
  const out = {} as PjlinkErrorStatus;
  ERST_FIELDS.forEach((f, i) => {
    out[f] = levels[Number(param[i])] ?? 'ok';
  });
  return { ok: true, value: out };
}

/** "lamp: warning, filter: error", or null when nothing is wrong. */
export function describeErrorStatus(s: PjlinkErrorStatus): string | null {
  const bad = ERST_FIELDS.filter((f) => s[f] !== 'ok').map((f) => `${f}: ${s[f]}`);
  return bad.length ? bad.join(', ') : null;
}

export interface PjlinkLamp {
  hours: number;
  on: boolean;
}

/** LAMP reply: `hours on` pairs, one per lamp (1..8 lamps, hours 0..99999). */
export function parseLamps(param: string): Decoded<PjlinkLamp[]> {
  const parts = param.split(' ');
  if (parts.length < 2 || parts.length % 2 !== 0 || parts.length > 16) return { ok: false, error: `LAMP: bad reply "${param}"` };
  const lamps: PjlinkLamp[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    const h = parts[i] ?? '';
    const o = parts[i + 1] ?? '';
    if (!/^\d{1,5}$/.test(h) || (o !== '0' && o !== '1')) return { ok: false, error: `LAMP: bad reply "${param}"` };
    lamps.push({ hours: Number(h), on: o === '1' });
  }
  return { ok: true, value: lamps };
}

// ---- class 2 search --------------------------------------------------------

export const PJLINK_SEARCH = encodePjlinkCommand({ cls: '2', command: 'SRCH', param: '' });

/** `%2ACKN=aa:bb:cc:dd:ee:ff` -> the MAC in lower case. */
export function decodeSearchAck(datagram: Uint8Array): Decoded<string> {
  const text = Buffer.from(datagram).toString('latin1').replace(/[\r\n]+$/, '');
  const m = /^%2ACKN=((?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2})$/.exec(text);
  return m ? { ok: true, value: (m[1] ?? '').toLowerCase() } : { ok: false, error: `not a search reply: "${text.slice(0, 40)}"` };
}
