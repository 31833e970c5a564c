/**
 * `classroom-edge cloud start --config FILE`: the reference district cloud's
 * ingest (docs/sync.md). A small YAML config, validated by zod:
 *
 *   broker: { url: mqtts://broker.district.lan:8883, certFile, keyFile, caFile }   # or username + passwordFile
 *   database: { kind: sqlite, file: /var/lib/classroom-cloud/cloud.db }   # or { kind: postgres, host, …, passwordFile } (db-config.ts)
 *   workers: 2            # ingest workers in this process (shared subscription)
 *   clientIdPrefix: cloud-worker
 *   api: { port: 8443, host: 0.0.0.0, tls: { certFile, keyFile } }   # technician API (sync/cloud/api.ts)
 *   technicians: [ { name, tokenHash, role: technician|admin, schools: [jy-0101] } ]
 *   rooms: [ { id: jy-0101-r203, school: jy-0101 } ]                 # else school = room id minus its last -segment
 *   commands: { ttlMs: 60000, maxWaitMs: 30000 }
 *   recordings: { directory, maxUploadBytes, rooms: [ { id, uploadTokenHash } ] }  # upload endpoint (sync/cloud/recordings.ts)
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Logger } from '../../edge/util/logger.js';
import { createCloudApi } from './api.js';
import { CloudCommands, CommandLink } from './commands.js';
import { registerFleet } from './fleet.js';
import { recordingsConfigSchema, registerRecordings } from './recordings.js';
import { databaseConfigSchema, describeDatabase, DatabaseConfigError } from './db-config.js';
import { CloudStore } from './store.js';
import { roomEntrySchema, technicianSchema, Technicians } from './technicians.js';
import { SchemaVersionError } from './schema.js';
import { IngestWorker } from './worker.js';
import type { FastifyInstance } from 'fastify';

export const cloudConfigSchema = z
  .object({
    broker: z
      .object({
        url: z.string().regex(/^mqtts?:\/\//, 'an mqtts:// (or mqtt:// for tests) URL'),
        certFile: z.string().min(1).optional(),
        keyFile: z.string().min(1).optional(),
        caFile: z.string().min(1).optional(),
        username: z.string().min(1).optional(),
        passwordFile: z.string().min(1).optional(),
      })
      .strict()
      .superRefine((b, ctx) => {
        if ((b.certFile === undefined) !== (b.keyFile === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'give both certFile and keyFile, or neither', path: ['keyFile'] });
        }
        if (b.certFile === undefined && b.username === undefined) {
          ctx.addIssue({ code: 'custom', message: 'give a client certificate (certFile + keyFile) or username + passwordFile', path: ['certFile'] });
        }
        if ((b.username === undefined) !== (b.passwordFile === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'username and passwordFile go together', path: ['passwordFile'] });
        }
      }),
    /** SQLite (a file path, or `{kind: sqlite, file}`) or `{kind: postgres, …}` (sync/cloud/db-config.ts). */
    database: databaseConfigSchema,
    workers: z.number().int().min(1).max(32).default(1),
    /** Worker i connects as `{clientIdPrefix}-{i}` (the broker's ACL grants `cloud-worker*` full rights). */
    clientIdPrefix: z.string().min(1).max(48).regex(/^[A-Za-z0-9_.-]+$/).default('cloud-worker'),
    log: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info') }).strict().default({ level: 'info' }),
    /** A room whose clock is off by more than this is flagged (sync/cloud/clock.ts; default 120000 ms). */
    skewThresholdMs: z.number().int().min(1000).max(7 * 86_400_000).optional(),
    /** The technician HTTP API; absent: no API (ingest only). */
    api: z
      .object({
        port: z.number().int().min(0).max(65535),
        host: z.string().min(1).default('127.0.0.1'),
        /** HTTPS; without it the API serves plain HTTP, for loopback behind a TLS proxy only. */
        tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
      })
      .strict()
      .optional(),
    technicians: z.array(technicianSchema).default([]),
    /** Rooms and their schools (technicians' scope); unlisted rooms: the id without its last `-segment`. */
    rooms: z.array(roomEntrySchema).default([]),
    commands: z
      .object({
        /** A command not executed by then is expired on the edge (default 60 s). */
        ttlMs: z.number().int().min(1000).max(3_600_000).default(60_000),
        /** Longest `?wait=` of the API (default 30 s). */
        maxWaitMs: z.number().int().min(0).max(120_000).default(30_000),
      })
      .strict()
      .default({ ttlMs: 60_000, maxWaitMs: 30_000 }),
    /** The recording upload endpoint on the API (docs/sync.md, "Recording uploads"); absent: none. */
    recordings: recordingsConfigSchema.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    c.technicians.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['technicians', i, 'name'], message: `technician ${t.name} appears twice` });
      names.add(t.name);
    });
    if (c.recordings && !c.api) ctx.addIssue({ code: 'custom', path: ['recordings'], message: 'recording uploads are served by the API: configure api too' });
    if (c.api && c.technicians.length === 0) ctx.addIssue({ code: 'custom', path: ['technicians'], message: 'the API needs at least one technician (no anonymous access)' });
  });
