/**
 * Versioned timetable and roster datasets in the store (migration v2):
 * `datasets(kind, version, source, imported_at, checksum, content)`, the
 * version in force per kind in meta (`dataset.<kind>.active`).
 *
 * - put() validates first: a bad document is refused with every problem
 *   listed and the last good copy stays in force;
 * - the same content again (same checksum as the version in force) is a no-op;
 * - each import and each refusal is written to the event log (stream
 *   'dataset') without personal content: kind, version, source, counts;
 * - refresh() picks up an import made by another process (the CLI) through
 *   one small meta query, cheap enough to call every few seconds.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Store } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import { formatProblem, type Problem } from './problems.js';
import { validateRoster, type RosterDoc } from './roster-schema.js';
import { validateTimetable, type TimetableDoc } from './timetable-schema.js';

export const DATASET_KINDS = ['timetable', 'roster'] as const;
export type DatasetKind = (typeof DATASET_KINDS)[number];
export interface DocOf {
  timetable: TimetableDoc;
  roster: RosterDoc;
}

export interface DatasetInfo {
  kind: DatasetKind;
  version: number;
  source: string;
  importedAt: number;
  checksum: string;
  counts: Record<string, number>;
}

export interface ActiveDataset<K extends DatasetKind> extends DatasetInfo {
  kind: K;
  doc: DocOf[K];
}

export type PutResult =
  | { ok: true; changed: boolean; info: DatasetInfo }
  | { ok: false; problems: Problem[] };

export type DatasetListener = (kind: DatasetKind, active: DatasetInfo) => void;

export function validateDataset<K extends DatasetKind>(kind: K, raw: unknown): { doc?: DocOf[K]; problems: Problem[] } {
  return (kind === 'timetable' ? validateTimetable(raw) : validateRoster(raw)) as { doc?: DocOf[K]; problems: Problem[] };
}

/** JSON with object keys sorted, so equal content gives equal text and checksum. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export function checksumOf(doc: unknown): string {
  return createHash('sha256').update(canonicalJson(doc)).digest('hex');
}

/** Sizes of a document, for summaries and the event log (never its personal content). */
export function countsOf<K extends DatasetKind>(kind: K, doc: DocOf[K]): Record<string, number> {
  if (kind === 'timetable') {
    const t = doc as TimetableDoc;
    return {
      bellSchedules: Object.keys(t.bellSchedules).length,
      weekly: t.weekly.length,
      holidays: t.term.holidays.length,
      makeupDays: t.term.makeupDays.length,
      bellOverrides: t.term.bellOverrides.length,
    };
  }
  const r = doc as RosterDoc;
  return {
    classes: r.classes.length,
    students: r.students.length,
    teachers: r.teachers.length,
    leaves: r.leaves.length,
    cards: r.students.filter((s) => s.cardUid).length + r.teachers.filter((t) => t.cardUid).length,
  };
}

interface Row {
  kind: string;
  version: number;
  source: string;
  imported_at: number;
  checksum: string;
  content: string;
}

const metaKey = (kind: DatasetKind) => `dataset.${kind}.active`;

export class Datasets {
  private readonly cache = new Map<DatasetKind, ActiveDataset<DatasetKind>>();
  private readonly listeners = new Set<DatasetListener>();
  private readonly log: Logger;
  private readonly selectActive: Database.Statement<[], { key: string; value: string }>;
  private readonly selectVersion: Database.Statement<[string, number], Row>;
  private readonly selectOlder: Database.Statement<[string, number], Row>;

  constructor(private readonly opts: { store: Store; clock: Clock; logger: Logger }) {
    this.log = opts.logger.child({ ns: 'edge:datasets' });
    const db = opts.store.db;
    this.selectActive = db.prepare(`SELECT key, value FROM meta WHERE key IN ('${metaKey('timetable')}', '${metaKey('roster')}')`);
    this.selectVersion = db.prepare('SELECT * FROM datasets WHERE kind = ? AND version = ?');
    this.selectOlder = db.prepare('SELECT * FROM datasets WHERE kind = ? AND version < ? ORDER BY version DESC');
    this.refresh({ emit: false });
  }

  /** The version in force, or null when none was ever imported. */
  active<K extends DatasetKind>(kind: K): ActiveDataset<K> | null {
    return (this.cache.get(kind) as ActiveDataset<K> | undefined) ?? null;
  }

  /** Every stored version of a kind, newest first (no content is read). */
  history(kind: DatasetKind): Array<Omit<DatasetInfo, 'counts'>> {
    return this.opts.store.db
      .prepare<[string], Omit<Row, 'content'>>('SELECT kind, version, source, imported_at, checksum FROM datasets WHERE kind = ? ORDER BY version DESC')
      .all(kind)
      .map((r) => ({ kind, version: r.version, source: r.source, importedAt: r.imported_at, checksum: r.checksum }));
  }

