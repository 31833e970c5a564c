/**
 * The local MQTT bus of the room (shared/DESIGN.md sections 4 and 6): aedes
 * with authentication of every client, per-principal topic rights (acl.ts),
 * a payload limit, and the ingest hook that lets the service commit a
 * message before its QoS 1 PUBACK goes out. Listens on TCP and on
 * WebSocket (listeners.ts). docs/security.md describes the policy.
 *
 * How a refused or rejected publish is handled. MQTT 3.1.1 has no negative
 * acknowledgement, and aedes disconnects a client whose authorizePublish
 * fails. Like Mosquitto, we acknowledge and drop instead: authorizePublish
 * succeeds after rewriting the packet to a sink topic under `$SYS/` (no
 * client may subscribe to `$SYS`, see acl.ts) with an empty payload and no
 * retain flag, so aedes sends the PUBACK and delivers the message to nobody.
 * Only a failure of the ingest hook (the service could not store the
 * message) fails authorizePublish: the client is disconnected without a
 * PUBACK and redelivers on reconnect.
 *
 * PUBACK timing: aedes writes the PUBACK of a QoS 1 publish after
 * authorizePublish completes, and forwards the message right after the
 * PUBACK is written; authorizePublish awaits the ingest hook, so nothing is
 * acknowledged before the service has committed it.
 */
import { Aedes, type AedesPublishPacket, type AuthErrorCode, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../metrics.js';
import { MAX_PAYLOAD_BYTES } from '../schemas/bus.js';
import { parseTopic, type ParsedTopic } from '../schemas/topics.js';
import type { CredentialStore, Principal } from '../security/credentials.js';
import type { Logger } from '../util/logger.js';
import { canPublish, canSubscribe } from './acl.js';
import { listenTcp, listenWebSocket, type Listener } from './listeners.js';
import { GuardedConnection } from './packet-guard.js';

export type IngestResult = { accept: true } | { accept: false; reason: string };
/**
 * Called for every external publish that passed the topic rights, BEFORE the
 * PUBACK: the QoS 1 PUBACK is sent only after the returned promise resolves
 * (the service commits the record first). Reject (throw) = could not store:
 * the publisher is disconnected WITHOUT a PUBACK so that it redelivers on
 * reconnect (nothing acknowledged is lost). A redelivery may repeat a message
 * that was stored but whose PUBACK was lost: ingest should be idempotent.
 */
/** `parsed`: the topic as parseTopic(roomId, topic) read it (the broker has parsed it already). */
export type IngestHook = (p: Principal, topic: string, payload: Buffer, parsed?: ParsedTopic | null) => Promise<IngestResult>;

export interface BrokerListenOptions {
  tcp?: { port: number; hosts: string[] };
  ws?: { port: number; hosts: string[] };
}

export interface Broker {
  /** Port 0 = ephemeral; returns the actual ports. */
  listen(opts: BrokerListenOptions): Promise<{ tcpPort?: number; wsPort?: number }>;
  /** In-process publish by the service itself (bypasses rights). QoS defaults to 1. */
  publish(topic: string, payload: string | Buffer | object, opts?: { retain?: boolean; qos?: 0 | 1 }): Promise<void>;
  close(): Promise<void>;
  /** For tests. */
  readonly aedes: Aedes;
}

export interface BrokerOptions {
  roomId: string;
  logger: Logger;
  metrics: Metrics;
  credentials: CredentialStore;
  ingest: IngestHook;
  maxPayloadBytes?: number;
}

/** Room for the topic and headers on top of the payload limit before a connection is cut (packet-guard.ts). */
const PACKET_OVERHEAD_BYTES = 64 * 1024;
/** Distinct refused topics remembered per client for "log once"; beyond that, refusals log at debug. */
const MAX_REMEMBERED_REFUSALS = 64;

function authError(message: string, code: 2 | 3 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code as AuthErrorCode });
}

