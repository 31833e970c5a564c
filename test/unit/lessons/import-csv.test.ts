/** CSV imports: the weekly grid and the roster, bad rows named by line, merged with the dataset in force. */
import { describe, expect, it } from 'vitest';
import { importRoster, importTimetable } from '../../../edge/lessons/importers.js';
import { formatProblem } from '../../../edge/lessons/problems.js';
import { roster, timetable } from './fixtures.js';

const problems = (o: { problems: Array<{ path: string; reason: string; file?: string }> }) => o.problems.map(formatProblem);
const ZONE = { zone: 'Asia/Shanghai' };

describe('timetable CSV', () => {
  it('replaces the weekly grid, keeps bell schedules and term; BOM, 周一 / Mon / 1 and CRLF all work', () => {
    const csv = '\ufeffweekday,period,course,class_id,teacher_id\r\n周一,1,数学,c1,t1\r\nTue,2,语文,c2,\r\n3,5,"生物, 实验",c2,t2\r\n';
    const o = importTimetable([{ name: 'week.csv', text: csv }], timetable(), ZONE);
    expect(problems(o)).toEqual([]);
    expect(o.doc?.weekly).toEqual([
      { weekday: 1, period: 1, course: '数学', classId: 'c1', teacherId: 't1' },
      { weekday: 2, period: 2, course: '语文', classId: 'c2' },
      { weekday: 3, period: 5, course: '生物, 实验', classId: 'c2', teacherId: 't2' },
    ]);
    expect(o.doc?.term).toEqual(timetable().term);
    expect(o.doc?.bellSchedules).toEqual(timetable().bellSchedules);
  });

  it('accepts Chinese headers', () => {
    const o = importTimetable([{ name: 'w.csv', text: '星期,节次,课程,班级,教师\n星期三,2,化学,c2,t2\n' }], timetable(), ZONE);
    expect(o.doc?.weekly).toEqual([{ weekday: 3, period: 2, course: '化学', classId: 'c2', teacherId: 't2' }]);
  });

  it('names every bad row by its line, counting blank lines and quoted line breaks', () => {
    const csv = [
      'weekday,period,course,class_id,teacher_id', // 1
      '1,1,数学,c1,t1', // 2
      '', // 3
      '周八,2,语文,c2,', // 4
      '2,x,英语,c1,', // 5
      '"3",3,"多行', // 6
      '课程",c1,', // 7
      '4,1,,c1,', // 8
      '5,1,体育,bad id,', // 9
      '5,2,美术,c1,t1,extra', // 10
    ].join('\n');
    const o = importTimetable([{ name: 'w.csv', text: csv }], timetable(), ZONE);
    expect(o.doc).toBeUndefined();
    expect(problems(o)).toEqual([
      'w.csv: line 4: weekday "周八" is not a weekday (use 1-7, 周一..周日 or Mon..Sun)',
      'w.csv: line 5: period "x" is not a period number (1-20)',
      'w.csv: line 8: course is empty',
      'w.csv: line 9: class_id "bad id" is not an id (letters, digits, "_", "." and "-", starting with a letter or digit)',
      'w.csv: line 10: has 6 fields but the header has 5',
    ]);
  });

  it('names the lines of rows that break the timetable as a whole (unknown period, duplicate slot)', () => {
    const csv = 'weekday,period,course,class_id\n1,1,数学,c1\n5,4,体育,c2\n1,1,语文,c2\n';
    const o = importTimetable([{ name: 'w.csv', text: csv }], timetable(), ZONE);
    expect(problems(o)).toEqual([
      'w.csv: line 3: period: period 4 is not in bell schedule "friday" used on 周五 (periods 1, 2)',
      'w.csv: line 4: duplicate lesson: line 2 already holds 周一 period 1',
    ]);
  });

  it('refuses a missing column, an empty file, and a CSV with no timetable in force', () => {
    expect(problems(importTimetable([{ name: 'w.csv', text: 'weekday,period,course\n1,1,数学\n' }], timetable(), ZONE))).toEqual([
      'w.csv: line 1: a timetable CSV needs the columns weekday, period, course, class_id; missing: class_id',
    ]);
    expect(problems(importTimetable([{ name: 'w.csv', text: '' }], timetable(), ZONE))).toEqual([
      'w.csv: (file): the file is empty (a header row is required)',
    ]);
    expect(problems(importTimetable([{ name: 'w.csv', text: 'weekday,period,course,class_id\n1,1,a,c1\n' }], null, ZONE))[0]).toMatch(
      /no timetable is in force: import a full timetable document/,
    );
    expect(problems(importTimetable([{ name: 'w.txt', text: 'x' }], timetable(), ZONE))).toEqual([
      'w.txt: (file): unknown timetable file type: use .csv, .ics, .yaml, .yml or .json',
    ]);
  });

  it('reports an unclosed quote with its line', () => {
    const o = importTimetable([{ name: 'w.csv', text: 'weekday,period,course,class_id\n1,1,"数学,c1\n' }], timetable(), ZONE);
    expect(problems(o)).toEqual([expect.stringMatching(/^w\.csv: line 2: not valid CSV: .*[Qq]uote/)]);
  });
});

