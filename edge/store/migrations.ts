/**
 * Versioned schema migrations. `PRAGMA user_version` is the source of truth
 * for the schema version; `schema_migrations` keeps the history (which
 * migration ran when). Each migration runs in its own transaction together
 * with the bump of user_version, so a failed migration leaves the previous
 * version intact. A store whose version is newer than this code knows is
 * refused, never downgraded.
 *
 * Append new migrations at the end; never edit one that has shipped.
 */
import type Database from 'better-sqlite3';
import type { Logger } from '../util/logger.js';
import { StoreError, errorMessage } from './errors.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** Synchronous work on the open transaction: SQL text, or a function for data migrations. */
  readonly up: string | ((db: Database.Database) => void);
}

const v1Initial = `
CREATE TABLE schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at INTEGER NOT NULL
) STRICT;

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

-- The event log (outbox): append-only, drained by sync in seq order.
-- AUTOINCREMENT: a seq is never reused, even after old rows are deleted.
CREATE TABLE event_log (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  room_id      TEXT    NOT NULL,
  stream       TEXT    NOT NULL,
  type         TEXT    NOT NULL,
  entity_id    TEXT,
  payload      TEXT    NOT NULL CHECK (json_valid(payload)),
  ts           INTEGER NOT NULL,
  clock_synced INTEGER NOT NULL CHECK (clock_synced IN (0, 1)),
  boot_id      TEXT    NOT NULL
) STRICT;

-- Finds the event of a domain row (dedup lookups, sync receipts).
CREATE INDEX event_log_entity ON event_log (stream, entity_id);

CREATE TRIGGER event_log_append_only BEFORE UPDATE ON event_log
BEGIN
  SELECT RAISE(ABORT, 'event_log is append-only');
END;

CREATE TABLE card_taps (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  reader    TEXT    NOT NULL,
  uid       TEXT    NOT NULL,
  number    TEXT,
  ts        INTEGER NOT NULL,
  lesson_id TEXT,
  -- Idempotency key of a bus message (publisher + payload digest): a QoS 1
  -- redelivery after a lost PUBACK is recognised and not stored twice.
  dedup_key TEXT UNIQUE
) STRICT;
CREATE INDEX card_taps_ts ON card_taps (ts);

CREATE TABLE sensor_readings (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  device TEXT    NOT NULL,
  metric TEXT    NOT NULL,
  value  REAL    NOT NULL,
  unit   TEXT    NOT NULL,
  ts     INTEGER NOT NULL,
  dedup_key TEXT UNIQUE
) STRICT;
CREATE INDEX sensor_readings_device_metric_ts ON sensor_readings (device, metric, ts);

CREATE TABLE behaviour_events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  source     TEXT    NOT NULL,
  kind       TEXT    NOT NULL,
  student_id TEXT,
  payload    TEXT    NOT NULL CHECK (json_valid(payload)),
  ts         INTEGER NOT NULL,
  lesson_id  TEXT,
  dedup_key  TEXT UNIQUE
) STRICT;
CREATE INDEX behaviour_events_ts ON behaviour_events (ts);

CREATE TABLE audit_log (
  id     INTEGER PRIMARY KEY AUTOINCREMENT,
  actor  TEXT    NOT NULL,
  role   TEXT    NOT NULL,
  action TEXT    NOT NULL,
  target TEXT    NOT NULL,
  args   TEXT    NOT NULL CHECK (json_valid(args)),
  result TEXT    NOT NULL CHECK (result IN ('ok', 'error', 'refused')),
  error  TEXT,
  ts     INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_log_ts ON audit_log (ts);
`;

/**
 * Version 2 (issue 4, edge/lessons): versioned timetable/roster datasets
 * (the active version of each kind is in meta as `dataset.<kind>.active`),
 * and the lesson occurrences that have started, with their start/end marks,
 * so start/end are emitted once per lesson id even across a restart.
 */
