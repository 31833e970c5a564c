/**
 * Classroom behaviour (issue 4): the kiosk's praise and remarks per student
 * or per group (points taken from the configured categories, never from the
 * client; idempotent by the kiosk's commandId), and behaviour events from
 * the bus (clicker answers, AI-camera hand-raises and activity), each tied
 * by the edge to the lesson in progress. Rows go through store.recordBehaviour
 * (domain row + event-log row in one transaction).
 */
import { createHash } from 'node:crypto';
import type { EdgeConfig } from '../config/schema.js';
import type { LessonClockApi, RosterIndex } from '../lessons/types.js';
import { behaviourEventSchema, idSchema, type BehaviourEventMessage } from '../schemas/bus.js';
import type { Topics } from '../schemas/topics.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { lessonIdAt } from './lesson-of.js';
import { summariseBehaviour, type BehaviourSummary, type StoredBehaviour } from './summary.js';

export interface BehaviourDeps {
  roomId: string;
  store: Store;
  clock: Clock;
  lessons: LessonClockApi;
  roster: () => RosterIndex;
  categories: EdgeConfig['behaviour']['categories'];
  publish: (topic: string, payload: object) => Promise<void>;
  topics: Pick<Topics, 'behaviour'>;
  logger: Logger;
  /** Expected students of a lesson (AttendanceService.expectedStudents); default: the lesson's class in the roster. */
  expected?: (lessonId: string) => string[] | undefined;
}

export type BehaviourErrorCode = 'invalid-input' | 'unknown-category' | 'unknown-student' | 'unknown-lesson';

