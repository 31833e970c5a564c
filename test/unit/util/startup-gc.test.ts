/**
 * The start-up GCs (edge/util/startup-gc.ts): the first one after the delay,
 * then again while the young generation has not shrunk, at most `attempts`
 * times; cancelling stops what is pending. `gc` itself is V8's, obtained at
 * run time without --expose-gc on the command line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { collectAfterStartup, obtainGc } from '../../../edge/util/startup-gc.js';
import { silentLogger } from '../../../edge/util/logger.js';

const MB = 1024 * 1024;

afterEach(() => {
  vi.useRealTimers();
});

function fakes(youngSizes: number[]) {
  let calls = 0;
  const gc = () => void calls++;
  const newSpace = () => youngSizes[Math.min(calls, youngSizes.length) - 1] ?? 0;
  return { gc, newSpace, calls: () => calls };
}

describe('start-up garbage collection', () => {
  it('collects after the delay and again every retry interval until the young generation has shrunk', async () => {
    vi.useFakeTimers();
    const f = fakes([33.6 * MB, 33.6 * MB, 1 * MB]);
    collectAfterStartup(silentLogger(), { delayMs: 6000, retryMs: 5000, attempts: 4, gc: f.gc, newSpace: f.newSpace });
    await vi.advanceTimersByTimeAsync(5999);
    expect(f.calls()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(f.calls()).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(f.calls()).toBe(3); // shrunk at the third
    await vi.advanceTimersByTimeAsync(60_000);
    expect(f.calls()).toBe(3);
  });

  it('gives up after the given number of attempts', async () => {
    vi.useFakeTimers();
    const f = fakes([33.6 * MB]);
    collectAfterStartup(silentLogger(), { delayMs: 10, retryMs: 10, attempts: 4, gc: f.gc, newSpace: f.newSpace });
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.calls()).toBe(4);
  });

  it('cancelled (the service stops early), it collects nothing more', async () => {
    vi.useFakeTimers();
    const f = fakes([33.6 * MB]);
    const cancel = collectAfterStartup(silentLogger(), { delayMs: 10, retryMs: 10, attempts: 4, gc: f.gc, newSpace: f.newSpace });
    await vi.advanceTimersByTimeAsync(15);
    cancel();
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.calls()).toBe(1);
  });

  it("V8's gc can be had at run time", () => {
    expect(typeof obtainGc()).toBe('function');
  });
});
