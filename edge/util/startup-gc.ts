/**
 * Garbage collection once start-up is over, so that an idle appliance gives
 * back the memory start-up used.
 *
 * Starting the service allocates a lot that dies at once (module
 * compilation, zod schema construction, config and dataset parsing, the
 * demo room's seeding): V8 grows its young generation to its maximum
 * (2 x 16 MiB semi-spaces). V8 shrinks it again only in a GC that runs while
 * the allocation rate of the last ~5 s is low (Heap::ReduceNewSpaceSize); a
 * GC during or right after the start-up burst reclaims garbage but keeps the
 * young generation's pages. Measured on the bench's room: a GC 1 s after
 * start-up took heapTotal from 57 to 59.6 MB (new space 33.6 MB), and RSS
 * stayed at 109-117 MB until some later GC happened to run at a quiet moment,
 * 8 s to more than 20 s after the start (once the benchmark read 114.4 MB
 * at 20 s); after such a GC new space is 1 MB, heapTotal 25 MB, RSS ~90 MB
 * (docs/performance.md, "Idle RSS").
 *
 * So the `start` command asks for a major GC 6 s after the service is up,
 * and again every 5 s (at most four times) while the young generation has
 * not shrunk, e.g. because the room was busy at that moment. The `gc`
 * function is taken without `--expose-gc` on the command line: the flag is
 * set at run time and a fresh V8 context hands out its `gc` (Node's
 * documented `v8.setFlagsFromString`; the flag only affects contexts created
 * afterwards, so no global of ours changes). Under load the young generation
 * grows again as V8 sees fit: throughput is not limited, as a smaller
 * `--max-semi-space-size` would (measured: less at window 256).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from './logger.js';

type GcFunction = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void | Promise<void>;

/** V8's gc() without --expose-gc on the command line, or null if it cannot be had. */
export function obtainGc(): GcFunction | null {
  const existing = (globalThis as { gc?: GcFunction }).gc;
  if (typeof existing === 'function') return existing;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as GcFunction) : null;
  } catch {
    return null;
  }
}

/** The young generation counts as shrunk at or below this (it is 1 MB after a quiet GC, 33.6 MB grown). */
const SHRUNK_NEW_SPACE_BYTES = 8 * 1024 * 1024;

function newSpaceBytes(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
}

export interface StartupGcOptions {
  /** First GC this long after start-up (default 6 s: the start-up burst has left V8's 5 s allocation window). */
  delayMs?: number;
  /** Then again this often while the young generation has not shrunk (default 5 s)... */
  retryMs?: number;
  /** ...at most this many times in all (default 4). */
  attempts?: number;
  gc?: GcFunction | null;
  newSpace?: () => number;
}

/**
 * Schedules the start-up GCs (timers unref'd: they never keep the process alive). Returns a
 * function that cancels what is still pending.
 */
export function collectAfterStartup(logger: Logger, opts: StartupGcOptions = {}): () => void {
  const { delayMs = 6000, retryMs = 5000, attempts = 4 } = opts;
  const newSpace = opts.newSpace ?? newSpaceBytes;
  let timer: NodeJS.Timeout | null = null;
  let done = 0;
  // Obtained at the first attempt (a fresh V8 context), then reused by the retries.
  let gc: GcFunction | null | undefined = opts.gc;
  const run = (): void => {
    timer = null;
    if (gc === undefined) gc = obtainGc();
    if (!gc) {
      logger.debug('start-up garbage collection not available');
      return;
    }
    const before = process.memoryUsage();
    const t0 = performance.now();
    gc({ type: 'major', execution: 'sync' });
    done++;
    const after = process.memoryUsage();
    const young = newSpace();
    const shrunk = young <= SHRUNK_NEW_SPACE_BYTES;
    logger.debug(
      {
        attempt: done,
        ms: Math.round((performance.now() - t0) * 10) / 10,
        heapTotalMB: [before.heapTotal, after.heapTotal].map((b) => Math.round(b / 1e5) / 10),
        newSpaceMB: Math.round(young / 1e5) / 10,
        rssMB: [before.rss, after.rss].map((b) => Math.round(b / 1e5) / 10),
      },
      shrunk ? 'start-up garbage collected' : 'start-up garbage collected; the young generation did not shrink yet',
    );
    if (!shrunk && done < attempts) {
      timer = setTimeout(run, retryMs);
      timer.unref();
    }
  };
  timer = setTimeout(run, delayMs);
  timer.unref();
  return () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
