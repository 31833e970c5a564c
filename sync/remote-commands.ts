/**
 * The edge's executor of technicians' remote commands (issue 5; docs/sync.md,
 * "Technicians' remote commands"). The district publishes a command on
 * `district/rooms/{roomId}/down/commands` (QoS 1, not retained); the edge
 *
 * 1. decodes it with the size limits of the protocol; a malformed or
 *    misaddressed message is rejected, counted and logged (and answered
 *    `rejected` when its id can still be read);
 * 2. claims its id in the `remote_commands` table (migration 6) in one store
 *    transaction: a command the broker delivers again is never run twice;
 *    the stored result is sent again instead;
 * 3. does not run it when it arrives after `expiresAt` (`expired`), names an
 *    unknown command, carries invalid args or needs a role the issuer lacks
 *    (`rejected`);
 * 4. runs it through the command registry (sync/remote-command-handlers.ts;
 *    `register()` is the extension point for more commands, e.g. the config
 *    push), then commits, in ONE transaction, the command's final row, its
 *    audit_log entry (who = the technician as the cloud names them) and an
 *    event-log row `command/result` carrying the result message;
 * 5. publishes the result on `up/command-results`, and only then runs the
 *    command's after-reply step (service.restart exits there).
 *
 * Why the event log rather than a separate outbox for results: the event log
 * already is a persisted outbox with exactly-once delivery to the cloud's
 * tables (ack-driven, resent after any outage or restart), and the audit rows
 * travel the same way; a second outbox would need its own resend and dedup.
 * The direct publish is only the fast path for a technician who waits.
 */
import type { z } from 'zod';
import type { Store, Tx } from '../edge/store/index.js';
import type { Clock } from '../edge/util/clock.js';
import type { Logger } from '../edge/util/logger.js';
import {
  COMMAND_LIMITS,
  decodeMessage,
  districtTopics,
  PROTOCOL_VERSION,
  remoteCommandSchema,
  type CommandResultMessage,
  type CommandRole,
  type CommandStatus,
  type RemoteCommand,
} from './protocol.js';

/** Stored results above this size (JSON) are replaced by an error: the result message must fit the protocol's limit. */
export const MAX_RESULT_JSON_BYTES = 128 * 1024;
/** Commands executing at once; more are answered `rejected` (busy). */
export const MAX_CONCURRENT = 8;
/** Rows of `remote_commands` older than this are pruned at start (far beyond any expiry). */
export const KEEP_ROWS_MS = 30 * 24 * 3600_000;

export interface CommandContext {
  command: RemoteCommand;
  /** The technician as the cloud names them, for the device supervisor's audit. */
  actor: { username: string; role: string };
}

export type HandlerOutcome =
  | { status: 'ok'; result?: unknown; afterReply?: () => void }
  | { status: 'error' | 'rejected'; error: { code: string; message: string }; result?: unknown };

export interface CommandHandler<A = unknown> {
  /** Validates `args`; an invalid one is answered `rejected` without running. */
  args: z.ZodType<A>;
  /** Roles that may issue it (checked again here: the cloud authorises first). */
  roles: readonly CommandRole[];
  /** What the command acts on, for the audit row (a device id, a scene, "service"). */
  target(args: A): string;
  run(args: A, ctx: CommandContext): Promise<HandlerOutcome>;
}

/** The commands this edge knows. Other modules add theirs with `register` (e.g. `config.apply`). */
export class CommandRegistry {
  private readonly handlers = new Map<string, CommandHandler<never>>();

  register<A>(name: string, handler: CommandHandler<A>): void {
    if (this.handlers.has(name)) throw new Error(`remote command "${name}" is already registered`);
    this.handlers.set(name, handler as unknown as CommandHandler<never>);
  }

  get(name: string): CommandHandler<unknown> | undefined {
    return this.handlers.get(name) as CommandHandler<unknown> | undefined;
  }

  names(): string[] {
    return [...this.handlers.keys()].sort();
  }
}

export type ExecOutcome =
  | { kind: 'answered'; result: CommandResultMessage }
  | { kind: 'duplicate'; result: CommandResultMessage | null }
  | { kind: 'rejected'; reason: string };