const v2Lessons = `
CREATE TABLE datasets (
  kind        TEXT    NOT NULL CHECK (kind IN ('timetable', 'roster')),
  version     INTEGER NOT NULL CHECK (version >= 1),
  source      TEXT    NOT NULL,
  imported_at INTEGER NOT NULL,
  checksum    TEXT    NOT NULL,
  content     TEXT    NOT NULL CHECK (json_valid(content)),
  PRIMARY KEY (kind, version)
) STRICT;
CREATE INDEX datasets_checksum ON datasets (kind, checksum);

CREATE TABLE lessons (
  lesson_id         TEXT    PRIMARY KEY,
  date              TEXT    NOT NULL,
  period            INTEGER,
  course            TEXT    NOT NULL,
  class_id          TEXT    NOT NULL,
  teacher_id        TEXT,
  starts_at         INTEGER NOT NULL,
  ends_at           INTEGER NOT NULL,
  ad_hoc            INTEGER NOT NULL CHECK (ad_hoc IN (0, 1)),
  timetable_version INTEGER,
  started_at        INTEGER,
  ended_at          INTEGER,
  end_reason        TEXT    CHECK (end_reason IN ('scheduled', 'manual', 'superseded'))
) STRICT;
CREATE INDEX lessons_date ON lessons (date);
`;

/**
 * Version 3 (issue 4, edge/attendance and edge/privacy): attendance sessions
 * (one per lesson whose window opened: a snapshot of the expected students),
 * marks, teachers' corrections, teacher check-ins, unknown card taps. Each
 * row keeps `seq`, the event-log seq of its latest change, which retention
 * compares with the cloud's acknowledgement (meta 'sync.ackedSeq'). Adds
 * lesson indexes to the behaviour and card tables of version 1.
 */
const v3Attendance = `
CREATE TABLE attendance_sessions (
  lesson_id          TEXT    PRIMARY KEY,
  class_id           TEXT    NOT NULL,
  course             TEXT    NOT NULL,
  date               TEXT    NOT NULL,
  period             INTEGER,
  teacher_id         TEXT,
  starts_at          INTEGER NOT NULL,
  ends_at            INTEGER NOT NULL,
  ad_hoc             INTEGER NOT NULL CHECK (ad_hoc IN (0, 1)),
  expected           TEXT    NOT NULL CHECK (json_valid(expected)),
  roster_version     INTEGER NOT NULL,
  opened_at          INTEGER NOT NULL,
  closed_at          INTEGER,
  teacher_alerted_at INTEGER,
  seq                INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX attendance_sessions_date ON attendance_sessions (date);
CREATE INDEX attendance_sessions_closed ON attendance_sessions (closed_at);

CREATE TABLE attendance (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  lesson_id  TEXT    NOT NULL,
  student_id TEXT    NOT NULL,
  status     TEXT    NOT NULL CHECK (status IN ('present', 'late', 'absent', 'leave')),
  source     TEXT    NOT NULL CHECK (source IN ('card', 'teacher', 'auto')),
  reader     TEXT,
  tap_ts     INTEGER,
  ts         INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  seq        INTEGER NOT NULL DEFAULT 0,
  UNIQUE (lesson_id, student_id)
) STRICT;
CREATE INDEX attendance_updated_at ON attendance (updated_at);

CREATE TABLE attendance_corrections (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  lesson_id  TEXT    NOT NULL,
  student_id TEXT    NOT NULL,
  old_status TEXT    CHECK (old_status IN ('present', 'late', 'absent', 'leave')),
  new_status TEXT    NOT NULL CHECK (new_status IN ('present', 'late', 'absent', 'leave')),
  actor      TEXT    NOT NULL,
  role       TEXT    NOT NULL,
  command_id TEXT    UNIQUE,
  ts         INTEGER NOT NULL,
  seq        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX attendance_corrections_lesson ON attendance_corrections (lesson_id, student_id);
CREATE INDEX attendance_corrections_ts ON attendance_corrections (ts);

CREATE TABLE teacher_checkins (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  lesson_id  TEXT,
  teacher_id TEXT    NOT NULL,
  reader     TEXT    NOT NULL,
  ts         INTEGER NOT NULL,
  seq        INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX teacher_checkins_once ON teacher_checkins (lesson_id, teacher_id) WHERE lesson_id IS NOT NULL;
CREATE INDEX teacher_checkins_ts ON teacher_checkins (ts);

CREATE TABLE unknown_taps (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  lesson_id TEXT,
  reader    TEXT    NOT NULL,
  uid       TEXT    NOT NULL,
  ts        INTEGER NOT NULL,
  seq       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX unknown_taps_lesson ON unknown_taps (lesson_id);
CREATE INDEX unknown_taps_ts ON unknown_taps (ts);

CREATE INDEX behaviour_events_lesson ON behaviour_events (lesson_id);
CREATE INDEX card_taps_lesson ON card_taps (lesson_id);
CREATE INDEX event_log_ts ON event_log (ts);
`;

