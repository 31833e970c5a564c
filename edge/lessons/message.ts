/**
 * The retained `lesson` bus message (edge/schemas/bus.ts lessonSchema) for
 * the current lesson or none, with class and teacher names from the roster.
 */
import type { LessonMessage } from '../schemas/bus.js';
import type { LessonOccurrence, RosterIndex } from './types.js';

export interface ClassNames {
  className(classId: string): string | undefined;
}

export function lessonMessage(lesson: LessonOccurrence | null, roster?: (RosterIndex & Partial<ClassNames>) | null): LessonMessage {
  if (!lesson) return { lessonId: null };
  const className = roster?.className?.(lesson.classId);
  const teacher = lesson.teacherId ? roster?.teacher(lesson.teacherId)?.name : undefined;
  return {
    lessonId: lesson.lessonId,
    course: lesson.course,
    ...(className ? { className } : {}),
    ...(teacher ? { teacher } : {}),
    ...(lesson.period !== null ? { period: lesson.period } : {}),
    startsAt: lesson.startsAt,
    endsAt: lesson.endsAt,
    adHoc: lesson.adHoc,
  };
}
