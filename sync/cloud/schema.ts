/**
 * The cloud database's schema and its versioned migrations, one DDL text per
 * dialect (docs/sync.md, "The cloud's database"). `migrate` runs at start:
 * every migration above the version recorded in `schema_version` is applied
 * in its own transaction together with its version row, so a crash leaves
 * the database at a whole version. A database of a newer cloud (a version
 * this code does not know) is refused rather than written to.
 *
 * Migration 1 is the schema the SQLite-only cloud created without a version
 * table; it uses IF NOT EXISTS throughout, so such a database is adopted as
 * version 1 unchanged.
 *
 * Dialect differences: PostgreSQL has no STRICT / WITHOUT ROWID; ms
 * timestamps, seqs and offsets are BIGINT (SQLite's INTEGER is 64-bit
 * already); the audit id is an IDENTITY column; flags stay 0/1 integers and
 * JSON stays TEXT on both (why: docs/sync.md), so the same SQL reads both.
 */
import type { CloudDb } from './db.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

const V1_SQLITE = `
CREATE TABLE IF NOT EXISTS events (
  room_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  stream TEXT NOT NULL,
  type TEXT NOT NULL,
  entity_id TEXT,
  payload TEXT NOT NULL,
  ts INTEGER NOT NULL,
  clock_synced INTEGER NOT NULL,
  boot_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (room_id, store_id, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rooms (
  room_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  acked_seq INTEGER NOT NULL DEFAULT 0,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (room_id, store_id)
) STRICT;
CREATE TABLE IF NOT EXISTS room_status (
  room_id TEXT NOT NULL,
  -- 'status' for the room's online/offline, 'device:{deviceId}' for a device's telemetry
  key TEXT NOT NULL,
  payload TEXT NOT NULL,
  ts INTEGER,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (room_id, key)
) STRICT;
CREATE TABLE IF NOT EXISTS config_pushes (
  room_id   TEXT    NOT NULL,
  version   INTEGER NOT NULL,
  issued_by TEXT    NOT NULL,
  issued_at INTEGER NOT NULL,
  config    TEXT    NOT NULL,
  outcome   TEXT,
  result    TEXT,
  result_at INTEGER,
  PRIMARY KEY (room_id, version)
) STRICT;
CREATE TABLE IF NOT EXISTS commands (
  id          TEXT PRIMARY KEY,
  room_id     TEXT NOT NULL,
  technician  TEXT NOT NULL,
  role        TEXT NOT NULL,
  command     TEXT NOT NULL,
  args        TEXT NOT NULL,
  issued_at   INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'expired', 'rejected')),
  result      TEXT,
  error       TEXT,
  started_at  INTEGER,
  finished_at INTEGER,
  updated_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS commands_pending ON commands (status, expires_at);
CREATE TABLE IF NOT EXISTS cloud_audit (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  ts          INTEGER NOT NULL,
  technician  TEXT NOT NULL,
  role        TEXT NOT NULL,
  room_id     TEXT NOT NULL,
  action      TEXT NOT NULL,
  command_id  TEXT,
  outcome     TEXT NOT NULL,
  detail      TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS cloud_audit_ts ON cloud_audit (ts);
CREATE INDEX IF NOT EXISTS events_entity ON events (room_id, stream, entity_id);
CREATE TABLE IF NOT EXISTS receipts (
  room_id      TEXT    NOT NULL,
  store_id     TEXT    NOT NULL,
  lesson_id    TEXT    NOT NULL,
  revision     INTEGER NOT NULL,
  receipt_seq  INTEGER NOT NULL,
  first_seq    INTEGER,
  last_seq     INTEGER,
  count        INTEGER NOT NULL,
  counts       TEXT    NOT NULL,
  digest       TEXT    NOT NULL,
  segments     TEXT,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'complete', 'incomplete')),
  differences  TEXT,
  received_at  INTEGER NOT NULL,
  verified_at  INTEGER,
  published_at INTEGER,
  PRIMARY KEY (room_id, store_id, lesson_id, revision)
) STRICT;
CREATE INDEX IF NOT EXISTS receipts_pending ON receipts (room_id, store_id, state, receipt_seq);
CREATE TABLE IF NOT EXISTS clock_offsets (
  room_id        TEXT    NOT NULL,
  store_id       TEXT    NOT NULL,
  boot_id        TEXT    NOT NULL,
  synced         INTEGER NOT NULL CHECK (synced IN (0, 1)),
  offset_ms      INTEGER NOT NULL,
  window_start   INTEGER NOT NULL,
  window_min     INTEGER NOT NULL,
  prev_min       INTEGER,
  samples        INTEGER NOT NULL,
  skewed         INTEGER NOT NULL CHECK (skewed IN (0, 1)),
  updated_at     INTEGER NOT NULL,
  PRIMARY KEY (room_id, store_id, boot_id, synced)
) STRICT;
CREATE VIEW IF NOT EXISTS events_corrected AS
  SELECT e.*, CASE WHEN e.clock_synced = 1 THEN e.ts WHEN o.offset_ms IS NOT NULL THEN e.ts + o.offset_ms END AS corrected_ts
  FROM events e LEFT JOIN clock_offsets o
    ON o.room_id = e.room_id AND o.store_id = e.store_id AND o.boot_id = e.boot_id AND o.synced = 0;
`;

