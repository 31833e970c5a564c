/**
 * One full garbage collection once start-up is over.
 *
 * Starting the service allocates a lot that dies at once (module
 * compilation, zod schema construction, config and dataset parsing, the
 * demo room's seeding): V8 grows its young generation to its maximum
 * (2 x 16 MiB semi-spaces) and old space with it, and keeps those pages
 * until a mark-compact runs with the memory reducer. On an idle appliance
 * that may never happen: measured on the bench's room, heapTotal stayed at
 * 58 MB for 30 s with 27 MB in use, RSS 104-111 MB; after one full GC
 * heapTotal is 25 MB and RSS 90 MB (docs/performance.md, "Idle RSS").
 *
 * So the `start` command asks for one major GC a few seconds after the
 * service is up. The `gc` function is taken without `--expose-gc` on the
 * command line: the flag is set at run time and a fresh V8 context hands out
 * its `gc` (Node's documented `v8.setFlagsFromString`; the flag only affects
 * contexts created afterwards, so no global of ours changes). Under load the
 * young generation grows again as V8 sees fit: throughput is not limited, as
 * a smaller `--max-semi-space-size` would (measured: less at window 256).
 */
import { setFlagsFromString } from 'node:v8';
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

/** Schedule one full GC `delayMs` after now (timer unref'd: it never keeps the process alive). */
export function collectAfterStartup(logger: Logger, delayMs = 1000): NodeJS.Timeout {
  const timer = setTimeout(() => {
    const gc = obtainGc();
    if (!gc) {
      logger.debug('start-up garbage collection not available');
      return;
    }
    const before = process.memoryUsage();
    const t0 = performance.now();
    gc({ type: 'major', execution: 'sync' });
    const after = process.memoryUsage();
    logger.debug(
      {
        ms: Math.round((performance.now() - t0) * 10) / 10,
        heapTotalMB: [before.heapTotal, after.heapTotal].map((b) => Math.round(b / 1e5) / 10),
        rssMB: [before.rss, after.rss].map((b) => Math.round(b / 1e5) / 10),
      },
      'start-up garbage collected',
    );
  }, delayMs);
  timer.unref();
  return timer;
}
