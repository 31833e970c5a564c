/**
 * VISCA framer and codec, and the VISCA-over-IP header, on packets copied from
 * the Sony SRG-300H technical manual ("VISCA command list" pp.28-31, "VISCA
 * over IP") and the Sony EVI-D100 command list.
 */
import { describe, expect, it } from 'vitest';
import { ViscaFramer } from '../../../drivers/visca/framer.js';
import {
  decodePowerInquiry,
  decodeViscaCommand,
  decodeViscaReply,
  encodeViscaAck,
  encodeViscaCompletion,
  encodeViscaError,
  encodeViscaRequest,
  viscaErrorName,
} from '../../../drivers/visca/codec.js';
import { decodeVip, encodeVip, nextSeq } from '../../../drivers/visca/ip.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const h = (buf: Buffer): string => buf.toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');

// Camera replies (manual: z = address + 8, y = socket).
const ACK1 = b('90 41 FF');
const DONE1 = b('90 51 FF');
const POWER_ON_ANSWER = b('90 50 02 FF');
const SYNTAX = b('90 60 02 FF');

function fixedClock(): { now: () => number; t: number } {
  const c = { t: 0, now: () => c.t };
  return c;
}

describe('VISCA request encoding (document fixtures)', () => {
  it.each([
    [{ kind: 'power', on: true } as const, '81 01 04 00 02 FF'],
    [{ kind: 'power', on: false } as const, '81 01 04 00 03 FF'],
    [{ kind: 'zoom', direction: 'stop' } as const, '81 01 04 07 00 FF'],
    [{ kind: 'zoom', direction: 'in' } as const, '81 01 04 07 02 FF'],
    [{ kind: 'zoom', direction: 'out' } as const, '81 01 04 07 03 FF'],
    [{ kind: 'zoom', direction: 'in', speed: 7 } as const, '81 01 04 07 27 FF'],
    [{ kind: 'zoom', direction: 'out', speed: 0 } as const, '81 01 04 07 30 FF'],
    [{ kind: 'zoom-direct', position: 0x4000 } as const, '81 01 04 47 04 00 00 00 FF'],
    [{ kind: 'preset', action: 'recall', preset: 3 } as const, '81 01 04 3F 02 03 FF'],
    [{ kind: 'preset', action: 'set', preset: 3 } as const, '81 01 04 3F 01 03 FF'],
    [{ kind: 'preset', action: 'reset', preset: 3 } as const, '81 01 04 3F 00 03 FF'],
    [{ kind: 'power-inquiry' } as const, '81 09 04 00 FF'],
    [{ kind: 'if-clear' } as const, '81 01 00 01 FF'],
    [{ kind: 'cancel', socket: 2 } as const, '81 22 FF'],
  ])('%j -> %s', (req, bytes) => {
    expect(h(encodeViscaRequest(1, req))).toBe(bytes);
    const back = decodeViscaCommand(b(bytes));
    expect(back).toEqual({ ok: true, value: { kind: 'request', address: 1, request: req } });
  });

  it('puts the address in the header and refuses bad values', () => {
    expect(h(encodeViscaRequest(7, { kind: 'power', on: true }))).toBe('87 01 04 00 02 FF');
    expect(() => encodeViscaRequest(0, { kind: 'power', on: true })).toThrow(RangeError);
    expect(() => encodeViscaRequest(8, { kind: 'power', on: true })).toThrow(RangeError);
    expect(() => encodeViscaRequest(1, { kind: 'zoom', direction: 'in', speed: 8 })).toThrow(/zoom speed/);
    expect(() => encodeViscaRequest(1, { kind: 'preset', action: 'recall', preset: 255 })).toThrow(/preset/);
  });

  it('device side: unknown commands are "unknown" (the camera answers syntax error)', () => {
    expect(decodeViscaCommand(b('81 01 04 38 FF'))).toEqual({ ok: true, value: { kind: 'unknown', address: 1, inquiry: false } });
    expect(decodeViscaCommand(b('81 09 05 38 FF'))).toEqual({ ok: true, value: { kind: 'unknown', address: 1, inquiry: true } });
    expect(decodeViscaCommand(b('90 41 FF')).ok).toBe(false);
  });
});