const V1_POSTGRES = `
CREATE TABLE IF NOT EXISTS events (
  room_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  stream TEXT NOT NULL,
  type TEXT NOT NULL,
  entity_id TEXT,
  payload TEXT NOT NULL,
  ts BIGINT NOT NULL,
  clock_synced SMALLINT NOT NULL CHECK (clock_synced IN (0, 1)),
  boot_id TEXT NOT NULL,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (room_id, store_id, seq)
);
CREATE TABLE IF NOT EXISTS rooms (
  room_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  acked_seq BIGINT NOT NULL DEFAULT 0,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  PRIMARY KEY (room_id, store_id)
);
CREATE TABLE IF NOT EXISTS room_status (
  room_id TEXT NOT NULL,
  key TEXT NOT NULL,
  payload TEXT NOT NULL,
  ts BIGINT,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (room_id, key)
);
CREATE TABLE IF NOT EXISTS config_pushes (
  room_id   TEXT    NOT NULL,
  version   BIGINT  NOT NULL,
  issued_by TEXT    NOT NULL,
  issued_at BIGINT  NOT NULL,
  config    TEXT    NOT NULL,
  outcome   TEXT,
  result    TEXT,
  result_at BIGINT,
  PRIMARY KEY (room_id, version)
);
CREATE TABLE IF NOT EXISTS commands (
  id          TEXT PRIMARY KEY,
  room_id     TEXT NOT NULL,
  technician  TEXT NOT NULL,
  role        TEXT NOT NULL,
  command     TEXT NOT NULL,
  args        TEXT NOT NULL,
  issued_at   BIGINT NOT NULL,
  expires_at  BIGINT NOT NULL,
  status      TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'error', 'expired', 'rejected')),
  result      TEXT,
  error       TEXT,
  started_at  BIGINT,
  finished_at BIGINT,
  updated_at  BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (status, expires_at);
CREATE TABLE IF NOT EXISTS cloud_audit (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ts          BIGINT NOT NULL,
  technician  TEXT NOT NULL,
  role        TEXT NOT NULL,
  room_id     TEXT NOT NULL,
  action      TEXT NOT NULL,
  command_id  TEXT,
  outcome     TEXT NOT NULL,
  detail      TEXT
);
CREATE INDEX IF NOT EXISTS cloud_audit_ts ON cloud_audit (ts);
CREATE INDEX IF NOT EXISTS events_entity ON events (room_id, stream, entity_id);
CREATE TABLE IF NOT EXISTS receipts (
  room_id      TEXT    NOT NULL,
  store_id     TEXT    NOT NULL,
  lesson_id    TEXT    NOT NULL,
  revision     INTEGER NOT NULL,
  receipt_seq  BIGINT  NOT NULL,
  first_seq    BIGINT,
  last_seq     BIGINT,
  count        INTEGER NOT NULL,
  counts       TEXT    NOT NULL,
  digest       TEXT    NOT NULL,
  segments     TEXT,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'complete', 'incomplete')),
  differences  TEXT,
  received_at  BIGINT  NOT NULL,
  verified_at  BIGINT,
  published_at BIGINT,
  PRIMARY KEY (room_id, store_id, lesson_id, revision)
);
CREATE INDEX IF NOT EXISTS receipts_pending ON receipts (room_id, store_id, state, receipt_seq);
CREATE TABLE IF NOT EXISTS clock_offsets (
  room_id        TEXT     NOT NULL,
  store_id       TEXT     NOT NULL,
  boot_id        TEXT     NOT NULL,
  synced         SMALLINT NOT NULL CHECK (synced IN (0, 1)),
  offset_ms      BIGINT   NOT NULL,
  window_start   BIGINT   NOT NULL,
  window_min     BIGINT   NOT NULL,
  prev_min       BIGINT,
  samples        BIGINT   NOT NULL,
  skewed         SMALLINT NOT NULL CHECK (skewed IN (0, 1)),
  updated_at     BIGINT   NOT NULL,
  PRIMARY KEY (room_id, store_id, boot_id, synced)
);
CREATE OR REPLACE VIEW events_corrected AS
  SELECT e.*, CASE WHEN e.clock_synced = 1 THEN e.ts WHEN o.offset_ms IS NOT NULL THEN e.ts + o.offset_ms END AS corrected_ts
  FROM events e LEFT JOIN clock_offsets o
    ON o.room_id = e.room_id AND o.store_id = e.store_id AND o.boot_id = e.boot_id AND o.synced = 0;
`;

