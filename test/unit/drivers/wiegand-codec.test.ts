import { describe, expect, it } from 'vitest';
import { decodeWiegand, encodeWiegand, formatBits, parseBits } from '../../../drivers/wiegand/codec.js';

/** shared/PROTOCOLS.md: W26, FC 123 / card 4567. */
const W26_FIXTURE = '10111101100010001110101110';

describe('wiegand codec', () => {
  it('decodes the W26 fixture: FC 123, card 4567', () => {
    expect(decodeWiegand(parseBits(W26_FIXTURE), 'auto')).toEqual({
      ok: true,
      card: { format: 'w26', facility: 123, card: 4567, uid: '7B11D7', number: '123,04567' },
    });
    expect(decodeWiegand(parseBits(W26_FIXTURE), 'w26')).toMatchObject({ ok: true });
  });

  it('encodes FC 123 / card 4567 to the fixture', () => {
    expect(formatBits(encodeWiegand('w26', 123, 4567))).toBe(W26_FIXTURE);
  });

  it('decodes W34: 16-bit facility, 16-bit card, parity over each half', () => {
    // 0 | 0000000001111011 | 0001000111010111 | 1: 6 ones in the first half (even parity 0), 8 in the second (odd parity 1)
    const bits = '0' + '0000000001111011' + '0001000111010111' + '1';
    expect(formatBits(encodeWiegand('w34', 123, 4567))).toBe(bits);
    expect(decodeWiegand(parseBits(bits), 'auto')).toEqual({
      ok: true,
      card: { format: 'w34', facility: 123, card: 4567, uid: '007B11D7', number: '00123,04567' },
    });
    expect(decodeWiegand(encodeWiegand('w34', 65535, 65535), 'w34')).toMatchObject({ ok: true, card: { uid: 'FFFFFFFF', number: '65535,65535' } });
  });

  it('pads the UID to the data width', () => {
    expect(decodeWiegand(encodeWiegand('w26', 0, 1), 'auto')).toMatchObject({ ok: true, card: { uid: '000001', number: '000,00001' } });
  });

  it('rejects bad parity at either end', () => {
    const firstFlipped = parseBits(W26_FIXTURE);
    firstFlipped[0] = 0;
    expect(decodeWiegand(firstFlipped, 'auto')).toEqual({ ok: false, reason: 'w26: even parity (first bit) fails' });
    const lastFlipped = parseBits(W26_FIXTURE);
    lastFlipped[25] = 1;
    expect(decodeWiegand(lastFlipped, 'auto')).toEqual({ ok: false, reason: 'w26: odd parity (last bit) fails' });
    const dataFlipped = parseBits(W26_FIXTURE);
    dataFlipped[5] = dataFlipped[5] === 1 ? 0 : 1; // one data bit in the first half
    expect(decodeWiegand(dataFlipped, 'auto')).toMatchObject({ ok: false, reason: /even parity/ });
  });

  it('rejects wrong bit counts, and a count that does not match a fixed format', () => {
    expect(decodeWiegand(parseBits(W26_FIXTURE.slice(0, 25)), 'auto')).toEqual({ ok: false, reason: 'wrong bit count: 25 bit(s), expected 26 or 34' });
    expect(decodeWiegand([], 'auto')).toMatchObject({ ok: false, reason: /0 bit/ });
    expect(decodeWiegand(parseBits(W26_FIXTURE), 'w34')).toEqual({ ok: false, reason: 'wrong bit count: 26 bit(s), expected 34' });
    expect(decodeWiegand(encodeWiegand('w34', 1, 2), 'w26')).toEqual({ ok: false, reason: 'wrong bit count: 34 bit(s), expected 26' });
  });

  it('refuses to encode values that do not fit', () => {
    expect(() => encodeWiegand('w26', 256, 1)).toThrow(/w26 facility code must be 0..255/);
    expect(() => encodeWiegand('w26', 1, 65536)).toThrow(/card number must be 0..65535/);
    expect(() => encodeWiegand('w34', -1, 1)).toThrow(RangeError);
    expect(() => parseBits('10x')).toThrow(RangeError);
  });
});
