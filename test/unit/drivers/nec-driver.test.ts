/**
 * NEC driver against the NEC monitor simulator over an in-memory line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { necDriver, necOptionsSchema, type NecDriver } from '../../../drivers/nec/driver.js';
import { NecSim, type NecSimOptions } from '../../../drivers/sim/nec.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: NecDriver;
  sim: NecSim;
  host: MemoryEnd;
  device: MemoryEnd;
  written: Buffer[];
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

function rig(options: Record<string, unknown> = {}, simOptions: NecSimOptions = {}): Rig {
  const [host, device] = createMemoryPair('nec');
  const written: Buffer[] = [];
  device.on('data', (c) => written.push(c));
  const sim = new NecSim(device, simOptions);
  const driver = necDriver.create({
    deviceId: 'lfd',
    options: necOptionsSchema.parse({ timeoutMs: 60, retries: 0, interCommandMs: 0, pollSeconds: 3600, ...options }),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as NecDriver;
  const r: Rig = { driver, sim, host, device, written, states: [], online: [], malformed: [] };
  driver.on('state', (p) => r.states.push(p));
  driver.on('online', (o, why) => r.online.push([o, why]));
  driver.on('malformed', (d) => r.malformed.push(d));
  rigs.push(r);
  return r;
}

function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('condition not met in time'));
      else setTimeout(tick, 2);
    };
    tick();
  });
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

afterEach(async () => {
  vi.useRealTimers();
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('nec driver', () => {
  it('polls power status on connect; a monitor in standby answers, so it is online and off', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states).toEqual([{ power: 'off' }]);
    expect(r.sim.received[0]?.message).toBe('01D6');
  });

  it('power on sends the P702 fixture packet and resolves with the confirmed mode; refresh reads the rest', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.states.length > 0);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.written.at(-1)).toEqual(hex('01 30 41 30 41 30 43 02 43 32 30 33 44 36 30 30 30 31 03 73 0d'));
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on', input: 'hdmi1', volume: 30, mute: false });
  });

  it('input, volume and mute are set parameters confirmed by the reply', async () => {
    const r = rig({}, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    await expect(r.driver.execute('input', { source: 'dp' })).resolves.toEqual({ input: 'dp' });
    expect(r.written.at(-1)).toEqual(hex('01 30 41 30 45 30 41 02 30 30 36 30 30 30 30 46 03 04 0d'));
    await expect(r.driver.execute('volume', { level: 55 })).resolves.toEqual({ volume: 55 });
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    expect(r.written.at(-1)).toEqual(hex('01 30 41 30 45 30 41 02 30 30 38 44 30 30 30 31 03 09 0d'));
    expect(r.sim.state).toMatchObject({ input: 0x0f, volume: 55, muted: true });
  });

  it('result 01 -> DeviceNakError naming device and command; a parameter in standby is refused', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.states.length > 0);
    const err = await r.driver.execute('volume', { level: 10 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceNakError);
    expect((err as Error).message).toBe('lfd: volume: device refused: result code 01 (unsupported with this monitor or in its current condition)');
    r.sim.refuseNextCommand();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceNakError);
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('silent monitor -> timeout after retries, then offline; recovers', async () => {
    const r = rig({ retries: 1, offlineAfter: 2 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const before = r.sim.received.length;
    const e = await r.driver.execute('power', { on: true }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceTimeoutError);
    expect((e as Error).message).toBe('lfd: power: no reply within 60 ms');
    expect(r.sim.received.length - before).toBe(2);
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online.at(-1)).toEqual([false, 'refresh: no reply within 60 ms']);
    r.sim.silent = false;
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'off' });
    expect(r.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('another monitor id gets no reply', async () => {
    const r = rig({ monitorId: 2 });
    await r.driver.open();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.sim.received).toEqual([]);
  });

  it('transport down -> DeviceOfflineError at once; in-flight requests fail the same way; back up -> online', async () => {
    const r = rig({ timeoutMs: 5000 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const p = r.driver.execute('power', { on: true });
    await until(() => r.sim.received.length === 2);
    r.host.setUnplugged(true);
    await expect(p).rejects.toBeInstanceOf(DeviceOfflineError);
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(r.online.at(-1)).toEqual([false, 'transport down: nec (host end) unplugged']);
    r.sim.silent = false;
    r.host.setUnplugged(false);
    await until(() => r.online.length === 3);
  });

  it('garbage and bad BCC from the monitor are malformed; replies still match', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    await r.device.write(hex('00 01 30 30 41 42 30 45 02 30 30 43 32 30 33 44 36 30 30 30 31 03 00 0d'));
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.malformed.join('\n')).toMatch(/bad BCC/);
  });

  it('keeps interCommandMs between packets', async () => {
    const r = rig({ interCommandMs: 80 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    const times: number[] = [];
    r.device.on('data', () => times.push(Date.now()));
    await Promise.all([r.driver.execute('volume', { level: 1 }), r.driver.execute('volume', { level: 2 })]);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(75);
  });

  it('polls every pollSeconds', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const r = rig({ pollSeconds: 30 });
    await r.driver.open();
    await until(() => r.states.length === 1);
    r.sim.state.power = 1;
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => r.states.length === 2);
    expect(r.states[1]).toMatchObject({ power: 'on' });
  });

  it('validates options; custom inputs', async () => {
    expect(necOptionsSchema.parse({})).toEqual({ monitorId: 1, timeoutMs: 2000, retries: 1, interCommandMs: 300, pollSeconds: 30, offlineAfter: 2 });
    expect(necOptionsSchema.safeParse({ monitorId: 0 }).success).toBe(false);
    expect(necOptionsSchema.safeParse({ inputs: { HDMI: 1 } }).success).toBe(false);
    expect(necDriver.capabilities(necOptionsSchema.parse({})).map((c) => c.type)).toEqual(['power', 'input', 'volume', 'mute', 'status']);
    const r = rig({ inputs: { ops: 0x0d, hdmi2: 0x12 } }, { initial: { power: 1 }, inputCodes: [0x0d, 0x12] });
    await r.driver.open();
    await expect(r.driver.execute('input', { source: 'hdmi2' })).resolves.toEqual({ input: 'hdmi2' });
    const e = await r.driver.execute('input', { source: 'dp' }).catch((x: unknown) => x);
    expect((e as DeviceError).code).toBe('invalid-args');
  });
});