/**
 * Version 4 (issue 5, sync/receipts.ts): the records tied to a lesson are
 * found by the `lessonId` of their event payload (a partial expression index:
 * rows without a lessonId, e.g. sensor readings, are not in it), and each
 * lesson's completeness receipt and the cloud's verdict are kept in
 * `lesson_sync` (the latest revision per lesson).
 */
const v4LessonSync = `
CREATE INDEX event_log_lesson ON event_log (json_extract(payload, '$.lessonId'), seq)
  WHERE json_extract(payload, '$.lessonId') IS NOT NULL;

CREATE TABLE lesson_sync (
  lesson_id    TEXT    PRIMARY KEY,
  revision     INTEGER NOT NULL CHECK (revision >= 1),
  receipt_seq  INTEGER NOT NULL,
  count        INTEGER NOT NULL,
  digest       TEXT    NOT NULL,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'complete', 'incomplete')),
  differences  TEXT    CHECK (differences IS NULL OR json_valid(differences)),
  created_at   INTEGER NOT NULL,
  confirmed_at INTEGER
) STRICT;
CREATE INDEX lesson_sync_state ON lesson_sync (state);
`;

/**
 * Version 5 (issue 5, edge/config/persisted.ts): configuration pushed from the
 * district (or by a technician's command). Every push is kept with its outcome;
 * the meta key `config.active` names the row whose devices and scenes are in
 * force (absent: the file's). A row left in 'applying' by a crash is marked
 * 'interrupted' at the next start; the previous active row is untouched.
 */
const v5ConfigVersions = `
CREATE TABLE config_versions (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  version       INTEGER NOT NULL,
  issued_by     TEXT    NOT NULL,
  issued_at     INTEGER,
  source        TEXT    NOT NULL,
  content       TEXT    NOT NULL CHECK (json_valid(content)),
  status        TEXT    NOT NULL CHECK (status IN ('applying', 'applied', 'rolled-back', 'refused', 'interrupted', 'reset')),
  result        TEXT    CHECK (result IS NULL OR json_valid(result)),
  created_at    INTEGER NOT NULL,
  decided_at    INTEGER
) STRICT;
CREATE INDEX config_versions_status ON config_versions (status);
`;

/**
 * Version 6 (issue 5, sync/remote-commands.ts): technicians' remote commands
 * received from the district, keyed on the command id, so a command the
 * broker delivers again is executed at most once (a redelivery gets the
 * stored result again). `status` is 'running' while it executes; a row still
 * running at start-up was interrupted (power cut, crash) and is not run again.
 */
const v6RemoteCommands = `
CREATE TABLE remote_commands (
  id          TEXT    PRIMARY KEY,
  command     TEXT    NOT NULL,
  technician  TEXT    NOT NULL,
  role        TEXT    NOT NULL,
  issued_at   INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('running', 'ok', 'error', 'expired', 'rejected')),
  result      TEXT    CHECK (result IS NULL OR json_valid(result)),
  started_at  INTEGER,
  finished_at INTEGER
) STRICT;
CREATE INDEX remote_commands_received ON remote_commands (received_at);
`;

/**
 * Version 7 (issue 5, sync/recording-upload.ts): the queue of recording
 * segments to upload to the district cloud (tus). One row per segment
 * (lesson, source, segment); `upload_url` is the server's upload once created,
 * `offset` the bytes the server last confirmed. `state`: 'pending' until the
 * server confirmed completion and the sha256 ('uploaded'), 'failed' when the
 * cloud refused it for good (last_error says why). `deleted_at`: the local
 * file removed after upload, when retention allowed it.
 */
