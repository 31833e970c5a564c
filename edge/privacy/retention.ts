/**
 * Retention of personal records (issue 4, shared/DESIGN.md section 3.5):
 * attendance marks, sessions, corrections, teacher check-ins, unknown taps,
 * behaviour events and card taps older than `privacy.retentionDays` are
 * deleted locally once the cloud has acknowledged them. The acknowledgement
 * is the meta key 'sync.ackedSeq' (0 when absent): the highest event-log seq
 * the cloud holds. A record whose event-log seq is above it is never
 * deleted; when such unsynced records are past retention, an alert
 * `retention-blocked` is raised instead. Event-log rows older than retention
 * and acknowledged are pruned too (AUTOINCREMENT keeps seq monotonic).
 * The audit log is kept (accountability, not personal tracking).
 */
import type Database from 'better-sqlite3';
import type { AlertMessage } from '../schemas/bus.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

const DAY_MS = 86_400_000;
export const ACKED_SEQ_KEY = 'sync.ackedSeq';

export interface RetentionDeps {
  store: Store;
  clock: Clock;
  config: { retentionDays: number };
  raiseAlert: (alert: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
  logger: Logger;
  /** Default: one day. */
  intervalMs?: number;
}

/** Per table: rows deleted, and rows past retention kept because sync has not acknowledged them. */
export interface RetentionResult {
  cutoff: number;
  ackedSeq: number;
  deleted: Record<string, number>;
  blocked: Record<string, number>;
  eventLogPruned: number;
}

/**
 * The personal tables: `old` selects rows past retention (bound to the cutoff),
 * `seq` is the event-log seq of the row's latest change.
 */
interface Target {
  table: string;
  old: string;
  seq: string;
}

// card_taps and behaviour_events (version 1) have no seq column: their event is found by (stream, entity_id).
// A pruned event (only ever pruned once acknowledged) counts as acknowledged.
const eventSeq = (stream: string, table: string): string =>
  `COALESCE((SELECT MAX(e.seq) FROM event_log e WHERE e.stream = '${stream}' AND e.entity_id = CAST(${table}.id AS TEXT)), 0)`;

const TARGETS: readonly Target[] = [
  { table: 'attendance', old: 'updated_at < @cutoff', seq: 'seq' },
  { table: 'attendance_corrections', old: 'ts < @cutoff', seq: 'seq' },
  { table: 'teacher_checkins', old: 'ts < @cutoff', seq: 'seq' },
  { table: 'unknown_taps', old: 'ts < @cutoff', seq: 'seq' },
  { table: 'behaviour_events', old: 'ts < @cutoff', seq: eventSeq('behaviour', 'behaviour_events') },
  { table: 'card_taps', old: 'ts < @cutoff', seq: eventSeq('card', 'card_taps') },
  // A session (the expected list) goes once its lesson is past retention, closed, and its marks are gone.
  {
    table: 'attendance_sessions',
    old: 'ends_at < @cutoff AND closed_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM attendance a WHERE a.lesson_id = attendance_sessions.lesson_id)',
    seq: 'seq',
  },
];

function readAckedSeq(db: Database.Database): number {
  const row = db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(ACKED_SEQ_KEY);
  const n = row ? Number(row.value) : 0;
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

export class RetentionService {
  private readonly log: Logger;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<RetentionResult> | null = null;

  constructor(private readonly deps: RetentionDeps) {
    if (!Number.isInteger(deps.config.retentionDays) || deps.config.retentionDays < 1) {
      throw new RangeError(`privacy.retentionDays must be an integer >= 1, got ${deps.config.retentionDays}`);
    }
    this.log = deps.logger.child({ ns: 'edge:retention' });
  }

  /** Runs once now, then every interval (default daily). */
  start(): void {
    const every = this.deps.intervalMs ?? DAY_MS;
    const loop = (): void => {
      this.timer = setTimeout(() => {
        void this.run()
          .catch((err: unknown) => this.log.error({ err }, 'retention run failed'))
          .finally(loop);
      }, every);
      this.timer.unref?.();
    };
    void this.run()
      .catch((err: unknown) => this.log.error({ err }, 'retention run failed'))
      .finally(loop);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** One pass; concurrent calls share it. */
  run(): Promise<RetentionResult> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<RetentionResult> {
    const { store, clock, config } = this.deps;
    const cutoff = clock.now() - config.retentionDays * DAY_MS;
    const result = await store.write((tx): RetentionResult => {
      const db = tx.db;
      const ackedSeq = readAckedSeq(db);
      const deleted: Record<string, number> = {};
      const blocked: Record<string, number> = {};
      const params = { cutoff, acked: ackedSeq };
      for (const t of TARGETS) {
        deleted[t.table] = db.prepare(`DELETE FROM ${t.table} WHERE ${t.old} AND ${t.seq} <= @acked`).run(params).changes;
        const kept = db.prepare<[typeof params], { n: number }>(`SELECT COUNT(*) AS n FROM ${t.table} WHERE ${t.old} AND ${t.seq} > @acked`).get(params);
        blocked[t.table] = kept?.n ?? 0;
      }
      const eventLogPruned = db.prepare('DELETE FROM event_log WHERE ts < @cutoff AND seq <= @acked').run(params).changes;
      return { cutoff, ackedSeq, deleted, blocked, eventLogPruned };
    });
    const totalBlocked = Object.values(result.blocked).reduce((a, b) => a + b, 0);
    this.log.info({ ...result, retentionDays: config.retentionDays }, 'retention pass');
    if (totalBlocked > 0) {
      const tables = Object.entries(result.blocked).filter(([, n]) => n > 0);
      await this.deps
        .raiseAlert({
          severity: 'warning',
          code: 'retention-blocked',
          message:
            `${totalBlocked} personal records are older than ${config.retentionDays} days but not yet acknowledged by the cloud ` +
            `(acknowledged up to seq ${result.ackedSeq}); they are kept until sync catches up`,
          data: { blocked: Object.fromEntries(tables), ackedSeq: result.ackedSeq, retentionDays: config.retentionDays },
        })
        .catch((err: unknown) => this.log.error({ err }, 'could not raise the retention-blocked alert'));
    }
    return result;
  }
}
