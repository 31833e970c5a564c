/**
 * Modbus TCP framing on byte fixtures. The request is the example of the
 * MODBUS Messaging on TCP/IP Implementation Guide V1.0b §4.4.1.2 (read
 * register #5 of a direct server: 15 01 00 00 00 06 FF 03 00 04 00 01); the
 * replies are built from it by the rules of §4.4.2.5 (transaction, protocol
 * and unit id recopied, length = unit id + PDU) around PDUs of the
 * Application Protocol V1.1b3 (§6.3 FC03 reply 03 02 00 2A; §7 exception 83 02).
 */
import { describe, expect, it } from 'vitest';
import { decodeRequestPdu, encodeRequestPdu } from '../../../drivers/modbus/codec.js';
import { encodeMbap, MbapRequestFramer, MbapResponseFramer } from '../../../drivers/modbus-tcp/mbap.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const GUIDE_REQUEST = b('15 01 00 00 00 06 FF 03 00 04 00 01');
const REPLY = b('15 01 00 00 00 05 FF 03 02 00 2A');
const EXCEPTION = b('15 01 00 00 00 03 FF 83 02');

describe('MBAP encoding', () => {
  it('encodes the guide example request (§4.4.1.2)', () => {
    expect(encodeMbap(0x1501, 0xff, encodeRequestPdu({ fc: 3, address: 4, quantity: 1 }))).toEqual(GUIDE_REQUEST);
  });

  it('refuses out-of-range fields', () => {
    expect(() => encodeMbap(0x10000, 1, b('03 00 00 00 01'))).toThrow(RangeError);
    expect(() => encodeMbap(1, 256, b('03 00 00 00 01'))).toThrow(RangeError);
    expect(() => encodeMbap(1, 1, Buffer.alloc(0))).toThrow(RangeError);
    expect(() => encodeMbap(1, 1, Buffer.alloc(254, 3))).toThrow(RangeError);
  });
});

describe('MbapResponseFramer (client side)', () => {
  const expecting = (): MbapResponseFramer => {
    const f = new MbapResponseFramer();
    f.expect({ transactionId: 0x1501, fc: 3 });
    return f;
  };

  it('a whole reply', () => {
    const r = expecting().push(REPLY);
    expect(r).toEqual({ frames: [{ transactionId: 0x1501, unitId: 0xff, pdu: b('03 02 00 2A') }], errors: [], stale: [] });
  });

  it('a reply split byte by byte', () => {
    const f = expecting();
    const frames = [...REPLY].flatMap((byte) => f.push(Buffer.of(byte)).frames);
    expect(frames.map((x) => x.pdu)).toEqual([b('03 02 00 2A')]);
    expect(f.expecting).toBe(false);
  });

  it('an exception reply (fc | 0x80)', () => {
    expect(expecting().push(EXCEPTION).frames).toEqual([{ transactionId: 0x1501, unitId: 0xff, pdu: b('83 02') }]);
  });

  it('garbage first is skipped and reported', () => {
    const r = expecting().push(Buffer.concat([b('00 15 01 FF 00'), REPLY]));
    expect(r.frames).toHaveLength(1);
    expect(r.errors).toEqual(['skipped 5 byte(s) before reply: 00 15 01 FF 00']);
  });

  it('a late reply to an earlier transaction in the same chunk is dropped as stale, not as garbage', () => {
    const late = b('15 00 00 00 00 05 FF 03 02 00 01');
    const r = expecting().push(Buffer.concat([late, REPLY]));
    expect(r.frames.map((x) => x.transactionId)).toEqual([0x1501]);
    expect(r.stale).toEqual([0x1500]);
    expect(r.errors).toEqual([]);
  });

  it('ignores a reply with another transaction id, a non-zero protocol id, or another function', () => {
    const f = expecting();
    expect(f.push(b('15 02 00 00 00 05 FF 03 02 00 2A')).frames).toEqual([]);
    expect(f.push(b('15 01 00 01 00 05 FF 03 02 00 2A')).frames).toEqual([]);
    expect(f.push(b('15 01 00 00 00 05 FF 04 02 00 2A')).frames).toEqual([]);
    expect(f.expecting).toBe(true);
    expect(f.push(REPLY).frames).toHaveLength(1);
  });

  it('bytes after the reply are reported; bytes while nothing is expected are dropped', () => {
    const f = expecting();
    expect(f.push(Buffer.concat([REPLY, b('00 00')])).errors).toEqual(['ignored 2 byte(s) after reply']);
    expect(f.push(REPLY)).toEqual({ frames: [], errors: [], stale: [] });
    expect(f.buffered).toBe(0);
  });

  it('a header claiming more bytes than follow yields to a whole reply behind it', () => {
    const fake = b('15 01 00 00 00 F0 FF 03');
    const r = expecting().push(Buffer.concat([fake, REPLY]));
    expect(r.frames.map((x) => x.pdu)).toEqual([b('03 02 00 2A')]);
  });
});

