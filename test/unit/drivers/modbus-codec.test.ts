/**
 * Modbus CRC, codec and framers on byte fixtures: the FC03 example of
 * shared/PROTOCOLS.md (01 03 00 00 00 06 C5 C8) and request/response examples
 * whose CRCs were cross-checked with pymodbus' computeCRC on this machine.
 */
import { describe, expect, it } from 'vitest';
import { crc16, crcOk, withCrc } from '../../../drivers/modbus/crc.js';
import {
  decodeRequest,
  decodeResponse,
  encodeException,
  encodeRequest,
  encodeResponse,
  expectedResponseLength,
  ModbusExceptionError,
  type ModbusRequest,
} from '../../../drivers/modbus/codec.js';
import { expectationFor, RtuRequestFramer, RtuResponseFramer, rtuSilenceMs } from '../../../drivers/modbus/framer.js';
import { DeviceNakError } from '../../../drivers/errors.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('CRC-16/MODBUS', () => {
  it('matches the fixture 01 03 00 00 00 06 -> C5 C8 (low byte first)', () => {
    expect(crc16(b('01 03 00 00 00 06'))).toBe(0xc8c5);
    expect(withCrc(b('01 03 00 00 00 06'))).toEqual(b('01 03 00 00 00 06 C5 C8'));
    expect(crcOk(b('01 03 00 00 00 06 C5 C8'))).toBe(true);
    expect(crcOk(b('01 03 00 00 00 06 C8 C5'))).toBe(false);
    expect(crcOk(b('01 C5'))).toBe(false);
  });
});

describe('request encoding', () => {
  const cases: Array<[number, ModbusRequest, string]> = [
    [1, { fc: 3, address: 0, quantity: 6 }, '01 03 00 00 00 06 C5 C8'],
    [0x11, { fc: 3, address: 0x6b, quantity: 3 }, '11 03 00 6B 00 03 76 87'],
    [0x11, { fc: 4, address: 8, quantity: 1 }, '11 04 00 08 00 01 B2 98'],
    [0x11, { fc: 5, address: 0xac, value: true }, '11 05 00 AC FF 00 4E 8B'],
    [1, { fc: 6, address: 1, value: 3 }, '01 06 00 01 00 03 98 0B'],
    [0x11, { fc: 15, address: 0x13, values: [true, false, true, true, false, false, true, true, true, false] }, '11 0F 00 13 00 0A 02 CD 01 BF 0B'],
    [0x11, { fc: 16, address: 1, values: [0x000a, 0x0102] }, '11 10 00 01 00 02 04 00 0A 01 02 C6 F0'],
  ];
  it.each(cases)('unit %i %j -> %s', (unit, req, wire) => {
    expect(encodeRequest(unit, req)).toEqual(b(wire));
    // and the server side decodes it back
    expect(decodeRequest(b(wire))).toEqual({ ok: true, value: { unitId: unit, request: req } });
  });

  it('refuses requests the spec does not allow', () => {
    expect(() => encodeRequest(1, { fc: 3, address: 0, quantity: 126 })).toThrow(RangeError);
    expect(() => encodeRequest(1, { fc: 4, address: 0, quantity: 0 })).toThrow(RangeError);
    expect(() => encodeRequest(1, { fc: 3, address: 0xffff, quantity: 2 })).toThrow(RangeError);
    expect(() => encodeRequest(248, { fc: 3, address: 0, quantity: 1 })).toThrow(RangeError);
    expect(() => encodeRequest(1, { fc: 6, address: 0, value: 65536 })).toThrow(RangeError);
    expect(() => encodeRequest(1, { fc: 16, address: 0, values: new Array<number>(124).fill(0) })).toThrow(RangeError);
  });
});

describe('response decoding', () => {
  const read: ModbusRequest = { fc: 3, address: 0x6b, quantity: 3 };

  it('decodes an FC03 reply into registers', () => {
    const reply = withCrc(b('11 03 06 AE41 5652 4340'));
    expect(reply).toEqual(b('11 03 06 AE 41 56 52 43 40 49 AD'));
    expect(decodeResponse(0x11, read, reply)).toEqual({
      ok: true,
      value: { unitId: 0x11, ok: true, response: { fc: 3, registers: [0xae41, 0x5652, 0x4340] } },
    });
    expect(expectedResponseLength(read)).toBe(11);
  });

  it('decodes an exception reply (fc | 0x80) and types it', () => {
    const exc = encodeException(1, 3, 2);
    expect(exc).toEqual(b('01 83 02 C0 F1'));
    expect(decodeResponse(1, { fc: 3, address: 0, quantity: 1 }, exc)).toEqual({
      ok: true,
      value: { unitId: 1, ok: false, fc: 3, exception: 2 },
    });
    const err = new ModbusExceptionError('air', 'poll', 3, 2);
    expect(err).toBeInstanceOf(DeviceNakError);
    expect(err.message).toBe('air: poll: device refused: Modbus exception 2 (illegal data address) to function 3');
  });

  it('decodes write echoes', () => {
    const w6: ModbusRequest = { fc: 6, address: 1, value: 3 };
    expect(decodeResponse(1, w6, encodeResponse(1, { fc: 6, address: 1, value: 3 }))).toMatchObject({ ok: true });
    expect(decodeResponse(1, w6, encodeResponse(1, { fc: 6, address: 1, value: 4 })).ok).toBe(false);
    const w16: ModbusRequest = { fc: 16, address: 1, values: [1, 2] };
    expect(decodeResponse(1, w16, encodeResponse(1, { fc: 16, address: 1, quantity: 2 }))).toMatchObject({ ok: true });
  });

  it('rejects replies that do not answer the request, without throwing', () => {
    expect(decodeResponse(2, read, withCrc(b('11 03 06 AE41 5652 4340'))).ok).toBe(false); // other unit
    expect(decodeResponse(0x11, read, withCrc(b('11 04 06 AE41 5652 4340'))).ok).toBe(false); // other fc
    expect(decodeResponse(0x11, read, withCrc(b('11 03 04 AE41 5652'))).ok).toBe(false); // short
    expect(decodeResponse(0x11, read, b('11 03 06 AE41 5652 4340 00 00')).ok).toBe(false); // bad CRC
    expect(decodeResponse(0x11, read, b('11')).ok).toBe(false);
  });
});

