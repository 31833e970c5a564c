/**
 * A district cloud ingest worker: subscribes to every room's event batches
 * through a shared subscription (`$share/ingest/...`, so several workers
 * share the load), validates each batch, commits it, and only then publishes
 * the acknowledgement (`down/ack`, QoS 1). Room status and device telemetry
 * go to the room_status table. A malformed batch, or one whose room id does
 * not match its topic, is rejected and counted; the handler never throws.
 *
 * Messages are handled one at a time per worker, through mqtt.js's
 * `handleMessage`: the broker's PUBACK for a batch is sent only after its
 * commit (a worker that dies mid-commit gets it again from its session), and
 * a slow database slows this worker's intake instead of piling batches up in
 * memory. Parallelism comes from several workers on the shared subscription.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../edge/util/logger.js';
import { endLink, LinkReconnector, linkOptions, type LinkCredentials } from '../link-options.js';
import {
  CLOUD_SUBSCRIPTIONS,
  PROTOCOL_VERSION,
  batchSchema,
  decodeMessage,
  districtTopics,
  parseDistrictTopic,
  statusSchema,
  telemetrySchema,
  type Ack,
} from '../protocol.js';
import type { CloudStore } from './store.js';
import { CONFIG_RESULTS_FILTER } from '../config-downlink.js';
import { handleConfigResult, isConfigResultTopic } from './config-push.js';

export const SHARE_GROUP = 'ingest';
/** How long stop() waits for a graceful MQTT disconnect before dropping the connection. */

export interface WorkerDeps {
  broker: LinkCredentials;
  /** MQTT client id (stable per worker: its session survives a restart). */
  clientId: string;
  store: CloudStore;
  logger: Logger;
  now?: () => number;
  /** Also subscribe status and telemetry (default true; with several workers each one records them, idempotently). */
  statusTopics?: boolean;
  reconnect?: { minMs: number; maxMs: number };
}

export interface WorkerStats {
  connected: boolean;
  batches: number;
  inserted: number;
  duplicates: number;
  acks: number;
  rejected: Record<string, number>;
  status: number;
}

export class IngestWorker {
  private client: MqttClient | null = null;
  private connected = false;
  private stopping = false;
  private reconnector: LinkReconnector | null = null;
  /** The message being handled (stop waits for it, so the store is not closed under a commit). */
  private inFlight: Promise<void> = Promise.resolve();
  private stopped: Promise<void> | null = null;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly counts: WorkerStats = { connected: false, batches: 0, inserted: 0, duplicates: 0, acks: 0, rejected: {}, status: 0 };

  constructor(private readonly deps: WorkerDeps) {
    this.log = deps.logger.child({ ns: 'cloud:ingest', worker: deps.clientId });
    this.now = deps.now ?? Date.now;
  }

  /** Resolves on the first connection (subscriptions granted); reconnects in the background after that. */
  start(): Promise<void> {
    const client = mqtt.connect(
      this.deps.broker.url,
      linkOptions(this.deps.broker, { clientId: this.deps.clientId, clean: false, keepalive: 30, reconnectPeriod: 0, connectTimeout: 15_000 }),
    );
    this.client = client;
    this.reconnector = new LinkReconnector(client, this.deps.reconnect ?? { minMs: 500, maxMs: 30_000 });
    const first = new Promise<void>((resolve, reject) => {
      const onFirstError = (err: Error) => reject(err);
      client.once('error', onFirstError);
      client.once('connect', () => {
        client.off('error', onFirstError);
        resolve();
      });
    });
    client.on('connect', (connack) => {
      this.connected = true;
      this.log.info({ sessionPresent: connack.sessionPresent }, 'ingest worker connected');
      const subs: Record<string, { qos: 1 }> = { [`$share/${SHARE_GROUP}/${CLOUD_SUBSCRIPTIONS.events}`]: { qos: 1 } };
      if (this.deps.statusTopics ?? true) {
        subs[CLOUD_SUBSCRIPTIONS.status] = { qos: 1 };
        subs[CLOUD_SUBSCRIPTIONS.telemetry] = { qos: 1 };
        subs[CONFIG_RESULTS_FILTER] = { qos: 1 };
      }
      client.subscribe(subs, (err, granted) => {
        if (err) this.log.error({ err }, 'subscribe failed');
        const refused = (granted ?? []).filter((g) => g.qos === 128);
        if (refused.length) this.log.error({ refused: refused.map((g) => g.topic) }, 'subscriptions refused by the broker');
      });
    });
    client.on('close', () => {
      if (this.connected && !this.stopping) this.log.warn('broker connection lost; reconnecting with backoff');
      this.connected = false;
    });
    client.on('error', (err) => this.log.warn({ err: err.message }, 'broker connection problem'));
    client.handleMessage = (packet, done) => {
      const handled = this.onMessage(packet.topic, packet.payload as Buffer);
      this.inFlight = handled;
      void handled.finally(() => done());
    };
    return first;
  }

