/**
 * The command-line side of pushed configuration (docs/config-push.md):
 * `check-config` says whether a pushed version overrides the file's devices,
 * scenes and live targets (read-only look at the store in the config's
 * dataDir), and `classroom-edge config-reset --config FILE` returns a room to
 * its file's (audited; takes effect at the next start).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { userInfo } from 'node:os';
import Database from 'better-sqlite3';
import type { EdgeConfig } from './schema.js';
import { ACTIVE_KEY, ConfigVersions } from './persisted.js';
import { openStore } from '../store/index.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';

/** One line about the pushed configuration in force in this dataDir, or null when the file's is. */
export function describeStoredConfig(dataDir: string): string | null {
  const file = join(dataDir, 'store.db');
  if (!existsSync(file)) return null;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'config_versions'").get();
    if (!hasTable) return null;
    const row = db
      .prepare<[string], { version: number; issued_by: string; decided_at: number | null; content: string }>(
        'SELECT c.version, c.issued_by, c.decided_at, c.content FROM config_versions c JOIN meta m ON m.key = ? AND CAST(m.value AS INTEGER) = c.id',
      )
      .get(ACTIVE_KEY);
    if (!row) return null;
    const at = row.decided_at === null ? '' : ` at ${new Date(row.decided_at).toISOString()}`;
    return `a pushed configuration is in force: config v${row.version} by ${row.issued_by}${at} replaces this file's ${overlaid(row.content)} (classroom-edge config-reset returns to the file's)`;
  } catch (e) {
    return `could not read the store ${file}: ${e instanceof Error ? e.message : String(e)}`;
  } finally {
    db?.close();
  }
}

/** What an overlay replaces: its live targets only when the room had a recording section when it was pushed. */
function overlaid(content: string): string {
  let live = false;
  try {
    const c = JSON.parse(content) as { recording?: { live?: unknown } } | null;
    live = Array.isArray(c?.recording?.live);
  } catch {
    // An unreadable row is reported by the service at start (config-overlay-invalid); the note stays general.
  }
  return live ? 'devices, scenes and live targets (recording.live)' : 'devices and scenes';
}

export async function runConfigReset(o: { config: EdgeConfig; clock: Clock; logger: Logger; out: (line: string) => void }): Promise<number> {
  const store = openStore({ path: join(o.config.dataDir, 'store.db'), roomId: o.config.room.id, logger: o.logger, clock: o.clock, flushIntervalMs: 0 });
  try {
    const versions = new ConfigVersions(store);
    const active = versions.active();
    if (!active) {
      o.out('no pushed configuration is in force: the file\'s devices, scenes and live targets are used');
      return 0;
    }
    await versions.reset({ actor: userInfo().username, role: 'technician' }, o.clock.now());
    o.out(`config v${active.version} (by ${active.issuedBy}) is no longer in force; restart the service to use the file's devices, scenes and live targets`);
    return 0;
  } finally {
    await store.close();
  }
}