describe('MbapRequestFramer (server side)', () => {
  const second = encodeMbap(0x1502, 1, encodeRequestPdu({ fc: 16, address: 1, values: [0x000a, 0x0102] }));

  it('a whole request, decoded by the codec', () => {
    const r = new MbapRequestFramer().push(GUIDE_REQUEST);
    expect(r.frames).toEqual([{ transactionId: 0x1501, unitId: 0xff, pdu: b('03 00 04 00 01') }]);
    expect(decodeRequestPdu(r.frames[0]!.pdu)).toEqual({ ok: true, value: { request: { fc: 3, address: 4, quantity: 1 } } });
  });

  it('split anywhere, and two in one chunk', () => {
    const stream = Buffer.concat([GUIDE_REQUEST, second]);
    for (let cut = 1; cut < stream.length; cut++) {
      const f = new MbapRequestFramer();
      const frames = [...f.push(stream.subarray(0, cut)).frames, ...f.push(stream.subarray(cut)).frames];
      expect(frames.map((x) => x.transactionId)).toEqual([0x1501, 0x1502]);
    }
    expect(new MbapRequestFramer().push(stream).frames).toHaveLength(2);
  });

  it('garbage first is skipped and reported', () => {
    const r = new MbapRequestFramer().push(Buffer.concat([b('FF FF 01'), GUIDE_REQUEST]));
    expect(r.frames).toHaveLength(1);
    expect(r.errors).toEqual(['skipped 3 byte(s): FF FF 01']);
  });

  it('a garbage header claiming 200 bytes does not hold up the request behind it', () => {
    const r = new MbapRequestFramer().push(Buffer.concat([b('00 07 00 00 00 C8 01 2B'), GUIDE_REQUEST]));
    expect(r.frames.map((x) => x.transactionId)).toEqual([0x1501]);
    expect(r.errors).toEqual(['skipped 8 byte(s): 00 07 00 00 00 C8 01 2B']);
  });

  it('rejects a wrong protocol id, a length that does not fit the function, an FC10 byte count that does not fit the quantity', () => {
    const f = new MbapRequestFramer();
    expect(f.push(b('15 01 00 01 00 06 FF 03 00 04 00 01')).frames).toEqual([]);
    expect(f.push(b('15 01 00 00 00 07 FF 03 00 04 00 01 00')).frames).toEqual([]);
    expect(f.push(b('00 01 00 00 00 0B 01 10 00 01 00 03 04 00 0A 01 02')).frames).toEqual([]);
  });

  it('passes a function it does not know (FC2B) so the server can answer exception 01', () => {
    const r = new MbapRequestFramer().push(b('00 09 00 00 00 05 01 2B 0E 01 00'));
    expect(r.frames).toEqual([{ transactionId: 9, unitId: 1, pdu: b('2B 0E 01 00') }]);
    expect(decodeRequestPdu(r.frames[0]!.pdu)).toEqual({ ok: true, value: { unsupported: 0x2b } });
  });

  it('keeps a partial header, drops what cannot start one', () => {
    const f = new MbapRequestFramer();
    expect(f.push(b('15 01 00 00')).frames).toEqual([]);
    expect(f.buffered).toBe(4);
    expect(f.push(b('00 06 FF 03 00 04 00 01')).frames).toHaveLength(1);
    // 15 01 cannot start a header (protocol id 00 09); 00 09 may be the next transaction id.
    expect(f.push(b('15 01 00 09')).errors).toEqual(['skipped 2 byte(s): 15 01']);
    expect(f.buffered).toBe(2);
  });
});