export type CloudConfigFile = z.infer<typeof cloudConfigSchema>;

export class CloudConfigError extends Error {
  constructor(readonly problems: Array<{ path: string; reason: string }>, file: string) {
    super(`${file}: ${problems.map((p) => `${p.path}: ${p.reason}`).join('; ')}`);
  }
}

export function loadCloudConfig(file: string): CloudConfigFile {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CloudConfigError([{ path: '(file)', reason: e instanceof Error ? e.message : String(e) }], file);
  }
  const parsed = cloudConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new CloudConfigError(parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', reason: i.message })), file);
  }
  return parsed.data;
}

/** The database could not be opened or migrated: the message names it (never its password) and why. */
export class CloudDatabaseError extends Error {}

export async function openConfiguredStore(config: Pick<CloudConfigFile, 'database'>, opts: Parameters<typeof CloudStore.open>[1] = {}): Promise<CloudStore> {
  try {
    return await CloudStore.open(config.database, opts);
  } catch (e) {
    if (e instanceof DatabaseConfigError || e instanceof SchemaVersionError) throw new CloudDatabaseError(e.message);
    const d = describeDatabase(config.database);
    const where = d.kind === 'sqlite' ? `sqlite ${String(d.file)}` : `postgres ${String(d.user ?? '')}@${String(d.host)}:${String(d.port)}/${String(d.database ?? '')}`;
    throw new CloudDatabaseError(`database (${where}): ${e instanceof Error ? e.message : String(e)}`);
  }
}

export interface RunningCloud {
  store: CloudStore;
  workers: IngestWorker[];
  commands: CloudCommands;
  /** The MQTT client that publishes commands and hears results (tests stop it to lose the direct results). */
  commandLink: CommandLink;
  /** The technician API when configured, listening. */
  api: FastifyInstance | null;
  apiPort: number | null;
  stop(): Promise<void>;
}

export async function startCloud(config: CloudConfigFile, logger: Logger): Promise<RunningCloud> {
  const dbLog = logger.child({ ns: 'cloud:db' });
  const store = await openConfiguredStore(config, {
    skewThresholdMs: config.skewThresholdMs,
    onPoolError: (err) => dbLog.warn({ err: err.message }, 'database connection lost; the pool reconnects'),
  });
  const workers = Array.from(
    { length: config.workers },
    (_, i) => new IngestWorker({ broker: config.broker, clientId: `${config.clientIdPrefix}-${i + 1}`, store, logger, statusTopics: i === 0 }),
  );
  try {
    await Promise.all(workers.map((w) => w.start()));
  } catch (e) {
    await Promise.all(workers.map((w) => w.stop({ force: true })));
    await store.close();
    throw e;
  }
  // Technicians' commands: their own MQTT client (the workers' credentials, its own client id), the API.
  const technicians = new Technicians(config.technicians, config.rooms);
  let link: CommandLink | null = null;
  const commands = new CloudCommands({
    store,
    technicians,
    logger,
    publish: (topic, payload) => (link ? link.publish(topic, payload) : Promise.reject(new Error('command link not started'))),
    defaultTtlMs: config.commands.ttlMs,
  });
  link = new CommandLink({ broker: config.broker, clientId: `${config.clientIdPrefix}-commands`, logger, onResult: (t, p) => commands.onResultMessage(t, p) });
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return; // a slow database: never two sweeps at once
    sweeping = true;
    commands
      .sweep()
      .catch((err: unknown) => logger.error({ err }, 'command sweep failed'))
      .finally(() => (sweeping = false));
  }, 1000);
  sweeper.unref?.();
  let api: FastifyInstance | null = null;
  let apiPort: number | null = null;
  try {
    await link.start();
    if (config.api) {
      const tls = config.api.tls;
      api = createCloudApi({
        store,
        commands,
        technicians,
        logger,
        maxWaitMs: config.commands.maxWaitMs,
        https: tls ? { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) } : null,
      });
      registerFleet(api, { store, commands, technicians });
      if (config.recordings) registerRecordings(api, { config: config.recordings, logger, store, technicians, commands });
      await api.listen({ port: config.api.port, host: config.api.host });
      const addr = api.server.address();
      apiPort = addr && typeof addr === 'object' ? addr.port : config.api.port;
    }
  } catch (e) {
    clearInterval(sweeper);
    await api?.close();
    await link.stop();
    await Promise.all(workers.map((w) => w.stop({ force: true })));
    await store.close();
    throw e;
  }
  logger.info({ workers: workers.length, database: describeDatabase(config.database), url: config.broker.url, apiPort }, 'district cloud ingest started');
  return {
    store,
    workers,
    commands,
    commandLink: link,
    api,
    apiPort,
    stop: async () => {
      clearInterval(sweeper);
      await api?.close();
      await link.stop();
      await Promise.all(workers.map((w) => w.stop()));
      await store.close();
    },
  };
}

