/**
 * The roster in force as an index for attendance: students by class, people
 * by card UID, leaves by student. Built once per roster version.
 */
import type { Leave, RosterIndex, Student, Teacher } from './types.js';
import { canonicalCardUid, type RosterDoc } from './roster-schema.js';

export interface RosterIndexExtra extends RosterIndex {
  /** Class name by id (for the `lesson` bus message and the kiosk). */
  className(classId: string): string | undefined;
  classes(): Array<{ classId: string; name: string }>;
}

export function createRosterIndex(version: number, doc: RosterDoc): RosterIndexExtra {
  const byClass = new Map<string, Student[]>();
  const students = new Map<string, Student>();
  const teachers = new Map<string, Teacher>();
  const cards = new Map<string, { type: 'student'; student: Student } | { type: 'teacher'; teacher: Teacher }>();
  const leaves = new Map<string, Leave[]>();
  const classNames = new Map(doc.classes.map((c) => [c.classId, c.name]));

  for (const s of doc.students) {
    const student: Student = { studentId: s.studentId, name: s.name, classId: s.classId, ...(s.cardUid ? { cardUid: s.cardUid } : {}) };
    students.set(student.studentId, student);
    byClass.set(student.classId, [...(byClass.get(student.classId) ?? []), student]);
    if (student.cardUid) cards.set(student.cardUid, { type: 'student', student });
  }
  for (const t of doc.teachers) {
    const teacher: Teacher = { teacherId: t.teacherId, name: t.name, ...(t.cardUid ? { cardUid: t.cardUid } : {}) };
    teachers.set(teacher.teacherId, teacher);
    if (teacher.cardUid) cards.set(teacher.cardUid, { type: 'teacher', teacher });
  }
  for (const l of doc.leaves) {
    const leave: Leave = { studentId: l.studentId, from: l.from, to: l.to, ...(l.periods ? { periods: l.periods } : {}), ...(l.reason ? { reason: l.reason } : {}) };
    leaves.set(leave.studentId, [...(leaves.get(leave.studentId) ?? []), leave]);
  }

  return {
    version,
    studentsOf: (classId) => [...(byClass.get(classId) ?? [])],
    student: (id) => students.get(id),
    teacher: (id) => teachers.get(id),
    byCard: (uid) => cards.get(canonicalCardUid(uid)),
    leaveFor: (studentId, date, period) =>
      (leaves.get(studentId) ?? []).find(
        (l) => date >= l.from && date <= l.to && (l.periods === undefined || (period !== null && l.periods.includes(period))),
      ),
    className: (classId) => classNames.get(classId),
    classes: () => doc.classes.map((c) => ({ ...c })),
  };
}
