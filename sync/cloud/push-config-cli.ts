/**
 * `classroom-edge cloud push-config --config CLOUDCONF --room ROOM --file CONFIG.yaml [--wait [--timeout S]] [--issued-by NAME]`
 * (docs/config-push.md): pushes the YAML document (devices and/or scenes, or a
 * whole edge config file) to a room as its next config version, stores the
 * push in the cloud database, and with --wait prints the room's result.
 *
 * Exit codes: 0 applied or unchanged (or pushed, without --wait); 1 refused,
 * rolled back or interrupted; 2 usage or an unreadable file; 3 no result
 * within the timeout (the push stays retained and is applied when the room
 * connects; its result is recorded by the ingest worker).
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseYaml } from '../../edge/config/load.js';
import type { Logger } from '../../edge/util/logger.js';
import { linkIdSchema } from '../protocol.js';
import { CloudConfigError, CloudDatabaseError, loadCloudConfig, openConfiguredStore, type PushConfigArgs } from './cli.js';
import { describeConfigResult, pushConfig } from './config-push.js';
import type { CloudStore } from './store.js';

export async function runPushConfig(args: { configFile: string | undefined; logger: (level: string) => Logger; push: PushConfigArgs }): Promise<number> {
  const { room, file } = args.push;
  const cloudFile = args.configFile ?? process.env.CLASSROOM_CLOUD_CONFIG;
  if (!cloudFile || !room || !file) {
    process.stderr.write('usage: classroom-edge cloud push-config --config CLOUDCONF --room ROOM --file CONFIG.yaml [--wait [--timeout SECONDS]] [--issued-by NAME]\n');
    return 2;
  }
  if (!linkIdSchema.safeParse(room).success) {
    process.stderr.write(`--room: "${room}" is not a room id\n`);
    return 2;
  }
  let config;
  try {
    config = loadCloudConfig(cloudFile);
  } catch (e) {
    if (e instanceof CloudConfigError) {
      for (const p of e.problems) process.stderr.write(`${p.path}: ${p.reason}\n`);
      return 1;
    }
    throw e;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    process.stderr.write(`${file}: cannot read: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
  const { value, problems } = parseYaml(text);
  if (problems.length) {
    for (const p of problems) process.stderr.write(`${file}: ${p.path}: ${p.reason}\n`);
    return 2;
  }
  const timeoutS = args.push.timeout === undefined ? 60 : Number(args.push.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) {
    process.stderr.write(`--timeout: "${args.push.timeout}" is not a number of seconds\n`);
    return 2;
  }
  const logger = args.logger('warn');
  let store: CloudStore;
  try {
    store = await openConfiguredStore(config);
  } catch (e) {
    if (!(e instanceof CloudDatabaseError)) throw e;
    process.stderr.write(`${e.message}\n`);
    return 1;
  }
  try {
    const { push, result } = await pushConfig({
      broker: config.broker,
      clientId: `${config.clientIdPrefix}-push-${process.pid}`,
      store,
      roomId: room,
      config: value,
      issuedBy: args.push.issuedBy ?? userInfo().username,
      waitMs: args.push.wait ? timeoutS * 1000 : 0,
      logger,
    });
    process.stdout.write(`pushed config v${push.version} to room ${room}\n`);
    if (!args.push.wait) return 0;
    if (!result) {
      process.stdout.write(`no result from room ${room} within ${timeoutS} s; the push stays retained and is applied when the room connects\n`);
      return 3;
    }
    for (const line of describeConfigResult(result)) process.stdout.write(`${line}\n`);
    return result.outcome === 'applied' || result.outcome === 'unchanged' ? 0 : 1;
  } finally {
    await store.close();
  }
}