export interface PushConfigArgs {
  room?: string | undefined;
  file?: string | undefined;
  /** Wait for the room's result (seconds; default 60 when --wait is given). */
  wait?: boolean | undefined;
  timeout?: string | undefined;
  issuedBy?: string | undefined;
}

/** The `cloud` command of classroom-edge; returns the exit code. */
export async function runCloudCommand(args: {
  sub: string | undefined;
  configFile: string | undefined;
  logger: (level: string) => Logger;
  push?: PushConfigArgs;
  /** `--demo`: the cloud beside the demo room (sync/cloud/demo.ts), no config file. */
  demo?: boolean | undefined;
  port?: string | undefined;
}): Promise<number> {
  if (args.sub === 'push-config') return (await import('./push-config-cli.js')).runPushConfig({ ...args, push: args.push ?? {} });
  if (args.sub !== 'start') {
    process.stderr.write(
      'usage: classroom-edge cloud start --config FILE\n       classroom-edge cloud start --demo [--port PORT]\n       classroom-edge cloud push-config --config FILE --room ROOM --file CONFIG.yaml [--wait [--timeout SECONDS]]\n',
    );
    return 2;
  }
  if (args.demo) return runDemo(args.logger('info'), args.port);
  const file = args.configFile ?? process.env.CLASSROOM_CLOUD_CONFIG;
  if (!file) {
    process.stderr.write('cloud start needs --config FILE (docs/sync.md)\n');
    return 2;
  }
  let config: CloudConfigFile;
  try {
    config = loadCloudConfig(file);
  } catch (e) {
    if (e instanceof CloudConfigError) {
      for (const p of e.problems) process.stderr.write(`${p.path}: ${p.reason}\n`);
      process.stderr.write(`refusing to start: ${file}: ${e.problems.length} problem(s)\n`);
      return 1;
    }
    throw e;
  }
  const logger = args.logger(config.log.level);
  let cloud: RunningCloud;
  try {
    cloud = await startCloud(config, logger);
  } catch (e) {
    if (e instanceof CloudDatabaseError) {
      process.stderr.write(`refusing to start: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  // Runs until a signal, whatever the broker does: while every worker is disconnected and waiting for
  // its (unref'd) reconnect timer, nothing else would keep the event loop alive and the process would
  // exit with 0 when the broker went down (found by test/integration/sync-kill9-mosquitto.test.ts).
  await untilSignal(logger);
  await cloud.stop();
  return 0;
}

/** Waits for SIGTERM or SIGINT (the process's only way to stop a cloud). */
function untilSignal(logger: Logger): Promise<void> {
  const keepAlive = setInterval(() => undefined, 1 << 30);
  return new Promise<void>((resolve) => {
    const onSignal = (sig: string) => {
      logger.info({ signal: sig }, 'signal received, shutting down');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      clearInterval(keepAlive);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

async function runDemo(logger: Logger, portArg: string | undefined): Promise<number> {
  const port = portArg === undefined ? undefined : Number(portArg);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    process.stderr.write(`--port: a port number, not "${portArg}"\n`);
    return 2;
  }
  const { startDemoCloud, DEMO_ROOM, DEMO_TECHNICIAN } = await import('./demo.js');
  let cloud;
  try {
    cloud = await startDemoCloud({ logger, ...(port !== undefined ? { port } : {}) });
  } catch (e) {
    process.stderr.write(`refusing to start the demo cloud: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  process.stderr.write(
    `demo cloud: http://127.0.0.1:${cloud.port}/fleet/rooms/${DEMO_ROOM}/recordings\n` +
      `  user ${DEMO_TECHNICIAN}, password in ${cloud.credentialsFile}\n` +
      `  the demo room (npm start) uploads each finished recording here\n`,
  );
  await untilSignal(logger);
  await cloud.stop();
  return 0;
}