const v7RecordingUploads = `
CREATE TABLE recording_uploads (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  path         TEXT    NOT NULL UNIQUE,
  lesson_id    TEXT    NOT NULL,
  source       TEXT    NOT NULL,
  segment      INTEGER NOT NULL CHECK (segment >= 0),
  sha256       TEXT    NOT NULL CHECK (length(sha256) = 64),
  size         INTEGER NOT NULL CHECK (size >= 0),
  ext          TEXT    NOT NULL,
  started_at   INTEGER NOT NULL,
  duration_ms  INTEGER NOT NULL,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed')),
  upload_url   TEXT,
  offset       INTEGER NOT NULL DEFAULT 0,
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,
  created_at   INTEGER NOT NULL,
  uploaded_at  INTEGER,
  deleted_at   INTEGER,
  UNIQUE (lesson_id, source, segment)
) STRICT;
CREATE INDEX recording_uploads_state ON recording_uploads (state, id);
`;

/**
 * Version 8 (issue 6, edge/api/kiosk-*.ts): the kiosk's paired sessions
 * (only a SHA-256 of each bearer token is kept; revocable) and the results
 * of the kiosk's commands by their client-generated id, so a command retried
 * after a reconnect, even across a restart, is answered from here instead of
 * being applied twice. Neither is personal data nor goes to the district.
 */
const v8Kiosk = `
CREATE TABLE kiosk_sessions (
  id           TEXT    PRIMARY KEY,
  token_hash   TEXT    NOT NULL UNIQUE,
  username     TEXT    NOT NULL,
  role         TEXT    NOT NULL,
  label        TEXT    NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  revoked_at   INTEGER
) STRICT;

CREATE TABLE kiosk_commands (
  command_id TEXT    PRIMARY KEY,
  actor      TEXT    NOT NULL,
  action     TEXT    NOT NULL,
  target     TEXT    NOT NULL,
  status     INTEGER NOT NULL,
  response   TEXT    NOT NULL CHECK (json_valid(response)),
  ts         INTEGER NOT NULL
) STRICT;
CREATE INDEX kiosk_commands_ts ON kiosk_commands (ts);
`;

/**
 * Version 10 (edge/recording/repo.ts): one row per recording of a lesson by a
 * source (a teacher who stops and starts again in the same lesson makes a
 * second part). The row says where its segments are and how far it got, so a
 * recording interrupted by a crash or power cut is found and finished at the
 * next start-up, and which files the disk quota may delete (only uploaded
 * ones). `lesson` holds what the sidecar names (course, class, teacher).
 */
const v10Recordings = `
CREATE TABLE recordings (
  id           INTEGER PRIMARY KEY,
  lesson_id    TEXT    NOT NULL,
  source       TEXT    NOT NULL,
  part         INTEGER NOT NULL DEFAULT 0,
  state        TEXT    NOT NULL CHECK (state IN ('recording', 'finishing', 'finished', 'failed')),
  dir          TEXT    NOT NULL,
  out_dir      TEXT    NOT NULL,
  lesson       TEXT    NOT NULL CHECK (json_valid(lesson)),
  started_by   TEXT    NOT NULL,
  started_at   INTEGER NOT NULL,
  stopped_at   INTEGER,
  file         TEXT,
  bytes        INTEGER,
  sha256       TEXT,
  duration_ms  INTEGER,
  gaps         INTEGER,
  error        TEXT,
  uploaded_at  INTEGER,
  deleted_at   INTEGER,
  UNIQUE (lesson_id, source, part)
) STRICT;
CREATE INDEX recordings_state ON recordings (state, id);
`;

/**
 * Version 9: a finished recording goes up as two files of one (lesson, source, segment), the
 * media and its JSON sidecar, so `ext` joins the queue's unique key. SQLite cannot alter a
 * UNIQUE constraint: the table is rebuilt (new table, copy, drop, rename, indexes again), inside
 * the migration's transaction. Ids are kept, so nothing that refers to a queued file changes.
 */
