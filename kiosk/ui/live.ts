/**
 * The live channel's client (edge/api/kiosk-live.ts): a WebSocket to the
 * edge's API, same origin. Reconnects by itself with exponential backoff
 * (0.5 s doubling to 5 s, ±50 % jitter) and treats 25 s of silence (the edge
 * sends a tick every 10 s) as a dead connection. Every connection starts
 * with a snapshot, so the page is in sync again after an outage without a
 * reload.
 */
import type { LiveFrame } from './types.js';

const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];
const SILENCE_MS = 25_000;

export interface LiveHandlers {
  frame(f: LiveFrame): void;
  status(connected: boolean): void;
  /** The edge refused the token (4401): the kiosk must pair again. */
  unauthorized(): void;
}

export class LiveChannel {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private watchdog: number | undefined;
  private retry: number | undefined;
  private connected = false;
  private stopped = false;

  constructor(
    private readonly token: () => string | null,
    private readonly on: LiveHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.retry);
    window.clearTimeout(this.watchdog);
    this.ws?.close();
  }

  /** Ask for a fresh snapshot (after events that change many things). */
  resync(): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'resync' }));
  }

  private open(): void {
    const token = this.token();
    if (!token || this.stopped) return;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/kiosk/live`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', token }));
    ws.onmessage = (ev: MessageEvent) => {
      this.feedWatchdog();
      let f: LiveFrame;
      try {
        f = JSON.parse(String(ev.data)) as LiveFrame;
      } catch {
        return;
      }
      if (f.type === 'snapshot') {
        this.attempt = 0;
        this.setConnected(true);
      }
      this.on.frame(f);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      window.clearTimeout(this.watchdog);
      this.setConnected(false);
      if (ev.code === 4401) {
        this.on.unauthorized();
        return;
      }
      if (this.stopped) return;
      const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)] ?? 8000;
      this.attempt++;
      this.retry = window.setTimeout(() => this.open(), base / 2 + Math.random() * base);
    };
  }

  private feedWatchdog(): void {
    window.clearTimeout(this.watchdog);
    this.watchdog = window.setTimeout(() => this.ws?.close(), SILENCE_MS);
  }

  private setConnected(c: boolean): void {
    if (c === this.connected) return;
    this.connected = c;
    this.on.status(c);
  }
}
