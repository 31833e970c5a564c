/**
 * Lesson completeness receipts, edge side (docs/sync.md, "Completeness
 * receipts"). When a lesson's attendance closes (its end: absentees marked,
 * session closed) a receipt is appended to the event log, so it is ordered
 * after every record of the lesson and travels the same exactly-once path.
 * It summarises the records tied to the lesson (sync/receipt-protocol.ts):
 * counts per stream/type, seq range, digest of the seqs. The cloud checks it
 * once it holds every seq up to the receipt and answers on `down/receipts`;
 * the verdict is kept per lesson in the `lesson_sync` table (store migration
 * 4) and shown in the lesson summary API and /health.
 *
 * A record tied to the lesson after its receipt (a teacher's correction the
 * next day) makes the periodic sweep append a new revision; the lesson is
 * `pending` again until the cloud confirms that one. The sweep also writes
 * receipts a crash prevented (session closed, no receipt yet).
 */
import type Database from 'better-sqlite3';
import type { AlertMessage } from '../edge/schemas/bus.js';
import type { Store } from '../edge/store/index.js';
import type { Clock } from '../edge/util/clock.js';
import type { Logger } from '../edge/util/logger.js';
import { decodeMessage } from './protocol.js';
import {
  RECEIPT_STREAM,
  RECEIPT_TYPE,
  receiptOutcomeSchema,
  summariseTied,
  type ReceiptDifference,
  type ReceiptPayload,
  type TiedRecord,
} from './receipt-protocol.js';

export type LessonSyncState = 'pending' | 'complete' | 'incomplete';

export interface LessonSyncRow {
  lessonId: string;
  revision: number;
  receiptSeq: number;
  count: number;
  state: LessonSyncState;
  differences: ReceiptDifference[] | null;
  createdAt: number;
  confirmedAt: number | null;
}

export interface ReceiptsDeps {
  roomId: string;
  store: Store;
  clock: Clock;
  logger: Logger;
  raiseAlert?: (alert: Omit<AlertMessage, 'id' | 'ts'>) => Promise<void>;
  /** Period of the sweep for missed receipts and later changes (default 30 s). */
  sweepMs?: number;
  /** Counts malformed or foreign verdicts (metrics.syncErrors). */
  onRejected?: (reason: string) => void;
}

interface RawSync {
  lesson_id: string;
  revision: number;
  receipt_seq: number;
  count: number;
  digest: string;
  state: LessonSyncState;
  differences: string | null;
  created_at: number;
  confirmed_at: number | null;
}

const TIED_SQL = `SELECT seq, stream, type FROM event_log
  WHERE json_extract(payload, '$.lessonId') = ? AND json_extract(payload, '$.lessonId') IS NOT NULL AND stream <> '${RECEIPT_STREAM}'
  ORDER BY seq`;
const LATER_SQL = `SELECT seq FROM event_log
  WHERE json_extract(payload, '$.lessonId') = ? AND json_extract(payload, '$.lessonId') IS NOT NULL AND seq > ? AND stream <> '${RECEIPT_STREAM}'
  LIMIT 1`;

function toRow(r: RawSync): LessonSyncRow {
  return {
    lessonId: r.lesson_id,
    revision: r.revision,
    receiptSeq: r.receipt_seq,
    count: r.count,
    state: r.state,
    differences: r.differences === null ? null : (JSON.parse(r.differences) as ReceiptDifference[]),
    createdAt: r.created_at,
    confirmedAt: r.confirmed_at,
  };
}

export class LessonReceipts {
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | null = null;
  private sweeping: Promise<number> | null = null;
  private readonly q: {
    tied: Database.Statement<[string], TiedRecord>;
    later: Database.Statement<[string, number], { seq: number }>;
    get: Database.Statement<[string], RawSync>;
    all: Database.Statement<[], { lesson_id: string; receipt_seq: number }>;
    unreceipted: Database.Statement<[], { lesson_id: string }>;
    unconfirmed: Database.Statement<[], RawSync>;
    unconfirmedCount: Database.Statement<[], { n: number }>;
  };

  constructor(private readonly deps: ReceiptsDeps) {
    this.log = deps.logger.child({ ns: 'edge:receipts' });
    const db = deps.store.db;
    this.q = {
      tied: db.prepare(TIED_SQL),
      later: db.prepare(LATER_SQL),
      get: db.prepare('SELECT * FROM lesson_sync WHERE lesson_id = ?'),
      all: db.prepare('SELECT lesson_id, receipt_seq FROM lesson_sync'),
      unreceipted: db.prepare(
        `SELECT s.lesson_id FROM attendance_sessions s LEFT JOIN lesson_sync l ON l.lesson_id = s.lesson_id
         WHERE s.closed_at IS NOT NULL AND l.lesson_id IS NULL ORDER BY s.closed_at`,
      ),
      unconfirmed: db.prepare("SELECT * FROM lesson_sync WHERE state <> 'complete' ORDER BY created_at, lesson_id LIMIT 20"),
      unconfirmedCount: db.prepare("SELECT COUNT(*) AS n FROM lesson_sync WHERE state <> 'complete'"),
    };
  }

