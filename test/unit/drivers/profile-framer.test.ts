/**
 * The panel-profile reply scanner on the Newline-style return frames
 * (7F 09 99 A2 B3 C4 02 FF 01 key status CF) and ascii reply lines.
 */
import { describe, expect, it } from 'vitest';
import { MAX_TEXT, ProfileScanner, type ScanMatch } from '../../../drivers/profile/framer.js';
import { compilePattern, type CompiledPattern } from '../../../drivers/profile/codec.js';

const b = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const OK = compilePattern('ack.ok', 'hex', '7F 09 99 A2 B3 C4 02 FF 01 ?? 01 CF');
const ERR = compilePattern('ack.error', 'hex', '7F 09 99 A2 B3 C4 02 FF 01 ?? 00 CF');
const RET_OK = b('7F 09 99 A2 B3 C4 02 FF 01 14 01 CF');
const RET_ERR = b('7F 09 99 A2 B3 C4 02 FF 01 0A 00 CF');

function run(scanner: ProfileScanner, chunks: Uint8Array[], patterns: CompiledPattern[]): { matches: ScanMatch[]; errors: string[] } {
  const matches: ScanMatch[] = [];
  const errors: string[] = [];
  for (const c of chunks) {
    const r = scanner.push(c, patterns);
    matches.push(...r.matches);
    errors.push(...r.errors);
  }
  return { matches, errors };
}

const latin = (x: Buffer): string => x.toString('latin1');

describe('ProfileScanner, hex', () => {
  it('whole reply; a wildcard matches any byte', () => {
    expect(run(new ProfileScanner('hex'), [RET_OK], [OK, ERR])).toEqual({ matches: [{ id: 'ack.ok', text: latin(RET_OK) }], errors: [] });
  });

  it('split at every byte: waits on a prefix, buffer stays within one pattern', () => {
    const s = new ProfileScanner('hex');
    const { matches, errors } = run(s, [...RET_ERR].map((x) => Buffer.from([x])), [OK, ERR]);
    expect(matches).toEqual([{ id: 'ack.error', text: latin(RET_ERR) }]);
    expect(errors).toEqual([]);
    expect(s.buffered).toBe(0);
  });

  it('two replies in one chunk', () => {
    const { matches } = run(new ProfileScanner('hex'), [Buffer.concat([RET_OK, RET_ERR])], [OK, ERR]);
    expect(matches.map((m) => m.id)).toEqual(['ack.ok', 'ack.error']);
  });

  it('garbage first is skipped and reported', () => {
    const { matches, errors } = run(new ProfileScanner('hex'), [b('00 7F 09 99 13'), RET_OK], [OK, ERR]);
    expect(matches.map((m) => m.id)).toEqual(['ack.ok']);
    expect(errors).toEqual(['skipped 5 byte(s) matching no expected reply: 00 7F 09 99 13']);
  });

  it('a corrupted reply (wrong trailer) is dropped and the next one found', () => {
    const broken = Buffer.from(RET_OK);
    broken[11] = 0xce;
    const { matches, errors } = run(new ProfileScanner('hex'), [broken, RET_ERR], [OK, ERR]);
    expect(matches.map((m) => m.id)).toEqual(['ack.error']);
    expect(errors).toHaveLength(1);
  });

  it('only the patterns asked for are found; with none everything is garbage', () => {
    const ack = compilePattern('ack.ok', 'hex', 'AA FF ?? 03 41');
    const status = compilePattern('power.on', 'hex', 'AA FF ?? 03 41 11 01');
    const reply = b('AA FF 01 03 41 11 01');
    expect(run(new ProfileScanner('hex'), [reply], [status]).matches).toEqual([{ id: 'power.on', text: latin(reply) }]);
    expect(run(new ProfileScanner('hex'), [reply], [ack, status]).matches.map((m) => m.id)).toEqual(['power.on']); // longest
    expect(run(new ProfileScanner('hex'), [reply], []).errors).toEqual(['skipped 7 byte(s) matching no expected reply: AA FF 01 03 41 11 01']);
  });
});

describe('ProfileScanner, ascii', () => {
  const ok = compilePattern('ack.ok', 'ascii', '^OK$');
  const err = compilePattern('ack.error', 'ascii', '^(ERR|NG)');
  const on = compilePattern('power.on', 'ascii', '^PWR=ON$');

  it('lines: whole, split, two in a chunk, CR LF trimmed, garbage lines reported', () => {
    const s = new ProfileScanner('ascii', '\r');
    const { matches, errors } = run(s, [Buffer.from('\nO'), Buffer.from('K\r\nPWR=O'), Buffer.from('N\rjunk\rERR 3\r')], [ok, err, on]);
    expect(matches).toEqual([
      { id: 'ack.ok', text: 'OK' },
      { id: 'power.on', text: 'PWR=ON' },
      { id: 'ack.error', text: 'ERR 3' },
    ]);
    expect(errors).toEqual(['reply matching no expected pattern: "junk"']);
    expect(s.buffered).toBe(0);
  });

  it('lines: an endless line is dropped at the cap', () => {
    const s = new ProfileScanner('ascii', '\r');
    const r = s.push(Buffer.alloc(MAX_TEXT + 1, 0x41), [ok]);
    expect(r.errors[0]).toMatch(/^dropped 513 character\(s\) without terminator/);
    expect(s.buffered).toBe(0);
    expect(s.push(Buffer.from('OK\r'), [ok]).matches).toEqual([{ id: 'ack.ok', text: 'OK' }]);
  });

  it('no terminator: earliest match wins, garbage before it is reported, the buffer is capped', () => {
    const s = new ProfileScanner('ascii');
    const okAny = compilePattern('ack.ok', 'ascii', 'OK');
    const r = s.push(Buffer.from('xxOKyyERR'), [okAny, compilePattern('ack.error', 'ascii', 'ERR')]);
    expect(r.matches).toEqual([
      { id: 'ack.ok', text: 'OK' },
      { id: 'ack.error', text: 'ERR' },
    ]);
    expect(r.errors).toEqual(['skipped text matching no expected reply: "xx"', 'skipped text matching no expected reply: "yy"']);
    s.push(Buffer.alloc(MAX_TEXT * 2, 0x7a), [okAny]);
    expect(s.buffered).toBe(MAX_TEXT);
    expect(s.push(Buffer.from('abc'), []).errors[0]).toMatch(/^unexpected text while no reply is awaited/);
    expect(s.buffered).toBe(0);
  });
});
