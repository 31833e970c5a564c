/**
 * A finished MP4 (ffmpeg, ~3 MB) uploaded by the edge's uploader under a bandwidth cap to the
 * reference cloud in-process: the connection is cut mid-file, the upload resumes from the
 * server's offset, the cloud's file is byte-identical (sha256), and the cap held (the transfer
 * took at least size / cap, less the bucket's one-second burst).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../edge/store/index.js';
import { systemClock } from '../../edge/util/clock.js';
import { silentLogger } from '../../edge/util/logger.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { RecordingUploader } from '../../sync/recording-upload.js';
import { HttpTusTransport } from '../../sync/tus-client.js';
import { waitFor } from '../helpers/peers.js';
import { ROOM, ROOM_SECRET, makeMp4, sha256, startCloud, type TestCloud } from './recording-cloud-fixtures.js';

const KiB = 1024;
let dir: string;
let store: CloudStore;
let cloud: TestCloud;
let edgeStore: Store;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ce-recresume-'));
  store = await CloudStore.open(join(dir, 'cloud.db'));
  cloud = await startCloud(store, join(dir, 'recordings'));
});
afterAll(async () => {
  await edgeStore?.close();
  await cloud?.app.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('recording upload under a cap, cut mid-file', () => {
  it('resumes from the server offset; the stored MP4 is byte-identical; the cap holds', async () => {
    const mp4 = makeMp4(join(dir, 'cam1.mp4'), { seconds: 12, size: '640x360', bitrate: '2M' });
    expect(mp4.bytes).toBeGreaterThan(2000 * KiB);
    const cap = 1024 * KiB;
    edgeStore = openStore({ path: join(dir, 'edge.db'), roomId: ROOM, logger: silentLogger(), clock: systemClock });
    const up = new RecordingUploader({
      store: edgeStore,
      roomId: ROOM,
      transport: new HttpTusTransport({ baseUrl: cloud.base, roomId: ROOM, token: ROOM_SECRET, idleTimeoutMs: 5000 }),
      logger: silentLogger(),
      chunkBytes: 512 * KiB,
      maxBytesPerSecond: cap,
      retry: { baseMs: 20, maxMs: 100 },
    });
    const lessonId = `${ROOM}/2025-03-04/p3`;
    let cut = false;
    const seen: number[] = [];
    up.on('progress', (p: { bytes: number }) => {
      if (!cut && p.bytes > 900 * KiB) {
        cut = true;
        cloud.app.server.closeAllConnections();
      }
    });
    const t0 = performance.now();
    await up.enqueue({ path: mp4.path, lessonId, source: 'cam1', segment: 0, sha256: mp4.sha256, ext: 'mp4' });
    up.start();
    await waitFor(() => {
      const p = up.progress();
      seen.push(p.lessons[lessonId]?.uploadedBytes ?? 0);
      return up.segments('uploaded').length === 1;
    }, 30_000, 'the MP4 uploaded');
    const elapsed = (performance.now() - t0) / 1000;
    await up.stop();
    expect(cut).toBe(true);
    expect(up.counts.resumes).toBe(1);
    expect(up.counts.bytesSent).toBeLessThanOrEqual(mp4.bytes + 512 * KiB);
    const stored = readFileSync(join(dir, 'recordings', ROOM, ...lessonId.split('/'), 'cam1-0.mp4'));
    expect(sha256(stored)).toBe(mp4.sha256);
    // Bytes sent (resends included) at the cap, less the one-second burst; and not absurdly slower.
    const floor = (up.counts.bytesSent - cap) / cap;
    expect(elapsed).toBeGreaterThanOrEqual(floor * 0.95);
    expect(elapsed).toBeLessThan(floor + 8);
    // progress() rose while the request was under way (not only when a PATCH finished).
    expect(seen.some((b) => b > 0 && b < mp4.bytes && b % (512 * KiB) !== 0)).toBe(true);
  });
});
