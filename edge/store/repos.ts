/**
 * Domain rows written together with their event-log row: card taps, sensor
 * readings, behaviour events, audit entries. Inputs are validated (zod)
 * before they are queued, so bad input is rejected at once and never reaches
 * a transaction. Personal data is kept minimal: ids, never names.
 */
import type Database from 'better-sqlite3';
import { z } from 'zod';
import type { AppendEvent } from './event-log.js';

/** Wall-clock ms. Not bounded to "plausible" dates: an unsynced clock after a power cut may read 1970 (see clock_synced). */
const tsMs = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const name = z.string().min(1).max(128);
const optionalId = z.string().min(1).max(128).optional();
/** Idempotency key: a second write with the same key returns the first one's ids instead of a new row. */
const dedupKey = z.string().min(1).max(200).optional();

export const cardTapInput = z.object({
  reader: name,
  uid: z.string().min(1).max(64),
  number: z.string().min(1).max(64).optional(),
  ts: tsMs,
  lessonId: optionalId,
  dedupKey,
});
export type CardTapInput = z.infer<typeof cardTapInput>;

export const readingInput = z.object({
  device: name,
  metric: name,
  /** Finite only: zod 4 rejects NaN and ±Infinity. */
  value: z.number(),
  unit: z.string().max(32),
  ts: tsMs,
  dedupKey,
});
export type ReadingInput = z.infer<typeof readingInput>;

export const behaviourInput = z.object({
  source: name,
  kind: name,
  studentId: optionalId,
  payload: z.unknown(),
  ts: tsMs,
  lessonId: optionalId,
  dedupKey,
});
export type BehaviourInput = z.infer<typeof behaviourInput>;

export const auditInput = z.object({
  actor: name,
  role: name,
  action: name,
  target: z.string().max(256),
  args: z.unknown(),
  result: z.enum(['ok', 'error', 'refused']),
  error: z.string().max(2000).optional(),
  ts: tsMs,
  /** The lesson the command concerns, if any: ties the entry to the lesson's completeness receipt. */
  lessonId: optionalId,
});
export type AuditInput = z.infer<typeof auditInput>;

export interface Recorded {
  seq: number;
  id: number;
  /** True when the dedup key was already stored: nothing new was written. */
  duplicate?: boolean;
}

type Append = (e: AppendEvent) => number;

/** JSON text for a JSON column; throws (rolling back that write only) on values JSON cannot hold. */
function json(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

/** Prepared once per store; each method runs inside a group-commit item. */
export class DomainRepos {
  private readonly insertCardTap: Database.Statement<[string, string, string | null, number, string | null, string | null]>;
  private readonly insertReading: Database.Statement<[string, string, number, string, number, string | null]>;
  private readonly insertBehaviour: Database.Statement<[string, string, string | null, string, number, string | null, string | null]>;
  private readonly insertAudit: Database.Statement<[string, string, string, string, string, string, string | null, number]>;
  private readonly findDup: Record<'card_taps' | 'sensor_readings' | 'behaviour_events', Database.Statement<[string], { id: number; seq: number }>>;

  /**
   * The earlier write with this dedup key, after an insert that the key's UNIQUE
   * constraint turned into a no-op (`ON CONFLICT DO NOTHING`: one index probe for
   * the common new message instead of a lookup before every insert).
   */
  private duplicate(table: keyof DomainRepos['findDup'], key: string | undefined): Recorded {
    const row = key === undefined ? undefined : this.findDup[table].get(key);
    if (!row) throw new Error(`${table}: insert ignored but no row holds dedup key ${String(key)}`);
    return { id: row.id, seq: row.seq, duplicate: true };
  }

  constructor(db: Database.Database) {
    this.insertCardTap = db.prepare('INSERT INTO card_taps (reader, uid, number, ts, lesson_id, dedup_key) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING');
    this.insertReading = db.prepare('INSERT INTO sensor_readings (device, metric, value, unit, ts, dedup_key) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING');
    this.insertBehaviour = db.prepare(
      'INSERT INTO behaviour_events (source, kind, student_id, payload, ts, lesson_id, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?) ' +
        'ON CONFLICT (dedup_key) DO NOTHING',
    );
    const find = (table: string, stream: string) =>
      db.prepare<[string], { id: number; seq: number }>(
        // LEFT JOIN: a sensor reading the outbox policy kept out of the log has no event (seq 0).
        `SELECT t.id AS id, COALESCE(e.seq, 0) AS seq FROM ${table} t LEFT JOIN event_log e ON e.stream = '${stream}' AND e.entity_id = CAST(t.id AS TEXT) WHERE t.dedup_key = ?`,
      );
    this.findDup = { card_taps: find('card_taps', 'card'), sensor_readings: find('sensor_readings', 'sensor'), behaviour_events: find('behaviour_events', 'behaviour') };
    this.insertAudit = db.prepare(
      'INSERT INTO audit_log (actor, role, action, target, args, result, error, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
  }

  cardTap(append: Append, t: CardTapInput): Recorded {
    const ins = this.insertCardTap.run(t.reader, t.uid, t.number ?? null, t.ts, t.lessonId ?? null, t.dedupKey ?? null);
    if (ins.changes === 0) return this.duplicate('card_taps', t.dedupKey);
    const id = Number(ins.lastInsertRowid);
    const payload = { reader: t.reader, uid: t.uid, number: t.number ?? null, lessonId: t.lessonId ?? null };
    return { id, seq: append({ stream: 'card', type: 'tap', entityId: id, payload, ts: t.ts }) };
  }

  reading(append: Append, r: ReadingInput): Recorded {
    const ins = this.insertReading.run(r.device, r.metric, r.value, r.unit, r.ts, r.dedupKey ?? null);
    if (ins.changes === 0) return this.duplicate('sensor_readings', r.dedupKey);
    const id = Number(ins.lastInsertRowid);
    const payload = { device: r.device, metric: r.metric, value: r.value, unit: r.unit };
    return { id, seq: append({ stream: 'sensor', type: 'reading', entityId: id, payload, ts: r.ts }) };
  }

  behaviour(append: Append, b: BehaviourInput): Recorded {
    const data = json(b.payload);
    const ins = this.insertBehaviour.run(b.source, b.kind, b.studentId ?? null, data, b.ts, b.lessonId ?? null, b.dedupKey ?? null);
    if (ins.changes === 0) return this.duplicate('behaviour_events', b.dedupKey);
    const id = Number(ins.lastInsertRowid);
    const payload = {
      source: b.source,
      kind: b.kind,
      studentId: b.studentId ?? null,
      lessonId: b.lessonId ?? null,
      data: b.payload ?? null,
    };
    return { id, seq: append({ stream: 'behaviour', type: 'event', entityId: id, payload, ts: b.ts }) };
  }

  audit(append: Append, a: AuditInput): Recorded {
    const args = json(a.args);
    const id = Number(
      this.insertAudit.run(a.actor, a.role, a.action, a.target, args, a.result, a.error ?? null, a.ts).lastInsertRowid,
    );
    const payload = {
      actor: a.actor,
      role: a.role,
      action: a.action,
      target: a.target,
      args: a.args ?? null,
      result: a.result,
      error: a.error ?? null,
      // Only when given: entries written before it existed keep their shape.
      ...(a.lessonId !== undefined ? { lessonId: a.lessonId } : {}),
    };
    return { id, seq: append({ stream: 'audit', type: 'entry', entityId: id, payload, ts: a.ts }) };
  }
}
