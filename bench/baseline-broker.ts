/**
 * Benchmark baseline (forked by bench/ingest.ts): bare aedes on a TCP port,
 * no authentication, no topic rights, no validation, no domain logic. Every
 * publish is queued into a batched better-sqlite3 insert (lib/batch-writer.ts)
 * from `authorizePublish`, whose callback runs after COMMIT; aedes sends the
 * QoS 1 PUBACK only after that callback, exactly as in the service.
 *
 * argv: <sqlite file> <flushIntervalMs> <maxBatch>. IPC: sends
 * {type:'listening', port}; on {type:'stop'} closes, sends {type:'stopped'} and exits.
 */
import { Aedes } from 'aedes';
import { createServer, type AddressInfo } from 'node:net';
import { BatchWriter } from './lib/batch-writer.js';
import { baselineCommandSchema, type BaselineMessage } from './lib/protocol.js';

function send(m: BaselineMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(m, undefined, undefined, () => resolve());
  });
}

async function main(): Promise<void> {
  const [file, flushArg, batchArg] = process.argv.slice(2);
  if (!file || !process.send) throw new Error('usage: fork baseline-broker.js <sqlite file> [flushIntervalMs] [maxBatch] with an IPC channel');
  const writer = new BatchWriter(file, { flushIntervalMs: Number(flushArg ?? 4), maxBatch: Number(batchArg ?? 256) });

  const aedes = new Aedes({
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      writer.add(packet.topic, payload, (err) => done(err));
    },
  });
  await aedes.listen();
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  await send({ type: 'listening', port: (server.address() as AddressInfo).port });

  process.on('message', (m: unknown) => {
    if (!baselineCommandSchema.safeParse(m).success) return;
    server.close();
    aedes.close(() => {
      writer.close();
      void send({ type: 'stopped', rows: writer.rows, commits: writer.commits }).then(() => process.disconnect());
    });
  });
  process.on('disconnect', () => process.exit(0));
}

main().catch(async (e: unknown) => {
  process.exitCode = 1;
  await send({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.disconnect?.();
});
