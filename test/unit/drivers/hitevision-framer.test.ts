/**
 * Hitevision IFP framer and codec on the frames of shared/PROTOCOLS.md
 * (7F 08 99 A2 B3 C4 02 FF 01 xx CF) and the return frames of the panel
 * firmware's serial service (7F 09 99 A2 B3 C4 02 FF 01 14 01 CF).
 */
import { describe, expect, it } from 'vitest';
import { encodeHvFrame, HvFramer, type HvFrame } from '../../../drivers/hitevision/framer.js';
import { decodeHvFrame, encodeHvKey, encodeHvReturn, HV_INPUTS, HV_KEYS } from '../../../drivers/hitevision/codec.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const FIX = {
  powerOn: b('7F 08 99 A2 B3 C4 02 FF 01 00 CF'),
  powerOff: b('7F 08 99 A2 B3 C4 02 FF 01 01 CF'),
  mute: b('7F 08 99 A2 B3 C4 02 FF 01 02 CF'),
  source: b('7F 08 99 A2 B3 C4 02 FF 01 06 CF'),
  hdmi1: b('7F 08 99 A2 B3 C4 02 FF 01 0A CF'),
  hdmi2: b('7F 08 99 A2 B3 C4 02 FF 01 0B CF'),
  ops: b('7F 08 99 A2 B3 C4 02 FF 01 0C CF'),
  pc: b('7F 08 99 A2 B3 C4 02 FF 01 0D CF'),
  returnPageDown: b('7F 09 99 A2 B3 C4 02 FF 01 14 01 CF'),
};

function pushAll(framer: HvFramer, chunks: Uint8Array[]): { frames: HvFrame[]; errors: string[] } {
  const frames: HvFrame[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = framer.push(c);
    frames.push(...r.frames);
    errors.push(...r.errors);
  }
  return { frames, errors };
}

const payload = (...bytes: number[]): HvFrame => ({ payload: Buffer.from(bytes) });

describe('Hitevision encoding matches the documented frames', () => {
  it('keys', () => {
    expect(encodeHvKey(HV_KEYS.powerOn)).toEqual(FIX.powerOn);
    expect(encodeHvKey(HV_KEYS.powerOff)).toEqual(FIX.powerOff);
    expect(encodeHvKey(HV_KEYS.muteToggle)).toEqual(FIX.mute);
    expect(encodeHvKey(HV_KEYS.sourceMenu)).toEqual(FIX.source);
    expect(encodeHvKey(HV_INPUTS.hdmi1)).toEqual(FIX.hdmi1);
    expect(encodeHvKey(HV_INPUTS.hdmi2)).toEqual(FIX.hdmi2);
    expect(encodeHvKey(HV_INPUTS.ops)).toEqual(FIX.ops);
    expect(encodeHvKey(HV_INPUTS.pc)).toEqual(FIX.pc);
  });

  it('return frames and the length byte', () => {
    expect(encodeHvReturn(0x14, 0x01)).toEqual(FIX.returnPageDown);
    expect(() => encodeHvFrame([])).toThrow(RangeError);
    expect(() => encodeHvFrame(new Array(11).fill(0))).toThrow(RangeError);
  });
});

describe('HvFramer', () => {
  it('whole frame', () => {
    expect(pushAll(new HvFramer(), [FIX.powerOn])).toEqual({ frames: [payload(1, 0)], errors: [] });
  });

  it('split at every byte', () => {
    const f = new HvFramer();
    const { frames, errors } = pushAll(f, [...FIX.returnPageDown].map((x) => Buffer.from([x])));
    expect(frames).toEqual([payload(1, 0x14, 1)]);
    expect(errors).toEqual([]);
    expect(f.buffered).toBe(0);
  });

  it('two frames in one chunk', () => {
    const { frames } = pushAll(new HvFramer(), [Buffer.concat([FIX.hdmi2, FIX.returnPageDown])]);
    expect(frames).toEqual([payload(1, 0x0b), payload(1, 0x14, 1)]);
  });

  it('garbage first (including stray 7F) is skipped and reported', () => {
    const { frames, errors } = pushAll(new HvFramer(), [b('00 7F 7F 08 99 13'), FIX.ops]);
    expect(frames).toEqual([payload(1, 0x0c)]);
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  it('a bad trailer (the protocol has no checksum) drops the frame; the next one is decoded', () => {
    const broken = Buffer.from(FIX.powerOff);
    broken[10] = 0xce;
    const { frames, errors } = pushAll(new HvFramer(), [broken, FIX.powerOn]);
    expect(frames).toEqual([payload(1, 0)]);
    expect(errors.join('\n')).toMatch(/bad trailer/);
  });

  it('a bad length or magic resynchronises at once', () => {
    const { frames, errors } = pushAll(new HvFramer(), [b('7F 40 99'), b('7F 08 99 A2 B3 00'), FIX.mute]);
    expect(frames).toEqual([payload(1, 2)]);
    expect(errors.join('\n')).toMatch(/bad length 64/);
    expect(errors.join('\n')).toMatch(/bad magic/);
  });
});

describe('Hitevision codec', () => {
  it('decodes keys and return frames, rejects other payloads', () => {
    expect(decodeHvFrame(payload(1, 0x0a))).toEqual({ ok: true, value: { kind: 'key', key: 0x0a } });
    expect(decodeHvFrame(payload(1, 0x14, 1))).toEqual({ ok: true, value: { kind: 'return', key: 0x14, status: 1 } });
    expect(decodeHvFrame(payload(2, 0x0a)).ok).toBe(false);
    expect(decodeHvFrame(payload(1)).ok).toBe(false);
    expect(decodeHvFrame(payload(1, 2, 3, 4)).ok).toBe(false);
  });
});
