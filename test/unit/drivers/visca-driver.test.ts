/**
 * VISCA (serial) driver against the camera simulator over an in-memory line.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { viscaDriver, viscaOptionsSchema, type ViscaDriver } from '../../../drivers/visca/driver.js';
import { ViscaSim, type ViscaCameraOptions } from '../../../drivers/sim/visca.js';
import { createMemoryPair, type MemoryEnd } from '../../../drivers/transports/memory.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';
import { Mutex } from '../../../drivers/util/mutex.js';

interface Rig {
  driver: ViscaDriver;
  sim: ViscaSim;
  host: MemoryEnd;
  device: MemoryEnd;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

function rig(options: Record<string, unknown> = {}, cam: ViscaCameraOptions = {}): Rig {
  const [host, device] = createMemoryPair('visca');
  const sim = new ViscaSim(device, cam);
  const driver = viscaDriver.create({
    deviceId: 'cam',
    options: viscaOptionsSchema.parse({ timeoutMs: 80, completionTimeoutMs: 400, pollSeconds: 3600, ...options }),
    transport: { type: 'bytes', transport: host },
    logger: silentLogger(),
    clock: systemClock,
  }) as ViscaDriver;
  const r: Rig = { driver, sim, host, device, states: [], online: [], malformed: [] };
  driver.on('state', (p) => r.states.push(p));
  driver.on('online', (o, why) => r.online.push([o, why]));
  driver.on('malformed', (d) => r.malformed.push(d));
  rigs.push(r);
  return r;
}

async function opened(options: Record<string, unknown> = {}, cam: ViscaCameraOptions = {}): Promise<Rig> {
  const r = rig(options, cam);
  await r.driver.open();
  await until(() => r.online.length > 0);
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

const hex = (b: Buffer | undefined): string => (b ? b.toString('hex') : '');

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('visca driver', () => {
  it('asks CAM_PowerInq when the line comes up and reports the camera online with its power', async () => {
    const r = rig({}, { initial: { power: 'off' } });
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states[0]).toEqual({ power: 'off' });
    expect(hex(r.sim.received[0])).toBe('81090400ff');
  });

  it('power on: sends 81 01 04 00 02 FF, resolves only at the completion, not at the ACK', async () => {
    const r = await opened({}, { initial: { power: 'off' }, powerOnMs: 120 });
    const t0 = Date.now();
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100); // the ACK came at once; the completion after powerOnMs
    expect(hex(r.sim.received.at(-1))).toBe('8101040002ff');
    expect(r.sim.state.power).toBe('on');
    expect(r.states.at(-1)).toEqual({ power: 'on' });
    await expect(r.driver.execute('power', { on: false })).resolves.toEqual({ power: 'off' });
    expect(hex(r.sim.received.at(-1))).toBe('8101040003ff');
  });

  it('uses the configured address (header 8x, replies from (x+8)0) and ignores other cameras', async () => {
    const r = await opened({ address: 3 }, { address: 3 });
    await r.driver.execute('preset', { recall: 5 });
    expect(hex(r.sim.received.at(-1))).toBe('8301043f0205ff');
    expect(r.sim.state.preset).toBe(5);
  });

  it('zoom and direct zoom, preset store and recall round-trip through the simulator', async () => {
    const r = await opened();
    await expect(r.driver.execute('zoom', { direction: 'in', speed: 5 })).resolves.toEqual({ zoom: 'in' });
    expect(hex(r.sim.received.at(-1))).toBe('8101040725ff');
    await expect(r.driver.execute('zoom', { direction: 'stop' })).resolves.toEqual({ zoom: 'stop' });
    expect(hex(r.sim.received.at(-1))).toBe('8101040700ff');
    await expect(r.driver.execute('zoom-to', { position: 0x1234 })).resolves.toEqual({ zoom: 'stop', zoomPosition: 0x1234 });
    expect(hex(r.sim.received.at(-1))).toBe('8101044701020304ff');
    await expect(r.driver.execute('preset-set', { store: 2 })).resolves.toEqual({ preset: 2 });
    expect(hex(r.sim.received.at(-1))).toBe('8101043f0102ff');
    await r.driver.execute('zoom', { direction: 'out' });
    expect(r.sim.state.zoomPosition).toBe(0);
    await expect(r.driver.execute('preset', { recall: 2 })).resolves.toEqual({ preset: 2 });
    expect(r.sim.state.zoomPosition).toBe(0x1234);
  });

  it('a preset move resolves when the move completes', async () => {
    const r = await opened({}, { moveMs: 150 });
    const t0 = Date.now();
    await r.driver.execute('preset', { recall: 1 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it('at most two commands outstanding; the third waits for a socket, and completions are matched by socket', async () => {
    const r = await opened({ completionTimeoutMs: 2000 }, { moveMs: 150 });
    const before = r.sim.received.length;
    const results: string[] = [];
    const p1 = r.driver.execute('preset', { recall: 1 }).then(() => results.push('p1'));
    const p2 = r.driver.execute('preset', { recall: 2 }).then(() => results.push('p2'));
    const p3 = r.driver.execute('preset', { recall: 3 }).then(() => results.push('p3'));
    await until(() => r.sim.received.length - before === 2 && r.sim.camera.busySockets.length === 2);
    await new Promise((res) => setTimeout(res, 60));
    // Still two at the camera: the third never reached it (it would have been refused "buffer full").
    expect(r.sim.received.length - before).toBe(2);
    expect(r.driver.queue).toEqual({ outstanding: 2, waiting: 1 });
    await Promise.all([p1, p2, p3]);
    expect(results).toEqual(['p1', 'p2', 'p3']);
    expect(r.sim.received.slice(before).map(hex)).toEqual(['8101043f0201ff', '8101043f0202ff', '8101043f0203ff']);
    expect(r.sim.state.preset).toBe(3);
  });

  it('completions out of order go to the command in their socket', async () => {
    const r = await opened({ completionTimeoutMs: 2000 }, { moveMs: 250 });
    const done: Array<[string, number]> = [];
    const t0 = Date.now();
    const move = r.driver.execute('preset', { recall: 1 }).then(() => done.push(['preset', Date.now() - t0]));
    await until(() => r.sim.camera.busySockets.includes(1));
    const zoom = r.driver.execute('zoom', { direction: 'in' }).then(() => done.push(['zoom', Date.now() - t0]));
    await Promise.all([move, zoom]);
    expect(done.map(([what]) => what)).toEqual(['zoom', 'preset']); // 90 52 FF came first
    expect(done[0]![1]).toBeLessThan(200);
    expect(done[1]![1]).toBeGreaterThanOrEqual(240);
  });

  it('error replies are typed DeviceNakErrors with the VISCA error name; the camera stays online', async () => {
    const r = await opened();
    r.sim.camera.failNext(0x02);
    const e1 = await r.driver.execute('zoom', { direction: 'in' }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceNakError);
    expect((e1 as Error).message).toBe('cam: zoom: device refused: syntax error (VISCA 0x02)');
    r.sim.camera.failNext(0x03);
    const e2 = await r.driver.execute('preset', { recall: 1 }).catch((e: unknown) => e);
    expect((e2 as Error).message).toBe('cam: preset: device refused: command buffer full (VISCA 0x03)');
    // In standby the camera refuses moves with "command not executable" on a socket.
    await r.driver.execute('power', { on: false });
    const e3 = await r.driver.execute('preset', { recall: 1 }).catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(DeviceNakError);
    expect((e3 as DeviceNakError).reason).toBe('command not executable (VISCA 0x41)');
    expect(r.online).toEqual([[true, undefined]]);
    // An error is not retried.
    expect(r.sim.received.filter((p) => hex(p) === '8101043f0201ff')).toHaveLength(2);
  });

  it('"not executable" on a busy socket fails the command in that socket, not the one awaiting its ACK', async () => {
    const r = await opened({ completionTimeoutMs: 2000 }, { moveMs: 300 });
    const first = r.driver.execute('preset', { recall: 1 }).catch((e: unknown) => e);
    await until(() => r.sim.camera.busySockets.includes(1));
    const second = r.driver.execute('preset', { recall: 2 });
    await until(() => r.sim.camera.busySockets.length === 2);
    // The camera gives up on the move in socket 1 (e.g. a limit was hit).
    await r.device.write(Buffer.from([0x90, 0x61, 0x41, 0xff]));
    expect(((await first) as DeviceNakError).reason).toBe('command not executable (VISCA 0x41)');
    await expect(second).resolves.toEqual({ preset: 2 });
  });

  it('silent camera -> DeviceTimeoutError after the retry, offline after offlineAfter; back online on the next answer', async () => {
    const r = await opened({ retries: 1, offlineAfter: 2 });
    r.sim.silent = true;
    const before = r.sim.received.length;
    const e1 = await r.driver.execute('power', { on: true }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceTimeoutError);
    expect((e1 as Error).message).toBe('cam: power: no reply within 80 ms');
    expect(r.sim.received.length - before).toBe(2); // first attempt + 1 retry
    expect(r.online).toEqual([[true, undefined]]);
    await r.driver.execute('refresh', {}).catch(() => undefined);
    expect(r.online.at(-1)).toEqual([false, 'refresh: no answer within 80 ms']);
    r.sim.silent = false;
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on' });
    expect(r.online.at(-1)).toEqual([true, undefined]);
    expect(r.online).toHaveLength(3);
  });

  it('a command waiting for its completion when the camera goes silent times out on the completion timer', async () => {
    const r = await opened({ completionTimeoutMs: 200 }, { moveMs: 1000 });
    const e = await r.driver.execute('preset', { recall: 4 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeviceTimeoutError);
    expect((e as DeviceTimeoutError).timeoutMs).toBe(200);
    expect(r.online).toEqual([[true, undefined]]); // it ACKed: still reachable
  });

  it('offline: commands fail at once without being sent; unplug rejects what is in flight; replug recovers', async () => {
    const r = await opened({ completionTimeoutMs: 2000 }, { moveMs: 500 });
    const inFlight = r.driver.execute('preset', { recall: 1 }).catch((e: unknown) => e);
    await until(() => r.sim.camera.busySockets.length === 1);
    r.host.setUnplugged(true);
    expect(await inFlight).toBeInstanceOf(DeviceOfflineError);
    expect(r.online.at(-1)?.[0]).toBe(false);
    const sent = r.sim.received.length;
    const e = await r.driver.execute('power', { on: true }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeviceOfflineError);
    expect((e as Error).message).toBe('cam: power: device is offline');
    expect(r.sim.received.length).toBe(sent);
    r.host.setUnplugged(false);
    await until(() => r.online.at(-1)?.[0] === true);
    await expect(r.driver.execute('zoom', { direction: 'stop' })).resolves.toEqual({ zoom: 'stop' });
  });

  it('garbage and unknown messages are counted as malformed and never break the next reply', async () => {
    const r = await opened();
    await r.device.write(Buffer.from([0x00, 0x13, 0x90, 0x77, 0xff, 0x90, 0x41, 0x05, 0xff]));
    await until(() => r.malformed.length >= 3);
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on' });
  });

  it('rejects bad arguments and unknown commands without sending anything', async () => {
    const r = await opened({ presets: 8 });
    const sent = r.sim.received.length;
    const e1 = await r.driver.execute('preset', { recall: 8 }).catch((e: unknown) => e);
    expect((e1 as DeviceError).code).toBe('invalid-args');
    expect((e1 as Error).message).toBe('cam: preset: preset 8 out of range 0..7');
    const e2 = await r.driver.execute('zoom', { direction: 'sideways' }).catch((e: unknown) => e);
    expect((e2 as DeviceError).code).toBe('invalid-args');
    const e3 = await r.driver.execute('input', { source: 'hdmi1' }).catch((e: unknown) => e);
    expect((e3 as DeviceError).code).toBe('unsupported');
    expect(r.sim.received.length).toBe(sent);
  });

  it('a network-change message (camera powered) triggers a power inquiry', async () => {
    const r = await opened();
    const before = r.sim.received.length;
    await r.device.write(Buffer.from([0x90, 0x38, 0xff]));
    await until(() => r.sim.received.length > before);
    expect(hex(r.sim.received.at(-1))).toBe('81090400ff');
  });
});

describe('visca daisy chain (shared line)', () => {
  it('two cameras on one line: replies routed by address, one lock, closing one keeps the line up', async () => {
    const [host, device] = createMemoryPair('chain');
    const cam1 = new ViscaSim(device, { address: 1, moveMs: 60 });
    const cam2 = new ViscaSim(device, { address: 2, moveMs: 60 });
    const line = { lock: new Mutex(), shared: true };
    const make = (id: string, address: number) =>
      viscaDriver.create({
        deviceId: id,
        options: viscaOptionsSchema.parse({ address, timeoutMs: 200, completionTimeoutMs: 1000, pollSeconds: 3600 }),
        transport: { type: 'bytes', transport: host },
        logger: silentLogger(),
        clock: systemClock,
        line,
      });
    const d1 = make('cam1', 1);
    const d2 = make('cam2', 2);
    try {
      await d1.open();
      await d2.open();
      await Promise.all([d1.execute('preset', { recall: 1 }), d2.execute('preset', { recall: 2 })]);
      expect([cam1.state.preset, cam2.state.preset]).toEqual([1, 2]);
      await expect(d2.execute('refresh', {})).resolves.toEqual({ power: 'on' });
      await d1.close();
      expect(host.isUp).toBe(true);
      await expect(d2.execute('zoom', { direction: 'in' })).resolves.toEqual({ zoom: 'in' });
      expect(cam2.state.zoomMotion).toBe('in');
      expect(cam1.state.zoomMotion).toBe('stop');
    } finally {
      await d1.close();
      await d2.close();
      await cam1.close();
      await cam2.close();
    }
  });
});

describe('visca options', () => {
  it('has defaults and validates the rtsp URL', () => {
    expect(viscaOptionsSchema.parse({})).toEqual({
      address: 1,
      timeoutMs: 1000,
      completionTimeoutMs: 10_000,
      pollSeconds: 30,
      offlineAfter: 2,
      presets: 16,
      retries: 1,
    });
    expect(viscaOptionsSchema.parse({ rtspUrl: 'rtsp://10.0.0.5:554/stream1' }).rtspUrl).toBe('rtsp://10.0.0.5:554/stream1');
    expect(viscaOptionsSchema.safeParse({ rtspUrl: 'http://10.0.0.5/stream1' }).success).toBe(false);
    expect(viscaOptionsSchema.safeParse({ address: 8 }).success).toBe(false);
    expect(viscaOptionsSchema.safeParse({ adress: 1 }).success).toBe(false);
  });

  it('declares power, presets, zoom and status capabilities', () => {
    const caps = viscaDriver.capabilities(viscaOptionsSchema.parse({ presets: 6 }));
    expect(caps.map((c) => c.type)).toEqual(['power', 'ptz-presets', 'zoom', 'status']);
    expect(Object.keys(caps[2]!.commands)).toEqual(['zoom', 'zoom-to']);
  });
});
