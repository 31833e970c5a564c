/**
 * Samsung MDC driver against the display simulator over an in-memory line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { samsungMdcDriver, mdcOptionsSchema, type SamsungMdcDriver } from '../../../drivers/samsung-mdc/driver.js';
import { MdcSim } from '../../../drivers/sim/samsung-mdc.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: SamsungMdcDriver;
  sim: MdcSim;
  host: MemoryEnd;
  device: MemoryEnd;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

async function rig(options: Record<string, unknown> = {}, simDisplayId = 1): Promise<Rig> {
  const [host, device] = createMemoryPair('mdc');
  const sim = new MdcSim(device, { displayId: simDisplayId });
  const driver = samsungMdcDriver.create({
    deviceId: 'panel',
    options: mdcOptionsSchema.parse({ timeoutMs: 60, pollSeconds: 3600, ...options }),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as SamsungMdcDriver;
  const r: Rig = { driver, sim, host, device, states: [], online: [], malformed: [] };
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

afterEach(async () => {
  vi.useRealTimers();
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('samsung-mdc driver', () => {
  it('polls STATUS when the line comes up and reports the display online with its state', async () => {
    const r = await rig();
    r.sim.state.power = 1;
    r.sim.state.volume = 33;
    await r.driver.open();
    await until(() => r.online.length > 0 && r.states.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states[0]).toEqual({ power: 'on', volume: 33, mute: false, input: 'hdmi1' });
    expect(r.sim.received[0]).toEqual({ cmd: 0x00, id: 1, data: Buffer.alloc(0) });
  });

  it('power on: sends the fixture frame, resolves with the state the ACK confirms', async () => {
    const r = await rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.sim.state.power).toBe(1);
    expect(r.sim.received.at(-1)).toEqual({ cmd: 0x11, id: 1, data: Buffer.from([1]) });
    // The confirmed power, then the warm-up flag (commands now wait for a STATUS that says on).
    expect(r.states.slice(-2)).toEqual([{ power: 'on' }, { warming: true }]);
  });

  it('input, volume, mute and refresh round-trip through the simulator', async () => {
    const r = await rig();
    await r.driver.open();
    await expect(r.driver.execute('input', { source: 'whiteboard' })).resolves.toEqual({ input: 'whiteboard' });
    await expect(r.driver.execute('volume', { level: 24 })).resolves.toEqual({ volume: 24 });
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    expect(r.sim.state).toMatchObject({ input: 0x64, volume: 24, mute: 1 });
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({
      power: 'off',
      volume: 24,
      mute: true,
      input: 'whiteboard',
    });
  });

  it('NAK -> DeviceNakError naming device, command and error code; the display stays online', async () => {
    const r = await rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.nakNext(0x14, 0x03);
    const err = await r.driver.execute('input', { source: 'hdmi2' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceNakError);
    expect((err as Error).message).toBe('panel: input: device refused: NAK error code 0x03');
    expect(r.sim.received.filter((f) => f.cmd === 0x14)).toHaveLength(1); // a NAK is not retried
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('silent display -> DeviceTimeoutError after retries, then offline; recovers to online', async () => {
    const r = await rig({ retries: 1, offlineAfter: 2 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const before = r.sim.received.length;
    const e1 = await r.driver.execute('power', { on: true }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceTimeoutError);
    expect((e1 as Error).message).toBe('panel: power: no reply within 60 ms');
    expect(r.sim.received.length - before).toBe(2); // first attempt + one retry
    expect(r.online).toEqual([[true, undefined]]); // one failure is not yet offline
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online.at(-1)?.[0]).toBe(false);
    expect(r.online.at(-1)?.[1]).toMatch(/refresh: no reply/);
    r.sim.silent = false;
    await expect(r.driver.execute('refresh', {})).resolves.toMatchObject({ power: 'off' });
    expect(r.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('a display with another id does not answer: timeout', async () => {
    const r = await rig({ displayId: 2, retries: 0 }, 1);
    await r.driver.open();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceTimeoutError);
  });

  it('transport down -> DeviceOfflineError at once and online false; back up -> polled online', async () => {
    const r = await rig({ timeoutMs: 5000 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.host.setUnplugged(true);
    const t0 = Date.now();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(Date.now() - t0).toBeLessThan(100);
    expect(r.online.at(-1)).toEqual([false, 'transport down: mdc (host end) unplugged']);
    r.host.setUnplugged(false);
    await until(() => r.online.length === 3);
    expect(r.online.at(-1)).toEqual([true, undefined]);
  });

  it('a request in flight when the line drops fails with DeviceOfflineError, not a timeout', async () => {
    const r = await rig({ timeoutMs: 5000 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const p = r.driver.execute('volume', { level: 10 });
    await until(() => r.sim.received.some((f) => f.cmd === 0x12));
    r.host.setUnplugged(true);
    await expect(p).rejects.toBeInstanceOf(DeviceOfflineError);
  });

  it('garbage and corrupted frames from the display are reported as malformed, replies still match', async () => {
    const r = await rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    await r.device.write(Buffer.from('0102AAFF0103411157', 'hex')); // junk + ACK with a bad checksum
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.malformed.length).toBeGreaterThanOrEqual(2);
    expect(r.malformed.join('\n')).toMatch(/bad checksum/);
  });

  it('concurrent commands go one at a time, in order', async () => {
    const r = await rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    const results = await Promise.all([
      r.driver.execute('power', { on: true }),
      r.driver.execute('volume', { level: 5 }),
      r.driver.execute('input', { source: 'dp' }),
    ]);
    expect(results).toEqual([{ power: 'on' }, { volume: 5 }, { input: 'dp' }]);
    expect(r.sim.received.slice(-3).map((f) => f.cmd)).toEqual([0x11, 0x12, 0x14]);
  });

  it('rejects unknown commands and bad arguments with typed errors', async () => {
    const r = await rig();
    await r.driver.open();
    const e1 = await r.driver.execute('reboot', {}).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceError);
    expect((e1 as DeviceError).code).toBe('unsupported');
    const e2 = await r.driver.execute('volume', { level: 101 }).catch((e: unknown) => e);
    expect((e2 as DeviceError).code).toBe('invalid-args');
    const e3 = await r.driver.execute('input', { source: 'vga' }).catch((e: unknown) => e);
    expect((e3 as DeviceError).code).toBe('invalid-args');
  });

  it('broadcast id 254: sets are sent without waiting for an ACK; refresh is refused', async () => {
    const r = await rig({ displayId: 254 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    // Nobody acknowledges a broadcast: the state is the commanded one, marked assumed.
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on', assumed: true });
    await until(() => r.sim.state.power === 1);
    const e = await r.driver.execute('refresh', {}).catch((x: unknown) => x);
    expect((e as DeviceError).code).toBe('unsupported');
  });

  it('polls every pollSeconds and publishes what changed on the display', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const r = await rig({ pollSeconds: 30 });
    await r.driver.open();
    await until(() => r.states.length === 1);
    r.sim.state.power = 1; // someone used the remote
    vi.advanceTimersByTime(29_000);
    await new Promise((res) => setTimeout(res, 30));
    expect(r.states).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    await until(() => r.states.length === 2);
    expect(r.states[1]).toMatchObject({ power: 'on' });
  });

  it('validates options with its zod schema', () => {
    expect(mdcOptionsSchema.parse({})).toEqual({ displayId: 1, timeoutMs: 1000, retries: 1, pollSeconds: 30, offlineAfter: 2 });
    expect(mdcOptionsSchema.safeParse({ displayId: 255 }).success).toBe(false);
    expect(mdcOptionsSchema.safeParse({ displayid: 1 }).success).toBe(false);
    expect(samsungMdcDriver.capabilities(mdcOptionsSchema.parse({})).map((c) => c.type)).toEqual([
      'power',
      'input',
      'volume',
      'mute',
      'status',
    ]);
  });
});
