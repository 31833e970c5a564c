/**
 * The reference cloud's side of technicians' remote commands (docs/sync.md,
 * "Technicians' remote commands"). `CloudCommands.issue` authorises a command
 * for the technician's role and scope (sync/cloud/technicians.ts), audits it
 * in `cloud_audit` (issued or refused, with the reason), stores it in
 * `commands` as pending and publishes it to `district/rooms/{room}/down/commands`
 * (QoS 1, not retained: a command must not wait for a room forever; its
 * `expiresAt` is the issue time plus a TTL).
 *
 * A result comes back two ways, both idempotent on the command id: directly
 * on `up/command-results` (fast), and as the edge's event-log row
 * `command/result` committed by the ingest workers (durable: it arrives even
 * when the direct message was lost with the link), which `sweep()` picks up.
 * A command with no result by `expiresAt + graceMs` is marked `expired`
 * (error `no-answer`); a result arriving after that still replaces it, since
 * the edge's answer is what happened. Every result is audited.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../edge/util/logger.js';
import { backoff, endLink, linkOptions, reconnectKeepingStores, type LinkCredentials } from '../link-options.js';
import {
  CLOUD_SUBSCRIPTIONS,
  COMMAND_RESULT_LIMITS,
  commandResultSchema,
  decodeMessage,
  districtTopics,
  encodeMessage,
  parseDistrictTopic,
  PROTOCOL_VERSION,
  type CommandResultMessage,
  type RemoteCommand,
} from '../protocol.js';
import type { CloudStore } from './store.js';
import type { Technician, Technicians } from './technicians.js';

export interface CommandRecord {
  id: string;
  roomId: string;
  technician: string;
  role: string;
  command: string;
  args: unknown;
  issuedAt: number;
  expiresAt: number;
  status: 'pending' | 'ok' | 'error' | 'expired' | 'rejected';
  result?: unknown;
  error?: { code: string; message: string };
  startedAt: number | null;
  finishedAt: number | null;
}

export interface AuditEntry {
  id: number;
  ts: number;
  technician: string;
  role: string;
  roomId: string;
  action: string;
  commandId: string | null;
  outcome: string;
  detail: string | null;
}

export type IssueOutcome = { ok: true; command: CommandRecord } | { ok: false; status: 403 | 404; reason: string };

export interface CloudCommandsDeps {
  store: CloudStore;
  technicians: Technicians;
  logger: Logger;
  /** Publishes a command (QoS 1). */
  publish: (topic: string, payload: Buffer) => Promise<void>;
  now?: () => number;
  defaultTtlMs?: number;
  /** Wait this long past expiresAt for a late result before marking the command expired (default 5 s). */
  graceMs?: number;
}

interface Row {
  id: string;
  room_id: string;
  technician: string;
  role: string;
  command: string;
  args: string;
  issued_at: number;
  expires_at: number;
  status: CommandRecord['status'];
  result: string | null;
  error: string | null;
  started_at: number | null;
  finished_at: number | null;
}