export class BehaviourError extends Error {
  override name = 'BehaviourError';
  constructor(
    readonly code: BehaviourErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface AwardInput {
  lessonId?: string;
  studentId?: string;
  groupId?: string;
  categoryId: string;
  actor: { username: string; role: string };
  /** The kiosk's idempotency key: the same id twice is stored once. */
  commandId: string;
}

export interface AwardResult {
  duplicate: boolean;
  id: number;
  seq: number;
  lessonId: string | null;
  event: BehaviourEventMessage;
}

/** Most students in one group award (a class is well below it). */
export const MAX_GROUP_AWARD = 200;

export interface GroupAwardInput {
  lessonId?: string;
  studentIds: string[];
  categoryId: string;
  actor: { username: string; role: string };
  /** One id for the whole group award; each student's award gets its own id derived from it (groupAwardId). */
  commandId: string;
}

export interface GroupAwardResult {
  /** Students awarded by this request. */
  awarded: number;
  /** Students who already had this award (a retry of the same group command id). */
  duplicates: number;
  students: Array<{ studentId: string; commandId: string; duplicate: boolean; id: number }>;
}

/**
 * The command id of one student's award in a group award: derived from the
 * group's command id and the student id, so a retry of the group command
 * (same id) finds every award already stored and awards nobody twice.
 * A hash keeps it within the 64 characters of a command id whatever the ids.
 */
export function groupAwardId(groupCommandId: string, studentId: string): string {
  return `grp-${createHash('sha256').update(groupCommandId).update('\0').update(studentId).digest('base64url').slice(0, 40)}`;
}

export type IngestResult =
  | { kind: 'recorded' | 'duplicate'; id: number; seq: number; lessonId: string | null }
  | { kind: 'rejected'; reason: string };

export class BehaviourService {
  private readonly log: Logger;

  constructor(private readonly deps: BehaviourDeps) {
    this.log = deps.logger.child({ ns: 'edge:behaviour' });
  }

  /** The lesson in progress at `ts` (for card taps and behaviour events stored by ingest), or undefined. */
  lessonIdFor(ts: number): string | undefined {
    return lessonIdAt(this.deps.lessons, ts);
  }

  /** A teacher's praise or remark from the kiosk. Throws BehaviourError on invalid input. */
  async award(input: AwardInput): Promise<AwardResult> {
    const { categories, roster } = this.deps;
    if (!idSchema.safeParse(input.commandId).success) {
      throw new BehaviourError('invalid-input', 'award: commandId must be 1-64 letters, digits, "_", "." or "-"');
    }
    if ((input.studentId === undefined) === (input.groupId === undefined)) {
      throw new BehaviourError('invalid-input', `award ${input.commandId}: give exactly one of studentId or groupId`);
    }
    const category = categories.find((c) => c.id === input.categoryId);
    if (!category) {
      throw new BehaviourError('unknown-category', `award ${input.commandId}: unknown category "${input.categoryId}"; categories: ${categories.map((c) => c.id).join(', ')}`);
    }
    if (input.studentId !== undefined && !roster().student(input.studentId)) {
      throw new BehaviourError('unknown-student', `award ${input.commandId}: no student ${input.studentId} in the roster`);
    }
    if (input.groupId !== undefined && !idSchema.safeParse(input.groupId).success) {
      throw new BehaviourError('invalid-input', `award ${input.commandId}: invalid groupId ${JSON.stringify(input.groupId)}`);
    }
    const now = this.deps.clock.now();
    let lessonId: string | null;
    if (input.lessonId !== undefined) {
      const known = this.deps.lessons.find(input.lessonId) !== undefined || this.deps.expected?.(input.lessonId) !== undefined;
      if (!known) throw new BehaviourError('unknown-lesson', `award ${input.commandId}: no lesson ${input.lessonId}`);
      lessonId = input.lessonId;
    } else lessonId = this.lessonIdFor(now) ?? null;
    const event: BehaviourEventMessage = {
      kind: category.kind,
      id: input.commandId,
      ts: now,
      category: category.id,
      points: category.points,
      ...(input.studentId !== undefined ? { studentId: input.studentId } : {}),
      ...(input.groupId !== undefined ? { groupId: input.groupId } : {}),
    };
    const r = await this.deps.store.recordBehaviour({
      source: input.actor.username,
      kind: event.kind,
      studentId: input.studentId,
      payload: event,
      ts: now,
      lessonId: lessonId ?? undefined,
      dedupKey: `award:${input.commandId}`,
    });
    const duplicate = r.duplicate === true;
    if (duplicate) {
      this.log.info({ commandId: input.commandId }, 'award already stored (same commandId)');
      const stored = this.storedEvent(r.id);
      return { duplicate, id: r.id, seq: r.seq, lessonId: stored?.lessonId ?? lessonId, event: stored?.event ?? event };
    }
    this.log.info({ lessonId, studentId: input.studentId, groupId: input.groupId, category: category.id, actor: input.actor.username }, 'behaviour award');
    const published = behaviourEventSchema.safeParse(event);
    if (published.success) {
      await this.deps.publish(this.deps.topics.behaviour, published.data).catch((err: unknown) => this.log.error({ err }, 'award stored but publishing failed'));
    }
    return { duplicate, id: r.id, seq: r.seq, lessonId, event };
  }

  /**
   * One category for several students at once (the kiosk's 多选): every
   * input is checked before anything is stored, then each student gets an
   * award of their own, idempotent by groupAwardId(commandId, studentId).
   * The awards are queued together, so they normally commit in one group
   * transaction; should the store fail half-way, a retry of the same
   * commandId stores the rest and nobody twice.
   */
  async awardMany(input: GroupAwardInput): Promise<GroupAwardResult> {
    const { categories, roster } = this.deps;
    if (!idSchema.safeParse(input.commandId).success) {
      throw new BehaviourError('invalid-input', 'group award: commandId must be 1-64 letters, digits, "_", "." or "-"');
    }
    const ids = input.studentIds;
    if (ids.length === 0 || ids.length > MAX_GROUP_AWARD) {
      throw new BehaviourError('invalid-input', `group award ${input.commandId}: 1 to ${MAX_GROUP_AWARD} students, got ${ids.length}`);
    }
    if (new Set(ids).size !== ids.length) throw new BehaviourError('invalid-input', `group award ${input.commandId}: a student is named twice`);
    if (!categories.some((c) => c.id === input.categoryId)) {
      throw new BehaviourError('unknown-category', `group award ${input.commandId}: unknown category "${input.categoryId}"; categories: ${categories.map((c) => c.id).join(', ')}`);
    }
    const r = roster();
    const unknown = ids.filter((id) => !r.student(id));
    if (unknown.length > 0) throw new BehaviourError('unknown-student', `group award ${input.commandId}: not in the roster: ${unknown.join(', ')}`);
    if (input.lessonId !== undefined && this.deps.lessons.find(input.lessonId) === undefined && this.deps.expected?.(input.lessonId) === undefined) {
      throw new BehaviourError('unknown-lesson', `group award ${input.commandId}: no lesson ${input.lessonId}`);
    }
    const results = await Promise.all(
      ids.map(async (studentId) => {
        const commandId = groupAwardId(input.commandId, studentId);
        const a = await this.award({ lessonId: input.lessonId, studentId, categoryId: input.categoryId, actor: input.actor, commandId });
        return { studentId, commandId, duplicate: a.duplicate, id: a.id };
      }),
    );
    const duplicates = results.filter((x) => x.duplicate).length;
    this.log.info({ commandId: input.commandId, category: input.categoryId, students: ids.length, duplicates }, 'group award');
    return { awarded: results.length - duplicates, duplicates, students: results };
  }

  /**
   * A behaviour event from the bus. Validated by the shared schema; praise and
   * remarks must name a configured category and take its points; the lesson is
   * the one in progress when the edge receives it. Never throws on bad input.
   */
  async ingest(raw: unknown, source: string, opts: { dedupKey?: string } = {}): Promise<IngestResult> {
    const parsed = behaviourEventSchema.safeParse(raw);
    if (!parsed.success) {
      const reason = parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
      this.log.warn({ source, reason }, 'behaviour event rejected');
      return { kind: 'rejected', reason };
    }
    let event = parsed.data;
    if (event.kind === 'praise' || event.kind === 'remark') {
      const wanted = event.category;
      const category = this.deps.categories.find((c) => c.id === wanted);
      if (!category) {
        const reason = `unknown category "${wanted}"`;
        this.log.warn({ source, reason }, 'behaviour event rejected');
        return { kind: 'rejected', reason };
      }
      event = { ...event, kind: category.kind, points: category.points };
    }
    const lessonId = this.lessonIdFor(this.deps.clock.now()) ?? null;
    const dedupKey = opts.dedupKey ?? (event.id !== undefined ? `${source}:${event.id}` : undefined);
    const r = await this.deps.store.recordBehaviour({
      source,
      kind: event.kind,
      studentId: event.studentId,
      payload: event,
      ts: event.ts,
      lessonId: lessonId ?? undefined,
      dedupKey,
    });
    return { kind: r.duplicate ? 'duplicate' : 'recorded', id: r.id, seq: r.seq, lessonId };
  }

  /** Points, answers, participation and activity of a lesson; undefined for an unknown lesson with nothing recorded. */
  summary(lessonId: string): BehaviourSummary | undefined {
    const rows = this.deps.store.db
      .prepare<[string], StoredBehaviour & { student_id: string | null }>(
        'SELECT id, source, kind, student_id, payload, ts FROM behaviour_events WHERE lesson_id = ? ORDER BY id',
      )
      .all(lessonId)
      .map((r) => ({ id: r.id, source: r.source, kind: r.kind, studentId: r.student_id, payload: r.payload, ts: r.ts }));
    const lesson = this.deps.lessons.find(lessonId);
    const roster = this.deps.roster();
    const expected = this.deps.expected?.(lessonId) ?? (lesson ? roster.studentsOf(lesson.classId).map((s) => s.studentId) : undefined);
    if (!expected && rows.length === 0) return undefined;
    return summariseBehaviour({
      lessonId,
      expected: expected ?? [],
      rows,
      categories: this.deps.categories,
      nameOf: (id) => roster.student(id)?.name ?? null,
    });
  }

  private storedEvent(id: number): { lessonId: string | null; event: BehaviourEventMessage } | undefined {
    const row = this.deps.store.db
      .prepare<[number], { payload: string; lesson_id: string | null }>('SELECT payload, lesson_id FROM behaviour_events WHERE id = ?')
      .get(id);
    if (!row) return undefined;
    const parsed = behaviourEventSchema.safeParse(JSON.parse(row.payload));
    return parsed.success ? { lessonId: row.lesson_id, event: parsed.data } : undefined;
  }
}
