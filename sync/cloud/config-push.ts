/**
 * The district side of configuration pushes (docs/sync.md, docs/config-push.md):
 * `pushConfig` records a new version for a room in the cloud database
 * (`config_pushes`), publishes it **retained** on
 * `district/rooms/{room}/down/config` (so it waits for a room that is
 * offline) and, with `waitMs`, waits for the room's result on
 * `up/config-results`. The ingest worker that records status also records
 * every result that arrives (`recordConfigResult`), so results are kept
 * whether or not anyone waits.
 *
 * Versions are per room and increase with every push (the next one is the
 * highest stored + 1); the edge skips a version it has already handled.
 */
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import type { Logger } from '../../edge/util/logger.js';
import { configPushSchema, configResultSchema, configTopics, type ConfigPush, type ConfigResult } from '../config-downlink.js';
import { linkOptions, type LinkCredentials } from '../link-options.js';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, TOPIC_ROOT } from '../protocol.js';
import type { CloudStore } from './store.js';

export interface StoredConfigPush {
  roomId: string;
  version: number;
  issuedBy: string;
  issuedAt: number;
  config: unknown;
  outcome: string | null;
  result: ConfigResult | null;
  resultAt: number | null;
}

export async function nextConfigVersion(store: CloudStore, roomId: string): Promise<number> {
  const row = await store.db.get<{ v: number | null }>('SELECT MAX(version) AS v FROM config_pushes WHERE room_id = ?', [roomId]);
  return (row?.v ?? 0) + 1;
}

export async function recordConfigPush(store: CloudStore, push: ConfigPush): Promise<void> {
  await store.db.run('INSERT INTO config_pushes (room_id, version, issued_by, issued_at, config) VALUES (?, ?, ?, ?, ?)', [
    push.roomId,
    push.version,
    push.issuedBy,
    push.issuedAt,
    JSON.stringify(push.config ?? null),
  ]);
}

/** A result from a room: stored on its push (a result for a push this database does not know is kept too). */
export async function recordConfigResult(store: CloudStore, result: ConfigResult, receivedAt: number): Promise<void> {
  await store.db.run(
    `INSERT INTO config_pushes (room_id, version, issued_by, issued_at, config, outcome, result, result_at) VALUES (?, ?, '(unknown)', 0, 'null', ?, ?, ?)
     ON CONFLICT (room_id, version) DO UPDATE SET outcome = excluded.outcome, result = excluded.result, result_at = excluded.result_at`,
    [result.roomId, result.version, result.outcome, JSON.stringify(result), receivedAt],
  );
}

export async function configPushes(store: CloudStore, roomId: string): Promise<StoredConfigPush[]> {
  const rows = await store.db.all<Record<string, unknown>>('SELECT * FROM config_pushes WHERE room_id = ? ORDER BY version', [roomId]);
  return rows.map((r) => ({
    roomId: r.room_id as string,
    version: r.version as number,
    issuedBy: r.issued_by as string,
    issuedAt: r.issued_at as number,
    config: JSON.parse(r.config as string) as unknown,
    outcome: (r.outcome as string | null) ?? null,
    result: r.result ? (JSON.parse(r.result as string) as ConfigResult) : null,
    resultAt: (r.result_at as number | null) ?? null,
  }));
}

/** Handles a message on `district/rooms/+/up/config-results` (ingest worker); returns a rejection reason or null. */
export async function handleConfigResult(store: CloudStore, topic: string, payload: Uint8Array, now: number): Promise<string | null> {
  const decoded = decodeMessage(configResultSchema, payload);
  if (!decoded.ok) return decoded.error.code;
  if (topic !== configTopics(decoded.value.roomId).results) return 'room-mismatch';
  await recordConfigResult(store, decoded.value, now);
  return null;
}

export function isConfigResultTopic(topic: string): boolean {
  return topic.startsWith(TOPIC_ROOT) && topic.endsWith('/up/config-results') && topic.split('/').length === 5;
}

export interface PushConfigOptions {
  broker: LinkCredentials;
  /** MQTT client id of this one-shot client (must differ from the workers'). */
  clientId?: string;
  store: CloudStore;
  roomId: string;
  config: unknown;
  issuedBy: string;
  /** Default: the room's highest stored version + 1. */
  version?: number;
  /** Wait this long for the room's result (0: do not wait). */
  waitMs?: number;
  logger: Logger;
  now?: () => number;
}

export interface PushConfigOutcome {
  push: ConfigPush;
  /** The room's result, when it came within waitMs. */
  result: ConfigResult | null;
}

export async function pushConfig(o: PushConfigOptions): Promise<PushConfigOutcome> {
  const now = o.now ?? Date.now;
  const version = o.version ?? (await nextConfigVersion(o.store, o.roomId));
  const push: ConfigPush = configPushSchema.parse({ v: PROTOCOL_VERSION, roomId: o.roomId, version, config: o.config, issuedBy: o.issuedBy, issuedAt: now() });
  const topics = configTopics(o.roomId);
  const client = await mqtt.connectAsync(
    o.broker.url,
    linkOptions(o.broker, { clientId: o.clientId ?? `config-push-${randomUUID().slice(0, 8)}`, clean: true, reconnectPeriod: 0, connectTimeout: 15_000 }),
  );
  try {
    let settle: ((r: ConfigResult) => void) | undefined;
    const arrived = new Promise<ConfigResult>((resolve) => (settle = resolve));
    if (o.waitMs) {
      client.on('message', (topic, payload) => {
        if (topic !== topics.results) return;
        const d = decodeMessage(configResultSchema, payload);
        if (d.ok && d.value.version === version) settle?.(d.value);
      });
      await client.subscribeAsync(topics.results, { qos: 1 });
    }
    // Stored first: a push the database does not know is never in force in a room.
    await recordConfigPush(o.store, push);
    await client.publishAsync(topics.push, encodeMessage(push), { qos: 1, retain: true });
    o.logger.info({ room: o.roomId, version, issuedBy: o.issuedBy }, 'config pushed');
    if (!o.waitMs) return { push, result: null };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const result = await Promise.race([arrived, new Promise<null>((r) => (timer = setTimeout(() => r(null), o.waitMs)))]);
    clearTimeout(timer);
    if (result) await recordConfigResult(o.store, result, now());
    return { push, result };
  } finally {
    await client.endAsync();
  }
}

/** Human-readable lines of a result (the CLI prints them). */
export function describeConfigResult(r: ConfigResult): string[] {
  const lines = [`room ${r.roomId} config v${r.version}: ${r.outcome}`];
  if (r.changes) {
    const c = r.changes;
    lines.push(`  devices added: ${c.added.join(', ') || '-'}; removed: ${c.removed.join(', ') || '-'}; changed: ${c.changed.join(', ') || '-'}; scenes changed: ${c.scenesChanged ? 'yes' : 'no'}`);
  }
  for (const f of r.failed ?? []) lines.push(`  ${f.deviceId}: ${f.reason}`);
  for (const p of r.problems ?? []) lines.push(`  ${p}`);
  if (r.problemCount && r.problems && r.problemCount > r.problems.length) lines.push(`  … ${r.problemCount - r.problems.length} more problem(s)`);
  if (r.message && !r.failed?.length) lines.push(`  ${r.message}`);
  return lines;
}
