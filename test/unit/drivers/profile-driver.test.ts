/**
 * panel-profile driver against the generic profile simulator, with the two
 * example profiles of docs/drivers/panel-profile.md.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { profileDriver, profileOptionsSchema, type ProfileDriver, type ProfileOptions } from '../../../drivers/profile/driver.js';
import { ProfileSim, sampleFor, type ProfileSimOptions } from '../../../drivers/sim/profile.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';
import { newlineExample, seewoExample } from './profile-fixtures.js';

interface Rig {
  driver: ProfileDriver;
  sim: ProfileSim;
  host: MemoryEnd;
  device: MemoryEnd;
  written: Buffer[];
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

function rig(profile: ProfileOptions, overrides: Partial<ProfileOptions> = {}, simOptions: ProfileSimOptions = {}): Rig {
  const options = profileOptionsSchema.parse({ ...profile, timeoutMs: 60, interCommandMs: 0, pollSeconds: 3600, ...overrides });
  const [host, device] = createMemoryPair('profile');
  const written: Buffer[] = [];
  device.on('data', (c) => written.push(c));
  const sim = new ProfileSim(device, options, simOptions);
  const driver = profileDriver.create({
    deviceId: 'panel',
    options,
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as ProfileDriver;
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
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('panel-profile driver, Newline-style hex example (ack, no query)', () => {
  it('tracked state, online with the port; power on sends the frame and resolves on the return frame', async () => {
    const r = rig(newlineExample());
    await r.driver.open();
    await until(() => r.online.length > 0);
    expect(r.states[0]).toEqual({ tracked: true });
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.written[0]).toEqual(hex('7F 08 99 A2 B3 C4 02 FF 01 00 CF'));
    expect(r.sim.state.power).toBe(true);
    await expect(r.driver.execute('input', { source: 'ops' })).resolves.toEqual({ input: 'ops' });
    expect(r.written[1]).toEqual(hex('7F 08 99 A2 B3 C4 02 FF 01 0C CF'));
    expect(r.sim.received).toEqual(['powerOn', 'input:ops']);
  });

  it('error return frame -> DeviceNakError with the reply; silence -> DeviceTimeoutError, still online (tracked)', async () => {
    const r = rig(newlineExample());
    await r.driver.open();
    r.sim.errorNext();
    const e = await r.driver.execute('input', { source: 'hdmi2' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceNakError);
    expect((e as Error).message).toMatch(/^panel: input: device refused: error reply "/);
    r.sim.silent = true;
    const t = await r.driver.execute('power', { on: false }).catch((x: unknown) => x);
    expect(t).toBeInstanceOf(DeviceTimeoutError);
    expect((t as Error).message).toBe('panel: power: no reply within 60 ms');
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('a toggle mute key is sent only when the tracked mute differs', async () => {
    const r = rig(newlineExample());
    await r.driver.open();
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    expect(r.sim.received).toEqual(['mute']);
    expect(r.sim.state.muted).toBe(true);
    await expect(r.driver.execute('mute', { on: false })).resolves.toEqual({ mute: false });
    expect(r.sim.state.muted).toBe(false);
  });

  it('garbage and late replies: garbage is malformed, commands still resolve', async () => {
    const r = rig(newlineExample());
    await r.driver.open();
    await r.device.write(hex('00 13 7F 09'));
    await until(() => r.malformed.length > 0);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
  });

  it('transport down -> DeviceOfflineError at once; back up -> online', async () => {
    const r = rig(newlineExample(), { timeoutMs: 5000 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const inflight = r.driver.execute('power', { on: true });
    await until(() => r.sim.received.length === 1);
    r.host.setUnplugged(true);
    await expect(inflight).rejects.toBeInstanceOf(DeviceOfflineError);
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(r.online.at(-1)).toEqual([false, 'transport down: profile (host end) unplugged']);
    r.host.setUnplugged(false);
    await until(() => r.online.length === 3);
  });
});

describe('panel-profile driver, Seewo-style ascii example (ack and power query)', () => {
  it('polls the power query on connect: online with the reported state', async () => {
    const r = rig(seewoExample(), {}, { initial: { power: true } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.states).toEqual([{ power: 'on' }]); // no tracked flag: the state is read
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.written[0]?.toString()).toBe('PWR?\r');
  });

  it('commands send the ascii frames with the terminator; volume fills the template', async () => {
    const r = rig(seewoExample());
    await r.driver.open();
    await until(() => r.states.length > 0);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    await expect(r.driver.execute('input', { source: 'android' })).resolves.toEqual({ input: 'android' });
    await expect(r.driver.execute('volume', { level: 7 })).resolves.toEqual({ volume: 7 });
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    // After the power-on the panel is warming: the input waits for a power query answering on (PWR?).
    expect(r.written.slice(1).map((w) => w.toString())).toEqual(['PWR ON\r', 'PWR?\r', 'SRC ANDROID\r', 'VOL 007\r', 'MUTE ON\r']);
    expect(r.sim.state).toEqual({ power: true, input: 'android', volume: 7, muted: true });
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on' });
  });

  it('error replies -> DeviceNakError; silence -> timeout then offline after offlineAfter; recovers', async () => {
    const r = rig(seewoExample(), { offlineAfter: 2 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.errorNext();
    await expect(r.driver.execute('volume', { level: 3 })).rejects.toBeInstanceOf(DeviceNakError);
    r.sim.silent = true;
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online).toEqual([[true, undefined]]);
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online.at(-1)).toEqual([false, 'refresh: no reply within 60 ms']);
    r.sim.silent = false;
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'off' });
    expect(r.online.map((o) => o[0])).toEqual([true, false, true]);
  });

  it('retries a timeout when asked to', async () => {
    const r = rig(seewoExample(), { retries: 2 });
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.sim.silent = true;
    const before = r.sim.received.length;
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.sim.received.length - before).toBe(3);
  });

  it('keeps interCommandMs between frames', async () => {
    const r = rig(seewoExample(), { interCommandMs: 80 });
    await r.driver.open();
    await until(() => r.states.length > 0);
    const times: number[] = [];
    r.device.on('data', () => times.push(Date.now()));
    await Promise.all([r.driver.execute('power', { on: true }), r.driver.execute('volume', { level: 1 })]);
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(75);
  });
});

describe('panel-profile driver, send-only', () => {
  const sendOnly = (): ProfileOptions =>
    profileOptionsSchema.parse({
      encoding: 'ascii',
      terminator: '\r\n',
      commands: { powerOn: 'ON', powerOff: 'OFF', inputs: { hdmi1: 'IN1' } },
    });

  it('resolves once written, tracks state, ignores received bytes', async () => {
    const r = rig(sendOnly());
    await r.driver.open();
    await until(() => r.online.length > 0);
    expect(r.states[0]).toEqual({ tracked: true });
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    await r.device.write(Buffer.from('whatever\r\n'));
    await until(() => r.sim.state.power);
    expect(r.written[0]?.toString()).toBe('ON\r\n');
    expect(r.malformed).toEqual([]);
    const e = await r.driver.execute('refresh', {}).catch((x: unknown) => x);
    expect((e as DeviceError).code).toBe('unsupported');
    const v = await r.driver.execute('volume', { level: 1 }).catch((x: unknown) => x);
    expect((v as DeviceError).code).toBe('unsupported');
    expect(profileDriver.capabilities(sendOnly()).map((c) => c.type)).toEqual(['power', 'input']);
  });
});

describe('profile simulator replies', () => {
  it('derives a sample reply from simple patterns and refuses the rest', () => {
    expect(sampleFor('^OK$')).toBe('OK');
    expect(sampleFor('^(ERR|NG)')).toBe('ERR');
    expect(sampleFor('^PWR=ON$')).toBe('PWR=ON');
    expect(sampleFor('A\\d{3}\\.x?')).toBe('A000.');
    expect(sampleFor('[0-9A-F]+h')).toBe('0h');
    expect(sampleFor('(?=a)b')).toBeUndefined();
    expect(sampleFor('[^a]')).toBeUndefined();
    expect(sampleFor('a)')).toBeUndefined();
  });

  it('asks for an explicit reply when it cannot derive one, and checks given replies', () => {
    const [, device] = createMemoryPair('p');
    const opts = profileOptionsSchema.parse({ ...seewoExample(), ack: { ok: '^(?=O)OK$' } });
    expect(() => new ProfileSim(device, opts)).toThrow('profile simulator: give replies.ok for the pattern "^(?=O)OK$"');
    expect(() => new ProfileSim(device, seewoExample(), { replies: { ok: 'KO' } })).toThrow(
      'profile simulator: reply "KO" does not match ack.ok "^OK$"',
    );
    const sim = new ProfileSim(device, opts, { replies: { ok: 'OK' } });
    expect(sim.state.power).toBe(false);
    void sim.close();
  });
});
