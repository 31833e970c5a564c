/** A lesson clock on a real store (temp file) with fake timers and a fake wall clock. */
import { vi } from 'vitest';
import { LessonClock } from '../../../edge/lessons/clock.js';
import { Datasets } from '../../../edge/lessons/datasets.js';
import type { TimetableDoc } from '../../../edge/lessons/timetable-schema.js';
import type { Store } from '../../../edge/store/index.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { dateClock, ROOM, timetable, type TempStore } from './fixtures.js';

export interface Harness {
  store: Store;
  datasets: Datasets;
  lc: LessonClock;
  /** "start <id>", "end <id> <reason>", "update <id> <endsAt ISO>" in emission order. */
  log: string[];
  advance(ms: number): Promise<void>;
  /** Sets the wall clock (an NTP jump: no timer fires by itself) and lets the next tick run. */
  jump(to: number): Promise<void>;
  /** Stops the clock and closes the store (a clean restart). */
  shutdown(): Promise<void>;
}

export function useFakeTime(at: number): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(at);
}

export async function startClock(
  tmp: TempStore,
  opts: { doc?: TimetableDoc | null; zone?: string; roomId?: string } = {},
): Promise<Harness> {
  const store = tmp.open();
  const datasets = new Datasets({ store, clock: dateClock, logger: silentLogger() });
  if (opts.doc !== null && !datasets.active('timetable')) {
    const r = await datasets.put('timetable', opts.doc ?? timetable(), 'fixture');
    if (!r.ok) throw new Error(`fixture timetable refused: ${JSON.stringify(r.problems)}`);
  }
  const lc = new LessonClock({ roomId: opts.roomId ?? ROOM, zone: opts.zone ?? 'Asia/Shanghai', clock: dateClock, store, datasets, logger: silentLogger() });
  const log: string[] = [];
  lc.on('start', (l) => log.push(`start ${l.lessonId}`));
  lc.on('end', (l, reason) => log.push(`end ${l.lessonId} ${reason}`));
  lc.on('update', (l) => log.push(`update ${l.lessonId} ${new Date(l.endsAt).toISOString()}`));
  lc.start();
  await lc.idle();
  const advance = async (ms: number) => {
    await vi.advanceTimersByTimeAsync(ms);
    await lc.idle();
  };
  return {
    store,
    datasets,
    lc,
    log,
    advance,
    jump: async (to: number) => {
      vi.setSystemTime(to);
      await advance(5000);
    },
    shutdown: async () => {
      await lc.stop();
      await store.close();
    },
  };
}

/** The lesson stream of the event log as "type lessonId". */
export function lessonEvents(store: Store): string[] {
  return store
    .eventsAfter(0, 10_000)
    .filter((e) => e.stream === 'lesson')
    .map((e) => `${e.type} ${e.entityId}`);
}
