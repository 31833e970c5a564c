/**
 * PJLink line framer on lines in the format of JBMIA "PJLink Specifications"
 * 1.04 §2 (command `%1POWR 1` CR, response `%1POWR=OK` CR, greeting
 * `PJLINK 1 498e4a67` CR, the spec's authentication example line).
 */
import { describe, expect, it } from 'vitest';
import { PJLINK_MAX_LINE, PjlinkLineFramer, type PjlinkFramerRole } from '../../../drivers/pjlink/framer.js';

const a = (s: string): Buffer => Buffer.from(s, 'latin1');

function run(role: PjlinkFramerRole, chunks: Array<string | Buffer>): { frames: string[]; errors: string[]; framer: PjlinkLineFramer } {
  const framer = new PjlinkLineFramer(role);
  const frames: string[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = framer.push(typeof c === 'string' ? a(c) : c);
    frames.push(...r.frames);
    errors.push(...r.errors);
  }
  return { frames, errors, framer };
}

describe('PjlinkLineFramer, controller side (what a projector sends)', () => {
  it('a whole response line', () => {
    expect(run('controller', ['%1POWR=OK\r'])).toMatchObject({ frames: ['%1POWR=OK'], errors: [] });
  });

  it('a line split byte by byte', () => {
    const r = run('controller', [...'%1LAMP=12345 1\r'].map((ch) => ch));
    expect(r.frames).toEqual(['%1LAMP=12345 1']);
    expect(r.errors).toEqual([]);
  });

  it('two lines in one chunk, and a line split across two chunks', () => {
    const r = run('controller', ['PJLINK 1 498e4a67\r%1POWR=OK\r%1PO', 'WR=3\r']);
    expect(r.frames).toEqual(['PJLINK 1 498e4a67', '%1POWR=OK', '%1POWR=3']);
    expect(r.errors).toEqual([]);
  });

  it('greetings and the authentication error; lower case accepted', () => {
    expect(run('controller', ['PJLINK 0\rPJLINK ERRA\rpjlink 1 498E4A67\r%1powr=1\r']).frames).toEqual([
      'PJLINK 0',
      'PJLINK ERRA',
      'pjlink 1 498E4A67',
      '%1powr=1',
    ]);
  });

  it('garbage before a line in the same chunk is skipped and reported', () => {
    const r = run('controller', [Buffer.concat([Buffer.from([0x00, 0xff, 0xfb, 0x25, 0x01]), a('%1POWR=1\r')])]);
    expect(r.frames).toEqual(['%1POWR=1']);
    expect(r.errors).toEqual(['skipped 5 byte(s) before a line: "\\x00\\xff\\xfb%\\x01"']);
  });

  it('a garbage line is reported, the next line still decoded', () => {
    const r = run('controller', ['hello world\r%1INPT=31\r']);
    expect(r.frames).toEqual(['%1INPT=31']);
    expect(r.errors).toEqual(['not a PJLink line: "hello world"']);
  });

  it('no checksum in PJLink: a line breaking the grammar is rejected whole', () => {
    const r = run('controller', ['%1POWR\r%1POWR 1\r%1POW=1\rPJLINK 2\rPJLINK 1 498e4a6\r%1POWR=\x01\r']);
    expect(r.frames).toEqual([]);
    expect(r.errors).toHaveLength(6);
  });

  it('an endless line is cut to the longest possible frame and the frame after it still decodes', () => {
    const r = run('controller', ['x'.repeat(400), 'y'.repeat(300), '%1POWR=0\r']);
    expect(r.frames).toEqual(['%1POWR=0']);
    expect(r.errors[0]).toMatch(/^line too long: dropped \d+ byte\(s\)$/);
    expect(r.framer.buffered).toBe(0);
    const held = run('controller', ['z'.repeat(5000)]);
    expect(held.framer.buffered).toBe(PJLINK_MAX_LINE);
  });

  it('CR LF senders and empty lines are tolerated silently', () => {
    expect(run('controller', ['%1POWR=OK\r\n\r\n%1POWR=1\r'])).toMatchObject({ frames: ['%1POWR=OK', '%1POWR=1'], errors: [] });
  });

  it('reset() drops a partial line', () => {
    const framer = new PjlinkLineFramer('controller');
    framer.push(a('%1POW'));
    framer.reset();
    expect(framer.push(a('R=1\r%1POWR=0\r')).frames).toEqual(['%1POWR=0']);
  });
});

describe('PjlinkLineFramer, projector side (what a controller sends)', () => {
  it('commands with and without the authentication digest (the spec example line)', () => {
    const r = run('projector', ['5d8409bc1c3fa39749434aa3a5c38682%1POWR 1\r%1INPT ?\r%2SRCH\r']);
    expect(r.frames).toEqual(['5d8409bc1c3fa39749434aa3a5c38682%1POWR 1', '%1INPT ?', '%2SRCH']);
    expect(r.errors).toEqual([]);
  });

  it('garbage before a digest-prefixed command keeps the digest', () => {
    const r = run('projector', ['\x00zz5d8409bc1c3fa39749434aa3a5c38682%1POWR ?\r']);
    expect(r.frames).toEqual(['5d8409bc1c3fa39749434aa3a5c38682%1POWR ?']);
    expect(r.errors).toEqual(['skipped 3 byte(s) before a line: "\\x00zz"']);
  });

  it('responses are not commands', () => {
    const r = run('projector', ['%1POWR=OK\r']);
    expect(r.frames).toEqual([]);
    expect(r.errors).toHaveLength(1);
  });
});
