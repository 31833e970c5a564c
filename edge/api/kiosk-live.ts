/**
 * The kiosk's live channel (issue 6, docs/kiosk.md "Live updates"): a
 * WebSocket on the API at `/api/kiosk/live`, same origin as the UI.
 *
 * Why a WebSocket on the API rather than MQTT over WebSocket to the broker:
 * one origin and one credential (the kiosk's bearer token; the broker only
 * knows passwords, which the kiosk does not keep), a snapshot built by the
 * same code as the HTTP API (no second state model in the browser from
 * retained topics), the scene progress, which is not a bus topic, and raw
 * card UIDs never reach the page (the bus's `card` topic is not forwarded).
 *
 * Protocol (JSON text frames):
 *   client → {type:'hello', token}                  first frame, within 5 s, else closed (4401)
 *   server → {type:'snapshot', data}                the full state: after hello, and on {type:'resync'}
 *   server → {type:'event', kind, payload}          bus messages: device-state, sensor, attendance,
 *                                                   behaviour, lesson, alert, recording (as they are published;
 *                                                   recording validated by the shared schema, the
 *                                                   latest one kept for the snapshot)
 *   server → {type:'scene', progress}               scene run progress (edge/scenes/scenes.ts)
 *   server → {type:'unlock', teacherId, name}       a teacher's card was tapped (刷卡授权)
 *   server → {type:'tick', serverNow}               every 10 s: liveness, and the edge's clock
 * Every (re)connection starts with a snapshot, so a client that missed
 * events while the service was away is in sync again without a reload.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { recordingSchema, type AlertMessage, type RecordingMessage } from '../schemas/bus.js';
import { parseTopic } from '../schemas/topics.js';
import type { SceneProgress } from '../scenes/scenes.js';
import type { Logger } from '../util/logger.js';
import type { Clock } from '../util/clock.js';

export const LIVE_PATH = '/api/kiosk/live';
const HELLO_TIMEOUT_MS = 5000;
const TICK_MS = 10_000;
const MAX_ALERTS = 30;
/** A client that does not read its messages is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1_000_000;

export type BusSubscribe = (filter: string, onMessage: (topic: string, payload: Buffer) => void) => () => void;

export interface LiveDeps {
  roomId: string;
  clock: Clock;
  logger: Logger;
  verify(token: string): { username: string; sessionId: string } | null;
  /** Counts refused connections (no or bad hello) as authentication failures. */
  onRefused?: (reason: string) => void;
  /** Counts a bus message the channel refused (bad JSON, schema failure), like the ingest's rejections. */
  onRejected?: (kind: string, reason: 'json' | 'schema') => void;
  /** The state a client needs after (re)connecting. */
  snapshot(): Promise<object> | object;
  subscribe?: BusSubscribe;
  observeScenes?: (fn: (p: SceneProgress) => void) => () => void;
}

const FORWARDED = new Set(['device-state', 'sensor', 'attendance', 'behaviour', 'lesson', 'alert', 'recording']);

export class KioskLive {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly clients = new Set<WebSocket>();
  private readonly alerts: AlertMessage[] = [];
  private latestRun: SceneProgress[] | null = null;
  private recording: RecordingMessage | null = null;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly log: Logger;
  private tick: NodeJS.Timeout | undefined;

  constructor(private readonly deps: LiveDeps) {
    this.log = deps.logger.child({ ns: 'edge:kiosk-live' });
  }

  /** Recent alerts (newest first) for the snapshot. */
  recentAlerts(): AlertMessage[] {
    return [...this.alerts].reverse();
  }

  /** The progress of the latest scene run (for a client that connects mid-run or after an outage). */
  recentScene(): SceneProgress[] | null {
    return this.latestRun ? [...this.latestRun] : null;
  }

  /** The latest valid `recording` message (retained on the bus), or null when no recorder has published. */
  recentRecording(): RecordingMessage | null {
    return this.recording;
  }

