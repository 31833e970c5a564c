import { describe, expect, it } from 'vitest';
import { decodeUidLine, encodeUidLine, parseCanonicalUid } from '../../../drivers/uid-reader/codec.js';
import { UIDS } from './uid-reader-fixtures.js';

describe('uid line codec', () => {
  it.each(Object.entries(UIDS))('decodes the %s-size UID in every encoding and byte order', (_, f) => {
    expect(decodeUidLine(f.uid, { encoding: 'hex', byteOrder: 'msb' })).toEqual({ ok: true, uid: f.uid });
    expect(decodeUidLine(f.hexLsb, { encoding: 'hex', byteOrder: 'lsb' })).toEqual({ ok: true, uid: f.uid });
    const bytes = (f.uid.length / 2) as 4 | 7 | 10;
    expect(decodeUidLine(f.decMsb, { encoding: 'decimal', byteOrder: 'msb', uidBytes: bytes })).toEqual({ ok: true, uid: f.uid, number: f.decMsb });
    expect(decodeUidLine(f.decLsb, { encoding: 'decimal', byteOrder: 'lsb', uidBytes: bytes })).toEqual({ ok: true, uid: f.uid, number: f.decLsb });
  });

  it.each(Object.entries(UIDS))('encodes the %s-size UID as readers print it', (_, f) => {
    expect(encodeUidLine(f.uid, { encoding: 'hex', byteOrder: 'msb' })).toBe(f.uid);
    expect(encodeUidLine(f.uid, { encoding: 'hex', byteOrder: 'lsb' })).toBe(f.hexLsb);
    expect(encodeUidLine(f.uid, { encoding: 'decimal', byteOrder: 'msb' })).toBe(f.decMsb);
    expect(encodeUidLine(f.uid, { encoding: 'decimal', byteOrder: 'lsb' })).toBe(f.decLsb);
  });

  it('accepts lower case and byte separators in hex', () => {
    for (const text of ['04a32b1c', '04 A3 2B 1C', '04:a3:2b:1c', '04-A3-2B-1C']) {
      expect(decodeUidLine(text, { encoding: 'hex', byteOrder: 'msb' })).toEqual({ ok: true, uid: '04A32B1C' });
    }
  });

  it('infers the size of a decimal UID from its value when uidBytes is not set', () => {
    expect(decodeUidLine('0077802268', { encoding: 'decimal', byteOrder: 'msb' })).toEqual({ ok: true, uid: '04A32B1C', number: '0077802268' });
    expect(decodeUidLine('4294967295', { encoding: 'decimal', byteOrder: 'msb' })).toMatchObject({ uid: 'FFFFFFFF' });
    expect(decodeUidLine('4294967296', { encoding: 'decimal', byteOrder: 'msb' })).toMatchObject({ uid: '00000100000000' });
    // A 7-byte UID in lsb order: the value decides the size, then the bytes are reversed.
    expect(decodeUidLine(UIDS.double.decLsb, { encoding: 'decimal', byteOrder: 'lsb' })).toMatchObject({ uid: UIDS.double.uid });
  });

  it.each([
    ['hex', 'msb', undefined, 'ZZ112233', /not a hex UID/],
    ['hex', 'msb', undefined, '04A32B1', /odd number of hex digits/],
    ['hex', 'msb', undefined, '04A32B1C5E', /UID of 5 byte\(s\), expected 4, 7 or 10/],
    ['hex', 'msb', 7, '04A32B1C', /UID of 4 byte\(s\), expected 7/],
    ['hex', 'msb', undefined, '04::A3', /not a hex UID/],
    ['decimal', 'msb', undefined, '12a4', /not a decimal UID/],
    ['decimal', 'msb', undefined, '-1234', /not a decimal UID/],
    ['decimal', 'msb', 4, '4294967296', /does not fit in a 4-byte UID/],
    ['decimal', 'msb', undefined, '1'.repeat(26), /decimal UID too long/],
    ['decimal', 'msb', undefined, '9'.repeat(25), /does not fit in a 10-byte UID/],
  ] as const)('rejects %s/%s (uidBytes %s) %j', (encoding, byteOrder, uidBytes, text, reason) => {
    const r = decodeUidLine(text, { encoding, byteOrder, uidBytes });
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.reason).toMatch(reason);
  });

  it('parseCanonicalUid takes 4, 7 or 10 bytes of hex only', () => {
    expect(parseCanonicalUid('04a32b1c')).toEqual(Buffer.from([4, 0xa3, 0x2b, 0x1c]));
    for (const bad of ['04A32B', '04A32B1C5E', 'XXA32B1C', '']) expect(() => parseCanonicalUid(bad)).toThrow(RangeError);
  });
});
