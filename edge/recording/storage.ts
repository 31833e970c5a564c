/**
 * The recordings directory's budget: how much it holds, how much the file
 * system has left, and what may be deleted to make room. Only finished
 * recordings that the district has confirmed (uploaded) are ever deleted,
 * oldest upload first; a recording that is not uploaded is never deleted to
 * make room: the recorder refuses to start (or stops) with an alert instead.
 * Uploaded recordings are also deleted after `retentionDays` (minors appear
 * in them).
 */
import { mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/logger.js';
import type { RecordingsRepo, RecordingRow } from './repo.js';

export interface StorageLimits {
  maxBytes: number;
  minFreeBytes: number;
  retentionDays: number;
}

export interface DiskState {
  usedBytes: number;
  /** Free bytes for an unprivileged writer; null when the file system cannot tell. */
  freeBytes: number | null;
}

export type RoomVerdict = { ok: true } | { ok: false; reason: string };

/** Total size of the files below `dir` (0 when it does not exist). */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await directoryBytes(p);
    else if (e.isFile()) total += await stat(p).then((s) => s.size, () => 0);
  }
  return total;
}

export class RecordingStorage {
  private last: DiskState = { usedBytes: 0, freeBytes: null };

  constructor(
    private readonly opts: {
      directory: string;
      limits: StorageLimits;
      repo: RecordingsRepo;
      logger: Logger;
      now: () => number;
    },
  ) {}

  get directory(): string {
    return this.opts.directory;
  }

  get limits(): StorageLimits {
    return this.opts.limits;
  }

  /** The latest measurement (for /health and metrics without touching the disk). */
  get state(): DiskState {
    return this.last;
  }

  async measure(): Promise<DiskState> {
    // The directory exists from the first measurement on, so statfs asks the right file system.
    await mkdir(this.opts.directory, { recursive: true });
    const usedBytes = await directoryBytes(this.opts.directory);
    let freeBytes: number | null = null;
    try {
      const s = await statfs(this.opts.directory);
      freeBytes = s.bavail * s.bsize;
    } catch {
      freeBytes = null;
    }
    this.last = { usedBytes, freeBytes };
    return this.last;
  }

  private fits(d: DiskState, reserveBytes: number): boolean {
    const { maxBytes, minFreeBytes } = this.opts.limits;
    return d.usedBytes + reserveBytes <= maxBytes && (d.freeBytes === null || d.freeBytes - reserveBytes >= minFreeBytes);
  }

  /**
   * Makes room for `reserveBytes` more (e.g. a lesson's worth) by deleting the oldest uploaded
   * recordings; says why not when even that is not enough.
   */
  async ensureRoom(reserveBytes: number): Promise<RoomVerdict> {
    let d = await this.measure();
    if (this.fits(d, reserveBytes)) return { ok: true };
    for (const row of this.opts.repo.deletable()) {
      await this.remove(row, 'disk quota');
      d = await this.measure();
      if (this.fits(d, reserveBytes)) return { ok: true };
    }
    const { maxBytes, minFreeBytes } = this.opts.limits;
    const waiting = this.opts.repo.notUploaded().length;
    const why =
      d.usedBytes + reserveBytes > maxBytes
        ? `the recordings use ${mb(d.usedBytes)} of their ${mb(maxBytes)} quota`
        : `only ${mb(d.freeBytes ?? 0)} free on the disk (at least ${mb(minFreeBytes)} must stay free)`;
    return {
      ok: false,
      reason: `${why}; nothing uploaded is left to delete${waiting ? ` (${waiting > 1 ? `${waiting} finished recordings wait for upload and are kept` : '1 finished recording waits for upload and is kept'})` : ''}`,
    };
  }

  /** Deletes uploaded recordings older than the retention; returns how many. */
  async applyRetention(): Promise<number> {
    const cutoff = this.opts.now() - this.opts.limits.retentionDays * 86_400_000;
    let n = 0;
    for (const row of this.opts.repo.deletable()) {
      if ((row.uploadedAt ?? Infinity) > cutoff) continue;
      await this.remove(row, 'retention');
      n++;
    }
    if (n) await this.measure();
    return n;
  }

  private async remove(row: RecordingRow, why: string): Promise<void> {
    // Only the finished file and its sidecar are ours to delete here; segments were removed when it finished.
    for (const f of [row.file, row.file?.replace(/\.mp4$/, '.json'), row.dir]) {
      if (f) await rm(f, { recursive: true, force: true });
    }
    await this.opts.repo.markDeleted(row.id, this.opts.now());
    this.opts.logger.info({ lessonId: row.lessonId, source: row.source, part: row.part, bytes: row.bytes, why }, 'uploaded recording deleted locally');
  }
}

function mb(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${Math.round(n / 2 ** 20)} MiB`;
}