describe('RtuResponseFramer', () => {
  const req: ModbusRequest = { fc: 4, address: 1, quantity: 2 };
  const reply = withCrc(b('07 04 04 00 D7 01 F4'));
  const framer = (now: () => number = () => 0): RtuResponseFramer => {
    const f = new RtuResponseFramer({ silenceMs: rtuSilenceMs(9600), now });
    f.expect(expectationFor(7, req));
    return f;
  };

  it('t3.5 follows the baud rate, 1.75 ms above 19200', () => {
    expect(rtuSilenceMs(9600)).toBeCloseTo(4.01, 2);
    expect(rtuSilenceMs(19200)).toBeCloseTo(2.005, 3);
    expect(rtuSilenceMs(115200)).toBe(1.75);
  });

  it('yields a whole reply and stops expecting', () => {
    const f = framer();
    expect(f.push(reply)).toEqual({ frames: [reply], errors: [] });
    expect(f.expecting).toBe(false);
    expect(f.push(reply).frames).toEqual([]); // nothing expected any more
  });

  it('yields a reply split into single bytes', () => {
    const f = framer();
    const frames = [...reply].flatMap((x) => f.push(Uint8Array.of(x)).frames);
    expect(frames).toEqual([reply]);
  });

  it('takes the first of two frames in one chunk and reports the rest', () => {
    const f = framer();
    const r = f.push(Buffer.concat([reply, reply]));
    expect(r.frames).toEqual([reply]);
    expect(r.errors).toEqual(['ignored 9 byte(s) after reply']);
  });

  it('skips garbage before a reply (resync on unit id + function code)', () => {
    const f = framer();
    const r = f.push(Buffer.concat([b('00 07 04 FF 07'), reply]));
    expect(r.frames).toEqual([reply]);
    expect(r.errors).toEqual(['skipped 5 byte(s) before reply: 00 07 04 FF 07']);
  });

  it('rejects a bad CRC and finds the good reply after it', () => {
    const bad = Buffer.from(reply);
    bad[4] = (bad[4] ?? 0) ^ 0x01;
    const f = framer();
    const r = f.push(Buffer.concat([bad, reply]));
    expect(r.frames).toEqual([reply]);
    expect(r.errors[0]).toMatch(/^bad CRC/);
    const g = framer();
    expect(g.push(bad).frames).toEqual([]);
  });

  it('accepts an exception reply to the request in flight (CRC checked with pymodbus)', () => {
    const f = framer();
    expect(f.push(encodeException(7, 4, 2)).frames).toEqual([b('07 84 02 22 C0')]);
  });

  it('a silence longer than t3.5 drops a partial frame that cannot be the reply', () => {
    let t = 0;
    const f = framer(() => t);
    f.push(b('07 04 05 00')); // wrong byte count: not our reply
    t = 10;
    const r = f.push(reply);
    expect(r.frames).toEqual([reply]);
    expect(r.errors).toEqual(['dropped 4 byte(s) ended by 10.0 ms silence: 07 04 05 00']);
  });

  it('keeps the beginning of the reply across a silence (USB adapters deliver bursts)', () => {
    let t = 0;
    const f = framer(() => t);
    expect(f.push(Buffer.concat([b('FF 00'), reply.subarray(0, 5)])).frames).toEqual([]);
    t = 16;
    const r = f.push(reply.subarray(5));
    expect(r.frames).toEqual([reply]);
    expect(r.errors).toEqual(['dropped 2 byte(s) ended by 16.0 ms silence: FF 00']);
  });
});

describe('RtuRequestFramer (simulator side)', () => {
  const r1 = b('01 03 00 00 00 06 C5 C8');
  const r2 = b('11 10 00 01 00 02 04 00 0A 01 02 C6 F0');

  it('splits two requests in one chunk, and requests split per byte', () => {
    expect(new RtuRequestFramer().push(Buffer.concat([r1, r2])).frames).toEqual([r1, r2]);
    const f = new RtuRequestFramer();
    expect([...Buffer.concat([r1, r2])].flatMap((x) => f.push(Uint8Array.of(x)).frames)).toEqual([r1, r2]);
  });

  it('skips garbage and bad CRCs', () => {
    const bad = Buffer.from(r1);
    bad[7] = 0;
    const r = new RtuRequestFramer().push(Buffer.concat([b('55 AA'), bad, r2]));
    expect(r.frames).toEqual([r2]);
    expect(r.errors).toHaveLength(1);
  });

  it('recognises a request with a function code it does not know by its CRC', () => {
    const diag = withCrc(b('01 2B 0E 01 00')); // FC43 read device identification
    const out = new RtuRequestFramer().push(Buffer.concat([diag, r1])).frames;
    expect(out).toEqual([diag, r1]);
    expect(decodeRequest(diag)).toEqual({ ok: true, value: { unitId: 1, unsupported: 0x2b } });
  });
});