export interface RemoteCommandsDeps {
  roomId: string;
  store: Pick<Store, 'db' | 'write'>;
  clock: Clock;
  /**
   * The district's wall clock as estimated from its acks (Uplink.districtTime), undefined
   * before the first ack: expiry is judged by it, and by the edge's clock only without it.
   */
  districtNow?: () => number | undefined;
  logger: Logger;
  registry: CommandRegistry;
  /** Publishes up the link (QoS 1); never throws (Uplink.publishUp). */
  publish: (topic: string, msg: object) => void;
  /** Counts by command and status (ok, error, expired, rejected, duplicate, malformed). */
  onOutcome?: (command: string, status: string) => void;
  /** Delay between the published result and an after-reply step (default 300 ms). */
  afterReplyDelayMs?: number;
}

interface StoredRow {
  id: string;
  command: string;
  status: string;
  result: string | null;
}

/** A difference between the edge's and the district's clocks worth a warning (the cloud flags skew from 2 min too). */
const CLOCK_WARN_MS = 2 * 60_000;

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

export class RemoteCommands {
  private readonly log: Logger;
  private readonly topics: ReturnType<typeof districtTopics>;
  private running = 0;

  constructor(private readonly deps: RemoteCommandsDeps) {
    this.log = deps.logger.child({ ns: 'sync:commands' });
    this.topics = districtTopics(deps.roomId);
  }

  get subscription(): string {
    return this.topics.commands;
  }

  /**
   * At start: a command still `running` was interrupted by a stop or a crash. It is not run again
   * (at most once); it is finished as `error/interrupted`, audited and reported. Old rows are pruned.
   */
  async recover(): Promise<number> {
    const rows = this.deps.store.db
      .prepare<[], { id: string; command: string; technician: string; role: string; started_at: number | null }>(
        "SELECT id, command, technician, role, started_at FROM remote_commands WHERE status = 'running'",
      )
      .all();
    const now = this.deps.clock.now();
    for (const r of rows) {
      const msg: CommandResultMessage = {
        v: PROTOCOL_VERSION,
        roomId: this.deps.roomId,
        id: r.id,
        status: 'error',
        error: { code: 'interrupted', message: 'the service stopped while the command ran; it is not run again' },
        startedAt: r.started_at ?? now,
        finishedAt: now,
      };
      await this.deps.store.write((tx) => this.finish(tx, msg, { command: r.command, technician: r.technician, role: r.role, target: '', args: {} }));
      this.log.warn({ id: r.id, command: r.command }, 'remote command interrupted by a stop; reported as error');
      this.deps.publish(this.topics.commandResults, msg);
    }
    await this.deps.store.write((tx) => {
      tx.db.prepare("DELETE FROM remote_commands WHERE status != 'running' AND received_at < ?").run(now - KEEP_ROWS_MS);
    });
    return rows.length;
  }

  /** Handles one message of the subscription; never throws. */
  async handle(topic: string, payload: Uint8Array): Promise<ExecOutcome> {
    try {
      return await this.handleOne(topic, payload);
    } catch (e) {
      this.log.error({ err: e, topic }, 'remote command failed internally');
      this.deps.onOutcome?.('unknown', 'internal');
      return { kind: 'rejected', reason: `internal error: ${errText(e)}` };
    }
  }

  private reject(topic: string, reason: string, replyId?: string): ExecOutcome {
    this.log.warn({ topic, reason }, 'remote command rejected');
    this.deps.onOutcome?.('unknown', 'malformed');
    if (replyId) {
      const now = this.deps.clock.now();
      const msg: CommandResultMessage = { v: PROTOCOL_VERSION, roomId: this.deps.roomId, id: replyId, status: 'rejected', error: { code: 'malformed', message: reason.slice(0, 2000) }, startedAt: now, finishedAt: now };
      this.deps.publish(this.topics.commandResults, msg);
    }
    return { kind: 'rejected', reason };
  }