const v9RecordingUploadsExt = `
CREATE TABLE recording_uploads_v9 (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  path         TEXT    NOT NULL UNIQUE,
  lesson_id    TEXT    NOT NULL,
  source       TEXT    NOT NULL,
  segment      INTEGER NOT NULL CHECK (segment >= 0),
  sha256       TEXT    NOT NULL CHECK (length(sha256) = 64),
  size         INTEGER NOT NULL CHECK (size >= 0),
  ext          TEXT    NOT NULL,
  started_at   INTEGER NOT NULL,
  duration_ms  INTEGER NOT NULL,
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'uploaded', 'failed')),
  upload_url   TEXT,
  offset       INTEGER NOT NULL DEFAULT 0,
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,
  created_at   INTEGER NOT NULL,
  uploaded_at  INTEGER,
  deleted_at   INTEGER,
  UNIQUE (lesson_id, source, segment, ext)
) STRICT;
INSERT INTO recording_uploads_v9 SELECT id, path, lesson_id, source, segment, sha256, size, ext, started_at, duration_ms, state,
  upload_url, offset, attempts, last_error, created_at, uploaded_at, deleted_at FROM recording_uploads;
DROP TABLE recording_uploads;
ALTER TABLE recording_uploads_v9 RENAME TO recording_uploads;
CREATE INDEX recording_uploads_state ON recording_uploads (state, id);
CREATE INDEX recording_uploads_lesson ON recording_uploads (lesson_id);
`;

/** The migrations this code knows, in order. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'initial', up: v1Initial },
  { version: 2, name: 'lessons-datasets', up: v2Lessons },
  { version: 3, name: 'attendance-behaviour', up: v3Attendance },
  { version: 4, name: 'lesson-sync-receipts', up: v4LessonSync },
  { version: 5, name: 'config-versions', up: v5ConfigVersions },
  { version: 6, name: 'remote-commands', up: v6RemoteCommands },
  { version: 7, name: 'recording-uploads', up: v7RecordingUploads },
  { version: 8, name: 'kiosk', up: v8Kiosk },
  { version: 9, name: 'recording-uploads-ext', up: v9RecordingUploadsExt },
  { version: 10, name: 'recordings', up: v10Recordings },
];

export function schemaVersion(db: Database.Database): number {
  const v = db.pragma('user_version', { simple: true });
  if (typeof v !== 'number') throw new StoreError('open-failed', `PRAGMA user_version returned ${String(v)}`);
  return v;
}

export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration list is broken: entry ${i} has version ${m.version}, expected ${i + 1}`);
    }
  });
}

/**
 * Brings the schema up to the latest known version. Returns the versions applied.
 * Throws StoreError('newer-schema') if the file is ahead of this code, and
 * StoreError('migration-failed') if a migration throws (that migration is rolled back).
 */
export function migrate(
  db: Database.Database,
  opts: { file: string; logger: Logger; now: () => number; migrations?: readonly Migration[] },
): number[] {
  const migrations = opts.migrations ?? MIGRATIONS;
  checkOrder(migrations);
  const latest = latestVersion(migrations);
  const current = schemaVersion(db);
  if (current > latest) {
    throw new StoreError(
      'newer-schema',
      `store ${opts.file} has schema version ${current}, but this classroom-edge knows only up to version ${latest}; ` +
        'it was written by a newer release. Upgrade classroom-edge (the store is left untouched).',
    );
  }
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current) continue;
    const run = db.transaction(() => {
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        opts.now(),
      );
      // user_version lives in the file header and is part of the transaction.
      db.pragma(`user_version = ${m.version}`);
    });
    try {
      // IMMEDIATE: take the write lock up front so another process cannot race the upgrade.
      run.immediate();
    } catch (err) {
      throw new StoreError(
        'migration-failed',
        `store ${opts.file}: migration ${m.version} (${m.name}) failed and was rolled back: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    opts.logger.info({ version: m.version, migration: m.name }, 'store migration applied');
    applied.push(m.version);
  }
  return applied;
}