describe('VISCA reply decoding (document fixtures)', () => {
  it.each([
    ['90 41 FF', { kind: 'ack', address: 1, socket: 1 }],
    ['90 42 FF', { kind: 'ack', address: 1, socket: 2 }],
    ['90 51 FF', { kind: 'completion', address: 1, socket: 1, data: Buffer.alloc(0) }],
    ['90 50 02 FF', { kind: 'completion', address: 1, socket: 0, data: Buffer.from([2]) }],
    ['90 50 FF', { kind: 'completion', address: 1, socket: 0, data: Buffer.alloc(0) }],
    ['90 60 02 FF', { kind: 'error', address: 1, socket: 0, code: 0x02 }],
    ['90 60 03 FF', { kind: 'error', address: 1, socket: 0, code: 0x03 }],
    ['90 61 04 FF', { kind: 'error', address: 1, socket: 1, code: 0x04 }],
    ['90 62 05 FF', { kind: 'error', address: 1, socket: 2, code: 0x05 }],
    ['90 61 41 FF', { kind: 'error', address: 1, socket: 1, code: 0x41 }],
    ['F0 38 FF', { kind: 'network-change', address: 7 }],
    ['A0 41 FF', { kind: 'ack', address: 2, socket: 1 }],
  ])('%s', (bytes, value) => {
    expect(decodeViscaReply(b(bytes))).toEqual({ ok: true, value });
  });

  it('rejects nonsense with the bytes in the message', () => {
    for (const bad of ['90 FF', '90 41', '81 01 04 00 02 FF', '90 40 FF', '90 41 00 FF', '90 51 02 FF', '90 60 FF', '90 77 FF', '88 30 01 FF']) {
      const r = decodeViscaReply(b(bad));
      expect(r.ok, bad).toBe(false);
    }
    expect(decodeViscaReply(b('90 77 FF'))).toEqual({ ok: false, error: 'unknown camera message: 90 77 FF' });
  });

  it('names errors and decodes the power answer', () => {
    expect([0x02, 0x03, 0x04, 0x05, 0x41, 0x99].map(viscaErrorName)).toEqual([
      'syntax error',
      'command buffer full',
      'command cancelled',
      'no socket',
      'command not executable',
      'error 0x99',
    ]);
    expect(decodePowerInquiry(Buffer.from([2]))).toEqual({ ok: true, value: 'on' });
    expect(decodePowerInquiry(Buffer.from([3]))).toEqual({ ok: true, value: 'off' });
    expect(decodePowerInquiry(Buffer.from([4])).ok).toBe(false);
  });

  it('encodes replies (simulator side)', () => {
    expect(encodeViscaAck(1, 2)).toEqual(b('90 42 FF'));
    expect(encodeViscaCompletion(1, 0, [3])).toEqual(b('90 50 03 FF'));
    expect(encodeViscaError(3, 1, 0x41)).toEqual(b('B0 61 41 FF'));
  });
});

