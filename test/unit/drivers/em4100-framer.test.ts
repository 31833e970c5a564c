import { describe, expect, it } from 'vitest';
import { Em4100Framer, encodeFrame, type Em4100Format, type Em4100FramerOutput } from '../../../drivers/em4100/framer.js';
import { FIXTURES } from './em4100-fixtures.js';

const hex = (b: Buffer): string => b.toString('hex').toUpperCase();
const frames = (outs: Em4100FramerOutput[]): string[] => outs.flatMap((o) => (o.type === 'frame' ? [hex(o.data)] : []));
const malformed = (outs: Em4100FramerOutput[]) => outs.flatMap((o) => (o.type === 'malformed' ? [o] : []));

function pushAll(framer: Em4100Framer, chunks: Buffer[]): Em4100FramerOutput[] {
  return chunks.flatMap((c) => framer.push(c));
}

function byteByByte(bytes: Buffer): Buffer[] {
  return [...bytes].map((b) => Buffer.from([b]));
}

const cases: { format: Em4100Format; fixture: { bytes: Buffer; uid: string } }[] = [
  { format: 'rdm6300', fixture: FIXTURES.rdm6300 },
  { format: 'em18', fixture: FIXTURES.em18 },
  { format: 'em18', fixture: FIXTURES.em18Module },
  { format: 'binary', fixture: FIXTURES.binary },
];

describe.each(cases)('em4100 framer, $format on $fixture.uid', ({ format, fixture }) => {
  it('decodes the whole document frame', () => {
    const out = new Em4100Framer(format).push(fixture.bytes);
    expect(out).toEqual([{ type: 'frame', data: Buffer.from(fixture.uid, 'hex') }]);
  });

  it('decodes the frame split byte by byte', () => {
    const framer = new Em4100Framer(format);
    const chunks = byteByByte(fixture.bytes);
    const outs = chunks.map((c) => framer.push(c));
    // Nothing comes out before the last byte, the frame comes with it.
    expect(outs.slice(0, -1).every((o) => o.length === 0)).toBe(true);
    expect(frames(outs.at(-1) ?? [])).toEqual([fixture.uid]);
  });

  it('decodes two frames in one chunk', () => {
    const out = new Em4100Framer(format).push(Buffer.concat([fixture.bytes, fixture.bytes]));
    expect(frames(out)).toEqual([fixture.uid, fixture.uid]);
    expect(malformed(out)).toEqual([]);
  });

  it('encodeFrame reproduces the document bytes', () => {
    expect(encodeFrame(format, Buffer.from(fixture.uid, 'hex'))).toEqual(fixture.bytes);
  });
});

describe('em4100 framer, rdm6300', () => {
  const { bytes, uid } = FIXTURES.rdm6300;

  it('skips garbage before a frame and reports it once', () => {
    const out = new Em4100Framer('rdm6300').push(Buffer.concat([Buffer.from([0xff, 0x00, 0x41, 0x03]), bytes]));
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ type: 'malformed', bytes: 4, reason: 'bytes outside a frame' });
    expect(frames(out)).toEqual([uid]);
  });

  it('rejects a bad checksum and still decodes the next frame', () => {
    const bad = Buffer.from(bytes);
    bad[12] = 0x39; // checksum "08" -> "09"
    const out = new Em4100Framer('rdm6300').push(Buffer.concat([bad, bytes]));
    expect(malformed(out)).toEqual([expect.objectContaining({ reason: 'checksum mismatch', bytes: 14 })]);
    expect(frames(out)).toEqual([uid]);
  });

  it('rejects a non-hex character inside a frame', () => {
    const bad = Buffer.from(bytes);
    bad[5] = 0x47; // 'G'
    const out = new Em4100Framer('rdm6300').push(Buffer.concat([bad, bytes]));
    expect(malformed(out)[0]?.reason).toContain('non-hex character in frame');
    expect(frames(out)).toEqual([uid]);
  });

  it('restarts at a new STX when a frame is cut short', () => {
    const truncated = bytes.subarray(0, 7);
    const out = new Em4100Framer('rdm6300').push(Buffer.concat([truncated, bytes]));
    expect(malformed(out)).toEqual([expect.objectContaining({ reason: 'truncated frame', bytes: 7 })]);
    expect(frames(out)).toEqual([uid]);
  });

  it('rejects a frame whose 14th byte is not ETX', () => {
    const bad = Buffer.from(bytes);
    bad[13] = 0x04;
    const out = new Em4100Framer('rdm6300').push(Buffer.concat([bad, bytes]));
    expect(malformed(out)[0]?.reason).toBe('missing ETX');
    expect(frames(out)).toEqual([uid]);
  });

  it('accepts lower-case hex and CR/LF between frames', () => {
    const lower = Buffer.from([0x02, ...Buffer.from('62e3086ced08'), 0x03, 0x0d, 0x0a]);
    const out = new Em4100Framer('rdm6300').push(Buffer.concat([lower, bytes]));
    expect(out).toEqual([
      { type: 'frame', data: Buffer.from(uid, 'hex') },
      { type: 'frame', data: Buffer.from(uid, 'hex') },
    ]);
  });

  it('keeps a partial frame across pushes and drops it on reset()', () => {
    const framer = new Em4100Framer('rdm6300');
    expect(framer.push(bytes.subarray(0, 9))).toEqual([]);
    framer.reset();
    const out = framer.push(bytes.subarray(9));
    expect(frames(out)).toEqual([]);
    expect(malformed(out)).toHaveLength(1);
  });
});

