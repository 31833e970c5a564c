/**
 * Hitevision IFP driver against the panel simulator over an in-memory line.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { hitevisionDriver, hitevisionOptionsSchema, type HitevisionDriver } from '../../../drivers/hitevision/driver.js';
import { HitevisionSim, type HvSimOptions } from '../../../drivers/sim/hitevision.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: HitevisionDriver;
  sim: HitevisionSim;
  host: MemoryEnd;
  device: MemoryEnd;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
  written: Buffer[];
}

const rigs: Rig[] = [];

function rig(options: Record<string, unknown> = {}, simOptions: HvSimOptions = {}): Rig {
  const [host, device] = createMemoryPair('ifp');
  const written: Buffer[] = [];
  device.on('data', (c) => written.push(c));
  const sim = new HitevisionSim(device, simOptions);
  const driver = hitevisionDriver.create({
    deviceId: 'ifp',
    // No warm-up wait unless a test asks for one: the panel simulator takes keys at once.
    options: hitevisionOptionsSchema.parse({ interCommandMs: 0, timeoutMs: 60, warmupSeconds: 0, ...options }),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as HitevisionDriver;
  const r: Rig = { driver, sim, host, device, states: [], online: [], malformed: [], written };
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
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('hitevision-ifp driver', () => {
  it('marks its state tracked at open and is online while the port is up', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    expect(r.states[0]).toEqual({ tracked: true });
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('power on sends the documented frame and tracks the commanded state', async () => {
    const r = rig();
    await r.driver.open();
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    await until(() => r.sim.state.power);
    expect(r.written[0]).toEqual(Buffer.from('7F0899A2B3C402FF0100CF', 'hex'));
    expect(r.states.at(-1)).toEqual({ power: 'on' });
  });

  it('inputs map to 0A/0B/0C/0D', async () => {
    const r = rig({}, { initial: { power: true } });
    await r.driver.open();
    for (const source of ['hdmi2', 'ops', 'pc', 'hdmi1'] as const) {
      await expect(r.driver.execute('input', { source })).resolves.toEqual({ input: source });
      await until(() => r.sim.state.input === source);
    }
    expect(r.sim.received).toEqual([0x0b, 0x0c, 0x0d, 0x0a]);
  });

  it('mute is a toggle key: sent only when the tracked mute differs, so it drifts if the remote is used', async () => {
    const r = rig({}, { initial: { power: true } });
    await r.driver.open();
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    await until(() => r.sim.state.muted);
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true });
    await new Promise((res) => setTimeout(res, 20));
    expect(r.sim.received).toEqual([0x02]); // the second request sent nothing
    r.sim.state.muted = false; // someone pressed mute on the remote
    await expect(r.driver.execute('mute', { on: false })).resolves.toEqual({ mute: false });
    await until(() => r.sim.received.length === 2);
    expect(r.sim.state.muted).toBe(true); // drifted: documented limitation of a toggle key
  });

  it('send-only: a silent panel cannot be noticed, commands still resolve with the tracked state', async () => {
    const r = rig();
    await r.driver.open();
    r.sim.silent = true;
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.sim.state.power).toBe(false);
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('transport down -> DeviceOfflineError at once and online false; back up -> online', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    r.host.setUnplugged(true);
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(r.online.at(-1)).toEqual([false, 'transport down: ifp (host end) unplugged']);
    r.host.setUnplugged(false);
    await until(() => r.online.length === 3);
    expect(r.online.at(-1)).toEqual([true, undefined]);
  });

  it('confirm: waits for the return frame; status 00 -> DeviceNakError; no return -> DeviceTimeoutError', async () => {
    const r = rig({ confirm: true }, { returnCodes: true, replyDelayMs: 5 });
    await r.driver.open();
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    await r.device.write(Buffer.from('7F0999A2B3C402FF010A00CF', 'hex')); // stale "failed" return for HDMI1 ...
    await new Promise((res) => setTimeout(res, 10)); // ... nobody waits for it: ignored
    await expect(r.driver.execute('input', { source: 'hdmi1' })).resolves.toEqual({ input: 'hdmi1' });
    r.sim.returnCodes = false;
    r.sim.silent = true;
    const e = await r.driver.execute('input', { source: 'ops' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceTimeoutError);
    expect((e as Error).message).toBe('ifp: input: no reply within 60 ms');
    r.sim.silent = false;
    const nak = r.driver.execute('input', { source: 'pc' });
    await until(() => r.sim.received.at(-1) === 0x0d);
    await r.device.write(Buffer.from('7F0999A2B3C402FF010D00CF', 'hex'));
    const err = await nak.catch((x: unknown) => x);
    expect(err).toBeInstanceOf(DeviceNakError);
    expect((err as Error).message).toBe('ifp: input: device refused: return status 0x00');
  });

  it('garbage from the panel is counted as malformed', async () => {
    const r = rig();
    await r.driver.open();
    await until(() => r.online.length > 0);
    await r.device.write(Buffer.from('00117F08', 'hex'));
    await r.device.write(Buffer.from('0000', 'hex'));
    await until(() => r.malformed.length >= 2);
    expect(r.malformed.join('\n')).toMatch(/skipped|bad/);
  });

  it('keeps the inter-command gap between keys', async () => {
    const r = rig({ interCommandMs: 80 }, { initial: { power: true } });
    await r.driver.open();
    const times: number[] = [];
    r.device.on('data', () => times.push(Date.now()));
    await Promise.all([r.driver.execute('input', { source: 'ops' }), r.driver.execute('input', { source: 'pc' })]);
    await until(() => times.length === 2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(75);
  });

  it('rejects unknown commands and bad arguments; validates options', async () => {
    const r = rig();
    await r.driver.open();
    expect(((await r.driver.execute('volume', { level: 3 }).catch((e: unknown) => e)) as DeviceError).code).toBe('unsupported');
    expect(((await r.driver.execute('input', { source: 'dp' }).catch((e: unknown) => e)) as DeviceError).code).toBe('invalid-args');
    expect(hitevisionOptionsSchema.parse({})).toEqual({ confirm: false, timeoutMs: 1000, interCommandMs: 100, warmupSeconds: 8 });
    expect(hitevisionOptionsSchema.safeParse({ confirm: 'yes' }).success).toBe(false);
    expect(hitevisionDriver.capabilities(hitevisionOptionsSchema.parse({})).map((c) => c.type)).toEqual(['power', 'input', 'mute']);
  });
});
