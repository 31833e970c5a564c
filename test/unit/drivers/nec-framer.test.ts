/**
 * NEC framer and codec on the packets of the NEC P702 user manual
 * (English-32, command diagram, monitor ID 1) and the reply layouts of the
 * NEC "External Control, NEC LCD Monitor" manual (7.1, 7.2, 5.2, 5.4).
 */
import { describe, expect, it } from 'vitest';
import { encodeNecPacket, necBcc, NecFramer, type NecPacket } from '../../../drivers/nec/framer.js';
import {
  decodeNecReply,
  encodeNecParameterReply,
  encodeNecPowerReply,
  encodeNecRequest,
  monitorAddress,
  NEC_INPUTS,
  NEC_OP,
  replyToPatch,
} from '../../../drivers/nec/codec.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** From the P702 manual's command diagram (monitor ID 1). */
const P702 = {
  powerOn: b('01 30 41 30 41 30 43 02 43 32 30 33 44 36 30 30 30 31 03 73 0d'),
  powerOff: b('01 30 41 30 41 30 43 02 43 32 30 33 44 36 30 30 30 34 03 76 0d'),
  inputDp: b('01 30 41 30 45 30 41 02 30 30 36 30 30 30 30 46 03 04 0d'),
  inputDvi: b('01 30 41 30 45 30 41 02 30 30 36 30 30 30 30 33 03 71 0d'),
  inputVga: b('01 30 41 30 45 30 41 02 30 30 36 30 30 30 30 31 03 73 0d'),
  inputHdmi: b('01 30 41 30 45 30 41 02 30 30 36 30 30 30 31 31 03 72 0d'),
  inputOption: b('01 30 41 30 45 30 41 02 30 30 36 30 30 30 30 44 03 06 0d'),
  muteOn: b('01 30 41 30 45 30 41 02 30 30 38 44 30 30 30 31 03 09 0d'),
  muteOff: b('01 30 41 30 45 30 41 02 30 30 38 44 30 30 30 32 03 0a 0d'),
};

function pushAll(framer: NecFramer, chunks: Uint8Array[]): { frames: NecPacket[]; errors: string[] } {
  const frames: NecPacket[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = framer.push(c);
    frames.push(...r.frames);
    errors.push(...r.errors);
  }
  return { frames, errors };
}

const POWER_ON_PACKET: NecPacket = { destination: 0x41, source: 0x30, type: 'A', message: 'C203D60001' };

describe('NEC encoding matches the P702 command diagram', () => {
  it('power, inputs and sound mute for monitor 1', () => {
    expect(encodeNecRequest(1, { kind: 'power', on: true })).toEqual(P702.powerOn);
    expect(encodeNecRequest(1, { kind: 'power', on: false })).toEqual(P702.powerOff);
    expect(encodeNecRequest(1, { kind: 'set', what: 'input', value: NEC_INPUTS.dp! })).toEqual(P702.inputDp);
    expect(encodeNecRequest(1, { kind: 'set', what: 'input', value: NEC_INPUTS.dvi! })).toEqual(P702.inputDvi);
    expect(encodeNecRequest(1, { kind: 'set', what: 'input', value: NEC_INPUTS.vga! })).toEqual(P702.inputVga);
    expect(encodeNecRequest(1, { kind: 'set', what: 'input', value: NEC_INPUTS.hdmi1! })).toEqual(P702.inputHdmi);
    expect(encodeNecRequest(1, { kind: 'set', what: 'input', value: NEC_INPUTS.option! })).toEqual(P702.inputOption);
    expect(encodeNecRequest(1, { kind: 'set', what: 'mute', value: 1 })).toEqual(P702.muteOn);
    expect(encodeNecRequest(1, { kind: 'set', what: 'mute', value: 2 })).toEqual(P702.muteOff);
  });

  it('power status read (7.1), get parameter, monitor addresses, BCC', () => {
    expect(encodeNecRequest(1, { kind: 'power-status' }).subarray(0, 13)).toEqual(Buffer.from('\x010A0A06\x0201D6\x03', 'latin1'));
    expect(encodeNecRequest(1, { kind: 'get', what: 'volume' }).subarray(0, 13)).toEqual(Buffer.from('\x010A0C06\x020062\x03', 'latin1'));
    expect(monitorAddress(1)).toBe(0x41);
    expect(monitorAddress(26)).toBe(0x5a);
    expect(monitorAddress(100)).toBe(0xa4);
    expect(() => monitorAddress(0)).toThrow(RangeError);
    expect(necBcc(P702.powerOn, 1, P702.powerOn.length - 2)).toBe(0x73);
  });
});