export function createBroker(opts: BrokerOptions): Broker {
  const { roomId, metrics, credentials, ingest } = opts;
  const log = opts.logger; // the caller namespaces it (edge:broker)
  const maxPayloadBytes = opts.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
  const maxPacketBytes = maxPayloadBytes + PACKET_OVERHEAD_BYTES;

  const principals = new WeakMap<Client, Principal>();
  const refusedTopics = new WeakMap<Client, Set<string>>();
  /** Connected client ids and who owns them: another user may not take over (and kick off) a client id. */
  const owners = new Map<string, { client: Client; username: string }>();
  const connections = new Set<Duplex>();
  const listeners: Listener[] = [];

  const remoteOf = (client: Client): string =>
    client.conn instanceof GuardedConnection ? client.conn.remoteAddress : (client.req?.socket.remoteAddress ?? 'unknown');

  const aedes = new Aedes({
    authenticate(client, username, password, done) {
      const remote = remoteOf(client);
      const refuse = (reason: string, code: 2 | 4 | 5) => {
        metrics.authFailures.inc({ surface: 'mqtt' });
        log.warn({ username: username ?? null, remote, clientId: client.id }, `MQTT connection refused: ${reason}`);
        done(authError(reason, code), false);
      };
      if (!username || !password || password.length === 0) return refuse('no username or password', 5);
      credentials.verify(username, password.toString('utf8')).then(
        (principal) => {
          if (!principal) return refuse('bad username or password', 4);
          if (principal.role === 'cloud') return refuse('role cloud has no rights on the local bus', 5);
          const owner = owners.get(client.id);
          if (owner && owner.username !== principal.username) return refuse(`client id ${client.id} is in use by another user`, 2);
          principals.set(client, principal);
          log.info({ username, role: principal.role, remote, clientId: client.id }, 'MQTT client authenticated');
          done(null, true);
        },
        (err: unknown) => {
          log.error({ err, username, remote }, 'MQTT authentication failed with an internal error');
          done(authError('server unavailable', 3), false);
        },
      );
    },

    authorizePublish(client, packet, done) {
      if (!client) return done(new Error('publish without a client (stale will) refused'));
      const principal = principals.get(client);
      if (!principal) return done(new Error('publish from an unauthenticated client'));
      const topic = packet.topic;
      const decision = canPublish(principal, roomId, topic, packet.retain);
      if (!decision.ok) {
        metrics.publishesRefused.inc({ role: principal.role });
        logRefusal(client, principal, topic, decision.reason);
        drop(packet);
        return done(null);
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const parsed = parseTopic(roomId, topic);
      const kind = parsed?.kind ?? 'other';
      if (payload.length > maxPayloadBytes) {
        metrics.messagesRejected.inc({ topic: kind, reason: 'too-large' });
        log.warn({ username: principal.username, topic, bytes: payload.length, limit: maxPayloadBytes }, 'publish rejected: payload too large');
        drop(packet);
        return done(null);
      }
      Promise.resolve()
        .then(() => ingest(principal, topic, payload, parsed))
        .then(
          (result) => {
            if (!result.accept) {
              metrics.messagesRejected.inc({ topic: kind, reason: result.reason.slice(0, 64) });
              log.warn({ username: principal.username, topic, reason: result.reason }, 'publish rejected by ingest');
              drop(packet);
            }
            done(null);
          },
          (err: unknown) => {
            metrics.messagesRejected.inc({ topic: kind, reason: 'store-failed' });
            log.error({ err, username: principal.username, topic }, 'publish could not be stored: disconnecting the client without PUBACK');
            done(new Error(`ingest failed for ${topic}`));
          },
        );
    },

    authorizeSubscribe(client, sub, done) {
      const principal = principals.get(client);
      if (principal && canSubscribe(principal, roomId, sub.topic)) return done(null, sub);
      const role = principal?.role ?? 'unknown';
      metrics.subscriptionsRefused.inc({ role });
      log.warn({ username: principal?.username ?? null, role, filter: sub.topic }, 'subscription refused by topic rights');
      done(null, null); // SUBACK 0x80, client stays connected
    },

    /** Defence in depth (e.g. messages queued for a persistent session whose client id another user now holds). */
    authorizeForward(client, packet: AedesPublishPacket) {
      const principal = principals.get(client);
      return principal && canSubscribe(principal, roomId, packet.topic) ? packet : null;
    },
  });

  const sinkTopic = `$SYS/${aedes.id}/classroom-edge/dropped`;
  function drop(packet: PublishPacket): void {
    packet.topic = sinkTopic;
    packet.payload = Buffer.alloc(0);
    packet.retain = false;
  }

  function logRefusal(client: Client, principal: Principal, topic: string, reason: string): void {
    let seen = refusedTopics.get(client);
    if (!seen) refusedTopics.set(client, (seen = new Set()));
    const fields = { username: principal.username, role: principal.role, clientId: client.id, topic, reason };
    if (seen.has(topic) || seen.size >= MAX_REMEMBERED_REFUSALS) {
      log.debug(fields, 'publish refused by topic rights');
      return;
    }
    seen.add(topic);
    log.warn(fields, 'publish refused by topic rights (acknowledged and dropped; logged once per client and topic)');
  }

  aedes.on('clientReady', (client) => {
    const principal = principals.get(client);
    if (principal) owners.set(client.id, { client, username: principal.username });
  });
  aedes.on('clientDisconnect', (client) => {
    if (owners.get(client.id)?.client === client) owners.delete(client.id);
  });
  aedes.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'MQTT connection error'));
  (aedes as EventEmitter).on('error', (err: unknown) => log.error({ err }, 'broker error'));

  const ready = aedes.listen();
  ready.catch((err: unknown) => log.error({ err }, 'broker persistence setup failed'));

  function handleConnection(inner: Duplex, remoteAddress: string, req?: IncomingMessage): void {
    const conn = new GuardedConnection(inner, {
      maxPacketBytes,
      remoteAddress,
      onViolation: (err) => {
        metrics.messagesRejected.inc({ topic: 'packet', reason: 'too-large' });
        log.warn({ remote: remoteAddress, err: err.message }, 'MQTT connection closed: packet too large or malformed');
      },
    });
    connections.add(conn);
    conn.on('close', () => connections.delete(conn));
    aedes.handle(conn, req);
  }

  return {
    aedes,
    async listen(l) {
      await ready;
      const out: { tcpPort?: number; wsPort?: number } = {};
      if (l.tcp) {
        const t = await listenTcp(l.tcp.hosts, l.tcp.port, handleConnection);
        listeners.push(t);
        out.tcpPort = t.port;
        log.info({ hosts: l.tcp.hosts, port: t.port }, 'MQTT over TCP listening');
      }
      if (l.ws) {
        const w = await listenWebSocket(l.ws.hosts, l.ws.port, { maxFrameBytes: maxPacketBytes + 1024 }, handleConnection);
        listeners.push(w);
        out.wsPort = w.port;
        log.info({ hosts: l.ws.hosts, port: w.port }, 'MQTT over WebSocket listening');
      }
      return out;
    },
    async publish(topic, payload, o = {}) {
      await ready;
      const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
      const packet: PublishPacket = { cmd: 'publish', topic, payload: buf, qos: o.qos ?? 1, retain: o.retain ?? false, dup: false };
      await new Promise<void>((resolve, reject) => aedes.publish(packet, (err) => (err ? reject(err) : resolve())));
    },
    async close() {
      const closing = listeners.splice(0).map((l) => l.close());
      await ready.catch(() => undefined);
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const c of connections) c.destroy();
      await Promise.all(closing);
    },
  };
}
