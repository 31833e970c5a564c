/**
 * mqtt.js connection options for the district link, shared by the edge
 * uplink and the cloud workers: TLS client certificates (certFile/keyFile,
 * caFile for the broker's CA) or username + passwordFile. MQTT 3.1.1.
 */
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';

export interface LinkCredentials {
  url: string;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
  username?: string | undefined;
  passwordFile?: string | undefined;
}

/** Reads the files named in `c` (throws with the file name when one cannot be read). */
export function linkOptions(c: LinkCredentials, base: IClientOptions): IClientOptions {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read the district link ${what} ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };
  const opts: IClientOptions = { ...base, protocolVersion: 4 };
  if (c.certFile) opts.cert = read('certificate', c.certFile);
  if (c.keyFile) opts.key = read('key', c.keyFile);
  if (c.caFile) opts.ca = read('CA certificate', c.caFile);
  if (c.url.startsWith('mqtts:')) opts.rejectUnauthorized = true;
  if (c.username) opts.username = c.username;
  if (c.passwordFile) opts.password = read('password file', c.passwordFile).toString('utf8').replace(/\r?\n$/, '');
  return opts;
}

/** Exponential reconnect backoff for an mqtt.js client (mqtt.js reads options.reconnectPeriod on each attempt). */
export function backoff(opts: { minMs: number; maxMs: number }) {
  let next = opts.minMs;
  return {
    /** After a failed attempt or a lost connection: the delay before the next attempt. */
    failed(): number {
      const d = next;
      next = Math.min(opts.maxMs, next * 2);
      // +-20 % jitter so a district's rooms do not reconnect in lockstep after a broker restart.
      return Math.round(d * (0.8 + Math.random() * 0.4));
    },
    reset(): void {
      next = opts.minMs;
    },
  };
}

/**
 * Reconnects a client whose reconnects we schedule ourselves (`reconnectPeriod: 0`). mqtt.js's
 * `reconnect()` without options replaces the message stores with empty ones: QoS 1 messages in
 * flight when the link dropped were then never resent, and their callbacks stayed in
 * `client.outgoing` for ever, so that a later graceful `end()` never returned. Passing the stores
 * keeps them, as mqtt.js's own automatic reconnect does, and the messages are resent.
 */
export function reconnectKeepingStores(client: MqttClient): void {
  client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
}

/**
 * Our own reconnect loop for a client made with `reconnectPeriod: 0` (the uplink, the ingest
 * workers, the cloud's command link): after a close, one attempt after the backoff's delay
 * (jittered, doubling; reset at every connect), keeping the message stores; nothing once stopped.
 */
export class LinkReconnector {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private readonly backoff: ReturnType<typeof backoff>;

  constructor(
    private readonly client: MqttClient,
    bounds: { minMs: number; maxMs: number },
    private readonly onScheduled?: (delayMs: number) => void,
  ) {
    this.backoff = backoff(bounds);
    client.on('connect', () => this.backoff.reset());
    client.on('close', () => this.schedule());
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    const delay = this.backoff.failed();
    this.onScheduled?.(delay);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped && !this.client.connected) reconnectKeepingStores(this.client);
    }, delay);
    this.timer.unref?.();
  }

  /** No more attempts (call before ending the client). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * Ends a client without hanging: while connected, waits up to `graceMs` for the QoS 1 messages in
 * flight to be acknowledged and then disconnects cleanly; a client that is not connected (nothing
 * can be acknowledged) or still waiting after `graceMs` is closed at once. What was not
 * acknowledged is safe where it matters: events stay in the store and are sent again at the next
 * start, and retained state is republished at every connect.
 */
export async function endLink(client: MqttClient, opts: { graceMs: number; force?: boolean }): Promise<void> {
  const pending = () => Object.keys(client.outgoing).length > 0;
  const deadline = Date.now() + opts.graceMs;
  while (!opts.force && client.connected && pending() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const force = opts.force === true || pending();
  await new Promise<void>((resolve) => client.end(force, {}, () => resolve()));
}
