/**
 * Samsung MDC framer and codec on the fixture bytes of shared/PROTOCOLS.md
 * (Samsung 320TSn-3 manual p29, MD40B manual p42, vgavro/samsung-mdc).
 */
import { describe, expect, it } from 'vitest';
import { encodeMdcFrame, mdcChecksum, MdcFramer, type MdcFrame } from '../../../drivers/samsung-mdc/framer.js';
import {
  ackToPatch,
  decodeMdcReply,
  encodeMdcAck,
  encodeMdcNak,
  encodeMdcRequest,
  inputName,
} from '../../../drivers/samsung-mdc/codec.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const FIX = {
  powerOn: b('AA 11 01 01 01 14'),
  powerOff: b('AA 11 01 01 00 13'),
  powerGet: b('AA 11 01 00 12'),
  hdmi1: b('AA 14 01 01 21 37'),
  volume24: b('AA 12 01 01 18 2C'),
  ackPowerOn: b('AA FF 01 03 41 11 01 56'),
};

function pushAll(framer: MdcFramer, chunks: Uint8Array[]): { frames: MdcFrame[]; errors: string[] } {
  const frames: MdcFrame[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = framer.push(c);
    frames.push(...r.frames);
    errors.push(...r.errors);
  }
  return { frames, errors };
}

describe('MDC encoding matches the vendor fixtures', () => {
  it('encodes power on/off, power get, HDMI1, volume 24 for display 1', () => {
    expect(encodeMdcRequest(1, { kind: 'set-power', on: true })).toEqual(FIX.powerOn);
    expect(encodeMdcRequest(1, { kind: 'set-power', on: false })).toEqual(FIX.powerOff);
    expect(encodeMdcRequest(1, { kind: 'get', what: 'power' })).toEqual(FIX.powerGet);
    expect(encodeMdcRequest(1, { kind: 'set-input', source: 'hdmi1' })).toEqual(FIX.hdmi1);
    expect(encodeMdcRequest(1, { kind: 'set-volume', level: 24 })).toEqual(FIX.volume24);
    expect(encodeMdcAck(1, 0x11, [1])).toEqual(FIX.ackPowerOn);
  });

  it('encodes the status query and rejects out-of-range ids and volumes', () => {
    expect(encodeMdcRequest(1, { kind: 'get', what: 'status' })).toEqual(b('AA 00 01 00 01'));
    expect(encodeMdcRequest(0xfe, { kind: 'set-power', on: true })).toEqual(b('AA 11 FE 01 01 11'));
    expect(() => encodeMdcRequest(255, { kind: 'set-power', on: true })).toThrow(RangeError);
    expect(() => encodeMdcRequest(1, { kind: 'set-volume', level: 101 })).toThrow(RangeError);
  });

  it('checksum is the sum after the header mod 256', () => {
    expect(mdcChecksum(FIX.ackPowerOn, 1, FIX.ackPowerOn.length - 1)).toBe(0x56);
    expect(encodeMdcFrame(0xff, 0xff, [0xff, 0xff]).at(-1)).toBe((0xff * 4 + 2) & 0xff);
  });
});