  /** Sweeps now (receipts a restart missed), then every sweepMs. */
  start(): void {
    this.background(this.sweep());
    this.timer = setInterval(() => this.background(this.sweep()), this.deps.sweepMs ?? 30_000);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The lesson's attendance closed (its end): write its receipt. */
  lessonClosed(lessonId: string): void {
    this.background(this.issue(lessonId));
  }

  /**
   * Appends a receipt for the lesson unless the latest one already describes
   * the same records. Resolves with the receipt's seq, or null when none was needed.
   */
  issue(lessonId: string): Promise<number | null> {
    const now = this.deps.clock.now();
    return this.deps.store.write((tx) => {
      const prev = this.q.get.get(lessonId);
      const summary = summariseTied(this.q.tied.iterate(lessonId));
      if (prev && prev.digest === summary.digest) return null;
      const revision = (prev?.revision ?? 0) + 1;
      const payload: ReceiptPayload = { lessonId, revision, ...summary, segments: null };
      const seq = tx.appendEvent({ stream: RECEIPT_STREAM, type: RECEIPT_TYPE, entityId: `${lessonId}#${revision}`, payload, ts: now });
      tx.db
        .prepare(
          `INSERT INTO lesson_sync (lesson_id, revision, receipt_seq, count, digest, state, differences, created_at, confirmed_at)
           VALUES (?, ?, ?, ?, ?, 'pending', NULL, ?, NULL)
           ON CONFLICT (lesson_id) DO UPDATE SET revision = excluded.revision, receipt_seq = excluded.receipt_seq, count = excluded.count,
             digest = excluded.digest, state = 'pending', differences = NULL, created_at = excluded.created_at, confirmed_at = NULL`,
        )
        .run(lessonId, revision, seq, summary.count, summary.digest, now);
      this.log.info({ lessonId, revision, seq, count: summary.count, counts: summary.counts }, 'lesson receipt written');
      return seq;
    });
  }

  /** Receipts for closed lessons that have none, and new revisions for lessons with records after their receipt. */
  sweep(): Promise<number> {
    this.sweeping ??= this.runSweep().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async runSweep(): Promise<number> {
    const due = new Set(this.q.unreceipted.all().map((r) => r.lesson_id));
    for (const r of this.q.all.iterate()) if (this.q.later.get(r.lesson_id, r.receipt_seq)) due.add(r.lesson_id);
    let written = 0;
    for (const lessonId of due) if ((await this.issue(lessonId)) !== null) written++;
    return written;
  }

  /** A verdict from the cloud (`down/receipts`). Never throws; a bad message is counted and logged. */
  async handleOutcome(payload: Buffer): Promise<void> {
    const decoded = decodeMessage(receiptOutcomeSchema, payload);
    if (!decoded.ok) return this.reject('malformed-receipt', { error: decoded.error.message });
    const o = decoded.value;
    if (o.roomId !== this.deps.roomId) return this.reject('room-mismatch', { roomId: o.roomId });
    if (o.storeId !== this.deps.store.storeId) {
      this.log.debug({ storeId: o.storeId }, 'receipt verdict for another store ignored');
      return;
    }
    const now = this.deps.clock.now();
    const changed = await this.deps.store.write(
      (tx) =>
        tx.db
          .prepare('UPDATE lesson_sync SET state = ?, differences = ?, confirmed_at = ? WHERE lesson_id = ? AND revision = ? AND receipt_seq = ?')
          .run(o.outcome, o.differences.length ? JSON.stringify(o.differences) : null, now, o.lessonId, o.revision, o.receiptSeq).changes,
    );
    if (changed === 0) {
      this.log.debug({ lessonId: o.lessonId, revision: o.revision }, 'verdict for a superseded or unknown receipt ignored');
      return;
    }
    if (o.outcome === 'complete') {
      this.log.info({ lessonId: o.lessonId, revision: o.revision }, 'lesson fully synced');
      return;
    }
    this.log.error({ lessonId: o.lessonId, revision: o.revision, differences: o.differences }, 'cloud reports the lesson incomplete');
    await this.deps
      .raiseAlert?.({
        severity: 'warning',
        code: 'lesson-sync-incomplete',
        message: `the district cloud does not hold the same records of lesson ${o.lessonId} as this room: ${o.differences
          .slice(0, 5)
          .map((d) => `${d.key} edge ${d.edge} cloud ${d.cloud}`)
          .join('; ')}`,
        data: { lessonId: o.lessonId, revision: o.revision, differences: o.differences },
      })
      .catch((err: unknown) => this.log.error({ err }, 'could not raise the lesson-sync-incomplete alert'));
  }

  /** The lesson's sync state: `pending` until the cloud confirmed its latest receipt (also before the lesson ended). */
  state(lessonId: string): LessonSyncState {
    return this.q.get.get(lessonId)?.state ?? 'pending';
  }

  row(lessonId: string): LessonSyncRow | undefined {
    const r = this.q.get.get(lessonId);
    return r ? toRow(r) : undefined;
  }

  /** For /health: ended lessons whose latest receipt the cloud has not confirmed complete (oldest 20 listed). */
  unconfirmed(): { count: number; lessons: Array<Pick<LessonSyncRow, 'lessonId' | 'revision' | 'state' | 'createdAt'>> } {
    return {
      count: this.q.unconfirmedCount.get()?.n ?? 0,
      lessons: this.q.unconfirmed.all().map((r) => ({ lessonId: r.lesson_id, revision: r.revision, state: r.state, createdAt: r.created_at })),
    };
  }

  private reject(reason: string, detail: Record<string, unknown>): void {
    this.deps.onRejected?.(reason);
    this.log.warn({ reason, ...detail }, 'receipt verdict rejected');
  }

  private background(p: Promise<unknown>): void {
    p.catch((err: unknown) => this.log.error({ err }, 'lesson receipts: write failed'));
  }
}
