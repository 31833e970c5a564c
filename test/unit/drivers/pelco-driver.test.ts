/**
 * Pelco-D driver against the receiver simulator over an in-memory line:
 * send-only commands, tracked state, message spacing, offline behaviour.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pelcoDDriver, pelcoDOptionsSchema, pelcoZoomSpeed, type PelcoDDriver } from '../../../drivers/pelco-d/driver.js';
import { PelcoDSim } from '../../../drivers/sim/pelco-d.js';
import { encodePelcoFrame } from '../../../drivers/pelco-d/framer.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceOfflineError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: PelcoDDriver;
  sim: PelcoDSim;
  host: MemoryEnd;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
}

const rigs: Rig[] = [];

async function rig(options: Record<string, unknown> = {}, simAddress = 1): Promise<Rig> {
  const [host, device] = createMemoryPair('pelco');
  const sim = new PelcoDSim(device, { address: simAddress });
  const driver = pelcoDDriver.create({
    deviceId: 'dome',
    options: pelcoDOptionsSchema.parse(options),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as PelcoDDriver;
  const r: Rig = { driver, sim, host, states: [], online: [] };
  driver.on('state', (p) => r.states.push(p));
  driver.on('online', (o, why) => r.online.push([o, why]));
  rigs.push(r);
  await driver.open();
  await until(() => r.online.length > 0);
  return r;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const wire = (r: Rig): string[] => r.sim.received.map((x) => encodePelcoFrame(x.frame).toString('hex'));

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('pelco-d driver', () => {
  it('online follows the transport; commands resolve with the tracked state once written', async () => {
    const r = await rig({ minGapMs: 0 });
    expect(r.online).toEqual([[true, undefined]]);
    await expect(r.driver.execute('preset', { recall: 3 })).resolves.toEqual({ preset: 3, tracked: true });
    await until(() => r.sim.received.length === 1);
    expect(wire(r)).toEqual(['ff01000700030b']);
    expect(r.sim.state.preset).toBe(3);
    await expect(r.driver.execute('power', { on: false })).resolves.toEqual({ power: 'off', tracked: true });
    await expect(r.driver.execute('preset-set', { store: 9 })).resolves.toEqual({ preset: 9, tracked: true });
    await until(() => r.sim.received.length === 3);
    expect(wire(r).slice(1)).toEqual(['ff010800000009', 'ff01000300090d']);
    expect(r.sim.state.power).toBe('off');
    expect(r.sim.state.presets.has(9)).toBe(true);
    expect(r.states.at(-1)).toEqual({ preset: 9, tracked: true });
  });

  it('zoom: tele, wide, stop; a speed sends "set zoom speed" first', async () => {
    const r = await rig({ minGapMs: 0 });
    await r.driver.execute('zoom', { direction: 'in', speed: 7 });
    await r.driver.execute('zoom', { direction: 'out' });
    await r.driver.execute('zoom', { direction: 'stop' });
    await until(() => r.sim.received.length === 4);
    expect(wire(r)).toEqual(['ff010025000329', 'ff010020000021', 'ff010040000041', 'ff010000000001']);
    expect(r.sim.state).toMatchObject({ zoom: 'stop', zoomSpeed: 3 });
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(pelcoZoomSpeed)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });

  it('spaces messages at least minGapMs apart; commands queue in order', async () => {
    const r = await rig({ minGapMs: 40 });
    const writes: number[] = [];
    const write = r.host.write.bind(r.host);
    r.host.write = (bytes) => {
      writes.push(performance.now());
      return write(bytes);
    };
    await Promise.all([1, 2, 3, 4].map((n) => r.driver.execute('preset', { recall: n })));
    await until(() => r.sim.received.length === 4);
    expect(r.sim.received.map((x) => x.frame.data2)).toEqual([1, 2, 3, 4]);
    expect(writes).toHaveLength(4);
    // Node timers may fire up to 1 ms early (millisecond rounding).
    for (let i = 1; i < writes.length; i++) expect(writes[i]! - writes[i - 1]!).toBeGreaterThanOrEqual(39);
  });

  it('a full queue refuses with "busy"', async () => {
    const r = await rig({ minGapMs: 200, maxQueue: 2 });
    const ps = [1, 2, 3].map((n) => r.driver.execute('preset', { recall: n }));
    const e = await r.driver.execute('preset', { recall: 4 }).catch((err: unknown) => err);
    expect((e as DeviceError).code).toBe('busy');
    await Promise.all(ps);
  });

  it('addresses the configured receiver only', async () => {
    const r = await rig({ address: 12, minGapMs: 0 }, 12);
    await r.driver.execute('preset', { recall: 1 });
    await until(() => r.sim.received.length === 1);
    expect(wire(r)).toEqual(['ff0c0007000114']);
  });

  it('offline: fails at once, queued commands fail too; back online when the line returns', async () => {
    const r = await rig({ minGapMs: 100 });
    const first = r.driver.execute('preset', { recall: 1 });
    const queued = r.driver.execute('preset', { recall: 2 }).catch((e: unknown) => e);
    await first;
    r.host.setUnplugged(true);
    expect(r.online.at(-1)?.[0]).toBe(false);
    expect(await queued).toBeInstanceOf(DeviceOfflineError);
    const e = await r.driver.execute('power', { on: true }).catch((err: unknown) => err);
    expect((e as Error).message).toBe('dome: power: device is offline');
    r.host.setUnplugged(false);
    await until(() => r.online.at(-1)?.[0] === true);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on', tracked: true });
  });

  it('rejects presets outside 1..presets and unknown commands', async () => {
    const r = await rig({ presets: 8 });
    for (const n of [0, 9]) {
      const e = await r.driver.execute('preset', { recall: n }).catch((err: unknown) => err);
      expect((e as DeviceError).code).toBe('invalid-args');
    }
    const e = await r.driver.execute('refresh', {}).catch((err: unknown) => err);
    expect((e as DeviceError).code).toBe('unsupported');
    expect(r.sim.received).toEqual([]);
  });
});

describe('pelco-d options', () => {
  it('has defaults and validates', () => {
    expect(pelcoDOptionsSchema.parse({})).toEqual({ address: 1, presets: 16, minGapMs: 50, maxQueue: 16 });
    expect(pelcoDOptionsSchema.safeParse({ address: 0 }).success).toBe(false);
    expect(pelcoDOptionsSchema.safeParse({ rtspUrl: 'rtsp://cam/1' }).success).toBe(true);
    expect(pelcoDOptionsSchema.safeParse({ rtspUrl: 'ftp://cam/1' }).success).toBe(false);
    expect(pelcoDDriver.capabilities(pelcoDOptionsSchema.parse({})).map((c) => c.type)).toEqual(['power', 'ptz-presets', 'zoom']);
  });
});