describe('roster CSV', () => {
  it('students (with class_name), teachers and leaves files make one roster; card UIDs canonical; extra columns dropped', () => {
    const files = [
      { name: 'leaves.csv', text: 'student_id,from,to,periods,reason\ns2,2025-09-01,,1;2,病假\n' },
      { name: 'students.csv', text: '\ufeff学号,姓名,班级,卡号,班级名称,电话\ns1,张三,c1,62:e3:08:6c:ed,初二(1)班,138\ns2,李四,c3,,初二(3)班,139\n' },
      { name: 'teachers.csv', text: 'teacher_id,name,card_uid\nt1,赵老师,7e00000001\n' },
    ];
    const o = importRoster(files, roster());
    expect(problems(o)).toEqual([]);
    expect(o.notes).toEqual(['students.csv: columns 电话 ignored (not stored)']);
    expect(o.doc?.students).toEqual([
      { studentId: 's1', name: '张三', classId: 'c1', cardUid: '62E3086CED' },
      { studentId: 's2', name: '李四', classId: 'c3' },
    ]);
    expect(o.doc?.classes).toEqual([
      { classId: 'c1', name: '初二(1)班' },
      { classId: 'c2', name: '初二(2)班' },
      { classId: 'c3', name: '初二(3)班' },
    ]);
    expect(o.doc?.teachers).toEqual([{ teacherId: 't1', name: '赵老师', cardUid: '7E00000001' }]);
    expect(o.doc?.leaves).toEqual([{ studentId: 's2', from: '2025-09-01', to: '2025-09-01', periods: [1, 2], reason: '病假' }]);
    expect(JSON.stringify(o.doc)).not.toContain('138');
  });

  it('names bad rows by line, and cross-file problems (a card used twice, an unknown class) by the row that caused them', () => {
    const bad = importRoster([{ name: 's.csv', text: 'student_id,name,class_id,card_uid\ns1,张三,c1,XYZ\n,李四,c1,\ns3,,c1,\n' }], roster());
    expect(problems(bad)).toEqual([
      's.csv: line 2: card_uid "XYZ" is not a card UID (4 to 32 hexadecimal digits)',
      's.csv: line 3: student_id is empty',
      's.csv: line 4: name is empty',
    ]);
    const cross = importRoster(
      [
        { name: 's.csv', text: 'student_id,name,class_id,card_uid\ns1,张三,c1,62E3086CED\ns9,孙九,c9,\n' },
        { name: 't.csv', text: 'teacher_id,name,card_uid\nt1,赵老师,62e3086ced\n' },
      ],
      roster(),
    );
    expect(problems(cross)).toEqual([
      's.csv: line 3: classId: unknown class "c9"; classes: c1, c2',
      't.csv: line 2: cardUid: card UID 62E3086CED is already used by student s1 (line 2)',
      'leaves[0].studentId: unknown student "s2"', // the leave in force names a student the new file drops
    ]);
    const leave = importRoster([{ name: 'l.csv', text: 'student_id,from,to\ns1,2025-09-03,2025-09-01\ns1,2025-13-01,\n' }], roster());
    expect(problems(leave)).toEqual(['l.csv: line 3: from "2025-13-01" is not a date (YYYY-MM-DD)']);
    const backwards = importRoster([{ name: 'l.csv', text: 'student_id,from,to\ns1,2025-09-03,2025-09-01\n' }], roster());
    expect(problems(backwards)).toEqual(['l.csv: line 2: to: leave ends (2025-09-01) before it starts (2025-09-03)']);
  });

  it('refuses a header it does not know', () => {
    expect(problems(importRoster([{ name: 'x.csv', text: 'a,b\n1,2\n' }], null))[0]).toMatch(/^x\.csv: line 1: unknown roster CSV header/);
  });
});
