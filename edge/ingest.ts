/**
 * The broker's ingest hook: every external publish that passed the topic
 * rights comes here before its PUBACK. Records are validated by the shared
 * schemas and committed (domain row + event-log row in one transaction)
 * before the hook resolves, so a QoS 1 PUBACK means "committed".
 *
 * Rejected messages (bad JSON, schema failure) are counted and logged; the
 * publisher stays connected. A store failure throws, so the broker
 * disconnects the publisher without a PUBACK and it redelivers later.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { IngestHook, IngestResult } from './broker/broker.js';
import type { DeviceSupervisor } from './devices/supervisor.js';
import type { Metrics } from './metrics.js';
import { behaviourEventSchema, cardTapSchema, deviceCommandSchema, sensorReadingSchema } from './schemas/bus.js';
import { parseTopic, type Topics } from './schemas/topics.js';
import type { Store } from './store/index.js';
import type { Logger } from './util/logger.js';

export interface IngestDeps {
  roomId: string;
  store: Store;
  devices: DeviceSupervisor;
  metrics: Metrics;
  logger: Logger;
  topics: Topics;
  publishReply: (deviceId: string, reply: object) => Promise<void>;
}

function decode<S extends z.ZodType>(schema: S, payload: Buffer): { ok: true; value: z.infer<S> } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'payload is not valid JSON' };
  }
  const r = schema.safeParse(json);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, reason: r.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ') };
}

export function createIngest(deps: IngestDeps): IngestHook {
  const { store, metrics, logger } = deps;
  const reject = (kind: string, topic: string, client: string, reason: string): IngestResult => {
    metrics.messagesRejected.inc({ topic: kind, reason: reason.startsWith('payload is not valid JSON') ? 'json' : 'schema' });
    logger.warn({ topic, client, reason }, 'message rejected');
    return { accept: false, reason };
  };

  return async (principal, topic, payload) => {
    const parsed = parseTopic(deps.roomId, topic);
    // Same publisher, same topic, same bytes = the same message (a QoS 1 redelivery after a lost PUBACK).
    const dedupKey = () => `${principal.username}:${createHash('sha256').update(topic).update('\0').update(payload).digest('base64url').slice(0, 32)}`;
    if (!parsed) return reject('outside-room', topic, principal.username, 'topic outside this room');
    switch (parsed.kind) {
      case 'card': {
        const m = decode(cardTapSchema, payload);
        if (!m.ok) return reject('card', topic, principal.username, m.reason);
        await store.recordCardTap({ reader: m.value.reader, uid: m.value.uid, number: m.value.number, ts: m.value.ts, dedupKey: dedupKey() });
        return { accept: true };
      }
      case 'behaviour': {
        const m = decode(behaviourEventSchema, payload);
        if (!m.ok) return reject('behaviour', topic, principal.username, m.reason);
        await store.recordBehaviour({ source: principal.username, kind: m.value.kind, studentId: m.value.studentId, payload: m.value, ts: m.value.ts, dedupKey: dedupKey() });
        return { accept: true };
      }
      case 'sensor': {
        const m = decode(sensorReadingSchema, payload);
        if (!m.ok) return reject('sensor', topic, principal.username, m.reason);
        await store.recordReading({ device: parsed.deviceId, metric: parsed.metric, value: m.value.value, unit: m.value.unit, ts: m.value.ts, dedupKey: dedupKey() });
        return { accept: true };
      }
      case 'device-command': {
        const m = decode(deviceCommandSchema, payload);
        if (!m.ok) return reject('device-command', topic, principal.username, m.reason);
        const { id, command, args } = m.value;
        // Accepted for execution now; the result goes to device/{id}/reply (audited by the supervisor).
        void deps.devices
          .execute(parsed.deviceId, command, args, { username: principal.username, role: principal.role })
          .then((r) => deps.publishReply(parsed.deviceId, { id, ok: r.ok, ...(r.error ? { error: r.error } : {}), ...(r.state ? { state: r.state } : {}) }))
          .catch((e: unknown) => logger.error({ err: e }, 'could not publish a command reply'));
        return { accept: true };
      }
      default:
        return { accept: true };
    }
  };
}
