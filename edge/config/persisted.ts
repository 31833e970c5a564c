/**
 * Pushed configuration kept in the store (table `config_versions`, migration
 * 4; docs/config-push.md). Every push is a row with its outcome; the meta key
 * `config.active` names the row whose devices, scenes and live targets
 * (recording.live, in a room with a recording section) are in force, so a
 * restart comes back with the last successfully applied configuration, not
 * the file's. Where it commits:
 *
 * 1. before any device is touched, the push is inserted as `applying`;
 * 2. after the check, one transaction sets its outcome, moves
 *    `config.active` (only when applied) and writes the audit row and its
 *    event-log entry.
 *
 * A crash between 1 and 2 leaves `config.active` on the previous good row;
 * the next start marks the row `interrupted` (and audits it). The pushed
 * sections are stored as validated, so the overlay is self-contained.
 */
import type { AuditInput, Store, Tx } from '../store/index.js';
import type { PushedSections } from './push.js';

export const ACTIVE_KEY = 'config.active';

export type VersionStatus = 'applying' | 'applied' | 'rolled-back' | 'refused' | 'interrupted' | 'reset';

export interface StoredVersion {
  id: number;
  /** The issuer's version number (the district's for cloud pushes; 0 when none was given). */
  version: number;
  issuedBy: string;
  issuedAt: number | null;
  /** `cloud`, `command`, `technician`. */
  source: string;
  /** The pushed sections as validated (PushedSections; refused pushes: the raw document). */
  content: unknown;
  status: VersionStatus;
  result: unknown;
  createdAt: number;
  decidedAt: number | null;
}

interface Row {
  id: number;
  version: number;
  issued_by: string;
  issued_at: number | null;
  source: string;
  content: string;
  status: VersionStatus;
  result: string | null;
  created_at: number;
  decided_at: number | null;
}

function fromRow(r: Row): StoredVersion {
  return {
    id: r.id,
    version: r.version,
    issuedBy: r.issued_by,
    issuedAt: r.issued_at,
    source: r.source,
    content: JSON.parse(r.content) as unknown,
    status: r.status,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
    createdAt: r.created_at,
    decidedAt: r.decided_at,
  };
}

/** The audit row and its event, in the caller's transaction (same shape as Store.recordAudit). */
export function auditInTx(tx: Tx, a: AuditInput): void {
  const id = Number(
    tx.db
      .prepare('INSERT INTO audit_log (actor, role, action, target, args, result, error, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(a.actor, a.role, a.action, a.target, JSON.stringify(a.args ?? null), a.result, a.error ?? null, a.ts).lastInsertRowid,
  );
  tx.appendEvent({
    stream: 'audit',
    type: 'entry',
    entityId: id,
    payload: { actor: a.actor, role: a.role, action: a.action, target: a.target, args: a.args ?? null, result: a.result, error: a.error ?? null },
    ts: a.ts,
  });
}

export interface NewVersion {
  version: number;
  issuedBy: string;
  issuedAt?: number | undefined;
  source: string;
  content: unknown;
}

export class ConfigVersions {
  constructor(private readonly store: Pick<Store, 'db' | 'write'>) {}

  /** The row in force, if a pushed configuration is. */
  active(): StoredVersion | undefined {
    const row = this.store.db
      .prepare<[string], Row>('SELECT c.* FROM config_versions c JOIN meta m ON m.key = ? AND CAST(m.value AS INTEGER) = c.id')
      .get(ACTIVE_KEY);
    return row ? fromRow(row) : undefined;
  }

  get(id: number): StoredVersion | undefined {
    const row = this.store.db.prepare<[number], Row>('SELECT * FROM config_versions WHERE id = ?').get(id);
    return row ? fromRow(row) : undefined;
  }

  /** Highest version handled from a source, whatever its outcome (0 when none): a retained push is not handled twice. */
  handledVersion(source: string): number {
    const row = this.store.db.prepare<[string], { v: number | null }>('SELECT MAX(version) AS v FROM config_versions WHERE source = ?').get(source);
    return row?.v ?? 0;
  }

  /** Rows left in `applying` (by a crash). */
  unfinished(): StoredVersion[] {
    return this.store.db.prepare<[], Row>("SELECT * FROM config_versions WHERE status = 'applying' ORDER BY id").all().map(fromRow);
  }

  recent(limit = 20): StoredVersion[] {
    return this.store.db.prepare<[number], Row>('SELECT * FROM config_versions ORDER BY id DESC LIMIT ?').all(limit).map(fromRow);
  }

  /** Step 1: the push is recorded before anything changes. Resolves with its row id after the commit. */
  begin(v: NewVersion, now: number): Promise<number> {
    return this.store.write((tx) => this.insert(tx, v, 'applying', null, now, null));
  }

  /**
   * Step 2: the outcome, the active pointer (when `activate`) and the audit
   * row in one transaction. `extra` runs in the same transaction.
   */
  finish(id: number, opts: { status: VersionStatus; result: unknown; activate: boolean; audit: AuditInput; now: number; extra?: (tx: Tx) => void }): Promise<void> {
    return this.store.write((tx) => {
      tx.db.prepare('UPDATE config_versions SET status = ?, result = ?, decided_at = ? WHERE id = ?').run(opts.status, JSON.stringify(opts.result), opts.now, id);
      if (opts.activate) tx.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(ACTIVE_KEY, String(id));
      auditInTx(tx, opts.audit);
      opts.extra?.(tx);
    });
  }

  /** A push decided without touching anything (refused): one transaction with its audit row. */
  record(v: NewVersion, opts: { status: VersionStatus; result: unknown; audit: AuditInput; now: number; extra?: (tx: Tx) => void }): Promise<number> {
    return this.store.write((tx) => {
      const id = this.insert(tx, v, opts.status, opts.result, opts.now, opts.now);
      auditInTx(tx, opts.audit);
      opts.extra?.(tx);
      return id;
    });
  }

  /** A technician's reset: the file's devices, scenes and live targets are in force again (at the next start). */
  reset(by: { actor: string; role: string }, now: number): Promise<number> {
    return this.store.write((tx) => {
      const previous = tx.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(ACTIVE_KEY)?.value ?? null;
      const id = this.insert(tx, { version: 0, issuedBy: by.actor, source: 'technician', content: { previous } }, 'reset', { previous }, now, now);
      tx.db.prepare('DELETE FROM meta WHERE key = ?').run(ACTIVE_KEY);
      auditInTx(tx, { actor: by.actor, role: by.role, action: 'config.reset', target: 'config', args: { previousActiveId: previous }, result: 'ok', ts: now });
      return id;
    });
  }

  private insert(tx: Tx, v: NewVersion, status: VersionStatus, result: unknown, now: number, decidedAt: number | null): number {
    return Number(
      tx.db
        .prepare(
          `INSERT INTO config_versions (version, issued_by, issued_at, source, content, status, result, created_at, decided_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(v.version, v.issuedBy, v.issuedAt ?? null, v.source, JSON.stringify(v.content ?? null), status, result === null ? null : JSON.stringify(result), now, decidedAt)
        .lastInsertRowid,
    );
  }
}