describe('ViscaFramer', () => {
  it('a whole packet', () => {
    expect(new ViscaFramer({ role: 'host' }).push(ACK1)).toEqual({ frames: [ACK1], errors: [] });
  });

  it('a packet split byte by byte', () => {
    const f = new ViscaFramer({ role: 'host' });
    const frames: Buffer[] = [];
    for (const byte of POWER_ON_ANSWER) frames.push(...f.push(Buffer.from([byte])).frames);
    expect(frames).toEqual([POWER_ON_ANSWER]);
    expect(f.buffered).toBe(0);
  });

  it('ACK and completion in one chunk', () => {
    expect(new ViscaFramer({ role: 'host' }).push(Buffer.concat([ACK1, DONE1])).frames).toEqual([ACK1, DONE1]);
  });

  it('garbage first is skipped and reported', () => {
    const out = new ViscaFramer({ role: 'host' }).push(Buffer.concat([b('00 13 7F 81'), SYNTAX]));
    expect(out.frames).toEqual([SYNTAX]);
    expect(out.errors).toEqual(['skipped 4 byte(s) before header: 00 13 7F 81']);
  });

  it('a packet without terminator within 16 bytes loses its header; the packet after it survives', () => {
    const junk = b('90 50 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E');
    const out = new ViscaFramer({ role: 'host' }).push(Buffer.concat([junk, ACK1]));
    expect(out.frames).toEqual([ACK1]);
    expect(out.errors[0]).toMatch(/^no terminator within 16 bytes: 90 50 00/);
  });

  it('a packet too short (header + FF) is rejected', () => {
    const out = new ViscaFramer({ role: 'host' }).push(Buffer.concat([b('90 FF'), DONE1]));
    expect(out.frames).toEqual([DONE1]);
    expect(out.errors).toEqual(['packet too short: 90 FF']);
  });

  it('a truncated packet left across a pause is dropped whole', () => {
    const c = fixedClock();
    const f = new ViscaFramer({ role: 'host', now: c.now, staleMs: 100 });
    expect(f.push(b('90 50')).frames).toEqual([]);
    c.t = 500;
    const out = f.push(ACK1);
    expect(out.frames).toEqual([ACK1]);
    expect(out.errors).toEqual(['dropped stale partial packet 90 50']);
  });

  it('roles: the camera side sees 8x headers, the host side z0 headers', () => {
    const cmd = encodeViscaRequest(1, { kind: 'power', on: true });
    expect(new ViscaFramer({ role: 'device' }).push(Buffer.concat([ACK1, cmd])).frames).toEqual([cmd]);
    expect(new ViscaFramer({ role: 'host' }).push(Buffer.concat([cmd, ACK1])).frames).toEqual([ACK1]);
  });
});

describe('VISCA over IP header (SRG-300H manual example)', () => {
  const EXAMPLE = b('01 00 00 06 00 00 00 01 81 01 04 00 02 FF');

  it('encodes the manual example: CAM_Power on, sequence 1', () => {
    expect(encodeVip('command', 1, encodeViscaRequest(1, { kind: 'power', on: true }))).toEqual(EXAMPLE);
  });

  it('decodes it back', () => {
    expect(decodeVip(EXAMPLE)).toEqual({ ok: true, value: { type: 'command', seq: 1, payload: b('81 01 04 00 02 FF') } });
  });

  it('control RESET and its ACK', () => {
    expect(encodeVip('control', 0, Uint8Array.of(0x01))).toEqual(b('02 00 00 01 00 00 00 00 01'));
    expect(decodeVip(b('02 01 00 01 00 00 00 00 01'))).toEqual({ ok: true, value: { type: 'controlReply', seq: 0, payload: b('01') } });
  });

  it('inquiry and reply types, big-endian sequence numbers', () => {
    expect(encodeVip('inquiry', 0x01020304, b('81 09 04 00 FF'))).toEqual(b('01 10 00 05 01 02 03 04 81 09 04 00 FF'));
    expect(decodeVip(b('01 11 00 04 FF FF FF FF 90 50 02 FF'))).toEqual({
      ok: true,
      value: { type: 'reply', seq: 0xffffffff, payload: POWER_ON_ANSWER },
    });
    expect(nextSeq(0xffffffff)).toBe(0);
    expect(nextSeq(41)).toBe(42);
  });

  it('rejects short datagrams, unknown types and lengths that do not match', () => {
    expect(decodeVip(b('01 00 00 06 00 00 00')).ok).toBe(false);
    expect(decodeVip(b('01 30 00 01 00 00 00 01 01'))).toEqual({
      ok: false,
      error: 'unknown VISCA over IP payload type 0x0130: 01 30 00 01 00 00 00 01',
    });
    expect(decodeVip(b('01 00 00 07 00 00 00 01 81 01 04 00 02 FF')).ok).toBe(false);
    expect(decodeVip(b('01 00 00 00 00 00 00 01')).ok).toBe(false);
    expect(() => encodeVip('command', 1, Buffer.alloc(17))).toThrow(RangeError);
    expect(() => encodeVip('command', -1, b('81 FF'))).toThrow(RangeError);
  });
});
