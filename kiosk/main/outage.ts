/**
 * What the kiosk shows while the edge service is away, and how it comes back.
 *
 * When the kiosk page fails to load or its renderer dies, the window shows a
 * local page ("服务正在重启，请稍候…", English below; a data: URL with no
 * remote content) and probes the edge's `/health` with backoff (1 s doubling
 * to 15 s). When health answers 2xx the kiosk URL is loaded again; a failure
 * of that load starts the next round with the next delay. The delay resets
 * once the kiosk page has loaded. Going down and coming back are each logged
 * once.
 */
import { createHash } from 'node:crypto';

const STYLE =
  'html,body{height:100%;margin:0}' +
  'body{display:flex;align-items:center;justify-content:center;background:#f4f6f8;color:#1f2933;' +
  'font-family:"Noto Sans CJK SC","Noto Sans SC","WenQuanYi Micro Hei",sans-serif;text-align:center}' +
  '.zh{font-size:48px;margin:0 0 16px}.en{font-size:24px;color:#52606d;margin:0}';

/** The CSP of the outage page itself: nothing may load, only its own inline style (by hash). */
export function outagePageCsp(): string {
  const hash = createHash('sha256').update(STYLE, 'utf8').digest('base64');
  return `default-src 'none'; style-src 'sha256-${hash}'; base-uri 'none'; form-action 'none'`;
}

export function outagePageHtml(): string {
  return (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${outagePageCsp()}">` +
    '<title>服务正在重启</title>' +
    `<style>${STYLE}</style></head><body><main>` +
    '<p class="zh">服务正在重启，请稍候…</p>' +
    '<p class="en" lang="en">The classroom service is restarting, please wait…</p>' +
    '</main></body></html>'
  );
}

/** The outage page as a data: URL (no file to find, nothing remote). */
export const OUTAGE_URL = `data:text/html;charset=utf-8,${encodeURIComponent(outagePageHtml())}`;

/** The part of fetch the probe uses (injectable for tests). */
export type HealthFetch = (url: string, init: { signal: AbortSignal; cache: 'no-store' }) => Promise<{ ok: boolean }>;

export type KioskLog = (level: 'info' | 'warn', message: string) => void;

export interface RecoveryOptions {
  kioskUrl: string;
  healthUrl: string;
  /** Load a URL in the kiosk window (its rejection is handled through the window's events). */
  load(url: string): void;
  fetch: HealthFetch;
  log: KioskLog;
  initialDelayMs?: number;
  maxDelayMs?: number;
  probeTimeoutMs?: number;
}

export type RecoveryState = 'loading' | 'ready' | 'outage' | 'stopped';

export interface Recovery {
  /** The kiosk page (or part of its main frame) failed or its renderer went away. */
  failed(reason: string): void;
  /** A page finished loading; `url` is what the window now shows. */
  loaded(url: string): void;
  /** Load the kiosk URL (the first time). */
  start(): void;
  /** Stop probing (the window is closed). */
  stop(): void;
  state(): RecoveryState;
  /** The delay before the next probe, if one is scheduled. */
  pendingDelayMs(): number | undefined;
}

export function createRecovery(opts: RecoveryOptions): Recovery {
  const initial = opts.initialDelayMs ?? 1_000;
  const max = opts.maxDelayMs ?? 15_000;
  const probeTimeout = opts.probeTimeoutMs ?? 3_000;
  const kioskOrigin = new URL(opts.kioskUrl).origin;
  let state: RecoveryState = 'loading';
  let nextDelay = initial;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: number | undefined;
  /** Between "unavailable" and "loaded again" (for logging once each way). */
  let down = false;

  const loadKiosk = () => {
    state = 'loading';
    opts.load(opts.kioskUrl);
  };

  const schedule = () => {
    pending = nextDelay;
    nextDelay = Math.min(nextDelay * 2, max);
    timer = setTimeout(() => {
      timer = undefined;
      pending = undefined;
      void probe();
    }, pending);
  };

  const healthy = async (): Promise<boolean> => {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), probeTimeout);
    try {
      return (await opts.fetch(opts.healthUrl, { signal: ac.signal, cache: 'no-store' })).ok;
    } catch {
      return false;
    } finally {
      clearTimeout(t);
    }
  };

  const probe = async () => {
    const ok = await healthy();
    if (state !== 'outage') return;
    if (ok) loadKiosk();
    else schedule();
  };

  return {
    start: loadKiosk,
    failed(reason) {
      if (state === 'stopped' || state === 'outage') return;
      if (!down) opts.log('warn', `kiosk page unavailable (${reason}); showing the outage page and probing ${opts.healthUrl}`);
      down = true;
      state = 'outage';
      opts.load(OUTAGE_URL);
      schedule();
    },
    loaded(url) {
      if (state === 'stopped' || state === 'outage') return;
      let origin: string;
      try {
        origin = new URL(url).origin;
      } catch {
        return;
      }
      if (origin !== kioskOrigin) return;
      if (down) opts.log('info', 'kiosk page loaded again');
      down = false;
      state = 'ready';
      nextDelay = initial;
    },
    stop() {
      state = 'stopped';
      if (timer) clearTimeout(timer);
      timer = undefined;
      pending = undefined;
    },
    state: () => state,
    pendingDelayMs: () => pending,
  };
}
