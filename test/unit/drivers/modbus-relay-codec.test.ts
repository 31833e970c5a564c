/**
 * Coil functions of the codec on the PDU examples of the MODBUS Application
 * Protocol Specification V1.1b3: §6.1 Read Coils 20-38 (request 01 00 13 00
 * 13, response 01 03 CD 6B 05), §6.2 Read Discrete Inputs 197-218 (02 00 C4
 * 00 16 -> 02 03 AC DB 35), §6.5 Write Single Coil 173 ON (05 00 AC FF 00,
 * echoed), §6.11 Write Multiple Coils 20-29 (0F 00 13 00 0A 02 CD 01 -> 0F
 * 00 13 00 0A); the RTU framer on the same replies; the relay channel plans.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeRequestPdu,
  decodeResponse,
  decodeResponsePdu,
  encodeRequest,
  encodeRequestPdu,
  encodeResponse,
  encodeResponsePdu,
  expectedResponseLength,
  packBits,
  unpackBits,
  type ModbusRequest,
} from '../../../drivers/modbus/codec.js';
import { withCrc } from '../../../drivers/modbus/crc.js';
import { expectationFor, RtuResponseFramer } from '../../../drivers/modbus/framer.js';
import { channelList, planCoilReads, planCoilWrites } from '../../../drivers/modbus-relay/channels.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Coils 27..20 = CD, 35..28 = 6B, 38..36 = 05 (spec §6.1), LSB = lowest address.
const COILS_20_38 = [
  ...[1, 0, 1, 1, 0, 0, 1, 1], // CD
  ...[1, 1, 0, 1, 0, 1, 1, 0], // 6B
  ...[1, 0, 1], // 05
].map((x) => x === 1);

describe('coil PDUs (Application Protocol §6.1, §6.2, §6.5, §6.11)', () => {
  const cases: Array<[string, ModbusRequest, string, string]> = [
    ['FC01 read coils 20-38', { fc: 1, address: 0x13, quantity: 0x13 }, '01 00 13 00 13', '01 03 CD 6B 05'],
    ['FC02 read inputs 197-218', { fc: 2, address: 0xc4, quantity: 0x16 }, '02 00 C4 00 16', '02 03 AC DB 35'],
    ['FC05 coil 173 on', { fc: 5, address: 0xac, value: true }, '05 00 AC FF 00', '05 00 AC FF 00'],
    ['FC05 coil 173 off', { fc: 5, address: 0xac, value: false }, '05 00 AC 00 00', '05 00 AC 00 00'],
    [
      'FC0F coils 20-29',
      { fc: 15, address: 0x13, values: [true, false, true, true, false, false, true, true, true, false] },
      '0F 00 13 00 0A 02 CD 01',
      '0F 00 13 00 0A',
    ],
  ];

  it.each(cases)('%s: request encodes and decodes server-side', (_name, req, request) => {
    expect(encodeRequestPdu(req)).toEqual(b(request));
    expect(decodeRequestPdu(b(request))).toEqual({ ok: true, value: { request: req } });
  });

  it.each(cases)('%s: response decodes client-side', (_name, req, _request, response) => {
    const decoded = decodeResponsePdu(req, b(response));
    expect(decoded.ok).toBe(true);
    if (!decoded.ok || !decoded.value.ok) throw new Error('not a normal response');
    expect(encodeResponsePdu(decoded.value.response)).toEqual(b(response));
  });

  it('FC01 bits come out LSB first for the requested quantity, padding ignored', () => {
    expect(decodeResponsePdu({ fc: 1, address: 0x13, quantity: 0x13 }, b('01 03 CD 6B 05'))).toEqual({
      ok: true,
      value: { ok: true, response: { fc: 1, bits: COILS_20_38 } },
    });
    expect(packBits(COILS_20_38)).toEqual(b('CD 6B 05'));
    expect(unpackBits(b('FF'), 3)).toEqual([true, true, true]);
  });

  it('FC01 replies that do not answer the request are errors, not exceptions thrown', () => {
    const req: ModbusRequest = { fc: 1, address: 0, quantity: 8 };
    expect(decodeResponsePdu(req, b('01 02 FF 00')).ok).toBe(false); // 2 bytes for 8 coils
    expect(decodeResponsePdu(req, b('01 01')).ok).toBe(false);
    expect(decodeResponsePdu(req, b('03 01 FF')).ok).toBe(false);
    expect(decodeResponsePdu(req, b('81 02'))).toEqual({ ok: true, value: { ok: false, fc: 1, exception: 2 } });
    expect(decodeResponsePdu({ fc: 5, address: 1, value: true }, b('05 00 01 00 00')).ok).toBe(false); // echo says off
  });

  it('quantity limits: 2000 coils per read, 1968 per write (§6.1, §6.11)', () => {
    expect(() => encodeRequestPdu({ fc: 1, address: 0, quantity: 2001 })).toThrow(RangeError);
    expect(() => encodeRequestPdu({ fc: 1, address: 0, quantity: 0 })).toThrow(RangeError);
    expect(encodeRequestPdu({ fc: 1, address: 0, quantity: 2000 })).toHaveLength(5);
    expect(() => encodeRequestPdu({ fc: 15, address: 0, values: new Array<boolean>(1969).fill(true) })).toThrow(RangeError);
  });
});

describe('coil ADUs over RTU', () => {
  const read: ModbusRequest = { fc: 1, address: 0x13, quantity: 0x13 };
  const reply = encodeResponse(0x11, { fc: 1, bits: COILS_20_38 });

  it('request and reply ADUs carry unit id and CRC', () => {
    expect(encodeRequest(0x11, read)).toEqual(withCrc(b('11 01 00 13 00 13')));
    expect(reply).toEqual(withCrc(b('11 01 03 CD 6B 05')));
    expect(expectedResponseLength(read)).toBe(8);
    expect(decodeResponse(0x11, read, reply)).toEqual({ ok: true, value: { unitId: 0x11, ok: true, response: { fc: 1, bits: COILS_20_38 } } });
  });

  it('the RTU framer finds an FC01 reply after garbage, checking the byte count', () => {
    const f = new RtuResponseFramer({ silenceMs: 5, now: () => 0 });
    f.expect(expectationFor(0x11, read));
    // A look-alike with the wrong byte count first, then the real reply.
    const r = f.push(Buffer.concat([b('11 01 07'), reply]));
    expect(r.frames).toEqual([reply]);
    expect(r.errors).toEqual(['skipped 3 byte(s) before reply: 11 01 07']);
  });
});

describe('relay channel plans', () => {
  it('a count names channels 1..N on coils 0..N-1', () => {
    expect(channelList(3)).toEqual([
      { name: '1', coil: 0 },
      { name: '2', coil: 1 },
      { name: '3', coil: 2 },
    ]);
  });

  it('reads and writes runs of consecutive coils, not across gaps', () => {
    const chans = channelList({ lights: 0, screen: 1, curtain: 2, fan: 7 });
    expect(planCoilReads(chans).map((r) => r.request)).toEqual([
      { fc: 1, address: 0, quantity: 3 },
      { fc: 1, address: 7, quantity: 1 },
    ]);
    expect(planCoilWrites(chans, true).map((w) => w.request)).toEqual([
      { fc: 15, address: 0, values: [true, true, true] },
      { fc: 5, address: 7, value: true },
    ]);
    expect(planCoilWrites([{ name: 'fan', coil: 7 }], false).map((w) => w.request)).toEqual([{ fc: 5, address: 7, value: false }]);
  });
});
