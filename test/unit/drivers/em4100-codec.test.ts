import { describe, expect, it } from 'vitest';
import { decodeCard, encodeCard, parseUid } from '../../../drivers/em4100/codec.js';
import { Em4100Framer, EM4100_FORMATS } from '../../../drivers/em4100/framer.js';
import { FIXTURES } from './em4100-fixtures.js';

describe('em4100 codec', () => {
  it.each(Object.entries(FIXTURES))('decodes the %s fixture to its UID and printed number', (_name, f) => {
    expect(decodeCard(Buffer.from(f.uid, 'hex'))).toEqual({ uid: f.uid, number: f.number });
  });

  it('pads the printed number to 10 digits and covers the full 32-bit range', () => {
    expect(decodeCard(Buffer.from('FF00000001', 'hex')).number).toBe('0000000001');
    expect(decodeCard(Buffer.from('00FFFFFFFF', 'hex')).number).toBe('4294967295');
  });

  it('rejects data that is not 5 bytes', () => {
    expect(() => decodeCard(Buffer.alloc(4))).toThrow(RangeError);
  });

  it('parses UIDs case-insensitively and rejects anything but 10 hex digits', () => {
    expect(parseUid('62e3086ced')).toEqual(Buffer.from([0x62, 0xe3, 0x08, 0x6c, 0xed]));
    for (const bad of ['62E3086CE', '62E3086CEDA', '62E3086CEG', '', ' 62E3086CED']) {
      expect(() => parseUid(bad)).toThrow(/10 hex digits/);
    }
  });

  it.each(EM4100_FORMATS)('encodeCard and the %s framer round-trip', (format) => {
    const uid = 'A1B2C3D4E5';
    const out = new Em4100Framer(format).push(encodeCard(format, uid));
    expect(out).toEqual([{ type: 'frame', data: parseUid(uid) }]);
  });
});