describe('MdcFramer (host role: parses replies)', () => {
  const ackFrame = { cmd: 0xff, id: 1, data: b('41 11 01') };

  it('decodes a whole reply', () => {
    const r = new MdcFramer({ role: 'host' }).push(FIX.ackPowerOn);
    expect(r.frames).toEqual([ackFrame]);
    expect(r.errors).toEqual([]);
  });

  it('decodes a reply split into single bytes', () => {
    const f = new MdcFramer({ role: 'host' });
    const r = pushAll(f, [...FIX.ackPowerOn].map((x) => Uint8Array.of(x)));
    expect(r.frames).toEqual([ackFrame]);
    expect(r.errors).toEqual([]);
    expect(f.buffered).toBe(0);
  });

  it('decodes two replies in one chunk', () => {
    const nak = encodeMdcNak(1, 0x14, 0x03);
    const r = new MdcFramer({ role: 'host' }).push(Buffer.concat([FIX.ackPowerOn, nak]));
    expect(r.frames).toEqual([ackFrame, { cmd: 0xff, id: 1, data: b('4E 14 03') }]);
  });

  it('skips garbage before a reply and reports it', () => {
    const r = new MdcFramer({ role: 'host' }).push(Buffer.concat([b('00 13 AA 37 FF'), FIX.ackPowerOn]));
    expect(r.frames).toEqual([ackFrame]);
    expect(r.errors.length).toBeGreaterThan(0);
    expect(r.errors.join('\n')).toMatch(/skipped|unexpected/);
  });

  it('rejects a bad checksum and resynchronises on the next header', () => {
    const bad = Buffer.from(FIX.ackPowerOn);
    bad[bad.length - 1] = 0x57;
    const r = new MdcFramer({ role: 'host' }).push(Buffer.concat([bad, FIX.ackPowerOn]));
    expect(r.frames).toEqual([ackFrame]);
    expect(r.errors.some((e) => e.includes('bad checksum 57 (expected 56)'))).toBe(true);
  });

  it('drops a stale partial frame so a corrupted length cannot swallow later replies', () => {
    let t = 0;
    const f = new MdcFramer({ role: 'host', staleMs: 100, now: () => t });
    // Header claiming 0xF0 bytes of data, then silence.
    expect(f.push(b('AA FF 01 F0 41')).frames).toEqual([]);
    t = 1000;
    const r = f.push(FIX.ackPowerOn);
    expect(r.frames).toEqual([ackFrame]);
    expect(r.errors.some((e) => e.includes('stale'))).toBe(true);
  });

  it('without the pause, waits for the announced length (no false stale drop)', () => {
    let t = 0;
    const f = new MdcFramer({ role: 'host', staleMs: 100, now: () => t });
    f.push(FIX.ackPowerOn.subarray(0, 3));
    t = 50;
    expect(f.push(FIX.ackPowerOn.subarray(3)).frames).toEqual([ackFrame]);
  });

  it('host role refuses command frames, display role refuses replies', () => {
    expect(new MdcFramer({ role: 'host' }).push(FIX.powerOn).frames).toEqual([]);
    expect(new MdcFramer({ role: 'display' }).push(FIX.ackPowerOn).frames).toEqual([]);
    expect(new MdcFramer({ role: 'display' }).push(FIX.hdmi1).frames).toEqual([{ cmd: 0x14, id: 1, data: b('21') }]);
    expect(new MdcFramer({ role: 'display' }).push(FIX.powerGet).frames).toEqual([{ cmd: 0x11, id: 1, data: b('') }]);
  });
});

describe('MDC reply codec', () => {
  it('decodes ACK power on to { power: "on" }', () => {
    const [frame] = new MdcFramer({ role: 'host' }).push(FIX.ackPowerOn).frames;
    const reply = decodeMdcReply(frame!);
    expect(reply).toEqual({ ok: true, value: { kind: 'ack', id: 1, rcmd: 0x11, values: b('01') } });
    expect(ackToPatch(0x11, b('01'))).toEqual({ ok: true, value: { power: 'on' } });
  });

  it('decodes a NAK with its error code', () => {
    const [frame] = new MdcFramer({ role: 'host' }).push(encodeMdcNak(1, 0x12, 0x07)).frames;
    expect(decodeMdcReply(frame!)).toEqual({ ok: true, value: { kind: 'nak', id: 1, rcmd: 0x12, error: 7 } });
  });

  it('decodes the STATUS reply layout power, volume, mute, input, aspect, N, F', () => {
    const values = b('01 18 01 23 01 00 00');
    expect(ackToPatch(0x00, values)).toEqual({
      ok: true,
      value: { power: 'on', volume: 24, mute: true, input: 'hdmi2' },
    });
  });

  it('maps input codes to names, including the whiteboard and unknown codes', () => {
    expect(ackToPatch(0x14, b('64'))).toEqual({ ok: true, value: { input: 'whiteboard' } });
    expect(inputName(0x25)).toBe('dp');
    expect(inputName(0x14)).toBe('pc');
    expect(inputName(0x31)).toBe('hdmi3');
    expect(inputName(0x18)).toBe('dvi');
    expect(inputName(0xee)).toBe('unknown-0xee');
  });

  it('rejects replies that make no sense, without throwing', () => {
    expect(decodeMdcReply({ cmd: 0xff, id: 1, data: b('42 11 01') }).ok).toBe(false);
    expect(decodeMdcReply({ cmd: 0xff, id: 1, data: b('4E 11') }).ok).toBe(false);
    expect(decodeMdcReply({ cmd: 0x11, id: 1, data: b('41 11 01') }).ok).toBe(false);
    expect(ackToPatch(0x11, b('07')).ok).toBe(false);
    expect(ackToPatch(0x12, b('65')).ok).toBe(false);
    expect(ackToPatch(0x00, b('01 18')).ok).toBe(false);
    expect(ackToPatch(0x55, b('01')).ok).toBe(false);
  });
});