const toRecord = (r: Row): CommandRecord => ({
  id: r.id,
  roomId: r.room_id,
  technician: r.technician,
  role: r.role,
  command: r.command,
  args: JSON.parse(r.args) as unknown,
  issuedAt: r.issued_at,
  expiresAt: r.expires_at,
  status: r.status,
  ...(r.result !== null ? { result: JSON.parse(r.result) as unknown } : {}),
  ...(r.error !== null ? { error: JSON.parse(r.error) as { code: string; message: string } } : {}),
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

export class CloudCommands {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly results = new EventEmitter();
  readonly counts = { issued: 0, refused: 0, results: 0, rejected: {} as Record<string, number> };

  constructor(private readonly deps: CloudCommandsDeps) {
    this.log = deps.logger.child({ ns: 'cloud:commands' });
    this.now = deps.now ?? Date.now;
    this.results.setMaxListeners(0);
  }

  /** Rooms the cloud knows: configured, or seen on the link. */
  knownRooms(): string[] {
    const seen = this.deps.store.db
      .prepare<[], { room_id: string }>('SELECT room_id FROM rooms UNION SELECT room_id FROM room_status')
      .all()
      .map((r) => r.room_id);
    return [...new Set([...this.deps.technicians.configuredRooms(), ...seen])].sort();
  }

  audit(e: Omit<AuditEntry, 'id' | 'ts'>): void {
    this.deps.store.db
      .prepare('INSERT INTO cloud_audit (ts, technician, role, room_id, action, command_id, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(this.now(), e.technician, e.role, e.roomId, e.action, e.commandId, e.outcome, e.detail);
  }

  /** Authorise, audit, store and publish one command. */
  issue(tech: Technician, roomId: string, command: string, args: Record<string, unknown>, ttlMs?: number): IssueOutcome {
    const refuse = (status: 403 | 404, reason: string): IssueOutcome => {
      this.counts.refused++;
      this.audit({ technician: tech.name, role: tech.role, roomId, action: command, commandId: null, outcome: 'refused', detail: reason });
      this.log.warn({ technician: tech.name, roomId, command, reason }, 'command refused');
      return { ok: false, status, reason };
    };
    const auth = this.deps.technicians.authorize(tech, roomId, command);
    if (!auth.ok) return refuse(403, auth.reason);
    if (!this.knownRooms().includes(roomId)) return refuse(404, `room ${roomId} is unknown to the cloud (not configured, never connected)`);
    const issuedAt = this.now();
    const msg: RemoteCommand = {
      v: PROTOCOL_VERSION,
      roomId,
      id: randomUUID(),
      issuedBy: { technician: tech.name, role: tech.role },
      issuedAt,
      expiresAt: issuedAt + (ttlMs ?? this.deps.defaultTtlMs ?? 60_000),
      command,
      args,
    };
    this.deps.store.db
      .prepare(
        `INSERT INTO commands (id, room_id, technician, role, command, args, issued_at, expires_at, status, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
      )
      .run(msg.id, roomId, tech.name, tech.role, command, JSON.stringify(args), issuedAt, msg.expiresAt, issuedAt);
    this.audit({ technician: tech.name, role: tech.role, roomId, action: command, commandId: msg.id, outcome: 'issued', detail: JSON.stringify(args).slice(0, 2000) });
    this.counts.issued++;
    // Not awaited: with the broker away, mqtt.js keeps the message until it is back (or the command expires here).
    this.deps.publish(districtTopics(roomId).commands, encodeMessage(msg)).catch((err: unknown) => this.log.warn({ err, id: msg.id, roomId }, 'command not published; it will expire'));
    this.log.info({ id: msg.id, technician: tech.name, roomId, command }, 'command published');
    return { ok: true, command: this.get(msg.id)! };
  }

  get(id: string): CommandRecord | null {
    const row = this.deps.store.db.prepare<[string], Row>('SELECT * FROM commands WHERE id = ?').get(id);
    return row ? toRecord(row) : null;
  }

  /** The command once it is final, or as it is after `ms`. */
  async wait(id: string, ms: number): Promise<CommandRecord | null> {
    const current = this.get(id);
    if (!current || current.status !== 'pending' || ms <= 0) return current;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.results.off(id, done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      this.results.on(id, done);
    });
    return this.get(id);
  }

  /** A result message from `up/command-results` (or the event log); never throws. */
  onResultMessage(topic: string, payload: Buffer): void {
    const t = parseDistrictTopic(topic);
    if (!t || t.kind !== 'command-results') return this.reject('topic', { topic });
    const decoded = decodeMessage(commandResultSchema, payload, COMMAND_RESULT_LIMITS);
    if (!decoded.ok) return this.reject(decoded.error.code, { topic, error: decoded.error.message });
    if (decoded.value.roomId !== t.roomId) return this.reject('room-mismatch', { topic, payloadRoom: decoded.value.roomId });
    this.applyResult(decoded.value, 'link');
  }

  /** Stores a result if it is new for that command; false when ignored (unknown id, other room, same result again). */
  applyResult(r: CommandResultMessage, via: 'link' | 'event-log'): boolean {
    const row = this.deps.store.db.prepare<[string], Row>('SELECT * FROM commands WHERE id = ?').get(r.id);
    if (!row) {
      this.reject('unknown-command', { id: r.id, roomId: r.roomId, via });
      return false;
    }
    if (row.room_id !== r.roomId) {
      this.reject('room-mismatch', { id: r.id, roomId: r.roomId, commandRoom: row.room_id, via });
      return false;
    }
    const noAnswer = row.status === 'expired' && row.started_at === null;
    if (row.status !== 'pending' && !noAnswer) return false;
    this.deps.store.db
      .prepare('UPDATE commands SET status = ?, result = ?, error = ?, started_at = ?, finished_at = ?, updated_at = ? WHERE id = ?')
      .run(r.status, r.result === undefined ? null : JSON.stringify(r.result), r.error ? JSON.stringify(r.error) : null, r.startedAt, r.finishedAt, this.now(), r.id);
    this.audit({
      technician: row.technician,
      role: row.role,
      roomId: row.room_id,
      action: row.command,
      commandId: r.id,
      outcome: r.status,
      detail: r.error ? `${r.error.code}: ${r.error.message}`.slice(0, 2000) : null,
    });
    this.counts.results++;
    this.log.info({ id: r.id, roomId: r.roomId, status: r.status, via }, 'command result');
    this.results.emit(r.id);
    return true;
  }

  /**
   * Picks up results that reached the events table through the uplink, then marks commands with
   * no result by expiresAt + grace as expired (no-answer). Called periodically.
   */
  sweep(): void {
    const now = this.now();
    const open = this.deps.store.db
      .prepare<[], { id: string; room_id: string }>("SELECT id, room_id FROM commands WHERE status = 'pending' OR (status = 'expired' AND started_at IS NULL) LIMIT 1000")
      .all();
    const find = this.deps.store.db.prepare<[string, string], { payload: string }>("SELECT payload FROM events WHERE room_id = ? AND stream = 'command' AND entity_id = ? AND type = 'result' LIMIT 1");
    for (const c of open) {
      const ev = find.get(c.room_id, c.id);
      if (!ev) continue;
      const parsed = commandResultSchema.safeParse(JSON.parse(ev.payload));
      if (parsed.success) this.applyResult(parsed.data, 'event-log');
      else this.reject('invalid', { id: c.id, via: 'event-log' });
    }
    const overdue = this.deps.store.db
      .prepare<[number], Row>("SELECT * FROM commands WHERE status = 'pending' AND expires_at < ?")
      .all(now - (this.deps.graceMs ?? 5000));
    for (const row of overdue) {
      const error = { code: 'no-answer', message: `no result from room ${row.room_id} before the command expired` };
      this.deps.store.db.prepare("UPDATE commands SET status = 'expired', error = ?, updated_at = ? WHERE id = ? AND status = 'pending'").run(JSON.stringify(error), now, row.id);
      this.audit({ technician: row.technician, role: row.role, roomId: row.room_id, action: row.command, commandId: row.id, outcome: 'expired', detail: error.message });
      this.results.emit(row.id);
    }
  }

  /** Newest first; with `rooms`, only those rooms' entries and the technician's own. */
  auditEntries(opts: { limit: number; rooms?: Set<string> | null; technician?: string }): AuditEntry[] {
    const rows = opts.rooms
      ? this.deps.store.db
          .prepare<[string, string, number], Record<string, unknown>>(
            'SELECT * FROM cloud_audit WHERE room_id IN (SELECT value FROM json_each(?)) OR technician = ? ORDER BY id DESC LIMIT ?',
          )
          .all(JSON.stringify([...opts.rooms]), opts.technician ?? '', opts.limit)
      : this.deps.store.db.prepare<[number], Record<string, unknown>>('SELECT * FROM cloud_audit ORDER BY id DESC LIMIT ?').all(opts.limit);
    return rows.map((r) => ({
      id: r.id as number,
      ts: r.ts as number,
      technician: r.technician as string,
      role: r.role as string,
      roomId: r.room_id as string,
      action: r.action as string,
      commandId: (r.command_id as string | null) ?? null,
      outcome: r.outcome as string,
      detail: (r.detail as string | null) ?? null,
    }));
  }

  private reject(reason: string, detail: Record<string, unknown>): void {
    this.counts.rejected[reason] = (this.counts.rejected[reason] ?? 0) + 1;
    this.log.warn({ reason, ...detail }, 'command result rejected');
  }
}

/**
 * The cloud's MQTT client for commands: publishes them and subscribes to every room's results.
 * Connects with the ingest workers' credentials under its own client id.
 */
export class CommandLink {
  private client: MqttClient | null = null;
  private stopping = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly backoff;

  constructor(
    private readonly deps: { broker: LinkCredentials; clientId: string; logger: Logger; onResult: (topic: string, payload: Buffer) => void; reconnect?: { minMs: number; maxMs: number } },
  ) {
    this.backoff = backoff(deps.reconnect ?? { minMs: 500, maxMs: 30_000 });
  }

  start(): Promise<void> {
    const log = this.deps.logger.child({ ns: 'cloud:commands', client: this.deps.clientId });
    const client = mqtt.connect(this.deps.broker.url, linkOptions(this.deps.broker, { clientId: this.deps.clientId, clean: false, keepalive: 30, reconnectPeriod: 0, connectTimeout: 15_000 }));
    this.client = client;
    const first = new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.once('connect', () => {
        client.off('error', reject);
        resolve();
      });
    });
    client.on('connect', () => {
      this.backoff.reset();
      client.subscribe(CLOUD_SUBSCRIPTIONS.commandResults, { qos: 1 }, (err) => err && log.error({ err }, 'subscribe failed'));
    });
    client.on('close', () => {
      if (this.stopping || this.reconnectTimer) return;
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (!this.stopping) reconnectKeepingStores(client);
      }, this.backoff.failed());
      this.reconnectTimer.unref?.();
    });
    client.on('error', (err) => log.warn({ err: err.message }, 'broker connection problem'));
    client.on('message', (topic, payload) => {
      try {
        this.deps.onResult(topic, payload);
      } catch (err) {
        log.error({ err, topic }, 'command result handler failed');
      }
    });
    return first;
  }

  /** QoS 1; mqtt.js queues it while the broker is away. */
  async publish(topic: string, payload: Buffer): Promise<void> {
    if (!this.client) throw new Error('command link not started');
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  /** Idempotent; waits for in-flight publishes. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    if (client) await endLink(client, { graceMs: 5000 });
  }
}