/**
 * Version 2: technicians' acknowledgements of the rooms' alerts (sync/cloud/alerts.ts). An alert is
 * an `alert` event whose entity id is the alert's id; it is open while it has no row here.
 */
const V2_SQLITE = `
CREATE TABLE alert_acks (
  room_id    TEXT    NOT NULL,
  alert_id   TEXT    NOT NULL,
  technician TEXT    NOT NULL,
  acked_at   INTEGER NOT NULL,
  PRIMARY KEY (room_id, alert_id)
) STRICT, WITHOUT ROWID;
`;
const V2_POSTGRES = `
CREATE TABLE alert_acks (
  room_id    TEXT   NOT NULL,
  alert_id   TEXT   NOT NULL,
  technician TEXT   NOT NULL,
  acked_at   BIGINT NOT NULL,
  PRIMARY KEY (room_id, alert_id)
);
`;

/**
 * Version 3: recordings registered with their lesson (sync/cloud/recordings-registry.ts). A row is
 * made when a recording's sidecar arrives (it names the lesson: course, class, teacher, times);
 * `media_path` stays NULL ("uploading") until the MP4 whose sha256 the sidecar names is stored too,
 * in whichever order the two files came. `day` is the lesson's local date in the room's time zone,
 * what the fleet page lists by. Playback is audited in cloud_audit (action `recording.play`).
 */
const V3_COLUMNS = (int: string) => `
  room_id      TEXT    NOT NULL,
  lesson_id    TEXT    NOT NULL,
  source       TEXT    NOT NULL,
  day          TEXT    NOT NULL,
  course       TEXT    NOT NULL,
  class_id     TEXT    NOT NULL,
  class_name   TEXT,
  teacher_id   TEXT,
  teacher_name TEXT,
  starts_at    ${int} NOT NULL,
  ends_at      ${int} NOT NULL,
  media_path   TEXT,
  sidecar_path TEXT    NOT NULL,
  bytes        ${int} NOT NULL,
  sha256       TEXT    NOT NULL,
  duration_ms  ${int} NOT NULL,
  gaps         TEXT    NOT NULL,
  received_at  ${int} NOT NULL,
  media_at     ${int},
  PRIMARY KEY (room_id, lesson_id, source)`;
const V3_SQLITE = `
CREATE TABLE recordings (${V3_COLUMNS('INTEGER')}
) STRICT;
CREATE INDEX recordings_day ON recordings (room_id, day);
`;
const V3_POSTGRES = `
CREATE TABLE recordings (${V3_COLUMNS('BIGINT')}
);
CREATE INDEX recordings_day ON recordings (room_id, day);
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial schema (events, rooms, status, pushes, commands, audit, receipts, clock offsets)', sqlite: V1_SQLITE, postgres: V1_POSTGRES },
  { version: 2, name: 'alert acknowledgements', sqlite: V2_SQLITE, postgres: V2_POSTGRES },
  { version: 3, name: 'recordings registered with their lessons', sqlite: V3_SQLITE, postgres: V3_POSTGRES },
];

/** An arbitrary constant: the advisory lock that serialises migrations across cloud processes on one PostgreSQL database. */
const MIGRATION_LOCK = 7_361_450_221;

const SCHEMA_VERSION_TABLE = 'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)';

export class SchemaVersionError extends Error {}

/** Applies the pending migrations; returns the versions applied. */
export async function migrate(db: CloudDb, now: () => number = Date.now, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const newest = migrations.at(-1)?.version ?? 0;
  const applied: number[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      // Two processes starting at once (cloud start, push-config): the second waits, then sees the version and skips it.
      if (db.dialect === 'postgres') await tx.get('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
      await tx.exec(SCHEMA_VERSION_TABLE);
      const row = await tx.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
      const current = row?.v ?? 0;
      if (current > newest) {
        throw new SchemaVersionError(`the cloud database is at schema version ${current}, newer than this cloud knows (${newest}): upgrade the cloud, or point it at another database`);
      }
      if (current >= m.version) return false;
      await tx.exec(db.dialect === 'postgres' ? m.postgres : m.sqlite);
      await tx.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, now()]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}

export async function schemaVersion(db: CloudDb): Promise<number> {
  return (await db.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version'))?.v ?? 0;
}
