/**
 * `classroom-edge cloud start --demo`: the reference cloud beside the demo
 * room on one machine, with nothing to configure: its SQLite database and
 * recordings under `$XDG_DATA_HOME/classroom-edge/demo-cloud`, the technician
 * API, fleet page and recording upload endpoint on 127.0.0.1 (plain HTTP,
 * loopback only). No district broker: events and remote commands need a real
 * `cloud start --config` (docs/sync.md); the demo shows recordings arriving.
 *
 * The demo room and the demo cloud share one upload token file
 * (`demo-upload.token`, mode 0600), made by whichever starts first; the
 * technician's password is made once and kept in the demo cloud's
 * credentials file (mode 0600). Nothing here has a default password.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_CLOUD_PORT, demoBaseDir, demoUploadTokenFile, ensureSecretFile } from '../../edge/config/demo.js';
import { hashPassword } from '../../edge/security/passwords.js';
import type { Logger } from '../../edge/util/logger.js';
import { createCloudApi } from './api.js';
import { CloudCommands } from './commands.js';
import { registerFleet } from './fleet.js';
import { recordingsConfigSchema, registerRecordings } from './recordings.js';
import { CloudStore } from './store.js';
import { Technicians } from './technicians.js';

export const DEMO_ROOM = 'demo-room';
export const DEMO_SCHOOL = 'demo-school';
export const DEMO_TECHNICIAN = 'demo-tech';

export interface DemoCloud {
  port: number;
  dir: string;
  credentialsFile: string;
  stop(): Promise<void>;
}

export async function startDemoCloud(opts: { logger: Logger; port?: number; env?: NodeJS.ProcessEnv }): Promise<DemoCloud> {
  const env = opts.env ?? process.env;
  const dir = join(demoBaseDir(env), 'demo-cloud');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const uploadToken = ensureSecretFile(demoUploadTokenFile(env));
  const credentialsFile = join(dir, 'technician-password.txt');
  const password = ensureSecretFile(credentialsFile);
  const technicians = new Technicians([{ name: DEMO_TECHNICIAN, tokenHash: await hashPassword(password), role: 'admin', schools: ['*'] }], [{ id: DEMO_ROOM, school: DEMO_SCHOOL }]);
  const store = await CloudStore.open({ kind: 'sqlite', file: join(dir, 'cloud.db') });
  const commands = new CloudCommands({
    store,
    technicians,
    logger: opts.logger,
    publish: () => Promise.reject(new Error('the demo cloud has no district broker: remote commands need `classroom-edge cloud start --config FILE`')),
    defaultTtlMs: 60_000,
  });
  const app = createCloudApi({ store, commands, technicians, logger: opts.logger, https: null });
  registerFleet(app, { store, commands, technicians });
  const recordings = recordingsConfigSchema.parse({
    directory: join(dir, 'recordings'),
    rooms: [{ id: DEMO_ROOM, uploadTokenHash: await hashPassword(uploadToken) }],
  });
  registerRecordings(app, { config: recordings, logger: opts.logger, store, technicians, commands });
  try {
    await app.listen({ port: opts.port ?? DEMO_CLOUD_PORT, host: '127.0.0.1' });
  } catch (e) {
    await app.close();
    await store.close();
    throw e;
  }
  const addr = app.server.address();
  const port = addr && typeof addr === 'object' ? addr.port : (opts.port ?? DEMO_CLOUD_PORT);
  opts.logger.info(
    { port, dir, fleet: `http://127.0.0.1:${port}/fleet/rooms/${DEMO_ROOM}/recordings`, user: DEMO_TECHNICIAN, passwordFile: credentialsFile },
    'demo cloud started: the demo room uploads its recordings here',
  );
  return {
    port,
    dir,
    credentialsFile,
    stop: async () => {
      await app.close();
      await store.close();
    },
  };
}
