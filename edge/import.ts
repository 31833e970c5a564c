/**
 * `classroom-edge import timetable|roster FILE... [--config FILE]`: reads
 * CSV, iCalendar, YAML or JSON files, merges them with the dataset in force
 * in the store of the config's dataDir (no config: the demo room's data
 * directory, seeded with the demo datasets), and stores a new version, or
 * prints every problem and leaves the version in force unchanged.
 * A running service picks the new version up through Datasets.refresh().
 */
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError, loadConfigFile, loadConfigText } from './config/load.js';
import { defaultDemoDataDir, demoConfigYaml } from './config/demo.js';
import type { EdgeConfig } from './config/schema.js';
import type { DriverRegistry } from './devices/registry.js';
import { DATASET_KINDS, Datasets, type DatasetKind } from './lessons/datasets.js';
import { localDate } from './lessons/dates.js';
import { ensureDemoDatasets } from './lessons/demo-data.js';
import { importRoster, importTimetable, type ImportFile } from './lessons/importers.js';
import { formatProblem } from './lessons/problems.js';
import { openStore } from './store/index.js';
import type { Clock } from './util/clock.js';
import type { Logger } from './util/logger.js';

export interface ImportCommand {
  kind: string | undefined;
  files: string[];
  /** Config file; none: the embedded demo room. */
  configFile?: string;
  /** Demo room only: its data directory (default: the demo data dir). */
  dataDir?: string;
  registry: DriverRegistry;
  clock: Clock;
  logger: Logger;
  out: (line: string) => void;
  err: (line: string) => void;
}

function isKind(k: string | undefined): k is DatasetKind {
  return (DATASET_KINDS as readonly string[]).includes(k ?? '');
}

function counts(c: Record<string, number>): string {
  return Object.entries(c)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** Runs the import; returns the exit code (0 imported or unchanged, 1 problems, 2 usage). */
export async function runImport(cmd: ImportCommand): Promise<number> {
  const { out, err } = cmd;
  if (!isKind(cmd.kind)) {
    err(`import needs a kind: classroom-edge import timetable|roster FILE... [--config FILE]${cmd.kind ? ` (got "${cmd.kind}")` : ''}`);
    return 2;
  }
  const kind = cmd.kind;
  if (cmd.files.length === 0) {
    err(`import ${kind} needs at least one FILE (.csv, .ics, .yaml, .yml or .json)`);
    return 2;
  }

  let config: EdgeConfig;
  try {
    config = cmd.configFile
      ? loadConfigFile(cmd.configFile, cmd.registry)
      : loadConfigText(demoConfigYaml(cmd.dataDir ?? defaultDemoDataDir()), '(embedded demo config)', cmd.registry);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(e.message);
      return 1;
    }
    throw e;
  }

  const files: ImportFile[] = [];
  for (const f of cmd.files) {
    try {
      files.push({ name: basename(f), text: readFileSync(f, 'utf8') });
    } catch (e) {
      err(`${f}: cannot read: ${(e as Error).message}`);
      return 1;
    }
  }

  const store = openStore({
    path: join(config.dataDir, 'store.db'),
    roomId: config.room.id,
    logger: cmd.logger,
    clock: cmd.clock,
    flushIntervalMs: 0,
  });
  try {
    const datasets = new Datasets({ store, clock: cmd.clock, logger: cmd.logger });
    const zone = config.room.timezone;
    if (!cmd.configFile) await ensureDemoDatasets(datasets, { today: localDate(cmd.clock.now(), zone) });
    const inForce = datasets.active(kind);
    const source = `import:${files.map((f) => f.name).join('+')}`;
    const outcome =
      kind === 'timetable'
        ? importTimetable(files, datasets.active('timetable')?.doc ?? null, { zone })
        : importRoster(files, datasets.active('roster')?.doc ?? null);
    for (const n of outcome.notes) err(`note: ${n}`);
    const kept = inForce ? `the ${kind} in force (version ${inForce.version}) is unchanged` : `no ${kind} is in force`;
    if (!outcome.doc) {
      for (const p of outcome.problems) err(formatProblem(p));
      err(`${outcome.problems.length} problem(s); ${kept}`);
      await datasets.recordRejected(kind, source, outcome.problems.length);
      return 1;
    }
    const result = await datasets.put(kind, outcome.doc, source);
    if (!result.ok) {
      for (const p of result.problems) err(formatProblem(p));
      err(`${result.problems.length} problem(s); ${kept}`);
      return 1;
    }
    const { info } = result;
    out(
      result.changed
        ? `${kind} version ${info.version} imported into room ${config.room.id}: ${counts(info.counts)}`
        : `${kind} unchanged: same content as version ${info.version} in force (${counts(info.counts)})`,
    );
    return 0;
  } finally {
    await store.close();
  }
}
