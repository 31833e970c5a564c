/**
 * Test harness for the broker: a small in-memory credential store, a broker
 * on 127.0.0.1 ephemeral ports, mqtt.js clients that are all ended in
 * cleanup(), and a counter reader.
 */
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { Counter } from 'prom-client';
import { createBroker, type Broker, type IngestHook } from '../../../edge/broker/broker.js';
import { createMetrics, type Metrics } from '../../../edge/metrics.js';
import type { CredentialStore, Principal } from '../../../edge/security/credentials.js';
import { silentLogger, type Logger } from '../../../edge/util/logger.js';

export const ROOM = 'jy-0101-r203';
export const R = `classroom/${ROOM}/`;

export type TestUser = Principal & { password: string };

export const USERS: TestUser[] = [
  { username: 'tech', role: 'technician', password: 'tech-pw' },
  { username: 'kiosk', role: 'teacher', password: 'kiosk-pw' },
  { username: 'air', role: 'device', deviceId: 'air', password: 'air-pw' },
  { username: 'cam', role: 'integrator', password: 'cam-pw' },
  { username: 'district', role: 'cloud', password: 'district-pw' },
];

/** A fake CredentialStore: plain comparison, no hashing (passwords.ts is tested on its own). */
export function fakeCredentials(users: readonly TestUser[]): CredentialStore {
  const strip = ({ password: _pw, ...p }: TestUser): Principal => p;
  return {
    async verify(username, password) {
      const u = users.find((x) => x.username === username);
      return u && u.password === password ? strip(u) : null;
    },
    get: (username) => {
      const u = users.find((x) => x.username === username);
      return u ? strip(u) : undefined;
    },
    list: () => users.map(strip),
  };
}

export interface Harness {
  broker: Broker;
  metrics: Metrics;
  tcpUrl: string;
  wsUrl: string;
  /** Every ingest call, in order. */
  ingested: { username: string; topic: string; payload: string }[];
  /** Replace the ingest behaviour (default: accept). */
  setIngest(hook: IngestHook): void;
  connect(url: string, username?: string, password?: string, opts?: IClientOptions): Promise<MqttClient>;
  cleanup(): Promise<void>;
}

export async function startHarness(opts: { maxPayloadBytes?: number; logger?: Logger; users?: TestUser[] } = {}): Promise<Harness> {
  const metrics = createMetrics();
  const ingested: Harness['ingested'] = [];
  let hook: IngestHook = async () => ({ accept: true });
  const broker = createBroker({
    roomId: ROOM,
    logger: opts.logger ?? silentLogger(),
    metrics,
    credentials: fakeCredentials(opts.users ?? USERS),
    ingest: (p, topic, payload) => {
      ingested.push({ username: p.username, topic, payload: payload.toString() });
      return hook(p, topic, payload);
    },
    ...(opts.maxPayloadBytes !== undefined ? { maxPayloadBytes: opts.maxPayloadBytes } : {}),
  });
  const ports = await broker.listen({ tcp: { port: 0, hosts: ['127.0.0.1'] }, ws: { port: 0, hosts: ['127.0.0.1'] } });
  const clients: MqttClient[] = [];
  return {
    broker,
    metrics,
    tcpUrl: `mqtt://127.0.0.1:${ports.tcpPort ?? 0}`,
    wsUrl: `ws://127.0.0.1:${ports.wsPort ?? 0}`,
    ingested,
    setIngest: (h) => {
      hook = h;
    },
    async connect(url, username, password, extra = {}) {
      const options: IClientOptions = { reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 4, ...extra };
      if (username !== undefined) options.username = username;
      if (password !== undefined) options.password = password;
      const c = await connectAsync(url, options);
      clients.push(c);
      return c;
    },
    async cleanup() {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await broker.close();
    },
  };
}

/** Current value of a counter for one label set (0 when never incremented). */
export async function count<L extends string>(counter: Counter<L>, labels: Partial<Record<L, string>>): Promise<number> {
  const { values } = await counter.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k as L] === val));
  return hit?.value ?? 0;
}

/** Collects messages a client receives. */
export function collect(client: MqttClient): { topic: string; payload: string; retain: boolean }[] {
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  return got;
}

/** Resolves with the first message on `topic`. */
export function nextMessage(client: MqttClient, topic: string, timeoutMs = 3000): Promise<{ payload: string; retain: boolean }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer, packet: { retain: boolean }) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ payload: payload.toString(), retain: packet.retain });
    };
    client.on('message', onMessage);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
