import { describe, expect, it } from 'vitest';
import { attendanceCsv, csvCell } from '../../../edge/attendance/export.js';
import { chooseWindows } from '../../../edge/attendance/windows.js';
import { at, lesson } from './fakes.js';

describe('csvCell', () => {
  it('quotes commas, quotes and line breaks, and defuses formulas', () => {
    expect(csvCell('张三')).toBe('张三');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line\nbreak')).toBe('"line\nbreak"');
    expect(csvCell('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('@cmd')).toBe("'@cmd");
    expect(csvCell('')).toBe('');
  });

  it('an empty export is the BOM and the header', () => {
    const buf = attendanceCsv([], { lang: 'zh', timeZone: 'Asia/Shanghai' });
    expect(buf.toString('utf8')).toBe('\ufeff日期,节次,课程,班级,学号,姓名,状态,刷卡时间\r\n');
  });
});

describe('chooseWindows', () => {
  const p1 = lesson(1, '08:00', '08:45', 'c2-3', '数学');
  const p2 = lesson(2, '08:50', '09:35', 'c2-4', '物理'); // 5-minute break: windows overlap from 08:40
  const open = 10 * 60_000;
  const none = () => false;

  it('puts the lesson in progress first when windows overlap', () => {
    expect(chooseWindows([p2, p1], at('08:42'), open, none).open.map((l) => l.lessonId)).toEqual([p1.lessonId, p2.lessonId]);
    expect(chooseWindows([p1, p2], at('08:46'), open, none).open.map((l) => l.lessonId)).toEqual([p2.lessonId]);
  });

  it('window edges are inclusive: startsAt − openBefore and endsAt', () => {
    expect(chooseWindows([p1], at('07:50'), open, none).open).toHaveLength(1);
    expect(chooseWindows([p1], at('07:49:59'), open, none)).toMatchObject({ reason: 'too-early', opensAt: at('07:50') });
    expect(chooseWindows([p1], at('08:45'), open, none).open).toHaveLength(1);
    expect(chooseWindows([p1], at('08:45:01'), open, none)).toMatchObject({ reason: 'ended', lessonId: p1.lessonId });
  });

  it('a closed lesson takes no more taps', () => {
    expect(chooseWindows([p1], at('08:30'), open, (id) => id === p1.lessonId)).toMatchObject({ open: [], reason: 'ended' });
  });
});
