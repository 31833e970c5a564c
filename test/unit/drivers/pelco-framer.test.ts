/**
 * Pelco-D framer and codec on messages from the Pelco "D" Protocol Manual
 * (TF-0002 v2 r1) and shared/PROTOCOLS.md.
 */
import { describe, expect, it } from 'vitest';
import { encodePelcoFrame, pelcoChecksum, PelcoDFramer } from '../../../drivers/pelco-d/framer.js';
import { decodePelcoRequest, encodePelcoRequest, type PelcoRequest } from '../../../drivers/pelco-d/codec.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const h = (buf: Buffer): string => buf.toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');

const GOTO3 = b('FF 01 00 07 00 03 0B');
const STOP = b('FF 01 00 00 00 00 01');

describe('Pelco-D encoding (document fixtures)', () => {
  it.each([
    [{ kind: 'preset', action: 'goto', preset: 3 }, 'FF 01 00 07 00 03 0B'],
    [{ kind: 'stop' }, 'FF 01 00 00 00 00 01'],
    [{ kind: 'preset', action: 'set', preset: 3 }, 'FF 01 00 03 00 03 07'],
    [{ kind: 'preset', action: 'clear', preset: 3 }, 'FF 01 00 05 00 03 09'],
    [{ kind: 'zoom', direction: 'in' }, 'FF 01 00 20 00 00 21'],
    [{ kind: 'zoom', direction: 'out' }, 'FF 01 00 40 00 00 41'],
    [{ kind: 'zoom-speed', speed: 2 }, 'FF 01 00 25 00 02 28'],
    // Camera on/off: command 1 bit 3 with the sense bit (bit 7) on = on, off = off.
    [{ kind: 'power', on: true }, 'FF 01 88 00 00 00 89'],
    [{ kind: 'power', on: false }, 'FF 01 08 00 00 00 09'],
  ] as Array<[PelcoRequest, string]>)('%j -> %s', (req, bytes) => {
    expect(h(encodePelcoRequest(1, req))).toBe(bytes);
    const frames = new PelcoDFramer().push(b(bytes)).frames;
    expect(frames).toHaveLength(1);
    expect(decodePelcoRequest(frames[0]!)).toEqual(req);
  });

  it('checksum is the sum of bytes 2-6 mod 256, address included', () => {
    expect(pelcoChecksum(0xff, 0x88, 0x00, 0x3f, 0x3f)).toBe((0xff + 0x88 + 0x3f + 0x3f) & 0xff);
    expect(h(encodePelcoRequest(0x20, { kind: 'preset', action: 'goto', preset: 0x20 }))).toBe('FF 20 00 07 00 20 47');
  });

  it('refuses out-of-range values', () => {
    expect(() => encodePelcoRequest(0, { kind: 'stop' })).toThrow(RangeError);
    expect(() => encodePelcoRequest(256, { kind: 'stop' })).toThrow(RangeError);
    expect(() => encodePelcoRequest(1, { kind: 'preset', action: 'goto', preset: 0 })).toThrow(/preset/);
    expect(() => encodePelcoRequest(1, { kind: 'zoom-speed', speed: 4 })).toThrow(/zoom speed/);
    expect(() => encodePelcoFrame({ address: 1, cmd1: 0, cmd2: 0, data1: 256, data2: 0 })).toThrow(RangeError);
  });

  it('other messages decode as "other" (pan/tilt, iris, unknown extended)', () => {
    const pan = { address: 1, cmd1: 0, cmd2: 0x02, data1: 0x20, data2: 0 };
    expect(decodePelcoRequest(pan)).toEqual({ kind: 'other', frame: pan });
    const ext = { address: 1, cmd1: 0, cmd2: 0x0f, data1: 0, data2: 0 };
    expect(decodePelcoRequest(ext)).toEqual({ kind: 'other', frame: ext });
  });
});

describe('PelcoDFramer', () => {
  it('a whole message', () => {
    expect(new PelcoDFramer().push(GOTO3)).toEqual({ frames: [{ address: 1, cmd1: 0, cmd2: 7, data1: 0, data2: 3 }], errors: [] });
  });

  it('a message split byte by byte', () => {
    const f = new PelcoDFramer();
    const frames = [...GOTO3].flatMap((byte) => f.push(Buffer.from([byte])).frames);
    expect(frames).toHaveLength(1);
    expect(f.buffered).toBe(0);
  });

  it('two messages in one chunk', () => {
    expect(new PelcoDFramer().push(Buffer.concat([GOTO3, STOP])).frames.map((x) => x.cmd2)).toEqual([7, 0]);
  });

  it('garbage first is skipped and reported', () => {
    const out = new PelcoDFramer().push(Buffer.concat([b('00 13 37'), STOP]));
    expect(out.frames).toHaveLength(1);
    expect(out.errors).toEqual(['skipped 3 byte(s) before sync: 00 13 37']);
  });

  it('a bad checksum drops that sync byte and the next message still decodes', () => {
    const bad = b('FF 01 00 07 00 03 0C');
    const out = new PelcoDFramer().push(Buffer.concat([bad, GOTO3]));
    expect(out.frames).toEqual([{ address: 1, cmd1: 0, cmd2: 7, data1: 0, data2: 3 }]);
    expect(out.errors[0]).toBe('bad checksum c (expected b): FF 01 00 07 00 03 0C');
  });

  it('an FF inside the data does not confuse it', () => {
    const withFF = encodePelcoFrame({ address: 0xff, cmd1: 0, cmd2: 0x07, data1: 0, data2: 0xff });
    expect(new PelcoDFramer().push(Buffer.concat([withFF, STOP])).frames.map((x) => [x.address, x.data2])).toEqual([
      [0xff, 0xff],
      [1, 0],
    ]);
  });

  it('a truncated message left across a pause is dropped', () => {
    const clock = { t: 0 };
    const f = new PelcoDFramer({ staleMs: 100, now: () => clock.t });
    f.push(b('FF 01 00'));
    clock.t = 1000;
    const out = f.push(STOP);
    expect(out.frames).toHaveLength(1);
    expect(out.errors).toEqual(['dropped stale partial message FF 01 00']);
  });
});
