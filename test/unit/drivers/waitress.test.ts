/**
 * Waitress (reply matching with timeouts) and Mutex (one request in flight).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Waitress } from '../../../drivers/util/waitress.js';
import { Mutex } from '../../../drivers/util/mutex.js';
import { DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';

describe('Waitress', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('resolves the first waiter whose matcher accepts the frame', async () => {
    const w = new Waitress<number>('panel');
    const even = w.waitFor((n) => n % 2 === 0, { command: 'even', timeoutMs: 100 });
    const big = w.waitFor((n) => n > 10, { command: 'big', timeoutMs: 100 });
    expect(w.resolve(3)).toBe(false);
    expect(w.resolve(12)).toBe(true); // taken by `even`, registered first
    expect(w.resolve(13)).toBe(true);
    await expect(even.promise).resolves.toBe(12);
    await expect(big.promise).resolves.toBe(13);
    expect(w.pending).toBe(0);
  });

  it('rejects with DeviceTimeoutError naming device, command and ms', async () => {
    const w = new Waitress<number>('panel');
    const wait = w.waitFor(() => true, { command: 'power', timeoutMs: 250 });
    const caught = wait.promise.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(249);
    expect(w.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    const err = await caught;
    expect(err).toBeInstanceOf(DeviceTimeoutError);
    expect((err as DeviceTimeoutError).message).toBe('panel: power: no reply within 250 ms');
    expect((err as DeviceTimeoutError).timeoutMs).toBe(250);
    expect(w.pending).toBe(0);
    expect(w.resolve(1)).toBe(false); // too late
  });

  it('a matcher that throws counts as no match', async () => {
    const w = new Waitress<Buffer>('air');
    const wait = w.waitFor((b) => b.readUInt8(5) === 1, { command: 'poll', timeoutMs: 100 });
    expect(w.resolve(Buffer.alloc(1))).toBe(false);
    expect(w.resolve(Buffer.from([0, 0, 0, 0, 0, 1]))).toBe(true);
    await expect(wait.promise).resolves.toHaveLength(6);
  });

  it('cancel and rejectAll stop waiters and their timers', async () => {
    const w = new Waitress<number>('panel');
    const a = w.waitFor(() => true, { command: 'a', timeoutMs: 100 });
    const b = w.waitFor(() => true, { command: 'b', timeoutMs: 100 });
    const c = w.waitFor(() => true, { command: 'c', timeoutMs: 100 });
    a.cancel(new Error('stop'));
    await expect(a.promise).rejects.toThrow('stop');
    w.rejectAll((cmd) => new DeviceOfflineError('panel', cmd));
    await expect(b.promise).rejects.toThrow('panel: b: device is offline');
    await expect(c.promise).rejects.toThrow('panel: c: device is offline');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('Mutex', () => {
  it('runs holders one at a time in FIFO order, releasing on errors too', async () => {
    const m = new Mutex();
    const order: string[] = [];
    let inside = 0;
    const job = (name: string, fail = false) =>
      m.runExclusive(async () => {
        inside++;
        expect(inside).toBe(1);
        order.push(`${name}+`);
        await new Promise((r) => setTimeout(r, 5));
        order.push(`${name}-`);
        inside--;
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job('a'), job('b', true), job('c')]);
    expect(order).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(m.locked).toBe(false);
  });

  it('acquire/release; releasing twice is harmless', async () => {
    const m = new Mutex();
    const r1 = await m.acquire();
    let second = false;
    const p = m.acquire().then((r) => {
      second = true;
      return r;
    });
    await Promise.resolve();
    expect(second).toBe(false);
    expect(m.waiting).toBe(1);
    r1();
    r1();
    const r2 = await p;
    expect(second).toBe(true);
    expect(m.locked).toBe(true);
    r2();
    expect(m.locked).toBe(false);
  });
});