describe('em4100 framer, em18', () => {
  const { bytes, uid } = FIXTURES.em18;

  it('accepts CR/LF after each frame', () => {
    const crlf = Buffer.concat([bytes, Buffer.from('\r\n'), FIXTURES.em18Module.bytes, Buffer.from('\r\n')]);
    const out = new Em4100Framer('em18').push(crlf);
    expect(out).toEqual([
      { type: 'frame', data: Buffer.from(uid, 'hex') },
      { type: 'frame', data: Buffer.from(FIXTURES.em18Module.uid, 'hex') },
    ]);
  });

  it('skips non-hex garbage before a frame', () => {
    const out = new Em4100Framer('em18').push(Buffer.concat([Buffer.from([0x00, 0xff, 0x7a]), bytes]));
    expect(malformed(out)).toEqual([expect.objectContaining({ bytes: 3, reason: 'bytes outside a frame' })]);
    expect(frames(out)).toEqual([uid]);
  });

  it('slides over hex garbage with no delimiter until the checksum fits', () => {
    // "12" + frame: the windows starting at '1' and '2' fail their checksums.
    const out = new Em4100Framer('em18').push(Buffer.concat([Buffer.from('12'), bytes, bytes]));
    expect(frames(out)).toEqual([uid, uid]);
    expect(malformed(out)).toEqual([expect.objectContaining({ bytes: 2, reason: 'checksum mismatch' })]);
  });

  it('rejects a bad checksum', () => {
    const out = new Em4100Framer('em18').push(Buffer.from('4500C5D1E9B9\r\n'));
    expect(frames(out)).toEqual([]);
    expect(malformed(out)).toEqual([expect.objectContaining({ bytes: 12 })]);
    expect(malformed(out)[0]?.reason).toContain('checksum mismatch');
  });

  it('rejects a short run of hex characters', () => {
    const out = new Em4100Framer('em18').push(Buffer.concat([Buffer.from('4500C\r\n'), bytes]));
    expect(malformed(out)).toEqual([expect.objectContaining({ bytes: 5, reason: 'too few hex characters' })]);
    expect(frames(out)).toEqual([uid]);
  });
});

describe('em4100 framer, binary', () => {
  const { bytes, uid } = FIXTURES.binary;

  it('skips garbage (including a stray STX) before a frame', () => {
    const out = new Em4100Framer('binary').push(Buffer.concat([Buffer.from([0x02, 0x02, 0x99, 0x03]), bytes]));
    expect(frames(out)).toEqual([uid]);
    expect(malformed(out)).toEqual([expect.objectContaining({ bytes: 4 })]);
  });

  it('rejects a BCC mismatch and resynchronises on the next frame', () => {
    const bad = Buffer.from(bytes);
    bad[8] = 0xb1;
    const out = new Em4100Framer('binary').push(Buffer.concat([bad, bytes]));
    expect(frames(out)).toEqual([uid]);
    expect(malformed(out)).toEqual([expect.objectContaining({ bytes: 10 })]);
    expect(malformed(out)[0]?.reason).toContain('BCC mismatch');
  });

  it('rejects a Mifare (card type 01) frame', () => {
    const mifare = Buffer.from([0x02, 0x0a, 0x01, 0x06, 0x00, 0x8e, 0x6d, 0x5d, 0xb3, 0x03]);
    const out = new Em4100Framer('binary').push(mifare);
    expect(frames(out)).toEqual([]);
    expect(malformed(out)[0]?.reason).toContain('card type 0x01 is not EM4100');
  });

  it('decodes data bytes that look like STX/ETX', () => {
    const data = Buffer.from([0x02, 0x03, 0x02, 0x03, 0x0a]);
    const wire = encodeFrame('binary', data);
    const framer = new Em4100Framer('binary');
    const out = pushAll(framer, [Buffer.from([0x03, 0x02]), ...byteByByte(wire)]);
    expect(frames(out)).toEqual([hex(data)]);
  });
});
