/**
 * The kiosk's paired sessions and its unlock PINs (issue 6, docs/kiosk.md
 * "Pairing and unlocking").
 *
 * Pairing: once, a technician types the kiosk's teacher credential (the
 * generated `kiosk` user) on the kiosk's pairing screen; the edge checks it
 * (HTTP Basic, the credential store) and returns a random bearer token that
 * the kiosk keeps (localStorage of its own origin). The password is never
 * stored by the kiosk. Only a SHA-256 of the token is stored (SQLite, table
 * kiosk_sessions), so a copy of the store does not yield a usable token; a
 * session is revoked by the kiosk ("unpair") or by a technician. Only
 * teacher-role users may pair: the kiosk never holds technician rights.
 *
 * PINs: configured per teacher in `kiosk.pins` as scrypt hashes; checked
 * here, never sent to the browser. Five wrong PINs in a row lock PIN entry
 * for a minute (per session).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KioskConfig } from '../config/schema.js';
import type { Principal } from '../security/credentials.js';
import { verifyPassword } from '../security/passwords.js';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

export interface KioskPrincipal extends Principal {
  sessionId: string;
}

export interface SessionInfo {
  id: string;
  username: string;
  role: string;
  label: string;
  createdAt: number;
  lastSeenAt: number;
  revokedAt: number | null;
}

interface RawSession {
  id: string;
  token_hash: string;
  username: string;
  role: string;
  label: string;
  created_at: number;
  last_seen_at: number;
  revoked_at: number | null;
}

const TOUCH_EVERY_MS = 60_000;
const MAX_PIN_FAILURES = 5;
const PIN_LOCKOUT_MS = 60_000;

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export type UnlockResult =
  | { ok: true; teacherId: string }
  | { ok: false; code: 'wrong-pin' | 'no-pins' | 'too-many-attempts'; retryAfterMs?: number };

export class KioskSessions {
  /** Active sessions by token hash (loaded at start; sessions are few). */
  private readonly active = new Map<string, RawSession>();
  private readonly pinFailures = new Map<string, { count: number; until: number }>();

  constructor(private readonly deps: { store: Store; clock: Clock; logger: Logger; config: KioskConfig }) {
    const rows = deps.store.db.prepare<[], RawSession>('SELECT * FROM kiosk_sessions WHERE revoked_at IS NULL').all();
    for (const r of rows) this.active.set(r.token_hash, r);
  }

  /** A new session for a verified teacher principal; returns the token (shown once). */
  async pair(p: Principal, label: string): Promise<{ sessionId: string; token: string }> {
    if (p.role !== 'teacher') throw new Error(`only a teacher-role user may pair a kiosk (${p.username} is ${p.role})`);
    const token = randomBytes(32).toString('base64url');
    const now = this.deps.clock.now();
    const row: RawSession = { id: randomUUID(), token_hash: hashToken(token), username: p.username, role: p.role, label, created_at: now, last_seen_at: now, revoked_at: null };
    await this.deps.store.write((tx) =>
      tx.db
        .prepare('INSERT INTO kiosk_sessions (id, token_hash, username, role, label, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(row.id, row.token_hash, row.username, row.role, row.label, row.created_at, row.last_seen_at),
    );
    this.active.set(row.token_hash, row);
    this.deps.logger.info({ sessionId: row.id, username: p.username, label }, 'kiosk paired');
    return { sessionId: row.id, token };
  }

  /** The principal of a bearer token, or null (unknown or revoked). */
  verify(token: string): KioskPrincipal | null {
    if (token.length < 20 || token.length > 200) return null;
    const row = this.active.get(hashToken(token));
    if (!row) return null;
    const now = this.deps.clock.now();
    if (now - row.last_seen_at > TOUCH_EVERY_MS) {
      row.last_seen_at = now;
      void this.deps.store
        .write((tx) => tx.db.prepare('UPDATE kiosk_sessions SET last_seen_at = ? WHERE id = ?').run(now, row.id))
        .catch((e: unknown) => this.deps.logger.warn({ err: e }, 'could not record kiosk session activity'));
    }
    return { username: row.username, role: 'teacher', sessionId: row.id };
  }

  async revoke(sessionId: string): Promise<boolean> {
    const now = this.deps.clock.now();
    const changed = await this.deps.store.write((tx) => tx.db.prepare('UPDATE kiosk_sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, sessionId).changes);
    for (const [hash, row] of this.active) if (row.id === sessionId) this.active.delete(hash);
    if (changed > 0) this.deps.logger.info({ sessionId }, 'kiosk session revoked');
    return changed > 0;
  }

  list(): SessionInfo[] {
    return this.deps.store.db
      .prepare<[], RawSession>('SELECT * FROM kiosk_sessions ORDER BY created_at DESC LIMIT 100')
      .all()
      .map((r) => ({ id: r.id, username: r.username, role: r.role, label: r.label, createdAt: r.created_at, lastSeenAt: r.last_seen_at, revokedAt: r.revoked_at }));
  }

  /** Check a PIN against the configured teachers' PINs. */
  async unlockWithPin(sessionId: string, pin: string): Promise<UnlockResult> {
    const now = this.deps.clock.monotonic();
    const f = this.pinFailures.get(sessionId);
    if (f && f.count >= MAX_PIN_FAILURES && f.until > now) return { ok: false, code: 'too-many-attempts', retryAfterMs: Math.ceil(f.until - now) };
    const pins = this.deps.config.pins;
    if (pins.length === 0) return { ok: false, code: 'no-pins' };
    for (const p of pins) {
      if (await verifyPassword(pin, p.pinHash)) {
        this.pinFailures.delete(sessionId);
        return { ok: true, teacherId: p.teacherId };
      }
    }
    const count = (f && f.until > now ? f.count : 0) + 1;
    this.pinFailures.set(sessionId, { count, until: now + PIN_LOCKOUT_MS });
    this.deps.logger.warn({ sessionId, failures: count }, 'wrong kiosk PIN');
    return count >= MAX_PIN_FAILURES ? { ok: false, code: 'too-many-attempts', retryAfterMs: PIN_LOCKOUT_MS } : { ok: false, code: 'wrong-pin' };
  }
}