  /**
   * `force`: drop the connection without DISCONNECT (a crash, for tests); the broker keeps the session.
   * Idempotent: a second call (e.g. the cloud's stop after a test's forced stop) waits for the first.
   * A graceful end waits a bounded time for outstanding QoS 1 publishes (acks, verdicts), then drops
   * the connection (sync/link-options.ts endLink): an ack that is not delivered is harmless, the edge
   * resends the batch and is acknowledged then.
   */
  stop(opts: { force?: boolean } = {}): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.reconnector?.stop();
      const client = this.client;
      if (!client) return;
      await endLink(client, { graceMs: 5000, force: opts.force ?? false });
      await this.inFlight;
      this.connected = false;
    })();
    return this.stopped;
  }

  stats(): WorkerStats {
    return { ...this.counts, connected: this.connected, rejected: { ...this.counts.rejected } };
  }

  private reject(reason: string, detail: Record<string, unknown>): void {
    this.counts.rejected[reason] = (this.counts.rejected[reason] ?? 0) + 1;
    this.log.warn({ reason, ...detail }, 'message rejected');
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    try {
      if (isConfigResultTopic(topic)) {
        const rejected = await handleConfigResult(this.deps.store, topic, payload, this.now());
        if (rejected) this.reject(rejected, { topic });
        return;
      }
      const t = parseDistrictTopic(topic);
      if (!t) return this.reject('topic', { topic });
      if (t.kind === 'events') await this.onBatch(t.roomId, topic, payload);
      else if (t.kind === 'status') await this.onStatus(t.roomId, topic, payload);
      else if (t.kind === 'telemetry') await this.onTelemetry(t.roomId, t.deviceId, topic, payload);
    } catch (err) {
      // A store failure (disk full, I/O): no ack, so the edge resends later.
      this.reject('internal', { topic, err: err instanceof Error ? err.message : String(err) });
    }
  }

  private async onBatch(roomId: string, topic: string, payload: Buffer): Promise<void> {
    const decoded = decodeMessage(batchSchema, payload);
    if (!decoded.ok) return this.reject(decoded.error.code, { topic, error: decoded.error.message, bytes: payload.length });
    const batch = decoded.value;
    if (batch.roomId !== roomId) return this.reject('room-mismatch', { topic, payloadRoom: batch.roomId });
    const result = await this.deps.store.commitBatch(batch, this.now());
    this.counts.batches++;
    this.counts.inserted += result.inserted;
    this.counts.duplicates += result.duplicates;
    if (result.skew) {
      const s = result.skew;
      if (s.skewed) this.log.warn({ ...s, offsetMinutes: Math.round(s.offsetMs / 60_000) }, 'room clock is off: its events are flagged and corrected by the offset');
      else this.log.info({ ...s }, 'room clock back within the skew threshold');
    }
    const ack: Ack = { v: PROTOCOL_VERSION, roomId, storeId: batch.storeId, ackedSeq: result.ackedSeq, ts: this.now() };
    if (this.stopping) {
      // Stopped while committing: the batch is committed, its ack is not sent (the edge resends, and is acknowledged then).
      this.log.info({ roomId, ackedSeq: result.ackedSeq }, 'batch committed while stopping; ack left to the resend');
      return;
    }
    this.client?.publish(districtTopics(roomId).ack, JSON.stringify(ack), { qos: 1 }, (err) => {
      if (err) this.log.warn({ err: err.message, roomId }, 'ack not sent; the edge will resend and be acknowledged then');
      else this.counts.acks++;
    });
    for (const verdict of result.receipts) {
      const log = verdict.outcome === 'complete' ? this.log.info.bind(this.log) : this.log.warn.bind(this.log);
      log({ roomId, lessonId: verdict.lessonId, revision: verdict.revision, outcome: verdict.outcome, differences: verdict.differences }, 'lesson receipt checked');
      this.client?.publish(districtTopics(roomId).receipts, JSON.stringify(verdict), { qos: 1 }, (err) => {
        if (err) this.log.warn({ err: err.message, roomId, lessonId: verdict.lessonId }, 'receipt verdict not sent; offered again at the next batch');
        else {
          this.deps.store.receipts
            .markPublished(verdict, this.now())
            .catch((e: unknown) => this.log.warn({ err: e instanceof Error ? e.message : String(e), roomId }, 'receipt verdict sent but not marked; offered again at the next batch'));
        }
      });
    }
  }

  private async onStatus(roomId: string, topic: string, payload: Buffer): Promise<void> {
    const decoded = decodeMessage(statusSchema, payload);
    if (!decoded.ok) return this.reject(decoded.error.code, { topic, error: decoded.error.message });
    if (decoded.value.roomId !== roomId) return this.reject('room-mismatch', { topic, payloadRoom: decoded.value.roomId });
    await this.deps.store.recordStatus(decoded.value, this.now());
    this.counts.status++;
  }

  private async onTelemetry(roomId: string, deviceId: string, topic: string, payload: Buffer): Promise<void> {
    if (payload.length === 0) {
      // The room removed the device (an empty retained message clears the topic): forget it.
      if (await this.deps.store.forgetDevice(roomId, deviceId)) this.log.info({ roomId, deviceId }, 'device removed by the room');
      this.counts.status++;
      return;
    }
    const decoded = decodeMessage(telemetrySchema, payload);
    if (!decoded.ok) return this.reject(decoded.error.code, { topic, error: decoded.error.message });
    if (decoded.value.roomId !== roomId || decoded.value.deviceId !== deviceId) {
      return this.reject('room-mismatch', { topic, payloadRoom: decoded.value.roomId, payloadDevice: decoded.value.deviceId });
    }
    await this.deps.store.recordTelemetry(decoded.value, this.now());
    this.counts.status++;
  }
}
