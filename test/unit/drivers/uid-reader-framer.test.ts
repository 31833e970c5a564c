import { describe, expect, it } from 'vitest';
import { encodeLine, UidLineFramer, type UidFramerOutput } from '../../../drivers/uid-reader/framer.js';

const feed = (framer: UidLineFramer, ...chunks: (string | number[])[]): UidFramerOutput[] =>
  chunks.flatMap((c) => framer.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : Uint8Array.from(c)));
const lines = (outs: UidFramerOutput[]): string[] => outs.flatMap((o) => (o.type === 'line' ? [o.text] : []));
const bad = (outs: UidFramerOutput[]) => outs.filter((o) => o.type === 'malformed');

describe('uid line framer', () => {
  it('reads a whole CR LF line, and the same line split byte by byte', () => {
    expect(feed(new UidLineFramer('crlf'), '04A32B1C\r\n')).toEqual([{ type: 'line', text: '04A32B1C' }]);
    const f = new UidLineFramer('crlf');
    const outs = [...'04A32B1C\r\n'].flatMap((c) => f.push(Buffer.from(c, 'latin1')));
    expect(outs).toEqual([{ type: 'line', text: '04A32B1C' }]);
    expect(f.buffered).toBe(0);
  });

  it('reads two lines in one chunk, and a line split across chunks', () => {
    expect(lines(feed(new UidLineFramer('crlf'), '04A32B1C\r\nC45F5E2A\r\n'))).toEqual(['04A32B1C', 'C45F5E2A']);
    expect(lines(feed(new UidLineFramer('crlf'), '04A3', '2B1C\r', '\n'))).toEqual(['04A32B1C']);
  });

  it('crlf and lf both accept bare LF and CR LF; cr ends at CR and skips the LF after it', () => {
    for (const t of ['crlf', 'lf'] as const) expect(lines(feed(new UidLineFramer(t), 'AA\nBB\r\n'))).toEqual(['AA', 'BB']);
    expect(lines(feed(new UidLineFramer('cr'), 'AA\rBB\r\nCC\r'))).toEqual(['AA', 'BB', 'CC']);
    // With cr, an LF alone does not end a line.
    const f = new UidLineFramer('cr');
    expect(lines(feed(f, 'AA\n'))).toEqual([]);
    expect(f.buffered).toBe(3);
  });

  it('etx: STX text ETX, STX optional; a new STX before ETX drops a truncated frame', () => {
    expect(lines(feed(new UidLineFramer('etx'), [0x02, ...Buffer.from('04A32B1C'), 0x03]))).toEqual(['04A32B1C']);
    expect(lines(feed(new UidLineFramer('etx'), [...Buffer.from('C45F5E2A'), 0x03, 0x0d, 0x0a]))).toEqual(['C45F5E2A']);
    const outs = feed(new UidLineFramer('etx'), [0x02, 0x31, 0x32, 0x02, ...Buffer.from('04A32B1C'), 0x03]);
    expect(lines(outs)).toEqual(['04A32B1C']);
    expect(bad(outs)).toEqual([{ type: 'malformed', reason: 'truncated frame (STX before ETX)', bytes: 3, sample: Buffer.from([2, 0x31, 0x32]) }]);
    expect(bad(feed(new UidLineFramer('etx'), [0x02, 0x03]))).toMatchObject([{ reason: 'empty frame', bytes: 1 }]);
  });

  it('trims blanks, ignores empty lines', () => {
    expect(feed(new UidLineFramer('crlf'), '\r\n\r\n  04 A3 2B 1C \t\r\n\n')).toEqual([{ type: 'line', text: '04 A3 2B 1C' }]);
  });

  it('rejects a line with non-printable bytes and reads the next line', () => {
    const outs = feed(new UidLineFramer('crlf'), [0xff, 0x00, 0x41, 0x0a, ...Buffer.from('04A32B1C\r\n')]);
    expect(outs).toEqual([
      { type: 'malformed', reason: 'non-printable bytes in line', bytes: 3, sample: Buffer.from([0xff, 0x00, 0x41]) },
      { type: 'line', text: '04A32B1C' },
    ]);
  });

  it('drops an over-long line up to its terminator, buffering at most maxLine bytes, then resyncs', () => {
    const f = new UidLineFramer('crlf', 16);
    const outs = feed(f, 'X'.repeat(40));
    expect(f.buffered).toBe(0);
    expect(bad(outs)).toMatchObject([{ reason: 'line too long', bytes: 40 }]);
    expect(feed(f, 'YYY\n04A32B1C\r\n')).toEqual([
      { type: 'malformed', reason: 'line too long', bytes: 3, sample: Buffer.from('YYY') },
      { type: 'line', text: '04A32B1C' },
    ]);
  });

  it('reset() drops a partial line', () => {
    const f = new UidLineFramer('crlf');
    f.push(Buffer.from('04A3'));
    f.reset();
    expect(lines(feed(f, '2B1C\r\n'))).toEqual(['2B1C']);
  });

  it('encodeLine produces what the framer reads back', () => {
    for (const t of ['crlf', 'lf', 'cr', 'etx'] as const) {
      expect(feed(new UidLineFramer(t), [...encodeLine('04A32B1C', t)])).toEqual([{ type: 'line', text: '04A32B1C' }]);
    }
    expect(encodeLine('AB', 'crlf')).toEqual(Buffer.from('AB\r\n'));
    expect(encodeLine('AB', 'etx')).toEqual(Buffer.from([2, 0x41, 0x42, 3]));
  });
});
