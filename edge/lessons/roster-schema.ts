/**
 * The roster document (zod): classes, students, teachers and approved leaves
 * (请假). Privacy: only what attendance needs is accepted and stored —
 * student id, name, class and card UID; teacher id, name and card UID; leave
 * dates, periods and reason. Unknown fields are refused (strict objects), so
 * nothing else is kept by accident. See docs/timetable.md.
 */
import { z } from 'zod';
import { idSchema } from '../schemas/bus.js';
import { isDate } from './dates.js';
import { formatPath, zodProblems, type Problem } from './problems.js';
import { MAX_PERIOD } from './timetable-schema.js';

/** Upper-case hex without separators ("0a:1b:2c:3d" -> "0A1B2C3D"); the same form as the bus `card` topic. */
export function canonicalCardUid(uid: string): string {
  return uid.replace(/[\s:-]/g, '').toUpperCase();
}

export const cardUidSchema = z
  .string()
  .transform(canonicalCardUid)
  .pipe(z.string().regex(/^[0-9A-F]{4,32}$/, 'card UID must be 4 to 32 hexadecimal digits'));

const date = z.string().refine(isDate, 'must be a real date written YYYY-MM-DD');
const personName = z.string().trim().min(1).max(64);

export const classSchema = z.object({ classId: idSchema, name: personName }).strict();

export const studentSchema = z
  .object({ studentId: idSchema, name: personName, classId: idSchema, cardUid: cardUidSchema.optional() })
  .strict();

export const teacherSchema = z.object({ teacherId: idSchema, name: personName, cardUid: cardUidSchema.optional() }).strict();

export const leaveSchema = z
  .object({
    studentId: idSchema,
    from: date,
    to: date,
    /** Periods of those days; the whole days when absent. */
    periods: z.array(z.number().int().min(1).max(MAX_PERIOD)).min(1).max(MAX_PERIOD).optional(),
    reason: z.string().trim().max(200).optional(),
  })
  .strict();

export const rosterShape = z
  .object({
    classes: z.array(classSchema).max(500),
    students: z.array(studentSchema).max(20_000),
    teachers: z.array(teacherSchema).max(2_000).default([]),
    leaves: z.array(leaveSchema).max(20_000).default([]),
  })
  .strict();

export type RosterDoc = z.output<typeof rosterShape>;
export type RosterClass = z.output<typeof classSchema>;

/** Unknown class, duplicate ids, a card UID used twice (students and teachers together), leaves of unknown students. */
export function crossCheckRoster(doc: RosterDoc): Problem[] {
  const problems: Problem[] = [];
  const add = (path: PropertyKey[], reason: string) => problems.push({ path: formatPath(path), reason });

  const classes = new Map<string, number>();
  doc.classes.forEach((c, i) => {
    const first = classes.get(c.classId);
    if (first !== undefined) add(['classes', i, 'classId'], `duplicate class id "${c.classId}" (also classes[${first}])`);
    else classes.set(c.classId, i);
  });

  const students = new Map<string, number>();
  const cards = new Map<string, string>();
  const claimCard = (path: PropertyKey[], uid: string | undefined, owner: string) => {
    if (uid === undefined) return;
    const first = cards.get(uid);
    if (first !== undefined) add(path, `card UID ${uid} is already used by ${first}`);
    else cards.set(uid, owner);
  };
  doc.students.forEach((s, i) => {
    const first = students.get(s.studentId);
    if (first !== undefined) add(['students', i, 'studentId'], `duplicate student id "${s.studentId}" (also students[${first}])`);
    else students.set(s.studentId, i);
    if (!classes.has(s.classId)) {
      add(['students', i, 'classId'], `unknown class "${s.classId}"; classes: ${[...classes.keys()].join(', ') || 'none'}`);
    }
    claimCard(['students', i, 'cardUid'], s.cardUid, `student ${s.studentId} (students[${i}])`);
  });

  const teachers = new Map<string, number>();
  doc.teachers.forEach((t, i) => {
    const first = teachers.get(t.teacherId);
    if (first !== undefined) add(['teachers', i, 'teacherId'], `duplicate teacher id "${t.teacherId}" (also teachers[${first}])`);
    else teachers.set(t.teacherId, i);
    claimCard(['teachers', i, 'cardUid'], t.cardUid, `teacher ${t.teacherId} (teachers[${i}])`);
  });

  doc.leaves.forEach((l, i) => {
    if (!students.has(l.studentId)) add(['leaves', i, 'studentId'], `unknown student "${l.studentId}"`);
    if (l.to < l.from) add(['leaves', i, 'to'], `leave ends (${l.to}) before it starts (${l.from})`);
    if (l.periods && new Set(l.periods).size !== l.periods.length) add(['leaves', i, 'periods'], 'a period is listed twice');
  });
  return problems;
}

/** Parses and checks a roster document; the document only when there is no problem. */
export function validateRoster(raw: unknown): { doc?: RosterDoc; problems: Problem[] } {
  const parsed = rosterShape.safeParse(raw);
  if (!parsed.success) return { problems: zodProblems(parsed.error) };
  const problems = crossCheckRoster(parsed.data);
  return problems.length > 0 ? { problems } : { doc: parsed.data, problems };
}
