/**
 * Per-lesson behaviour summary (pure): points by student, group and
 * category; answers per question (answer rate = students who answered ÷
 * expected, correct rate = correct ÷ answers whose correctness is known, a
 * student's last answer counting); participation (expected students with at
 * least one hand-raise, answer or praise ÷ expected); activity counts.
 */
import type { EdgeConfig } from '../config/schema.js';
import { behaviourEventSchema, type BehaviourEventMessage } from '../schemas/bus.js';

export type Category = EdgeConfig['behaviour']['categories'][number];

export interface StoredBehaviour {
  id: number;
  source: string;
  kind: string;
  studentId: string | null;
  payload: string;
  ts: number;
}

export interface PointsLine {
  total: number;
  count: number;
  byCategory: Record<string, number>;
}

export interface QuestionSummary {
  questionId: string;
  /** Distinct students who answered (anonymous answers are in `anonymous`). */
  answered: number;
  anonymous: number;
  correct: number;
  /** correct ÷ answers whose correctness is known; null when none is known. */
  correctRate: number | null;
  /** Expected students who answered ÷ expected; null when no one is expected. */
  answerRate: number | null;
  /** How many students gave each answer (last answer per student). */
  answers: Record<string, number>;
}

export interface BehaviourSummary {
  lessonId: string;
  expected: number;
  events: number;
  /** Stored events whose payload no longer parses (counted, not summarised). */
  invalid: number;
  points: {
    total: number;
    byStudent: Array<{ studentId: string; name: string | null } & PointsLine>;
    byGroup: Array<{ groupId: string } & PointsLine>;
    byCategory: Array<{ categoryId: string; label: string | null; kind: string; count: number; points: number }>;
  };
  questions: QuestionSummary[];
  participation: { participants: number; expected: number; rate: number | null; studentIds: string[] };
  handRaises: { total: number; byStudent: Record<string, number> };
  activity: Record<string, number>;
}

function addPoints(map: Map<string, PointsLine>, key: string, category: string, points: number): void {
  const line = map.get(key) ?? { total: 0, count: 0, byCategory: {} };
  line.total += points;
  line.count += 1;
  line.byCategory[category] = (line.byCategory[category] ?? 0) + points;
  map.set(key, line);
}

interface Answer {
  answer: string;
  correct?: boolean;
}

const ratio = (n: number, d: number): number | null => (d === 0 ? null : n / d);

export function summariseBehaviour(input: {
  lessonId: string;
  expected: readonly string[];
  rows: readonly StoredBehaviour[];
  categories: readonly Category[];
  nameOf: (studentId: string) => string | null;
}): BehaviourSummary {
  const expected = new Set(input.expected);
  const byStudent = new Map<string, PointsLine>();
  const byGroup = new Map<string, PointsLine>();
  const byCategory = new Map<string, { kind: string; count: number; points: number }>();
  const participants = new Set<string>();
  const handRaisesBy: Record<string, number> = {};
  const activity: Record<string, number> = {};
  // questionId -> studentId -> last answer (rows come in id order, so later rows win)
  const answers = new Map<string, { byStudent: Map<string, Answer>; anonymous: Answer[] }>();
  let handRaises = 0;
  let total = 0;
  let invalid = 0;
  let events = 0;

  const sorted = [...input.rows].sort((a, b) => a.ts - b.ts || a.id - b.id);
  for (const row of sorted) {
    let e: BehaviourEventMessage;
    try {
      const parsed = behaviourEventSchema.safeParse(JSON.parse(row.payload));
      if (!parsed.success) {
        invalid++;
        continue;
      }
      e = parsed.data;
    } catch {
      invalid++;
      continue;
    }
    events++;
    const studentId = e.studentId ?? row.studentId ?? undefined;
    switch (e.kind) {
      case 'praise':
      case 'remark': {
        total += e.points;
        const c = byCategory.get(e.category) ?? { kind: e.kind, count: 0, points: 0 };
        c.count += 1;
        c.points += e.points;
        byCategory.set(e.category, c);
        if (studentId) addPoints(byStudent, studentId, e.category, e.points);
        if (e.groupId) addPoints(byGroup, e.groupId, e.category, e.points);
        if (e.kind === 'praise' && studentId) participants.add(studentId);
        break;
      }
      case 'hand-raise':
        handRaises++;
        if (studentId) {
          handRaisesBy[studentId] = (handRaisesBy[studentId] ?? 0) + 1;
          participants.add(studentId);
        }
        break;
      case 'answer': {
        const q = answers.get(e.questionId) ?? { byStudent: new Map<string, Answer>(), anonymous: [] };
        const a: Answer = { answer: e.answer, ...(e.correct !== undefined ? { correct: e.correct } : {}) };
        if (studentId) {
          q.byStudent.set(studentId, a);
          participants.add(studentId);
        } else q.anonymous.push(a);
        answers.set(e.questionId, q);
        break;
      }
      case 'activity':
        activity[e.activity] = (activity[e.activity] ?? 0) + 1;
        break;
    }
  }

  const questions: QuestionSummary[] = [...answers.entries()].map(([questionId, q]) => {
    const all = [...q.byStudent.values(), ...q.anonymous];
    const known = all.filter((a) => a.correct !== undefined);
    const tally: Record<string, number> = {};
    for (const a of all) tally[a.answer] = (tally[a.answer] ?? 0) + 1;
    const answeredExpected = [...q.byStudent.keys()].filter((id) => expected.has(id)).length;
    return {
      questionId,
      answered: q.byStudent.size,
      anonymous: q.anonymous.length,
      correct: known.filter((a) => a.correct === true).length,
      correctRate: ratio(known.filter((a) => a.correct === true).length, known.length),
      answerRate: ratio(answeredExpected, expected.size),
      answers: tally,
    };
  });

  const label = new Map(input.categories.map((c) => [c.id, c.label]));
  const participating = [...participants].filter((id) => expected.has(id)).sort();
  return {
    lessonId: input.lessonId,
    expected: expected.size,
    events,
    invalid,
    points: {
      total,
      byStudent: [...byStudent.entries()]
        .map(([studentId, l]) => ({ studentId, name: input.nameOf(studentId), ...l }))
        .sort((a, b) => b.total - a.total || a.studentId.localeCompare(b.studentId)),
      byGroup: [...byGroup.entries()].map(([groupId, l]) => ({ groupId, ...l })).sort((a, b) => b.total - a.total || a.groupId.localeCompare(b.groupId)),
      byCategory: [...byCategory.entries()].map(([categoryId, c]) => ({ categoryId, label: label.get(categoryId) ?? null, ...c })),
    },
    questions,
    participation: { participants: participating.length, expected: expected.size, rate: ratio(participating.length, expected.size), studentIds: participating },
    handRaises: { total: handRaises, byStudent: handRaisesBy },
    activity,
  };
}
