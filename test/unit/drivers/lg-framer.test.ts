/**
 * LG RS-232C framer and codec on the frames of the LG 55LV5400 owner's
 * manual p135 ("ka 01 01\r" -> "a 01 OK01x", NG data codes, set id in
 * lower-case hex) and the command codes of LG 37LH55 p119 / M3701C-BA p A4.
 */
import { describe, expect, it } from 'vitest';
import { encodeLgCommand, encodeLgReply, LgCommandFramer, LgReplyFramer, type LgReply } from '../../../drivers/lg/framer.js';
import { encodeLgRequest, ngReason, replyToPatch, LG_XB_INPUTS, LG_KB_INPUTS } from '../../../drivers/lg/codec.js';

const a = (s: string): Buffer => Buffer.from(s, 'latin1');

function pushAll(framer: LgReplyFramer, chunks: Array<string | Uint8Array>): { frames: LgReply[]; errors: string[] } {
  const frames: LgReply[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = framer.push(typeof c === 'string' ? a(c) : c);
    frames.push(...r.frames);
    errors.push(...r.errors);
  }
  return { frames, errors };
}

const POWER_ON_ACK: LgReply = { cmd2: 'a', setId: 1, ok: true, data: '01' };

describe('LG encoding matches the manual', () => {
  const xb = { setId: 1, inputCommand: 'xb' as const };
  it('power on/off, read, volume, mute, input for set 1', () => {
    expect(encodeLgRequest(xb, { kind: 'set-power', on: true })).toEqual(a('ka 01 01\r'));
    expect(encodeLgRequest(xb, { kind: 'set-power', on: false })).toEqual(a('ka 01 00\r'));
    expect(encodeLgRequest(xb, { kind: 'read', what: 'power' })).toEqual(a('ka 01 ff\r'));
    expect(encodeLgRequest(xb, { kind: 'set-volume', level: 100 })).toEqual(a('kf 01 64\r'));
    expect(encodeLgRequest(xb, { kind: 'set-volume', level: 10 })).toEqual(a('kf 01 0a\r'));
    // ke: 00 = volume mute on (volume off), 01 = mute off.
    expect(encodeLgRequest(xb, { kind: 'set-mute', on: true })).toEqual(a('ke 01 00\r'));
    expect(encodeLgRequest(xb, { kind: 'set-mute', on: false })).toEqual(a('ke 01 01\r'));
    expect(encodeLgRequest(xb, { kind: 'set-input', code: LG_XB_INPUTS.hdmi1! })).toEqual(a('xb 01 90\r'));
    expect(encodeLgRequest({ setId: 1, inputCommand: 'kb' }, { kind: 'read', what: 'input' })).toEqual(a('kb 01 ff\r'));
    expect(LG_KB_INPUTS.hdmi).toBe(0x08);
  });

  it('set id goes out as lower-case hex ("set ID 10 sends 0, a"); 0 addresses all sets', () => {
    expect(encodeLgCommand('ka', 10, [1])).toEqual(a('ka 0a 01\r'));
    expect(encodeLgCommand('ka', 99, [1])).toEqual(a('ka 63 01\r'));
    expect(encodeLgCommand('ka', 0, ['ff'])).toEqual(a('ka 00 ff\r'));
    expect(() => encodeLgCommand('ka', 100, [1])).toThrow(RangeError);
    expect(() => encodeLgCommand('KA', 1, [1])).toThrow(RangeError);
    expect(() => encodeLgRequest(xb, { kind: 'set-volume', level: 101 })).toThrow(RangeError);
  });

  it('replies: "a 01 OK01x" and NG', () => {
    expect(encodeLgReply('a', 1, true, '01')).toEqual(a('a 01 OK01x'));
    expect(encodeLgReply('f', 10, false, '01')).toEqual(a('f 0a NG01x'));
  });
});

