/**
 * The reference cloud's recording endpoint in a child process, for the
 * recording benchmark's upload figure (bench/recording.ts): the cloud API
 * (sync/cloud/api.ts) with sync/cloud/recordings.ts registered, as in
 * test/integration/recording-upload.test.ts, on a free loopback port, one
 * room with an upload token. In its own process so the edge's uploader (in
 * the orchestrator) and the server do not share an event loop, as curl and
 * the baseline sink do not.
 *
 * argv: <directory>. IPC: sends {type:'listening', port, roomId, secret};
 * on {type:'stop'} closes and sends {type:'stopped', completed, bytes}.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { hashPassword } from '../../edge/security/passwords.js';
import { silentLogger } from '../../edge/util/logger.js';
import { createCloudApi } from '../../sync/cloud/api.js';
import { CloudCommands } from '../../sync/cloud/commands.js';
import { recordingsConfigSchema, registerRecordings } from '../../sync/cloud/recordings.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { Technicians } from '../../sync/cloud/technicians.js';

export const BENCH_UPLOAD_ROOM = 'bench-0101-r101';

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: recording-cloud.js <directory>');
  const secret = randomBytes(18).toString('base64url');
  const store = await CloudStore.open(join(dir, 'cloud.db'));
  const technicians = new Technicians([], []);
  const commands = new CloudCommands({ store, technicians, logger: silentLogger(), publish: async () => undefined, defaultTtlMs: 60_000 });
  const app = createCloudApi({ store, commands, technicians, logger: silentLogger() });
  const config = recordingsConfigSchema.parse({ directory: join(dir, 'recordings'), rooms: [{ id: BENCH_UPLOAD_ROOM, uploadTokenHash: await hashPassword(secret) }] });
  const rec = registerRecordings(app, { config, logger: silentLogger() });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.on('message', (m: unknown) => {
    if ((m as { type?: string } | null)?.type !== 'stop') return;
    void (async () => {
      await app.close();
      await store.close();
      process.send?.({ type: 'stopped', completed: rec.counts.completed, bytes: rec.counts.bytesCompleted }, undefined, undefined, () => process.exit(0));
    })();
  });
  process.send?.({ type: 'listening', port, roomId: BENCH_UPLOAD_ROOM, secret });
}

main().catch((e: unknown) => {
  process.send?.({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exitCode = 1;
});
