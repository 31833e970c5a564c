/**
 * The kiosk's HTTP side: the paired session's bearer token, and commands
 * with client-generated ids (docs/kiosk.md "Idempotency").
 *
 * A command whose request fails at the network level (the service is
 * restarting, the reply was lost) stays in the outbox with the SAME command
 * id and is sent again when the live channel is back (and every few
 * seconds): the edge applies an id once, so a retry never awards praise or
 * switches a device twice. A reply (even an error) ends the command.
 * The outbox is also kept in the page's storage, so a command survives a
 * reload of the page (the Electron shell reloads after an outage) and is
 * sent again, with its id, once the page is back; entries older than six
 * days are dropped (the edge keeps command results for seven).
 */
const TOKEN_KEY = 'classroom-edge.kiosk.token';
const RETRY_MS = 3000;
const OUTBOX_KEY = 'classroom-edge.kiosk.outbox';
const OUTBOX_MAX_AGE_MS = 6 * 86_400_000;

export class Unauthorized extends Error {}
/** The request did not get an answer from the edge itself (network, or a proxy/closing server's 502-504). */
export class Unreachable extends Error {}

/** A reply of the edge's own routes: an error envelope `{error: {code}}` or a result with `ok`/a body of ours. */
function isEdgeReply(status: number, body: unknown): boolean {
  if (status < 502 || status > 504) return true;
  const b = body as { error?: unknown; ok?: unknown } | null;
  return b !== null && typeof b === 'object' && ((typeof b.error === 'object' && b.error !== null) || typeof b.ok === 'boolean');
}

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

interface Pending {
  id: string;
  method: string;
  path: string;
  body: Record<string, unknown>;
  savedAt: number;
  resolve(r: Reply): void;
}

type Saved = Omit<Pending, 'resolve'>;

export function newCommandId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export class Api {
  private token: string | null = localStorage.getItem(TOKEN_KEY);
  private readonly outbox = new Map<string, Pending>(this.restore().map((p) => [p.id, { ...p, resolve: () => undefined }]));
  private timer: number | undefined;
  /** Called when the number of waiting commands changes. */
  onPending: (n: number) => void = () => undefined;
  /** Called when the edge refuses the token (revoked): back to pairing. */
  onUnauthorized: () => void = () => undefined;

  /** Commands left waiting by an earlier page (sent again by flush()). */
  private restore(): Saved[] {
    try {
      const raw: unknown = JSON.parse(localStorage.getItem(OUTBOX_KEY) ?? '[]');
      if (!Array.isArray(raw)) return [];
      const now = Date.now();
      return raw.filter(
        (x: Partial<Saved>): x is Saved =>
          typeof x?.id === 'string' && typeof x.method === 'string' && typeof x.path === 'string' && typeof x.body === 'object' && typeof x.savedAt === 'number' && now - x.savedAt < OUTBOX_MAX_AGE_MS,
      );
    } catch {
      return [];
    }
  }

  private save(): void {
    const saved: Saved[] = [...this.outbox.values()].map(({ id, method, path, body, savedAt }) => ({ id, method, path, body, savedAt }));
    try {
      localStorage.setItem(OUTBOX_KEY, JSON.stringify(saved));
    } catch {
      // storage full or unavailable: the in-memory outbox still retries
    }
    this.onPending(this.outbox.size);
  }

  /** Commands waiting for the edge. */
  get pending(): number {
    return this.outbox.size;
  }

  get paired(): boolean {
    return this.token !== null;
  }

  get bearer(): string | null {
    return this.token;
  }

  async pair(username: string, password: string, label: string): Promise<Reply> {
    const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${username}:${password}`)));
    const res = await fetch('/api/kiosk/pair', { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/json' }, body: JSON.stringify({ label }) });
    const body = (await res.json().catch(() => null)) as { token?: string } | null;
    if (res.status === 201 && body?.token) {
      this.token = body.token;
      localStorage.setItem(TOKEN_KEY, body.token);
    }
    return { status: res.status, body };
  }

  forget(): void {
    this.token = null;
    localStorage.removeItem(TOKEN_KEY);
  }

  /** A plain request (reads, PIN check); throws on network failure. */
  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<Reply<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token ?? ''}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 401) {
      this.onUnauthorized();
      throw new Unauthorized('the kiosk session is no longer valid');
    }
    const parsed = (await res.json().catch(() => null)) as T;
    // A service that is shutting down answers 503 by itself: not an answer to the command, retry it.
    if (!isEdgeReply(res.status, parsed)) throw new Unreachable(`HTTP ${res.status} from ${path}`);
    return { status: res.status, body: parsed };
  }

  /**
   * A command: `body` gets a new `commandId` (kept across retries). Resolves
   * with the edge's reply, however long the edge is away.
   * `onQueued` is called once if the first attempt did not reach the edge.
   */
  command<T = unknown>(method: string, path: string, body: Record<string, unknown>, onQueued?: () => void): Promise<Reply<T>> {
    const id = newCommandId();
    return new Promise<Reply<T>>((resolve) => {
      const p: Pending = { id, method, path, body: { ...body, commandId: id }, savedAt: Date.now(), resolve: resolve as (r: Reply) => void };
      this.outbox.set(id, p);
      this.save();
      void this.attempt(p).then((sent) => {
        if (!sent) {
          onQueued?.();
          this.schedule();
        }
      });
    });
  }

  /** Try every waiting command now (called when the live channel reconnects). */
  flush(): void {
    for (const p of [...this.outbox.values()]) void this.attempt(p);
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      this.flush();
      if (this.outbox.size > 0) this.schedule();
    }, RETRY_MS);
  }

  private readonly inFlight = new Set<string>();

  /** One attempt; true when the edge answered (the command is done). */
  private async attempt(p: Pending): Promise<boolean> {
    if (this.inFlight.has(p.id) || !this.outbox.has(p.id)) return this.outbox.has(p.id) === false;
    this.inFlight.add(p.id);
    try {
      const r = await this.request(p.method, p.path, p.body);
      this.outbox.delete(p.id);
      this.save();
      p.resolve(r);
      return true;
    } catch (e) {
      if (e instanceof Unauthorized) {
        this.outbox.delete(p.id);
        this.save();
        p.resolve({ status: 401, body: null });
        return true;
      }
      return false; // network: stays in the outbox, same id
    } finally {
      this.inFlight.delete(p.id);
    }
  }
}
