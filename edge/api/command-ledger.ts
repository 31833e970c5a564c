/**
 * Idempotent commands (issue 6, docs/kiosk.md "Idempotency"): every action
 * of the kiosk carries a client-generated command id, and a client retries
 * an action whose reply it did not get (network cut, service restarted)
 * with the SAME id. The ledger runs the action once and keeps its reply in
 * SQLite (store migration 8, table kiosk_commands), committed before the
 * reply goes out, so a retry, even after a restart, is answered with the
 * stored reply instead of switching a device or running a scene again.
 *
 * - A retry that arrives while the first attempt still runs waits for it.
 * - The same id reused for another action, target or user is refused (409).
 * - An action that throws (internal error) is not recorded: nothing was
 *   acknowledged, a retry runs it again.
 * - Rows older than `keepDays` are pruned at start and daily.
 *
 * Attendance corrections and behaviour awards have their own idempotency
 * (attendance_corrections.command_id, behaviour dedup keys) and do not use
 * the ledger.
 */
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export interface CommandKey {
  commandId: string;
  actor: string;
  /** e.g. 'device.command', 'scene.run', 'lesson.end' */
  action: string;
  /** e.g. the device id, the scene name */
  target: string;
}

export interface LedgerReply {
  status: number;
  body: unknown;
}

export interface LedgerResult extends LedgerReply {
  /** True when this is the stored reply of an earlier attempt. */
  replayed: boolean;
}

interface Row {
  actor: string;
  action: string;
  target: string;
  status: number;
  response: string;
}

const DAY_MS = 86_400_000;

export class CommandLedger {
  private readonly inFlight = new Map<string, { key: CommandKey; done: Promise<LedgerReply> }>();
  private readonly keepDays: number;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: { store: Store; clock: Clock; logger: Logger; keepDays?: number }) {
    this.keepDays = deps.keepDays ?? 7;
  }

  start(): void {
    this.prune();
    this.pruneTimer = setInterval(() => this.prune(), DAY_MS);
    this.pruneTimer.unref();
  }

  stop(): void {
    clearInterval(this.pruneTimer);
  }

  private prune(): void {
    const before = this.deps.clock.now() - this.keepDays * DAY_MS;
    this.deps.store
      .write((tx) => tx.db.prepare('DELETE FROM kiosk_commands WHERE ts < ?').run(before).changes)
      .then(
        (n) => {
          if (n > 0) this.deps.logger.info({ removed: n }, 'old kiosk command results pruned');
        },
        (e: unknown) => this.deps.logger.warn({ err: e }, 'could not prune kiosk command results'),
      );
  }

  private conflict(key: CommandKey, prev: Pick<Row, 'actor' | 'action' | 'target'>): LedgerResult | null {
    if (prev.actor === key.actor && prev.action === key.action && prev.target === key.target) return null;
    return {
      status: 409,
      replayed: false,
      body: { error: { code: 'command-id-reused', message: `command id ${key.commandId} was already used for another action (${prev.action} ${prev.target})` } },
    };
  }

  /** Run `action` once per command id; later calls with the same id get the first reply. */
  async once(key: CommandKey, action: () => Promise<LedgerReply>): Promise<LedgerResult> {
    const running = this.inFlight.get(key.commandId);
    if (running) {
      const c = this.conflict(key, running.key);
      if (c) return c;
      const r = await running.done;
      return { ...r, replayed: true };
    }
    const row = this.deps.store.db
      .prepare<[string], Row>('SELECT actor, action, target, status, response FROM kiosk_commands WHERE command_id = ?')
      .get(key.commandId);
    if (row) {
      const c = this.conflict(key, row);
      if (c) return c;
      this.deps.logger.info({ commandId: key.commandId, action: key.action, target: key.target }, 'command retried: answered with the stored reply');
      return { status: row.status, body: JSON.parse(row.response) as unknown, replayed: true };
    }
    const done = (async () => {
      const reply = await action();
      const ts = this.deps.clock.now();
      await this.deps.store.write((tx) =>
        tx.db
          .prepare('INSERT INTO kiosk_commands (command_id, actor, action, target, status, response, ts) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(key.commandId, key.actor, key.action, key.target, reply.status, JSON.stringify(reply.body ?? null), ts),
      );
      return reply;
    })();
    this.inFlight.set(key.commandId, { key, done });
    try {
      return { ...(await done), replayed: false };
    } finally {
      this.inFlight.delete(key.commandId);
    }
  }
}
