/**
 * LG driver against the LG set simulator over an in-memory line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lgDriver, lgOptionsSchema, type LgDriver } from '../../../drivers/lg/driver.js';
import { LgSim, type LgSimOptions } from '../../../drivers/sim/lg.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: LgDriver;
  sim: LgSim;
  host: MemoryEnd;
  device: MemoryEnd;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

function rig(options: Record<string, unknown> = {}, simOptions: LgSimOptions = {}): Rig {
  const [host, device] = createMemoryPair('lg');
  const sim = new LgSim(device, simOptions);
  const driver = lgDriver.create({
    deviceId: 'panel',
    options: lgOptionsSchema.parse({ timeoutMs: 60, powerTimeoutMs: 500, retries: 0, pollSeconds: 3600, ...options }),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as LgDriver;
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

const sent = (r: Rig): string[] => r.sim.received.map((c) => `${c.cmd} ${c.setId} ${c.data.join(' ')}`);

afterEach(async () => {
  vi.useRealTimers();
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('lg driver', () => {
  it('a set in standby sends no status: online with the port, power read as off', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states).toEqual([{ power: 'off' }]);
    expect(sent(r)).toEqual(['ka 1 ff']);
  });

  it('power on from standby waits for the late acknowledgement, then refresh reads the full status', async () => {
    const r = rig({}, { warmupMs: 150 }); // longer than timeoutMs (60), shorter than powerTimeoutMs (500)
    await r.driver.open();
    await until(() => r.states.length > 0);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.sim.state.power).toBe(1);
    expect(sent(r).at(-1)).toBe('ka 1 01');
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on', input: 'hdmi1', volume: 20, mute: false });
    expect(sent(r).slice(-4)).toEqual(['ka 1 ff', 'xb 1 ff', 'kf 1 ff', 'ke 1 ff']);
  });

  it('input, volume and mute use the manual codes (ke 00 = muted) and resolve with the echoed value', async () => {
    const r = rig({}, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    await expect(r.driver.execute('input', { source: 'hdmi2' })).resolves.toEqual({ input: 'hdmi2' });
    await expect(r.driver.execute('volume', { level: 100 })).resolves.toEqual({ volume: 100 });
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    expect(sent(r).slice(-3)).toEqual(['xb 1 91', 'kf 1 64', 'ke 1 00']);
    expect(r.sim.state).toMatchObject({ input: 0x91, volume: 100, muted: true });
    await expect(r.driver.execute('mute', { on: false })).resolves.toEqual({ mute: false });
    expect(r.sim.state.muted).toBe(false);
  });

  it('NG -> DeviceNakError naming device, command and the NG code; not retried', async () => {
    const r = rig({ retries: 2 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    r.sim.ngNext('xb', '01');
    const err = await r.driver.execute('input', { source: 'pc' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceNakError);
    expect((err as Error).message).toBe('panel: input: device refused: NG 01 (illegal code)');
    expect(sent(r).filter((s) => s.startsWith('xb 1 60'))).toHaveLength(1);
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('silent set with offlineAfter 2: DeviceTimeoutError after retries, then offline; recovers', async () => {
    const r = rig({ offlineAfter: 2, retries: 1 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.online.length > 0);
    expect(r.online).toEqual([[true, undefined]]); // first reply, not the port, makes it online
    r.sim.silent = true;
    const before = r.sim.received.length;
    const e1 = await r.driver.execute('volume', { level: 5 }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceTimeoutError);
    expect((e1 as Error).message).toBe('panel: volume: no reply within 60 ms');
    expect(r.sim.received.length - before).toBe(2); // one retry
    expect(r.online).toHaveLength(1);
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online.at(-1)).toEqual([false, 'refresh: no reply within 60 ms']);
    r.sim.silent = false;
    await expect(r.driver.execute('refresh', {})).resolves.toMatchObject({ power: 'on' });
    expect(r.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('default (offlineAfter 0): a silent set times out on commands but stays online, power read as off', async () => {
    const r = rig({}, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.states[0]).toMatchObject({ power: 'on' });
    r.sim.silent = true;
    await expect(r.driver.execute('volume', { level: 5 })).rejects.toBeInstanceOf(DeviceTimeoutError);
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'off' });
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('transport down -> DeviceOfflineError at once and online false; back up -> online again', async () => {
    const r = rig({ timeoutMs: 5000 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.host.setUnplugged(true);
    const t0 = Date.now();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(Date.now() - t0).toBeLessThan(100);
    expect(r.online.at(-1)).toEqual([false, 'transport down: lg (host end) unplugged']);
    r.host.setUnplugged(false);
    await until(() => r.online.length === 3);
    expect(r.online.at(-1)).toEqual([true, undefined]);
  });

  it('a request in flight when the line drops fails with DeviceOfflineError', async () => {
    const r = rig({ timeoutMs: 5000 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    r.sim.silent = true;
    const p = r.driver.execute('volume', { level: 10 });
    await until(() => sent(r).includes('kf 1 0a'));
    r.host.setUnplugged(true);
    await expect(p).rejects.toBeInstanceOf(DeviceOfflineError);
  });

  it('garbage from the set is reported as malformed and replies still match', async () => {
    const r = rig({}, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    await r.device.write(Buffer.from('\x00\xffa 01 OK9', 'latin1'));
    await expect(r.driver.execute('power', { on: false })).resolves.toEqual({ power: 'off' });
    expect(r.malformed.join('\n')).toMatch(/not an LG reply/);
  });

  it('set id 0 addresses all sets: sent without waiting (replies would collide), state assumed; another id gets no reply', async () => {
    const all = rig({ setId: 0 }, { initial: { power: 1 } });
    await all.driver.open();
    await expect(all.driver.execute('volume', { level: 7 })).resolves.toEqual({ volume: 7, assumed: true });
    await until(() => sent(all).length > 0); // written, not acknowledged: the set reads it a moment later
    expect(sent(all).at(-1)).toBe('kf 0 07');
    const other = rig({ setId: 2 }, { initial: { power: 1 } });
    await other.driver.open();
    await expect(other.driver.execute('volume', { level: 7 })).rejects.toBeInstanceOf(DeviceTimeoutError);
  });

  it('older sets: inputCommand kb with its own codes; custom input tables replace the built-in one', async () => {
    const kb = rig({ inputCommand: 'kb' }, { inputCommand: 'kb', initial: { power: 1, input: 0x07 } });
    await kb.driver.open();
    await until(() => kb.states.length > 0);
    expect(kb.states[0]).toMatchObject({ input: 'pc' });
    await expect(kb.driver.execute('input', { source: 'hdmi' })).resolves.toEqual({ input: 'hdmi' });
    expect(sent(kb).at(-1)).toBe('kb 1 08');

    const custom = rig({ inputs: { 'hdmi1-pc': 0xa0, ops: 0x91 } }, { inputCodes: [0xa0, 0x91], initial: { power: 1 } });
    expect(lgDriver.capabilities(lgOptionsSchema.parse({ inputs: { 'hdmi1-pc': 0xa0, ops: 0x91 } }))[1]?.meta).toEqual({
      inputs: ['hdmi1-pc', 'ops'],
    });
    await custom.driver.open();
    await expect(custom.driver.execute('input', { source: 'ops' })).resolves.toEqual({ input: 'ops' });
    const e = await custom.driver.execute('input', { source: 'hdmi1' }).catch((x: unknown) => x);
    expect((e as DeviceError).code).toBe('invalid-args');
  });

  it('polls every pollSeconds and publishes what changed on the set', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const r = rig({ pollSeconds: 30 }, { initial: { power: 1 } });
    await r.driver.open();
    await until(() => r.states.length === 1);
    r.sim.state.volume = 42; // someone used the remote
    await vi.advanceTimersByTimeAsync(29_000);
    await new Promise((res) => setTimeout(res, 30));
    expect(r.states).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => r.states.length === 2);
    expect(r.states[1]).toMatchObject({ power: 'on', volume: 42 });
  });

  it('rejects unknown commands and bad arguments; validates options', async () => {
    const r = rig();
    await r.driver.open();
    expect(((await r.driver.execute('reboot', {}).catch((e: unknown) => e)) as DeviceError).code).toBe('unsupported');
    expect(((await r.driver.execute('volume', { level: 101 }).catch((e: unknown) => e)) as DeviceError).code).toBe('invalid-args');
    expect(lgOptionsSchema.parse({})).toEqual({
      setId: 1,
      inputCommand: 'xb',
      timeoutMs: 1000,
      powerTimeoutMs: 10_000,
      retries: 1,
      pollSeconds: 30,
      offlineAfter: 0,
    });
    expect(lgOptionsSchema.safeParse({ setId: 100 }).success).toBe(false);
    expect(lgOptionsSchema.safeParse({ inputCommand: 'xc' }).success).toBe(false);
    expect(lgOptionsSchema.safeParse({ inputs: {} }).success).toBe(false);
    expect(lgOptionsSchema.safeParse({ inputs: { HDMI: 1 } }).error?.issues[0]?.message).toBe('input names: lower-case letters, digits and "-", up to 32 (got "HDMI")');
    expect(lgOptionsSchema.safeParse({ setid: 1 }).success).toBe(false);
    expect(lgDriver.capabilities(lgOptionsSchema.parse({})).map((c) => c.type)).toEqual(['power', 'input', 'volume', 'mute', 'status']);
  });
});