  onChange(listener: DatasetListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Validates and stores a document as the new version in force. A refused
   * document changes nothing (the last good copy stays); the same content as
   * the version in force is a no-op (changed: false).
   */
  async put<K extends DatasetKind>(kind: K, raw: unknown, source: string): Promise<PutResult> {
    const { doc, problems } = validateDataset(kind, raw);
    const now = this.opts.clock.now();
    if (!doc) {
      this.log.warn({ kind, source, problems: problems.slice(0, 20).map(formatProblem), count: problems.length }, 'dataset refused');
      await this.recordRejected(kind, source, problems.length);
      return { ok: false, problems };
    }
    const checksum = checksumOf(doc);
    const counts = countsOf(kind, doc);
    const content = canonicalJson(doc);
    const result = await this.opts.store.write((tx) => {
      // Read the version in force inside the write transaction: another process may have imported since.
      const activeRow = tx.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(metaKey(kind));
      const activeVersion = activeRow ? Number(activeRow.value) : 0;
      const current = activeVersion ? this.selectVersion.get(kind, activeVersion) : undefined;
      if (current && current.checksum === checksum) {
        return { changed: false, version: current.version, source: current.source, importedAt: current.imported_at };
      }
      const max = tx.db.prepare<[string], { v: number | null }>('SELECT max(version) AS v FROM datasets WHERE kind = ?').get(kind);
      const version = (max?.v ?? 0) + 1;
      tx.db
        .prepare('INSERT INTO datasets (kind, version, source, imported_at, checksum, content) VALUES (?, ?, ?, ?, ?, ?)')
        .run(kind, version, source, now, checksum, content);
      tx.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(metaKey(kind), String(version));
      tx.appendEvent({ stream: 'dataset', type: 'import', entityId: `${kind}/${version}`, payload: { kind, version, source, checksum, counts }, ts: now });
      return { changed: true, version, source, importedAt: now };
    });
    const info: DatasetInfo = { kind, version: result.version, source: result.source, importedAt: result.importedAt, checksum, counts };
    if (result.changed) {
      this.log.info({ kind, version: info.version, source, counts }, 'dataset imported');
      this.set({ ...info, doc } as ActiveDataset<DatasetKind>, true);
    } else if (this.cache.get(kind)?.version !== result.version) {
      this.set({ ...info, doc } as ActiveDataset<DatasetKind>, true);
    }
    return { ok: true, changed: result.changed, info };
  }

  /** Records in the event log that an import of `kind` was refused (an importer found problems before put()). */
  async recordRejected(kind: DatasetKind, source: string, problems: number): Promise<void> {
    const ts = this.opts.clock.now();
    await this.opts.store.write((tx) =>
      tx.appendEvent({ stream: 'dataset', type: 'rejected', entityId: kind, payload: { kind, source, problems }, ts }),
    );
  }

  /**
   * Picks up versions activated by another process (the CLI import): one
   * meta query; content is read only when a version changed. Returns the
   * kinds that changed (listeners were told).
   */
  refresh(opts: { emit?: boolean } = {}): DatasetKind[] {
    const emit = opts.emit ?? true;
    const activeVersions = new Map<string, number>(this.selectActive.all().map((r) => [r.key, Number(r.value)]));
    const changed: DatasetKind[] = [];
    for (const kind of DATASET_KINDS) {
      const version = activeVersions.get(metaKey(kind));
      if (version === undefined || this.cache.get(kind)?.version === version) continue;
      const loaded = this.load(kind, version);
      if (loaded && loaded.version !== this.cache.get(kind)?.version) {
        this.set(loaded, emit);
        changed.push(kind);
      }
    }
    return changed;
  }

  /** The given version if it is still valid, else the newest older one that is (the last good copy). */
  private load(kind: DatasetKind, version: number): ActiveDataset<DatasetKind> | undefined {
    const row = this.selectVersion.get(kind, version);
    const first = row ? this.decode(kind, row) : undefined;
    if (first) return first;
    this.log.error({ kind, version }, 'stored dataset version in force is missing or invalid; using the newest valid older version');
    for (const older of this.selectOlder.iterate(kind, version)) {
      const v = this.decode(kind, older);
      if (v) return v;
    }
    return undefined;
  }

  private decode(kind: DatasetKind, row: Row): ActiveDataset<DatasetKind> | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(row.content);
    } catch {
      return undefined;
    }
    const { doc, problems } = validateDataset(kind, raw);
    if (!doc) {
      this.log.error({ kind, version: row.version, problems: problems.slice(0, 5).map(formatProblem) }, 'stored dataset fails validation');
      return undefined;
    }
    return {
      kind,
      version: row.version,
      source: row.source,
      importedAt: row.imported_at,
      checksum: row.checksum,
      counts: countsOf(kind, doc),
      doc,
    };
  }

  private infoOf(a: ActiveDataset<DatasetKind>): DatasetInfo {
    return { kind: a.kind, version: a.version, source: a.source, importedAt: a.importedAt, checksum: a.checksum, counts: a.counts };
  }

  private set(active: ActiveDataset<DatasetKind>, emit: boolean): void {
    this.cache.set(active.kind, active);
    if (!emit) return;
    const info = this.infoOf(active);
    for (const l of this.listeners) {
      try {
        l(active.kind, info);
      } catch (err) {
        this.log.error({ err, kind: active.kind }, 'dataset listener failed');
      }
    }
  }
}
