import { describe, expect, it } from 'vitest';
import type { GpioEdgeEvent } from '../../../drivers/transports/gpio.js';
import { FakeGpioBackend } from '../../../drivers/transports/gpio-fake.js';

const ms = (n: number): bigint => BigInt(n) * 1_000_000n;

describe('FakeGpioBackend inputs', () => {
  it('delivers replayed edges in order, filtered by the edge setting', async () => {
    const gpio = new FakeGpioBackend();
    const both: GpioEdgeEvent[] = [];
    const rising: GpioEdgeEvent[] = [];
    const falling: GpioEdgeEvent[] = [];
    (await gpio.openInput('gpiochip0', 5, 'both')).onEdge((e) => both.push(e));
    (await gpio.openInput('gpiochip0', 5, 'rising')).onEdge((e) => rising.push(e));
    (await gpio.openInput('gpiochip0', 5, 'falling')).onEdge((e) => falling.push(e));
    gpio.replay('gpiochip0', 5, [
      { value: 1, tsNs: ms(1) },
      { value: 0, tsNs: ms(2) },
      { value: 1, tsNs: ms(3) },
    ]);
    expect(both).toEqual([
      { value: 1, tsNs: ms(1) },
      { value: 0, tsNs: ms(2) },
      { value: 1, tsNs: ms(3) },
    ]);
    expect(rising.map((e) => e.tsNs)).toEqual([ms(1), ms(3)]);
    expect(falling.map((e) => e.tsNs)).toEqual([ms(2)]);
  });

  it('drops edges that do not change the level, and nothing reaches edge "none" or other lines', async () => {
    const gpio = new FakeGpioBackend();
    const none: GpioEdgeEvent[] = [];
    const other: GpioEdgeEvent[] = [];
    const line: GpioEdgeEvent[] = [];
    (await gpio.openInput('gpiochip0', 5, 'none')).onEdge((e) => none.push(e));
    (await gpio.openInput('gpiochip0', 6, 'both')).onEdge((e) => other.push(e));
    (await gpio.openInput('gpiochip0', 7, 'both')).onEdge((e) => line.push(e));
    gpio.replay('gpiochip0', 5, [{ value: 1, tsNs: 1n }]);
    gpio.replay('gpiochip0', 7, [
      { value: 1, tsNs: 1n },
      { value: 1, tsNs: 2n },
    ]);
    expect(none).toEqual([]);
    expect(other).toEqual([]);
    expect(line).toEqual([{ value: 1, tsNs: 1n }]);
    expect(gpio.level('gpiochip0', 5)).toBe(1);
  });

  it('inverts values for activeLow inputs (electrical low = logical 1)', async () => {
    const gpio = new FakeGpioBackend();
    gpio.setLevel('gpiochip0', 2, 1); // idle high
    const input = await gpio.openInput('gpiochip0', 2, 'rising', { activeLow: true });
    const got: GpioEdgeEvent[] = [];
    input.onEdge((e) => got.push(e));
    expect(await input.read()).toBe(0);
    gpio.replay('gpiochip0', 2, [
      { value: 0, tsNs: 10n },
      { value: 1, tsNs: 20n },
    ]);
    expect(got).toEqual([{ value: 1, tsNs: 10n }]);
    expect(await input.read()).toBe(0);
  });

  it('debounces by timestamp', async () => {
    const gpio = new FakeGpioBackend();
    const got: GpioEdgeEvent[] = [];
    (await gpio.openInput('gpiochip1', 0, 'both', { debounceMs: 5 })).onEdge((e) => got.push(e));
    gpio.replay('gpiochip1', 0, [
      { value: 1, tsNs: ms(0) },
      { value: 0, tsNs: ms(1) }, // bounce
      { value: 1, tsNs: ms(2) }, // bounce
      { value: 0, tsNs: ms(10) },
    ]);
    expect(got.map((e) => [e.value, e.tsNs])).toEqual([
      [1, ms(0)],
      [0, ms(10)],
    ]);
  });

  it('stops delivering after close, and read() then rejects', async () => {
    const gpio = new FakeGpioBackend();
    const input = await gpio.openInput('gpiochip0', 3, 'both');
    const got: GpioEdgeEvent[] = [];
    input.onEdge((e) => got.push(e));
    await input.close();
    gpio.replay('gpiochip0', 3, [{ value: 1, tsNs: 1n }]);
    expect(got).toEqual([]);
    await expect(input.read()).rejects.toThrow(/closed/);
  });
});

describe('FakeGpioBackend outputs', () => {
  it('records writes with logical value, electrical level and timestamp', async () => {
    let now = 100n;
    const gpio = new FakeGpioBackend({ nowNs: () => now });
    const relay = await gpio.openOutput('gpiochip0', 17, { activeLow: true });
    now = 200n;
    await relay.write(1);
    now = 300n;
    await relay.write(0);
    expect(gpio.writes('gpiochip0', 17)).toEqual([
      { value: 0, level: 1, tsNs: 100n },
      { value: 1, level: 0, tsNs: 200n },
      { value: 0, level: 1, tsNs: 300n },
    ]);
    expect(await relay.read()).toBe(0);
    expect(gpio.level('gpiochip0', 17)).toBe(1);
  });

  it('starts at the requested initial value', async () => {
    const gpio = new FakeGpioBackend();
    const out = await gpio.openOutput('gpiochip0', 4, { initial: 1 });
    expect(await out.read()).toBe(1);
    expect(gpio.writes('gpiochip0', 4).map((w) => w.level)).toEqual([1]);
  });

  it('refuses a line already in use until it is closed', async () => {
    const gpio = new FakeGpioBackend();
    const out = await gpio.openOutput('gpiochip0', 4);
    await expect(gpio.openOutput('gpiochip0', 4)).rejects.toThrow(/busy/);
    await expect(gpio.openInput('gpiochip0', 4, 'both')).rejects.toThrow(/busy/);
    await out.close();
    await expect(out.write(1)).rejects.toThrow(/closed/);
    await expect(gpio.openOutput('gpiochip0', 4)).resolves.toBeDefined();
  });

  it('fails opens on request (missing chip)', async () => {
    const gpio = new FakeGpioBackend();
    gpio.failOpen('gpiochip9', 1, new Error('no such chip'));
    await expect(gpio.openOutput('gpiochip9', 1)).rejects.toThrow('no such chip');
    await expect(gpio.openInput('gpiochip9', 1, 'both')).rejects.toThrow('no such chip');
    gpio.failOpen('gpiochip9', 1, undefined);
    await expect(gpio.openInput('gpiochip9', 1, 'both')).resolves.toBeDefined();
  });
});
