/**
 * Sharp PN line framer and codec on the examples of the Sharp PN-L862B /
 * PN-655U manuals ("VOLM0020" -> "OK", "INPS0001" -> "WAIT" then "OK",
 * "VOLM????" -> "10", "10 001" with an ID number set).
 */
import { describe, expect, it } from 'vitest';
import { MAX_LINE, SharpLineFramer } from '../../../drivers/sharp/framer.js';
import { decodeSharpLine, encodeSharpRequest, readToPatch, SHARP_INPUTS } from '../../../drivers/sharp/codec.js';

const a = (s: string): Buffer => Buffer.from(s, 'latin1');

function pushAll(f: SharpLineFramer, chunks: Array<string | Uint8Array>): { frames: string[]; errors: string[] } {
  const frames: string[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = f.push(typeof c === 'string' ? a(c) : c);
    frames.push(...r.frames);
    errors.push(...r.errors);
  }
  return { frames, errors };
}

describe('Sharp encoding matches the manual', () => {
  it('4 command + 4 parameter characters + CR; ???? reads', () => {
    expect(encodeSharpRequest({ kind: 'set', command: 'POWR', value: 1 })).toEqual(a('POWR0001\r'));
    expect(encodeSharpRequest({ kind: 'set', command: 'INPS', value: 1 })).toEqual(a('INPS0001\r'));
    expect(encodeSharpRequest({ kind: 'set', command: 'VOLM', value: 20 })).toEqual(a('VOLM0020\r'));
    expect(encodeSharpRequest({ kind: 'read', command: 'VOLM' })).toEqual(a('VOLM????\r'));
    expect(encodeSharpRequest({ kind: 'set', command: 'INPS', value: SHARP_INPUTS.hdmi1! })).toEqual(a('INPS0010\r'));
    expect(() => encodeSharpRequest({ kind: 'set', command: 'VOLM', value: 10000 })).toThrow(RangeError);
  });
});

describe('SharpLineFramer', () => {
  it('whole response, split per byte, two in a chunk, CR / LF / CR LF', () => {
    expect(pushAll(new SharpLineFramer(), ['OK\r\n'])).toEqual({ frames: ['OK'], errors: [] });
    const f = new SharpLineFramer();
    expect(pushAll(f, [...'WAIT\r\nOK\r\n'])).toEqual({ frames: ['WAIT', 'OK'], errors: [] });
    expect(f.buffered).toBe(0);
    expect(pushAll(new SharpLineFramer(), ['10\rERR\nLOCKED\r\n'])).toEqual({ frames: ['10', 'ERR', 'LOCKED'], errors: [] });
  });

  it('garbage first: binary lines are reported, the next response survives', () => {
    const r = pushAll(new SharpLineFramer(), [Buffer.from([0x00, 0xff, 0x0d]), 'OK\r\n']);
    expect(r.frames).toEqual(['OK']);
    expect(r.errors).toEqual(['not a Sharp line: "\\u0000ÿ"']);
  });

  it('an endless line is dropped at the cap', () => {
    const f = new SharpLineFramer();
    const r = f.push(Buffer.alloc(MAX_LINE + 1, 0x41));
    expect(r.errors[0]).toMatch(/^dropped 65 character\(s\) without a return code/);
    expect(f.buffered).toBe(0);
  });
});

describe('Sharp response codec', () => {
  it('classifies responses; an ID suffix is ignored', () => {
    expect(decodeSharpLine('OK')).toEqual({ kind: 'ok' });
    expect(decodeSharpLine('WAIT')).toEqual({ kind: 'wait' });
    expect(decodeSharpLine('ERR')).toEqual({ kind: 'refused', reason: 'ERR' });
    expect(decodeSharpLine('LOCKED')).toEqual({ kind: 'refused', reason: 'LOCKED' });
    expect(decodeSharpLine('UNSELECTED')).toEqual({ kind: 'refused', reason: 'UNSELECTED' });
    expect(decodeSharpLine('10')).toEqual({ kind: 'value', value: 10 });
    expect(decodeSharpLine('10 001')).toEqual({ kind: 'value', value: 10 });
    expect(decodeSharpLine('OK 001')).toEqual({ kind: 'ok' });
    expect(decodeSharpLine('HELLO')).toBeUndefined();
  });

  it('read values to state (POWR 2 = input signal waiting = on)', () => {
    expect(readToPatch('POWR', 0, SHARP_INPUTS)).toEqual({ ok: true, value: { power: 'off' } });
    expect(readToPatch('POWR', 2, SHARP_INPUTS)).toEqual({ ok: true, value: { power: 'on' } });
    expect(readToPatch('INPS', 13, SHARP_INPUTS)).toEqual({ ok: true, value: { input: 'hdmi2' } });
    expect(readToPatch('INPS', 99, SHARP_INPUTS)).toEqual({ ok: true, value: { input: 'unknown-99' } });
    expect(readToPatch('MUTE', 1, SHARP_INPUTS)).toEqual({ ok: true, value: { mute: true } });
    expect(readToPatch('VOLM', 101, SHARP_INPUTS).ok).toBe(false);
    expect(readToPatch('POWR', 3, SHARP_INPUTS).ok).toBe(false);
  });
});