describe('NecFramer', () => {
  it('whole packet', () => {
    expect(pushAll(new NecFramer(), [P702.powerOn])).toEqual({ frames: [POWER_ON_PACKET], errors: [] });
  });

  it('split at every byte', () => {
    const f = new NecFramer();
    const r = pushAll(f, [...P702.muteOff].map((x) => Buffer.from([x])));
    expect(r.frames).toEqual([{ destination: 0x41, source: 0x30, type: 'E', message: '008D0002' }]);
    expect(r.errors).toEqual([]);
    expect(f.buffered).toBe(0);
  });

  it('two packets in one chunk', () => {
    const r = pushAll(new NecFramer(), [Buffer.concat([P702.powerOn, P702.inputHdmi])]);
    expect(r.frames.map((p) => p.message)).toEqual(['C203D60001', '00600011']);
  });

  it('garbage first, including a stray SOH', () => {
    const r = pushAll(new NecFramer(), [b('FF 00 01 31 01 30'), P702.powerOn]);
    expect(r.frames).toEqual([POWER_ON_PACKET]);
    expect(r.errors.length).toBeGreaterThanOrEqual(2);
  });

  it('bad BCC drops the packet and the next one is decoded', () => {
    const broken = Buffer.from(P702.powerOn);
    broken[19] = 0x74;
    const r = pushAll(new NecFramer(), [broken, P702.powerOff]);
    expect(r.frames.map((p) => p.message)).toEqual(['C203D60004']);
    expect(r.errors.join('\n')).toMatch(/bad BCC 74 \(expected 73\)/);
  });

  it('missing CR, missing ETX, wrong length and unknown type are rejected', () => {
    const noCr = Buffer.from(P702.powerOn);
    noCr[20] = 0x0a;
    const badType = encodeNecPacket(0x41, 0x30, 'A', 'X');
    badType[4] = 0x5a;
    const r = pushAll(new NecFramer(), [noCr, badType, b('01 30 41 30 41 30 31 02'), P702.powerOn]);
    expect(r.frames).toEqual([POWER_ON_PACKET]);
    expect(r.errors.join('\n')).toMatch(/no CR/);
    expect(r.errors.join('\n')).toMatch(/unknown message type/);
    expect(r.errors.join('\n')).toMatch(/too short/);
  });
});

describe('NecFramer stale partial packets', () => {
  it('a garbage header announcing a long message is dropped after staleMs, the reply behind it decoded', () => {
    let now = 0;
    const f = new NecFramer({ staleMs: 500, now: () => now });
    expect(f.push(b('01 30 30 41 42 46 46 02 30')).frames).toEqual([]); // announces 255 bytes
    now = 200;
    expect(f.push(b('31')).frames).toEqual([]); // still within staleMs: keeps waiting
    now = 900;
    const r = f.push(P702.powerOn);
    expect(r.frames).toEqual([POWER_ON_PACKET]);
    expect(r.errors[0]).toMatch(/^dropped stale partial packet 01 30 30 41 42 46 46/);
  });
});

describe('NEC reply codec', () => {
  it('power control reply (7.2) and power status reply (7.1)', () => {
    const ctl = encodeNecPowerReply(1, 0, 1, false);
    const ctlPacket = new NecFramer().push(ctl).frames[0]!;
    expect(ctlPacket).toEqual({ destination: 0x30, source: 0x41, type: 'B', message: '00C203D60001' });
    const st = new NecFramer().push(encodeNecPowerReply(1, 0, 4, true)).frames[0]!;
    expect(st.message).toBe('0200D60000040004');
    expect(decodeNecReply(st)).toEqual({ ok: true, value: { key: 'B:D6', monitor: 1, result: 0, kind: 'power', mode: 4 } });
    expect(replyToPatch({ key: 'B:D6', monitor: 1, result: 0, kind: 'power', mode: 2 }, NEC_INPUTS)).toEqual({ ok: true, value: { power: 'off' } });
  });

  it('get/set parameter replies (5.2, 5.4) to state', () => {
    const vol = new NecFramer().push(encodeNecParameterReply(1, 'D', 0, NEC_OP.volume, 100, 35)).frames[0]!;
    expect(vol.message).toBe('00006200006400' + '23');
    const d = decodeNecReply(vol);
    expect(d.ok && replyToPatch(d.value, NEC_INPUTS)).toEqual({ ok: true, value: { volume: 35 } });
    const inp = decodeNecReply(new NecFramer().push(encodeNecParameterReply(1, 'F', 0, NEC_OP.input, 0x88, 0x0f)).frames[0]!);
    expect(inp.ok && inp.value.key).toBe('F:0060');
    expect(inp.ok && replyToPatch(inp.value, NEC_INPUTS)).toEqual({ ok: true, value: { input: 'dp' } });
    const mute = decodeNecReply(new NecFramer().push(encodeNecParameterReply(1, 'D', 0, NEC_OP.mute, 2, 1)).frames[0]!);
    expect(mute.ok && replyToPatch(mute.value, NEC_INPUTS)).toEqual({ ok: true, value: { mute: true } });
  });

  it('rejects packets that are not replies', () => {
    expect(decodeNecReply(POWER_ON_PACKET).ok).toBe(false);
    expect(decodeNecReply({ destination: 0x30, source: 0x41, type: 'B', message: 'ZZ' }).ok).toBe(false);
  });
});
