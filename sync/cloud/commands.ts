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
import { endLink, LinkReconnector, linkOptions, type LinkCredentials } from '../link-options.js';
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
import type { Queryable } from './db.js';
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
  async knownRooms(): Promise<string[]> {
    const seen = (await this.deps.store.db.all<{ room_id: string }>('SELECT room_id FROM rooms UNION SELECT room_id FROM room_status')).map((r) => r.room_id);
    return [...new Set([...this.deps.technicians.configuredRooms(), ...seen])].sort();
  }

  async audit(e: Omit<AuditEntry, 'id' | 'ts'>, q: Queryable = this.deps.store.db): Promise<void> {
    await q.run('INSERT INTO cloud_audit (ts, technician, role, room_id, action, command_id, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [
      this.now(),
      e.technician,
      e.role,
      e.roomId,
      e.action,
      e.commandId,
      e.outcome,
      e.detail,
    ]);
  }

  /** Authorise, audit, store and publish one command. */
  async issue(tech: Technician, roomId: string, command: string, args: Record<string, unknown>, ttlMs?: number): Promise<IssueOutcome> {
    const refuse = async (status: 403 | 404, reason: string): Promise<IssueOutcome> => {
      this.counts.refused++;
      await this.audit({ technician: tech.name, role: tech.role, roomId, action: command, commandId: null, outcome: 'refused', detail: reason });
      this.log.warn({ technician: tech.name, roomId, command, reason }, 'command refused');
      return { ok: false, status, reason };
    };
    const auth = this.deps.technicians.authorize(tech, roomId, command);
    if (!auth.ok) return refuse(403, auth.reason);
    if (!(await this.knownRooms()).includes(roomId)) return refuse(404, `room ${roomId} is unknown to the cloud (not configured, never connected)`);
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
    // The command and its audit row together: stored before it is published, so a result always finds it.
    await this.deps.store.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO commands (id, room_id, technician, role, command, args, issued_at, expires_at, status, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
        [msg.id, roomId, tech.name, tech.role, command, JSON.stringify(args), issuedAt, msg.expiresAt, issuedAt],
      );
      await this.audit({ technician: tech.name, role: tech.role, roomId, action: command, commandId: msg.id, outcome: 'issued', detail: JSON.stringify(args).slice(0, 2000) }, tx);
    });
    this.counts.issued++;
    // Not awaited: with the broker away, mqtt.js keeps the message until it is back (or the command expires here).
    this.deps.publish(districtTopics(roomId).commands, encodeMessage(msg)).catch((err: unknown) => this.log.warn({ err, id: msg.id, roomId }, 'command not published; it will expire'));
    this.log.info({ id: msg.id, technician: tech.name, roomId, command }, 'command published');
    return { ok: true, command: (await this.get(msg.id))! };
  }

  /**
   * Sends a message down to a room on the command link (QoS 1), not awaited: with the broker away,
   * mqtt.js keeps it until the link is back. Used for alert acknowledgements (sync/cloud/alerts.ts).
   */
  notifyRoom(topic: string, msg: object): void {
    this.deps.publish(topic, encodeMessage(msg)).catch((err: unknown) => this.log.warn({ err, topic }, 'message to the room not published'));
  }

  async get(id: string): Promise<CommandRecord | null> {
    const row = await this.deps.store.db.get<Row>('SELECT * FROM commands WHERE id = ?', [id]);
    return row ? toRecord(row) : null;
  }

  /** The command once it is final, or as it is after `ms`. */
  async wait(id: string, ms: number): Promise<CommandRecord | null> {
    if (ms <= 0) return this.get(id);
    // Listen before reading: a result stored while the read is in flight is not missed.
    let settled = false;
    let done = () => undefined as void;
    const heard = new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), ms);
      timer.unref?.();
      done = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.results.off(id, done);
        resolve();
      };
      this.results.on(id, done);
    });
    const current = await this.get(id);
    if (!current || current.status !== 'pending') {
      done();
      return current;
    }
    await heard;
    return this.get(id);
  }

  /** A result message from `up/command-results` (or the event log); never throws. */
  async onResultMessage(topic: string, payload: Buffer): Promise<void> {
    const t = parseDistrictTopic(topic);
    if (!t || t.kind !== 'command-results') return this.reject('topic', { topic });
    const decoded = decodeMessage(commandResultSchema, payload, COMMAND_RESULT_LIMITS);
    if (!decoded.ok) return this.reject(decoded.error.code, { topic, error: decoded.error.message });
    if (decoded.value.roomId !== t.roomId) return this.reject('room-mismatch', { topic, payloadRoom: decoded.value.roomId });
    await this.applyResult(decoded.value, 'link');
  }

  /** Stores a result if it is new for that command; false when ignored (unknown id, other room, same result again). */
  async applyResult(r: CommandResultMessage, via: 'link' | 'event-log'): Promise<boolean> {
    const row = await this.deps.store.db.get<Row>('SELECT * FROM commands WHERE id = ?', [r.id]);
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
    // The same result can arrive by the link and by the event-log sweep at once (two connections on PostgreSQL):
    // the UPDATE is conditional on the command still being open, and only the one that changed it audits.
    const applied = await this.deps.store.db.transaction(async (tx) => {
      const { changes } = await tx.run(
        `UPDATE commands SET status = ?, result = ?, error = ?, started_at = ?, finished_at = ?, updated_at = ?
         WHERE id = ? AND (status = 'pending' OR (status = 'expired' AND started_at IS NULL))`,
        [r.status, r.result === undefined ? null : JSON.stringify(r.result), r.error ? JSON.stringify(r.error) : null, r.startedAt, r.finishedAt, this.now(), r.id],
      );
      if (changes === 0) return false;
      await this.audit(
        {
          technician: row.technician,
          role: row.role,
          roomId: row.room_id,
          action: row.command,
          commandId: r.id,
          outcome: r.status,
          detail: r.error ? `${r.error.code}: ${r.error.message}`.slice(0, 2000) : null,
        },
        tx,
      );
      return true;
    });
    if (!applied) return false;
    this.counts.results++;
    this.log.info({ id: r.id, roomId: r.roomId, status: r.status, via }, 'command result');
    this.results.emit(r.id);
    return true;
  }

  /**
   * Picks up results that reached the events table through the uplink, then marks commands with
   * no result by expiresAt + grace as expired (no-answer). Called periodically.
   */
  async sweep(): Promise<void> {
    const now = this.now();
    const db = this.deps.store.db;
    const open = await db.all<{ id: string; room_id: string }>("SELECT id, room_id FROM commands WHERE status = 'pending' OR (status = 'expired' AND started_at IS NULL) LIMIT 1000");
    for (const c of open) {
      const ev = await db.get<{ payload: string }>("SELECT payload FROM events WHERE room_id = ? AND stream = 'command' AND entity_id = ? AND type = 'result' LIMIT 1", [c.room_id, c.id]);
      if (!ev) continue;
      const parsed = commandResultSchema.safeParse(JSON.parse(ev.payload));
      if (parsed.success) await this.applyResult(parsed.data, 'event-log');
      else this.reject('invalid', { id: c.id, via: 'event-log' });
    }
    const overdue = await db.all<Row>("SELECT * FROM commands WHERE status = 'pending' AND expires_at < ?", [now - (this.deps.graceMs ?? 5000)]);
    for (const row of overdue) {
      const error = { code: 'no-answer', message: `no result from room ${row.room_id} before the command expired` };
      const expired = await db.transaction(async (tx) => {
        const { changes } = await tx.run("UPDATE commands SET status = 'expired', error = ?, updated_at = ? WHERE id = ? AND status = 'pending'", [JSON.stringify(error), now, row.id]);
        if (changes === 0) return false; // a result came in meanwhile
        await this.audit({ technician: row.technician, role: row.role, roomId: row.room_id, action: row.command, commandId: row.id, outcome: 'expired', detail: error.message }, tx);
        return true;
      });
      if (expired) this.results.emit(row.id);
    }
  }

  /** Newest first; with `rooms`, only those rooms' entries and the technician's own. */
  async auditEntries(opts: { limit: number; rooms?: Set<string> | null; technician?: string }): Promise<AuditEntry[]> {
    const db = this.deps.store.db;
    const rows = opts.rooms
      ? await db.all<Record<string, unknown>>(`SELECT * FROM cloud_audit WHERE ${db.sql.inJsonArray('room_id')} OR technician = ? ORDER BY id DESC LIMIT ?`, [
          JSON.stringify([...opts.rooms]),
          opts.technician ?? '',
          opts.limit,
        ])
      : await db.all<Record<string, unknown>>('SELECT * FROM cloud_audit ORDER BY id DESC LIMIT ?', [opts.limit]);
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
  private reconnector: LinkReconnector | null = null;

  constructor(
    private readonly deps: { broker: LinkCredentials; clientId: string; logger: Logger; onResult: (topic: string, payload: Buffer) => Promise<void> | void; reconnect?: { minMs: number; maxMs: number } },
  ) {}

  start(): Promise<void> {
    const log = this.deps.logger.child({ ns: 'cloud:commands', client: this.deps.clientId });
    const client = mqtt.connect(this.deps.broker.url, linkOptions(this.deps.broker, { clientId: this.deps.clientId, clean: false, keepalive: 30, reconnectPeriod: 0, connectTimeout: 15_000 }));
    this.client = client;
    this.reconnector = new LinkReconnector(client, this.deps.reconnect ?? { minMs: 500, maxMs: 30_000 });
    const first = new Promise<void>((resolve, reject) => {
      client.once('error', reject);
      client.once('connect', () => {
        client.off('error', reject);
        resolve();
      });
    });
    client.on('connect', () => {
      client.subscribe(CLOUD_SUBSCRIPTIONS.commandResults, { qos: 1 }, (err) => err && log.error({ err }, 'subscribe failed'));
    });
    client.on('error', (err) => log.warn({ err: err.message }, 'broker connection problem'));
    // One message at a time, acknowledged to the broker (PUBACK) after it is stored (mqtt.js's handleMessage).
    client.handleMessage = (packet, done) => {
      Promise.resolve()
        .then(() => this.deps.onResult(packet.topic, packet.payload as Buffer))
        .catch((err: unknown) => log.error({ err, topic: packet.topic }, 'command result handler failed'))
        .finally(() => done());
    };
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
    this.reconnector?.stop();
    const client = this.client;
    if (client) await endLink(client, { graceMs: 5000 });
  }
}
