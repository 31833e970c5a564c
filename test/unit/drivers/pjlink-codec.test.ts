/**
 * PJLink codec on lines in the format of JBMIA "PJLink Specifications" 1.04
 * (§2 command/response lines, §4 POWR/INPT/AVMT/ERST/LAMP, §5 the
 * authentication example: random 498e4a67 + password JBMIAProjectorLink ->
 * digest 5d8409bc1c3fa39749434aa3a5c38682) and 2.00 (SRCH / ACKN).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodePjlinkCommand,
  decodePjlinkReply,
  decodeSearchAck,
  describeErrorStatus,
  encodePjlinkCommand,
  encodePjlinkGreeting,
  encodePjlinkResponse,
  parseAvMute,
  parseErrorStatus,
  parseInput,
  parseLamps,
  parsePower,
  pjlinkDigest,
  PJLINK_ERRA_LINE,
  PJLINK_SEARCH,
} from '../../../drivers/pjlink/codec.js';

const text = (b: Buffer): string => b.toString('latin1');

describe('authentication (spec §5 example)', () => {
  it('md5("498e4a67" + "JBMIAProjectorLink") is the spec digest, computed independently too', () => {
    const spec = '5d8409bc1c3fa39749434aa3a5c38682';
    expect(pjlinkDigest('498e4a67', 'JBMIAProjectorLink')).toBe(spec);
    expect(createHash('md5').update('498e4a67JBMIAProjectorLink').digest('hex')).toBe(spec);
  });

  it('the digest goes in front of the first command', () => {
    const digest = pjlinkDigest('498e4a67', 'JBMIAProjectorLink');
    expect(text(encodePjlinkCommand({ cls: '1', command: 'POWR', param: '1' }, digest))).toBe('5d8409bc1c3fa39749434aa3a5c38682%1POWR 1\r');
    expect(decodePjlinkCommand('5d8409bc1c3fa39749434aa3a5c38682%1POWR 1')).toEqual({
      ok: true,
      value: { digest: '5d8409bc1c3fa39749434aa3a5c38682', cls: '1', command: 'POWR', param: '1' },
    });
  });

  it('greetings and ERRA', () => {
    expect(text(encodePjlinkGreeting())).toBe('PJLINK 0\r');
    expect(text(encodePjlinkGreeting('498e4a67'))).toBe('PJLINK 1 498e4a67\r');
    expect(text(PJLINK_ERRA_LINE)).toBe('PJLINK ERRA\r');
    expect(decodePjlinkReply('PJLINK 0')).toEqual({ ok: true, value: { kind: 'greeting', auth: false } });
    expect(decodePjlinkReply('PJLINK 1 498e4a67')).toEqual({ ok: true, value: { kind: 'greeting', auth: true, random: '498e4a67' } });
    expect(decodePjlinkReply('PJLINK ERRA')).toEqual({ ok: true, value: { kind: 'auth-error' } });
    expect(decodePjlinkReply('%1POWR=ERRA')).toEqual({ ok: true, value: { kind: 'auth-error' } });
  });
});

describe('commands and responses (spec §2, §4)', () => {
  it('encodes the class 1 commands the driver uses', () => {
    const enc = (command: string, param: string) => text(encodePjlinkCommand({ cls: '1', command, param }));
    expect(enc('POWR', '1')).toBe('%1POWR 1\r');
    expect(enc('POWR', '0')).toBe('%1POWR 0\r');
    expect(enc('POWR', '?')).toBe('%1POWR ?\r');
    expect(enc('INPT', '31')).toBe('%1INPT 31\r');
    expect(enc('AVMT', '31')).toBe('%1AVMT 31\r');
    expect(enc('AVMT', '30')).toBe('%1AVMT 30\r');
    expect(enc('ERST', '?')).toBe('%1ERST ?\r');
    expect(enc('LAMP', '?')).toBe('%1LAMP ?\r');
    expect(text(PJLINK_SEARCH)).toBe('%2SRCH\r');
    expect(text(encodePjlinkResponse('1', 'POWR', 'OK'))).toBe('%1POWR=OK\r');
  });

  it('decodes OK, values and ERR1..ERR4', () => {
    expect(decodePjlinkReply('%1POWR=OK')).toEqual({ ok: true, value: { kind: 'response', cls: '1', command: 'POWR', param: 'OK' } });
    expect(decodePjlinkReply('%1POWR=3')).toEqual({ ok: true, value: { kind: 'response', cls: '1', command: 'POWR', param: '3' } });
    expect(decodePjlinkReply('%1LAMP=12345 1 0 0')).toMatchObject({ ok: true, value: { command: 'LAMP', param: '12345 1 0 0' } });
    for (const code of ['ERR1', 'ERR2', 'ERR3', 'ERR4'] as const) {
      expect(decodePjlinkReply(`%1INPT=${code}`)).toEqual({ ok: true, value: { kind: 'response', cls: '1', command: 'INPT', param: code, error: code } });
    }
    expect(decodePjlinkReply('%1inpt=err2')).toMatchObject({ ok: true, value: { command: 'INPT', error: 'ERR2' } });
  });

  it('rejects what is not a PJLink line', () => {
    for (const bad of ['', 'POWR=1', '%1POWR 1', '%POWR=1', 'PJLINK 2', 'PJLINK 1 xyz']) {
      expect(decodePjlinkReply(bad).ok).toBe(false);
    }
    expect(decodePjlinkCommand('%1POWR=1').ok).toBe(false);
    expect(decodePjlinkCommand('%2SRCH')).toEqual({ ok: true, value: { cls: '2', command: 'SRCH', param: '' } });
  });
});

describe('values', () => {
  it('power status 0..3', () => {
    expect(['0', '1', '2', '3'].map((p) => parsePower(p))).toEqual([
      { ok: true, value: 'off' },
      { ok: true, value: 'on' },
      { ok: true, value: 'cooling' },
      { ok: true, value: 'warming' },
    ]);
    expect(parsePower('4').ok).toBe(false);
    expect(parsePower('OK').ok).toBe(false);
  });

  it('input codes: type 1..6, number 1..9 / A..Z', () => {
    expect(parseInput('31')).toEqual({ ok: true, value: '31' });
    expect(parseInput('5Z').ok).toBe(true);
    for (const bad of ['70', '30', '3', '311', '3a']) expect(parseInput(bad).ok).toBe(false);
  });

  it('AV mute status', () => {
    expect(parseAvMute('31')).toEqual({ ok: true, value: { video: true, audio: true } });
    expect(parseAvMute('30')).toEqual({ ok: true, value: { video: false, audio: false } });
    expect(parseAvMute('11')).toEqual({ ok: true, value: { video: true, audio: false } });
    expect(parseAvMute('21')).toEqual({ ok: true, value: { video: false, audio: true } });
    expect(parseAvMute('32').ok).toBe(false);
  });

  it('error status: fan, lamp, temperature, cover, filter, other', () => {
    const s = parseErrorStatus('010020');
    expect(s).toEqual({ ok: true, value: { fan: 'ok', lamp: 'warning', temperature: 'ok', cover: 'ok', filter: 'error', other: 'ok' } });
    expect(s.ok && describeErrorStatus(s.value)).toBe('lamp: warning, filter: error');
    const none = parseErrorStatus('000000');
    expect(none.ok && describeErrorStatus(none.value)).toBeNull();
    for (const bad of ['00000', '0000003', '000300', 'OK']) expect(parseErrorStatus(bad).ok).toBe(false);
  });

  it('lamps: hours and on/off pairs', () => {
    expect(parseLamps('12345 1')).toEqual({ ok: true, value: [{ hours: 12345, on: true }] });
    expect(parseLamps('100 0 200 1')).toEqual({ ok: true, value: [{ hours: 100, on: false }, { hours: 200, on: true }] });
    for (const bad of ['', '12345', '12345 2', '123456 1', 'a 1', '1 1 2']) expect(parseLamps(bad).ok).toBe(false);
  });

  it('search reply carries the MAC', () => {
    expect(decodeSearchAck(Buffer.from('%2ACKN=00:1A:2b:3c:4d:5e\r'))).toEqual({ ok: true, value: '00:1a:2b:3c:4d:5e' });
    expect(decodeSearchAck(Buffer.from('%2SRCH\r')).ok).toBe(false);
    expect(decodeSearchAck(Buffer.from('%2ACKN=00:1A:2b:3c:4d\r')).ok).toBe(false);
  });
});
