/**
 * The recorder's sources as it records them: the configured ones plus, with
 * `recording.composed`, the composed view as a source of its own (its failures
 * are its main camera's, so it carries the main camera's config under its own
 * id); the ffmpeg media args of the composed view; the lesson facts a
 * recording's sidecar names.
 */
import { DateTime } from 'luxon';
import type { RecordingConfig, RecordingSourceConfig } from '../config/recording-schema.js';
import type { RosterIndexExtra } from '../lessons/roster.js';
import type { LessonOccurrence } from '../lessons/types.js';
import { composedArgs, inputArgs } from './ffmpeg.js';
import type { RecordingLessonInfo, SourceCredentials } from './types.js';

export const COMPOSED_LABEL = '电影模式';

export function sourceTable(config: RecordingConfig): Map<string, RecordingSourceConfig> {
  const byId = new Map(config.sources.map((s) => [s.id, s]));
  const composed = config.composed;
  if (composed) byId.set(composed.id, { ...byId.get(composed.main)!, id: composed.id, label: COMPOSED_LABEL, ptz: undefined });
  return byId;
}

/** What the sidecar says of a source. */
export function describeSource(config: RecordingConfig, byId: Map<string, RecordingSourceConfig>, id: string): { id: string; kind: string; label?: string } {
  const source = byId.get(id);
  return { id, kind: id === config.composed?.id ? 'composed' : (source?.kind ?? 'unknown'), ...(source?.label ? { label: source.label } : {}) };
}

/**
 * ffmpeg's input and encoding args for `id` when it is the composed view (null for a plain
 * source), with the passwords they hold for redaction.
 */
export function composedMedia(
  config: RecordingConfig,
  byId: Map<string, RecordingSourceConfig>,
  id: string,
  credentials: (s: RecordingSourceConfig) => SourceCredentials | undefined,
): { media: string[]; secrets: string[] } | null {
  const c = config.composed;
  if (!c || id !== c.id) return null;
  const main = byId.get(c.main)!;
  const inset = byId.get(c.inset)!;
  const [mc, ic] = [credentials(main), credentials(inset)];
  return {
    media: composedArgs(c, inputArgs(main, mc), inputArgs(inset, ic), { gopSeconds: Math.min(2, config.segmentSeconds) }),
    secrets: [mc?.password, ic?.password].filter((p): p is string => !!p),
  };
}

export function lessonInfo(roomId: string, roster: RosterIndexExtra, l: LessonOccurrence): RecordingLessonInfo {
  return {
    roomId,
    lessonId: l.lessonId,
    course: l.course,
    classId: l.classId,
    className: roster.className(l.classId),
    teacherId: l.teacherId,
    teacherName: l.teacherId ? roster.teacher(l.teacherId)?.name : undefined,
    startsAt: l.startsAt,
    endsAt: l.endsAt,
  };
}

/** A recording without a lesson (a teacher or technician asked outside the timetable): `{room}/{date}/rec-HHmmss`. */
export function unscheduledLesson(roomId: string, now: number, timeZone: string): RecordingLessonInfo {
  const t = DateTime.fromMillis(now, { zone: timeZone });
  return { roomId, lessonId: `${roomId}/${t.toISODate()}/rec-${t.toFormat('HHmmss')}`, course: '', classId: '', teacherId: null, startsAt: now, endsAt: now };
}
