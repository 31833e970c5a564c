/**
 * VISCA over IP driver against the VISCA-over-IP camera simulator over real
 * UDP on 127.0.0.1: sequence reset, sequence numbers, retransmission of a
 * lost datagram, a lost ACK, a camera that stops answering.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { viscaIpDriver, viscaIpOptionsSchema, type ViscaIpDriver } from '../../../drivers/visca/ip-driver.js';
import { ViscaIpSim } from '../../../drivers/sim/visca-ip.js';
import type { ViscaCameraOptions } from '../../../drivers/sim/visca.js';
import { UdpListener, UdpTransport } from '../../../drivers/transports/udp.js';
import { createMemoryPair } from '../../../drivers/transports/memory.js';
import { DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

interface Rig {
  driver: ViscaIpDriver;
  sim: ViscaIpSim;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const rigs: Rig[] = [];

async function rig(options: Record<string, unknown> = {}, cam: Omit<ViscaCameraOptions, 'address'> = {}): Promise<Rig> {
  const listener = new UdpListener({ host: '127.0.0.1' });
  const port = await listener.listen();
  const sim = new ViscaIpSim(listener, cam);
  const transport = new UdpTransport({ host: '127.0.0.1', port });
  const driver = viscaIpDriver.create({
    deviceId: 'cam-ip',
    options: viscaIpOptionsSchema.parse({ timeoutMs: 400, completionTimeoutMs: 1000, retransmitMs: 60, pollSeconds: 3600, ...options }),
    transport: { type: 'bytes', transport },
    logger: silentLogger(),
    clock: systemClock,
  }) as ViscaIpDriver;
  const r: Rig = { driver, sim, states: [], online: [], malformed: [] };
  driver.on('state', (p) => r.states.push(p));
  driver.on('online', (o, why) => r.online.push([o, why]));
  driver.on('malformed', (d) => r.malformed.push(d));
  rigs.push(r);
  await driver.open();
  await until(() => r.online.length > 0);
  return r;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const inbound = (r: Rig) => r.sim.log.filter((e) => e.direction === 'in');
const hex = (b: Buffer) => b.toString('hex');

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.driver.close();
    await r.sim.close();
  }
});

describe('visca-ip driver over UDP', () => {
  it('resets the sequence number first, then numbers messages from 1 and matches replies by number', async () => {
    const r = await rig({}, { initial: { power: 'off' } });
    await until(() => r.states.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states[0]).toEqual({ power: 'off' });
    const ins = inbound(r);
    expect(ins[0]).toMatchObject({ type: 'control', seq: 0, fate: 'delivered' });
    expect(hex(ins[0]!.payload)).toBe('01');
    expect(r.sim.log.find((e) => e.direction === 'out')).toMatchObject({ type: 'controlReply', seq: 0 });
    expect(ins[1]).toMatchObject({ type: 'inquiry', seq: 1 });
    expect(hex(ins[1]!.payload)).toBe('81090400ff');
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    const cmd = inbound(r)[2]!;
    expect(cmd).toMatchObject({ type: 'command', seq: 2 });
    expect(hex(cmd.payload)).toBe('8101040002ff');
    // ACK and completion both came back with the command's number.
    const outs = r.sim.log.filter((e) => e.direction === 'out' && e.seq === 2).map((e) => `${e.type}:${hex(e.payload)}`);
    expect(outs).toEqual(['reply:9041ff', 'reply:9051ff']);
    expect(r.sim.resets).toBe(1);
    expect(r.driver.lastSeq).toBe(2);
  });

  it('a command lost on the way is retransmitted with the same sequence number and then executed once', async () => {
    const r = await rig();
    r.sim.dropInbound(1);
    await expect(r.driver.execute('preset', { recall: 7 })).resolves.toEqual({ preset: 7 });
    const sends = inbound(r).filter((e) => e.type === 'command');
    expect(sends.map((e) => [e.seq, e.fate])).toEqual([
      [2, 'dropped'],
      [2, 'delivered'],
    ]);
    expect(hex(sends[1]!.payload)).toBe('8101043f0207ff');
    expect(r.sim.state.preset).toBe(7);
  });

  it('a lost ACK: the repeat gets "sequence number abnormal", the command is not run twice, its completion resolves it', async () => {
    const r = await rig({}, { moveMs: 200 });
    r.sim.dropReplies(1); // the ACK of the next command
    await expect(r.driver.execute('preset', { recall: 3 })).resolves.toEqual({ preset: 3 });
    const seqOut = r.sim.log.filter((e) => e.direction === 'out' && e.seq === 2).map((e) => `${e.fate}:${e.type}:${hex(e.payload)}`);
    expect(seqOut).toEqual(['dropped:reply:9041ff', 'delivered:control:0f01', 'delivered:reply:9051ff']);
    const runs = inbound(r).filter((e) => e.type === 'command');
    expect(runs.length).toBeGreaterThanOrEqual(2); // the retransmission
    expect(new Set(runs.map((e) => e.seq))).toEqual(new Set([2]));
    expect(r.sim.camera.received.filter((p) => hex(p) === '8101043f0203ff')).toHaveLength(1);
  });

  it('a lost inquiry answer: asks again with a new number', async () => {
    const r = await rig();
    r.sim.dropReplies(1);
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on' });
    const inq = inbound(r).filter((e) => e.type === 'inquiry').map((e) => e.seq);
    expect(inq.slice(1)).toEqual([2, 2, 3]); // sent, repeated (sequence error), new number
  });

  it('error replies are typed; the camera address over IP is 1', async () => {
    const r = await rig();
    await r.driver.execute('power', { on: false });
    const e = await r.driver.execute('zoom', { direction: 'in' }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeviceNakError);
    expect((e as Error).message).toBe('cam-ip: zoom: device refused: command not executable (VISCA 0x41)');
  });

  it('silent camera: retransmits a bounded number of times, times out, goes offline; resets the sequence when it returns', async () => {
    const r = await rig({ retransmits: 2, offlineAfter: 1 });
    r.sim.silent = true;
    const before = r.sim.log.length;
    const e = await r.driver.execute('power', { on: true }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(DeviceTimeoutError);
    expect((e as Error).message).toBe('cam-ip: power: no reply within 400 ms');
    expect(r.online.at(-1)).toEqual([false, 'power: no ACK within 400 ms']);
    r.sim.silent = false;
    const lost = r.sim.log.slice(before);
    expect(lost.map((x) => [x.type, x.seq, x.fate])).toEqual([
      ['command', 2, 'dropped'],
      ['command', 2, 'dropped'],
      ['command', 2, 'dropped'],
    ]); // sent once + 2 retransmissions, all with the same number
    const resetsBefore = r.sim.resets;
    await expect(r.driver.execute('refresh', {})).resolves.toEqual({ power: 'on' });
    expect(r.sim.resets).toBe(resetsBefore + 1);
    const last = inbound(r).filter((e2) => e2.type === 'inquiry').at(-1)!;
    expect(last.seq).toBe(1);
    expect(r.online.at(-1)).toEqual([true, undefined]);
  });
});

describe('visca-ip driver over a memory pair (demo room)', () => {
  it('works on any datagram-preserving transport and names bad datagrams', async () => {
    const [host, device] = createMemoryPair('visca-ip');
    const sim = new ViscaIpSim(device);
    const driver = viscaIpDriver.create({
      deviceId: 'cam-mem',
      options: viscaIpOptionsSchema.parse({ timeoutMs: 200, pollSeconds: 3600 }),
      transport: { type: 'bytes', transport: host },
      logger: silentLogger(),
      clock: systemClock,
    });
    const malformed: string[] = [];
    driver.on('malformed', (d) => malformed.push(d));
    try {
      await driver.open();
      await expect(driver.execute('preset', { recall: 2 })).resolves.toEqual({ preset: 2 });
      await device.write(Buffer.from([0x01, 0x11, 0x00, 0x09, 0, 0, 0, 9, 0x90, 0x41, 0xff]));
      await device.write(Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 9, 0x01]));
      await until(() => malformed.length === 2);
      expect(malformed[0]).toMatch(/payload length 9 does not match/);
      expect(malformed[1]).toMatch(/unknown VISCA over IP payload type 0x0500/);
      host.setUnplugged(true);
      await expect(driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    } finally {
      await driver.close();
      await sim.close();
    }
  });
});

describe('visca-ip options', () => {
  it('has defaults, no address, and retransmission settings', () => {
    expect(viscaIpOptionsSchema.parse({})).toEqual({
      timeoutMs: 1000,
      completionTimeoutMs: 10_000,
      pollSeconds: 30,
      offlineAfter: 2,
      presets: 16,
      retransmitMs: 150,
      retransmits: 3,
    });
    expect(viscaIpOptionsSchema.safeParse({ address: 2 }).success).toBe(false);
  });
});