  private async handleOne(topic: string, payload: Uint8Array): Promise<ExecOutcome> {
    if (topic !== this.topics.commands) return this.reject(topic, `not the commands topic of room ${this.deps.roomId}`);
    const decoded = decodeMessage(remoteCommandSchema, payload, COMMAND_LIMITS);
    if (!decoded.ok) {
      const reason = `${decoded.error.code}: ${decoded.error.message}`;
      return this.reject(topic, reason, decoded.error.code === 'invalid' ? salvageId(payload, this.deps.roomId) : undefined);
    }
    const cmd = decoded.value;
    if (cmd.roomId !== this.deps.roomId) return this.reject(topic, `a command for room ${cmd.roomId} is not addressed to room ${this.deps.roomId}`);

    const now = this.deps.clock.now();
    const handler = this.deps.registry.get(cmd.command);
    const parsedArgs = handler?.args.safeParse(cmd.args);
    let verdict: CommandResultMessage | null = null;
    const base = { v: PROTOCOL_VERSION, roomId: cmd.roomId, id: cmd.id, startedAt: now, finishedAt: now } as const;
    // expiresAt is district time: judged by the district's clock as the acks tell it, so that an edge
    // clock that is wrong (no RTC after a power cut) neither expires every command nor runs a stale one.
    const districtNow = this.deps.districtNow?.();
    const judgedAt = districtNow ?? now;
    if (districtNow !== undefined && Math.abs(districtNow - now) > CLOCK_WARN_MS) {
      this.log.warn({ id: cmd.id, offsetMs: districtNow - now }, "the edge's clock differs from the district's; expiry judged by the district's");
    }
    if (judgedAt > cmd.expiresAt) {
      const by = districtNow !== undefined ? "the district's clock as its acks tell it" : "the edge's clock (no ack from the district yet)";
      verdict = { ...base, status: 'expired', error: { code: 'expired', message: `arrived ${judgedAt - cmd.expiresAt} ms after it expired (by ${by}); not run` } };
    } else if (!handler) {
      verdict = { ...base, status: 'rejected', error: { code: 'unknown-command', message: `no command "${cmd.command}" (known: ${this.deps.registry.names().join(', ')})` } };
    } else if (!handler.roles.includes(cmd.issuedBy.role)) {
      verdict = { ...base, status: 'rejected', error: { code: 'forbidden', message: `${cmd.command} needs role ${handler.roles.join(' or ')}` } };
    } else if (!parsedArgs?.success) {
      const why = parsedArgs?.error.issues.map((i) => `${i.path.join('.') || 'args'}: ${i.message}`).join('; ') ?? 'invalid';
      verdict = { ...base, status: 'rejected', error: { code: 'invalid-args', message: `${cmd.command}: ${why}` } };
    } else if (this.running >= MAX_CONCURRENT) {
      verdict = { ...base, status: 'rejected', error: { code: 'busy', message: `${MAX_CONCURRENT} remote commands are already running` } };
    }
    const target = handler && parsedArgs?.success ? handler.target(parsedArgs.data) : '';
    const audit = { command: cmd.command, technician: cmd.issuedBy.technician, role: cmd.issuedBy.role, target, args: cmd.args };

    // Claim the id (and, for a command that is not run, finish it) in one transaction.
    const claimed = await this.deps.store.write((tx) => {
      const ins = tx.db
        .prepare(
          `INSERT OR IGNORE INTO remote_commands (id, command, technician, role, issued_at, expires_at, received_at, status, started_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)`,
        )
        .run(cmd.id, cmd.command, cmd.issuedBy.technician, cmd.issuedBy.role, cmd.issuedAt, cmd.expiresAt, now, now);
      if (ins.changes === 0) return false;
      if (verdict) this.finish(tx, verdict, audit);
      return true;
    });
    if (!claimed) return this.duplicate(cmd);
    if (verdict) return this.answered(cmd, verdict);

    this.running++;
    let outcome: HandlerOutcome;
    try {
      outcome = await handler!.run(parsedArgs!.data, { command: cmd, actor: { username: cmd.issuedBy.technician, role: `cloud:${cmd.issuedBy.role}` } });
    } catch (e) {
      this.log.error({ err: e, id: cmd.id, command: cmd.command }, 'remote command threw');
      outcome = { status: 'error', error: { code: 'internal', message: errText(e) } };
    } finally {
      this.running--;
    }
    const msg: CommandResultMessage = { ...base, status: outcome.status, finishedAt: this.deps.clock.now() };
    if (outcome.result !== undefined) msg.result = outcome.result;
    if (outcome.status !== 'ok') msg.error = outcome.error;
    const size = Buffer.byteLength(JSON.stringify(msg.result ?? null));
    if (size > MAX_RESULT_JSON_BYTES) {
      delete msg.result;
      msg.status = 'error';
      msg.error = { code: 'result-too-large', message: `the result has ${size} bytes of JSON, more than ${MAX_RESULT_JSON_BYTES}` };
    }
    await this.deps.store.write((tx) => this.finish(tx, msg, audit));
    const answered = this.answered(cmd, msg);
    if (outcome.status === 'ok' && outcome.afterReply) {
      const step = outcome.afterReply;
      setTimeout(() => {
        try {
          step();
        } catch (e) {
          this.log.error({ err: e, id: cmd.id }, 'after-reply step of a remote command failed');
        }
      }, this.deps.afterReplyDelayMs ?? 300).unref?.();
    }
    return answered;
  }