  start(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = (req.url ?? '').split('?')[0];
      if (path !== LIVE_PATH) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    });
    const root = `classroom/${this.deps.roomId}/`;
    if (this.deps.subscribe) this.unsubscribe.push(this.deps.subscribe(`${root}#`, (topic, payload) => this.onBus(topic, payload)));
    if (this.deps.observeScenes) this.unsubscribe.push(this.deps.observeScenes((p) => this.onScene(p)));
    this.tick = setInterval(() => this.broadcast({ type: 'tick', serverNow: this.deps.clock.now() }), TICK_MS);
    this.tick.unref();
  }

  private accept(ws: WebSocket): void {
    const timer = setTimeout(() => {
      this.deps.onRefused?.('no hello');
      ws.close(4401, 'hello expected');
    }, HELLO_TIMEOUT_MS);
    let authed = false;
    ws.on('error', (e) => this.log.debug({ err: e.message }, 'kiosk live socket error'));
    ws.on('close', () => {
      clearTimeout(timer);
      this.clients.delete(ws);
    });
    ws.on('message', (data) => {
      let msg: { type?: unknown; token?: unknown };
      try {
        msg = JSON.parse(String(data)) as typeof msg;
      } catch {
        this.log.warn('kiosk live channel: a frame that is not JSON; closed');
        ws.close(4400, 'not JSON');
        return;
      }
      if (!authed) {
        const who = msg.type === 'hello' && typeof msg.token === 'string' ? this.deps.verify(msg.token) : null;
        clearTimeout(timer);
        if (!who) {
          this.deps.onRefused?.('invalid token');
          this.log.warn('kiosk live channel refused: invalid token');
          ws.close(4401, 'invalid token');
          return;
        }
        authed = true;
        this.clients.add(ws);
        this.log.info({ sessionId: who.sessionId }, 'kiosk live channel connected');
        void this.sendSnapshot(ws);
        return;
      }
      if (msg.type === 'resync') void this.sendSnapshot(ws);
    });
  }

  private async sendSnapshot(ws: WebSocket): Promise<void> {
    try {
      const data = await this.deps.snapshot();
      this.send(ws, { type: 'snapshot', data });
    } catch (e) {
      this.log.error({ err: e }, 'could not build the kiosk snapshot');
      ws.close(1011, 'snapshot failed');
    }
  }

  private onBus(topic: string, payload: Buffer): void {
    const t = parseTopic(this.deps.roomId, topic);
    if (!t) return;
    // Nobody to forward to: only alerts and the recording state are kept (for the next snapshot). Saves a JSON.parse
    // per bus event.
    if (this.clients.size === 0 && t.kind !== 'alert' && t.kind !== 'recording') return;
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      // The edge publishes JSON; anything else is not for the kiosk. The recording state is read from the bus only here.
      if (t.kind === 'recording') this.reject(t.kind, topic, 'json', 'payload is not valid JSON');
      return;
    }
    if (t.kind === 'other') {
      if (t.rest === 'kiosk/unlock' && body && typeof body === 'object') this.broadcast({ type: 'unlock', ...(body as object) });
      return;
    }
    if (!FORWARDED.has(t.kind)) return;
    if (t.kind === 'recording') {
      const r = recordingSchema.safeParse(body);
      if (!r.success) {
        this.reject(t.kind, topic, 'schema', r.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; '));
        return;
      }
      this.recording = r.data;
      body = r.data;
    }
    if (t.kind === 'alert') {
      this.alerts.push(body as AlertMessage);
      if (this.alerts.length > MAX_ALERTS) this.alerts.shift();
    }
    this.broadcast({ type: 'event', kind: t.kind, ...('deviceId' in t ? { deviceId: t.deviceId } : {}), ...('metric' in t ? { metric: t.metric } : {}), payload: body });
  }

  private reject(kind: string, topic: string, reason: 'json' | 'schema', detail: string): void {
    this.deps.onRejected?.(kind, reason);
    this.log.warn({ topic, reason: detail }, 'kiosk live channel: bus message rejected');
  }

  private onScene(p: SceneProgress): void {
    if (p.phase === 'start') this.latestRun = [p];
    else if (this.latestRun?.[0]?.runId === p.runId) this.latestRun.push(p);
    this.broadcast({ type: 'scene', progress: p });
  }

  private send(ws: WebSocket, msg: object): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.warn('kiosk live client too slow: disconnected');
      ws.terminate();
      return;
    }
    ws.send(JSON.stringify(msg));
  }

  private broadcast(msg: object): void {
    for (const ws of this.clients) this.send(ws, msg);
  }

  /** Close every client with 1012 (service restart): the kiosk shows the outage and reconnects. */
  close(): void {
    clearInterval(this.tick);
    for (const u of this.unsubscribe.splice(0)) u();
    for (const ws of this.clients) ws.close(1012, 'service restarting');
    this.clients.clear();
    this.wss.close();
  }
}