describe('LgReplyFramer', () => {
  it('decodes a whole reply', () => {
    expect(pushAll(new LgReplyFramer(), ['a 01 OK01x'])).toEqual({ frames: [POWER_ON_ACK], errors: [] });
  });

  it('decodes a reply split at every byte', () => {
    const f = new LgReplyFramer();
    const { frames, errors } = pushAll(f, [...'a 01 OK01x'].map((c) => a(c)));
    expect(frames).toEqual([POWER_ON_ACK]);
    expect(errors).toEqual([]);
    expect(f.buffered).toBe(0);
  });

  it('decodes two replies in one chunk, and a reply whose Command2 is x', () => {
    const { frames } = pushAll(new LgReplyFramer(), ['a 01 OK01xf 01 OK64x', 'x 01 OK05x']);
    expect(frames).toEqual([
      POWER_ON_ACK,
      { cmd2: 'f', setId: 1, ok: true, data: '64' },
      { cmd2: 'x', setId: 1, ok: true, data: '05' },
    ]);
  });

  it('skips garbage before a reply and reports it', () => {
    const { frames, errors } = pushAll(new LgReplyFramer(), [Buffer.from([0x00, 0xff, 0x41]), 'zz\r\na 01 OK01x']);
    expect(frames).toEqual([POWER_ON_ACK]);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.join('\n')).toMatch(/not an LG reply/);
  });

  it('a broken reply (bad set id, lower-case ok, missing terminator) is dropped and the next one decoded', () => {
    const { frames, errors } = pushAll(new LgReplyFramer(), ['a 0g OK01x', 'a 01 ok01x', 'a 01 OK0', 'a 01 NG01x']);
    expect(frames).toEqual([{ cmd2: 'a', setId: 1, ok: false, data: '01' }]);
    expect(errors.length).toBeGreaterThanOrEqual(3);
  });

  it('set id in hex and upper-case data are accepted; data is normalised to lower case', () => {
    const { frames } = pushAll(new LgReplyFramer(), ['b 0a OK9Ax']);
    expect(frames).toEqual([{ cmd2: 'b', setId: 10, ok: true, data: '9a' }]);
  });

  it('never holds more than one reply worth of bytes', () => {
    const f = new LgReplyFramer();
    const r = f.push(a(`a 01 OK${'0'.repeat(40)}`));
    expect(r.frames).toEqual([]);
    expect(f.buffered).toBe(0);
    // a trailing lower-case letter may start a reply whose Command2 is that letter: kept
    expect(f.push(a('0x')).frames).toEqual([]);
    expect(f.buffered).toBe(1);
    expect(f.push(a(' 01 OK01x')).frames).toEqual([{ cmd2: 'x', setId: 1, ok: true, data: '01' }]);
  });
});

describe('LgCommandFramer (simulator side)', () => {
  it('splits commands on CR and rejects malformed ones', () => {
    const f = new LgCommandFramer();
    const r1 = f.push(a('ka 01 01\rxb 0a 9'));
    const r2 = f.push(a('0\rjunk\rma 00 00 0a 00\r'));
    expect([...r1.frames, ...r2.frames]).toEqual([
      { cmd: 'ka', setId: 1, data: ['01'] },
      { cmd: 'xb', setId: 10, data: ['90'] },
      { cmd: 'ma', setId: 0, data: ['00', '0a', '00'] },
    ]);
    expect(r2.errors).toEqual(['not an LG command: "junk"']);
  });
});

describe('LG reply codec', () => {
  it('maps replies to state with the manual semantics', () => {
    const inputs = LG_XB_INPUTS;
    expect(replyToPatch({ cmd2: 'a', setId: 1, ok: true, data: '01' }, inputs)).toEqual({ ok: true, value: { power: 'on' } });
    expect(replyToPatch({ cmd2: 'a', setId: 1, ok: true, data: '00' }, inputs)).toEqual({ ok: true, value: { power: 'off' } });
    expect(replyToPatch({ cmd2: 'e', setId: 1, ok: true, data: '00' }, inputs)).toEqual({ ok: true, value: { mute: true } });
    expect(replyToPatch({ cmd2: 'e', setId: 1, ok: true, data: '01' }, inputs)).toEqual({ ok: true, value: { mute: false } });
    expect(replyToPatch({ cmd2: 'f', setId: 1, ok: true, data: '64' }, inputs)).toEqual({ ok: true, value: { volume: 100 } });
    expect(replyToPatch({ cmd2: 'b', setId: 1, ok: true, data: '91' }, inputs)).toEqual({ ok: true, value: { input: 'hdmi2' } });
    expect(replyToPatch({ cmd2: 'b', setId: 1, ok: true, data: '07' }, inputs)).toEqual({ ok: true, value: { input: 'unknown-0x07' } });
  });

  it('rejects nonsense values', () => {
    expect(replyToPatch({ cmd2: 'a', setId: 1, ok: true, data: '02' }, LG_XB_INPUTS).ok).toBe(false);
    expect(replyToPatch({ cmd2: 'f', setId: 1, ok: true, data: '65' }, LG_XB_INPUTS).ok).toBe(false);
    expect(replyToPatch({ cmd2: 'f', setId: 1, ok: true, data: '' }, LG_XB_INPUTS).ok).toBe(false);
    expect(replyToPatch({ cmd2: 'q', setId: 1, ok: true, data: '01' }, LG_XB_INPUTS).ok).toBe(false);
  });

  it('explains NG data codes (p135: 1 illegal code, 2 not supported, 3 wait more time)', () => {
    expect(ngReason('01')).toBe('NG 01 (illegal code)');
    expect(ngReason('2')).toBe('NG 2 (not supported function)');
    expect(ngReason('03')).toBe('NG 03 (wait more time)');
    expect(ngReason('7f')).toBe('NG 7f');
  });
});
