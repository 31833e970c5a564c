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
import { hash } from 'node:crypto';
import type { z } from 'zod';
import type { IngestHook, IngestResult } from './broker/broker.js';
import type { DeviceSupervisor, TapSink } from './devices/supervisor.js';
import type { BehaviourService } from './behaviour/service.js';
import type { Metrics } from './metrics.js';
import { cardTapSchema, deviceCommandSchema, sensorReadingSchema } from './schemas/bus.js';
import { parseTopic, type Topics } from './schemas/topics.js';
import type { Store } from './store/index.js';
import type { Logger } from './util/logger.js';

export interface IngestDeps {
  roomId: string;
  store: Store;
  devices: DeviceSupervisor;
  taps: TapSink;
  behaviour: Pick<BehaviourService, 'ingest'>;
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

  return async (principal, topic, payload, parsedByBroker) => {
    const parsed = parsedByBroker !== undefined ? parsedByBroker : parseTopic(deps.roomId, topic);
    // Same publisher, same topic, same bytes = the same message (a QoS 1 redelivery after a lost PUBACK).
    // The key starts with the message's own timestamp so that keys arrive in nearly ascending order:
    // the UNIQUE index then grows at its end instead of taking random page writes on every commit.
    const dedupKey = (ts: unknown) =>
      `${String(typeof ts === 'number' && Number.isSafeInteger(ts) && ts >= 0 ? ts : 0).padStart(13, '0')}:${principal.username}:${hash('sha256', Buffer.concat([Buffer.from(`${topic}\0`), payload]), 'base64url').slice(0, 24)}`;
    if (!parsed) return reject('outside-room', topic, principal.username, 'topic outside this room');
    switch (parsed.kind) {
      case 'card': {
        const m = decode(cardTapSchema, payload);
        if (!m.ok) return reject('card', topic, principal.username, m.reason);
        const { reader, uid, number, ts } = m.value;
        const r = await store.recordCardTap({ reader, uid, number, ts, lessonId: deps.taps.lessonIdFor(ts), dedupKey: dedupKey(ts) });
        // A redelivered tap is already counted; attendance sees each tap once.
        if (!r.duplicate) await deps.taps.handle({ reader, uid, number, ts });
        return { accept: true };
      }
      case 'behaviour': {
        let json: unknown;
        try {
          json = JSON.parse(payload.toString('utf8'));
        } catch {
          return reject('behaviour', topic, principal.username, 'payload is not valid JSON');
        }
        // The behaviour service validates, ties the event to the current lesson and commits it.
        const r = await deps.behaviour.ingest(json, principal.username, { dedupKey: dedupKey((json as { ts?: unknown } | null)?.ts) });
        if (r.kind === 'rejected') return reject('behaviour', topic, principal.username, r.reason);
        return { accept: true };
      }
      case 'sensor': {
        const m = decode(sensorReadingSchema, payload);
        if (!m.ok) return reject('sensor', topic, principal.username, m.reason);
        await store.recordReading({ device: parsed.deviceId, metric: parsed.metric, value: m.value.value, unit: m.value.unit, ts: m.value.ts, dedupKey: dedupKey(m.value.ts) });
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
