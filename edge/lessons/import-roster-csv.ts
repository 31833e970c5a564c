/**
 * The roster as CSV files, one kind per file, recognised by the header:
 *
 * - students: `student_id,name,class_id[,card_uid][,class_name]`
 * - teachers: `teacher_id,name[,card_uid]`
 * - leaves:   `student_id,from[,to][,periods][,reason]` (periods: "1 2" or "1;2")
 * - classes:  `class_id,name`
 *
 * Each file replaces that part of the roster in force (students also add or
 * rename the classes named in class_name). Other columns are ignored and
 * never stored (privacy). See docs/timetable.md.
 */
import { idSchema } from '../schemas/bus.js';
import { readCsv, type CsvRow } from './csv.js';
import { isDate } from './dates.js';
import { sortProblems, type Problem } from './problems.js';
import { cardUidSchema, type RosterDoc } from './roster-schema.js';
import { MAX_PERIOD } from './timetable-schema.js';

export type RosterCsvKind = 'classes' | 'students' | 'teachers' | 'leaves';

type Item<K extends keyof RosterDoc> = RosterDoc[K][number];

export interface RosterCsvPart {
  kind?: RosterCsvKind;
  classes: Array<Item<'classes'> & { line: number }>;
  students: Array<Item<'students'> & { line: number }>;
  teachers: Array<Item<'teachers'> & { line: number }>;
  leaves: Array<Item<'leaves'> & { line: number }>;
  /** Columns present but not stored. */
  ignored: string[];
  problems: Problem[];
}

const ALIASES: Record<string, string> = {
  学号: 'student_id',
  studentid: 'student_id',
  姓名: 'name',
  班级: 'class_id',
  班级编号: 'class_id',
  classid: 'class_id',
  班级名称: 'class_name',
  卡号: 'card_uid',
  card: 'card_uid',
  uid: 'card_uid',
  工号: 'teacher_id',
  教师编号: 'teacher_id',
  teacherid: 'teacher_id',
  开始: 'from',
  结束: 'to',
  节次: 'periods',
  原因: 'reason',
};

const KNOWN: Record<RosterCsvKind, readonly string[]> = {
  students: ['student_id', 'name', 'class_id', 'card_uid', 'class_name'],
  teachers: ['teacher_id', 'name', 'card_uid'],
  leaves: ['student_id', 'from', 'to', 'periods', 'reason'],
  classes: ['class_id', 'name'],
};

export function detectRosterCsv(columns: readonly string[]): RosterCsvKind | undefined {
  const has = (c: string) => columns.includes(c);
  if (has('student_id') && has('from')) return 'leaves';
  if (has('student_id') && has('name') && has('class_id')) return 'students';
  if (has('teacher_id') && has('name')) return 'teachers';
  if (has('class_id') && has('name')) return 'classes';
  return undefined;
}

const ID_HINT = 'letters, digits, "_", "." and "-", starting with a letter or digit';

function rowReader(row: CsvRow, problems: Problem[]) {
  const at = `line ${row.line}`;
  const bad = (reason: string) => problems.push({ path: at, reason });
  return {
    failed: () => problems.some((p) => p.path === at),
    id(column: string, optional = false): string | undefined {
      const v = row.get(column);
      if (v === '' && optional) return undefined;
      if (!idSchema.safeParse(v).success) bad(v === '' ? `${column} is empty` : `${column} "${v}" is not an id (${ID_HINT})`);
      return v;
    },
    text(column: string, max: number, optional = false): string | undefined {
      const v = row.get(column);
      if (v === '' && optional) return undefined;
      if (v === '') bad(`${column} is empty`);
      else if (v.length > max) bad(`${column} is longer than ${max} characters`);
      return v;
    },
    card(): string | undefined {
      const v = row.get('card_uid');
      if (v === '') return undefined;
      const r = cardUidSchema.safeParse(v);
      if (!r.success) bad(`card_uid "${v}" is not a card UID (4 to 32 hexadecimal digits)`);
      return r.success ? r.data : undefined;
    },
    date(column: string): string | undefined {
      const v = row.get(column);
      if (!isDate(v)) bad(`${column} "${v}" is not a date (YYYY-MM-DD)`);
      return v;
    },
    periods(): number[] | undefined {
      const v = row.get('periods');
      if (v === '') return undefined;
      const parts = v.split(/[\s;,、]+/).filter(Boolean);
      const nums = parts.map((p) => (/^\d{1,2}$/.test(p) ? Number(p) : NaN));
      if (nums.some((n) => !(n >= 1 && n <= MAX_PERIOD))) bad(`periods "${v}" must be period numbers 1-${MAX_PERIOD} separated by spaces or ";"`);
      return nums;
    },
  };
}

export function parseRosterCsv(text: string): RosterCsvPart {
  const table = readCsv(text, ALIASES);
  const part: RosterCsvPart = { classes: [], students: [], teachers: [], leaves: [], ignored: [], problems: [...table.problems] };
  if (table.columns.length === 0) return part;
  const kind = detectRosterCsv(table.columns);
  if (!kind) {
    part.problems.push({
      path: 'line 1',
      reason:
        'unknown roster CSV header: expected student_id,name,class_id[,card_uid] (students), teacher_id,name[,card_uid] (teachers), ' +
        'student_id,from,to[,periods][,reason] (leaves) or class_id,name (classes)',
    });
    return part;
  }
  part.kind = kind;
  part.ignored = table.columns.filter((c) => c !== '' && !KNOWN[kind].includes(c));
  const problems = part.problems;
  for (const row of table.rows) {
    const r = rowReader(row, problems);
    const line = row.line;
    if (kind === 'classes') {
      const classId = r.id('class_id')!;
      const name = r.text('name', 64)!;
      if (!r.failed()) part.classes.push({ classId, name, line });
    } else if (kind === 'students') {
      const studentId = r.id('student_id')!;
      const name = r.text('name', 64)!;
      const classId = r.id('class_id')!;
      const cardUid = r.card();
      const className = r.text('class_name', 64, true);
      if (r.failed()) continue;
      part.students.push({ studentId, name, classId, ...(cardUid ? { cardUid } : {}), line });
      if (className) part.classes.push({ classId, name: className, line });
    } else if (kind === 'teachers') {
      const teacherId = r.id('teacher_id')!;
      const name = r.text('name', 64)!;
      const cardUid = r.card();
      if (!r.failed()) part.teachers.push({ teacherId, name, ...(cardUid ? { cardUid } : {}), line });
    } else {
      const studentId = r.id('student_id')!;
      const from = r.date('from')!;
      const to = row.get('to') ? r.date('to')! : from;
      const periods = r.periods();
      const reason = r.text('reason', 200, true);
      if (!r.failed()) part.leaves.push({ studentId, from, to, ...(periods ? { periods } : {}), ...(reason ? { reason } : {}), line });
    }
  }
  const count = part.classes.length + part.students.length + part.teachers.length + part.leaves.length;
  if (count === 0 && problems.length === 0) problems.push({ path: '(file)', reason: 'no rows after the header' });
  part.problems = sortProblems(problems);
  return part;
}
