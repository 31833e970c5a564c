/**
 * Sharp PN driver against the Sharp monitor simulator over an in-memory line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sharpDriver, sharpOptionsSchema, type SharpDriver } from '../../../drivers/sharp/driver.js';
import { SharpSim, type SharpSimOptions } from '../../../drivers/sim/sharp.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: SharpDriver;
  sim: SharpSim;
  host: MemoryEnd;
  device: MemoryEnd;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

function rig(options: Record<string, unknown> = {}, simOptions: SharpSimOptions = {}): Rig {
  const [host, device] = createMemoryPair('sharp');
  const sim = new SharpSim(device, simOptions);
  const driver = sharpDriver.create({
    deviceId: 'pn',
    options: sharpOptionsSchema.parse({ timeoutMs: 80, interCommandMs: 0, pollSeconds: 3600, ...options }),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as SharpDriver;
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

describe('sharp-pn driver', () => {
  it('polls POWR???? on connect; a monitor in standby answers 0: online and off', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states).toEqual([{ power: 'off' }]);
    expect(r.sim.received).toEqual(['POWR????']);
  });

  it('power on: POWR0001 -> WAIT ... OK resolves after the WAIT; refresh reads the rest', async () => {
    const r = rig({ timeoutMs: 500 }, { warmupMs: 150 });
    await r.driver.open();
    await until(() => r.states.length > 0);
    const t0 = Date.now();
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(r.sim.received.at(-1)).toBe('POWR0001');
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on', input: 'hdmi1', volume: 20, mute: false });
    expect(r.sim.received.slice(-4)).toEqual(['POWR????', 'INPS????', 'VOLM????', 'MUTE????']);
  });

  it('input, volume, mute send the 4+4 commands and resolve on OK', async () => {
    const r = rig({}, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    await expect(r.driver.execute('input', { source: 'option' })).resolves.toEqual({ input: 'option' });
    await expect(r.driver.execute('volume', { level: 20 })).resolves.toEqual({ volume: 20 });
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    expect(r.sim.received.slice(-3)).toEqual(['INPS0021', 'VOLM0020', 'MUTE0001']);
    expect(r.sim.state).toMatchObject({ input: 21, volume: 20, muted: true });
  });

  it('ERR is resent errRetries times, then DeviceNakError; LOCKED is not resent', async () => {
    const r = rig({ errRetries: 1 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    r.sim.errOnNext(1); // one noisy ERR: the resend succeeds
    await expect(r.driver.execute('volume', { level: 5 })).resolves.toEqual({ volume: 5 });
    r.sim.errOnNext(2);
    const e = await r.driver.execute('volume', { level: 6 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceNakError);
    expect((e as Error).message).toBe("pn: volume: device refused: ERR (no such command, or not usable in the monitor's current state)");
    r.sim.locked = true;
    const before = r.sim.received.length;
    const l = await r.driver.execute('volume', { level: 7 }).catch((x: unknown) => x);
    expect((l as Error).message).toBe('pn: volume: device refused: LOCKED (RS-232C control is locked by the operation lock)');
    expect(r.sim.received.length - before).toBe(1);
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('silent monitor -> DeviceTimeoutError, then offline after offlineAfter; recovers', async () => {
    const r = rig({ offlineAfter: 2 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const e = await r.driver.execute('power', { on: true }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceTimeoutError);
    expect((e as Error).message).toBe('pn: power: no reply within 80 ms');
    expect(r.online).toHaveLength(1);
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online.at(-1)).toEqual([false, 'refresh: no reply within 80 ms']);
    r.sim.silent = false;
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'off' });
    expect(r.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('transport down -> DeviceOfflineError at once (in flight too); back up -> online', async () => {
    const r = rig({ timeoutMs: 5000 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const p = r.driver.execute('power', { on: true });
    await until(() => r.sim.received.length === 2);
    r.host.setUnplugged(true);
    await expect(p).rejects.toBeInstanceOf(DeviceOfflineError);
    const t0 = Date.now();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(Date.now() - t0).toBeLessThan(100);
    expect(r.online.at(-1)).toEqual([false, 'transport down: sharp (host end) unplugged']);
    r.sim.silent = false;
    r.host.setUnplugged(false);
    await until(() => r.online.length === 3);
  });

  it('keeps 100 ms between a response and the next command', async () => {
    const r = rig({ interCommandMs: 100 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    const sends: number[] = [];
    const replies: number[] = [];
    r.device.on('data', () => sends.push(Date.now()));
    r.host.on('data', () => replies.push(Date.now()));
    await Promise.all([r.driver.execute('volume', { level: 1 }), r.driver.execute('volume', { level: 2 })]);
    expect(sends).toHaveLength(2);
    expect(sends[1]! - replies[0]!).toBeGreaterThanOrEqual(95);
  });

  it('garbage and unknown responses are malformed', async () => {
    const r = rig({}, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    await r.device.write(Buffer.from('\x00\xff\r\nHELLO\r\n', 'latin1'));
    await until(() => r.malformed.length >= 2);
    expect(r.malformed.join('\n')).toMatch(/unknown response "HELLO"/);
    await expect(r.driver.execute('volume', { level: 3 })).resolves.toEqual({ volume: 3 });
  });

  it('polls every pollSeconds', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const r = rig({ pollSeconds: 30 });
    await r.driver.open();
    await until(() => r.states.length === 1);
    r.sim.state.power = 2;
    await vi.advanceTimersByTimeAsync(30_000);
    await until(() => r.states.length === 2);
    expect(r.states[1]).toMatchObject({ power: 'on' });
  });

  it('validates options; bad arguments', async () => {
    expect(sharpOptionsSchema.parse({})).toEqual({ timeoutMs: 10_000, errRetries: 1, interCommandMs: 100, pollSeconds: 30, offlineAfter: 2 });
    expect(sharpOptionsSchema.safeParse({ inputs: {} }).success).toBe(false);
    expect(sharpDriver.capabilities(sharpOptionsSchema.parse({})).map((c) => c.type)).toEqual(['power', 'input', 'volume', 'mute', 'status']);
    const r = rig();
    await r.driver.open();
    expect(((await r.driver.execute('input', { source: 'vga' }).catch((x: unknown) => x)) as DeviceError).code).toBe('invalid-args');
    expect(((await r.driver.execute('reboot', {}).catch((x: unknown) => x)) as DeviceError).code).toBe('unsupported');
  });
});