  /** Metric label: a known command's name, else "unknown" (the label set stays bounded). */
  private label(command: string): string {
    return this.deps.registry.get(command) ? command : 'unknown';
  }

  private answered(cmd: RemoteCommand, msg: CommandResultMessage): ExecOutcome {
    this.deps.onOutcome?.(this.label(cmd.command), msg.status);
    const fields = { id: cmd.id, command: cmd.command, technician: cmd.issuedBy.technician, status: msg.status, code: msg.error?.code };
    if (msg.status === 'ok') this.log.info(fields, 'remote command done');
    else this.log.warn(fields, 'remote command not done');
    this.deps.publish(this.topics.commandResults, msg);
    return { kind: 'answered', result: msg };
  }

  /** A redelivery: never run again; a finished command's stored result is sent again (the first reply may be lost). */
  private duplicate(cmd: RemoteCommand): ExecOutcome {
    this.deps.onOutcome?.(this.label(cmd.command), 'duplicate');
    const row = this.deps.store.db.prepare<[string], StoredRow>('SELECT id, command, status, result FROM remote_commands WHERE id = ?').get(cmd.id);
    if (!row || row.status === 'running' || !row.result) {
      this.log.info({ id: cmd.id, command: cmd.command }, 'remote command delivered again while it runs: ignored');
      return { kind: 'duplicate', result: null };
    }
    const msg = JSON.parse(row.result) as CommandResultMessage;
    this.log.info({ id: cmd.id, command: cmd.command, status: row.status }, 'remote command delivered again: not run again, result resent');
    this.deps.publish(this.topics.commandResults, msg);
    return { kind: 'duplicate', result: msg };
  }

  /** Final row, audit entry and the result's event-log row, in the caller's transaction. */
  private finish(tx: Tx, msg: CommandResultMessage, a: { command: string; technician: string; role: string; target: string; args: unknown }): void {
    const text = JSON.stringify(msg);
    tx.db.prepare('UPDATE remote_commands SET status = ?, result = ?, started_at = ?, finished_at = ? WHERE id = ?').run(msg.status, text, msg.startedAt, msg.finishedAt, msg.id);
    appendAudit(tx, {
      actor: a.technician,
      role: `cloud:${a.role}`,
      action: `remote:${a.command}`,
      target: a.target,
      args: { commandId: msg.id, args: a.args },
      result: auditResult(msg.status),
      error: msg.error ? `${msg.error.code}: ${msg.error.message}`.slice(0, 2000) : undefined,
      ts: msg.finishedAt,
    });
    tx.appendEvent({ stream: 'command', type: 'result', entityId: msg.id, payload: msg, ts: msg.finishedAt });
  }
}

function auditResult(status: CommandStatus): 'ok' | 'error' | 'refused' {
  return status === 'ok' ? 'ok' : status === 'error' ? 'error' : 'refused';
}

/**
 * An audit_log row and its event-log row inside an open transaction, in the same shape as
 * edge/store/repos.ts `audit()` (which queues its own write and so cannot share this transaction).
 */
function appendAudit(
  tx: Tx,
  a: { actor: string; role: string; action: string; target: string; args: unknown; result: 'ok' | 'error' | 'refused'; error: string | undefined; ts: number },
): void {
  const id = Number(
    tx.db
      .prepare('INSERT INTO audit_log (actor, role, action, target, args, result, error, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(a.actor, a.role, a.action, a.target, JSON.stringify(a.args ?? null), a.result, a.error ?? null, a.ts).lastInsertRowid,
  );
  const payload = { actor: a.actor, role: a.role, action: a.action, target: a.target, args: a.args ?? null, result: a.result, error: a.error ?? null };
  tx.appendEvent({ stream: 'audit', type: 'entry', entityId: id, payload, ts: a.ts });
}

/** The id of a command that failed validation, when it is a UUID and the message is for this room (to answer `rejected`). */
function salvageId(payload: Uint8Array, roomId: string): string | undefined {
  if (payload.length > 64 * 1024 || payload[0] !== 0x7b) return undefined;
  try {
    const raw = JSON.parse(Buffer.from(payload).toString('utf8')) as { id?: unknown; roomId?: unknown };
    if (raw.roomId !== roomId || typeof raw.id !== 'string') return undefined;
    return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(raw.id) ? raw.id : undefined;
  } catch {
    return undefined;
  }
}
