/**
 * The upload queue of finished recordings, built from the config's
 * `recording.upload` (docs/recording.md, "Upload"): the district's tus
 * endpoint over HTTPS with the room's token, an upload window and a
 * bandwidth cap.
 */
import { readFile } from 'node:fs/promises';
import type { Registry } from 'prom-client';
import { RecordingUploader } from '../../sync/recording-upload.js';
import { HttpTusTransport } from '../../sync/tus-client.js';
import type { RecordingUploadConfig } from '../config/recording-schema.js';
import type { Clock } from '../util/clock.js';
import type { Logger } from '../util/logger.js';
import type { RecordingsStore } from './repo.js';

export async function createUploader(o: {
  config: RecordingUploadConfig;
  roomId: string;
  timeZone: string;
  store: RecordingsStore;
  logger: Logger;
  registry: Registry;
  clock: Clock;
}): Promise<RecordingUploader> {
  const token = (await readFile(o.config.tokenFile, 'utf8')).trim();
  if (!token) throw new Error(`${o.config.tokenFile} is empty: it must hold the room's upload token`);
  const ca = o.config.caFile ? await readFile(o.config.caFile) : undefined;
  const transport = new HttpTusTransport({ baseUrl: o.config.url, roomId: o.roomId, token, ...(ca ? { ca } : {}) });
  return new RecordingUploader({
    store: o.store,
    roomId: o.roomId,
    transport,
    logger: o.logger,
    now: () => o.clock.now(),
    monotonic: () => o.clock.monotonic(),
    timeZone: o.timeZone,
    ...(o.config.window ? { window: o.config.window } : {}),
    ...(o.config.maxBytesPerSecond ? { maxBytesPerSecond: o.config.maxBytesPerSecond } : {}),
    registry: o.registry,
  });
}
