/**
 * PJLink: first the fake projector (drivers/sim/pjlink.ts) is checked with an
 * independent client, the npm `pjlink` package (sy1vain/node-pjlink 0.2.8,
 * tested by its author against JBMIA's PJLink test software), over real TCP
 * on 127.0.0.1: power, input, AV mute, error status, lamp, ERRx replies and
 * MD5 authentication (right and wrong password). Then our driver runs against
 * the same fake through the shared TcpTransport.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pjlinkDriver, pjlinkOptionsSchema } from '../../drivers/pjlink/driver.js';
import { PjlinkError } from '../../drivers/pjlink/errors.js';
import { PjlinkSim } from '../../drivers/sim/pjlink.js';
import { TcpTransport } from '../../drivers/transports/tcp.js';
import type { DeviceDriver, StatePatch } from '../../drivers/contract.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';

type Cb<T> = (err: Error | null | undefined, value?: T) => void;
interface NpmPjlinkClient {
  powerOn(cb: Cb<void>): void;
  powerOff(cb: Cb<void>): void;
  getPowerState(cb: Cb<number>): void;
  setInput(code: string, cb: Cb<void>): void;
  getInput(cb: Cb<{ source: number; channel: number; code: string }>): void;
  setMute(mute: { audio: boolean; video: boolean }, cb: Cb<void>): void;
  getMute(cb: Cb<{ audio: boolean; video: boolean }>): void;
  getErrors(cb: Cb<Record<string, string | false> | null>): void;
  getLamps(cb: Cb<Array<{ hours: number; on: boolean }>>): void;
  disconnect(): void;
}
const require = createRequire(import.meta.url);
const PJLink = require('pjlink') as new (host: string, port: number, password?: string) => NpmPjlinkClient;

/** Promisify one callback call of the npm client. */
function call<T>(fn: (cb: Cb<T>) => void): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('npm pjlink client: no callback within 3 s')), 3000);
    fn((err, value) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clients: NpmPjlinkClient[] = [];
const sims: PjlinkSim[] = [];
let dir = '';

async function startSim(opts: ConstructorParameters<typeof PjlinkSim>[0] = {}): Promise<{ sim: PjlinkSim; port: number }> {
  const sim = new PjlinkSim({ warmupMs: 150, cooldownMs: 100, ...opts });
  sims.push(sim);
  const { port } = await sim.listen();
  return { sim, port };
}

function client(port: number, password?: string): NpmPjlinkClient {
  const c = new PJLink('127.0.0.1', port, password);
  clients.push(c);
  return c;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pjlink-it-'));
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of sims.splice(0)) await s.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PjlinkSim checked with the npm pjlink client', () => {
  it('power on/off with warm-up and cool-down, as the client reads it', async () => {
    const { sim, port } = await startSim();
    const c = client(port);
    expect(await call<number>((cb) => c.getPowerState(cb))).toBe(0);
    await call<void>((cb) => c.powerOn(cb));
    expect(await call<number>((cb) => c.getPowerState(cb))).toBe(3);
    await sleep(250);
    expect(await call<number>((cb) => c.getPowerState(cb))).toBe(1);
    await call<void>((cb) => c.powerOff(cb));
    expect(await call<number>((cb) => c.getPowerState(cb))).toBe(2);
    await sleep(200);
    expect(await call<number>((cb) => c.getPowerState(cb))).toBe(0);
    expect(sim.received.map((r) => r.line)).toEqual(['%1POWR ?', '%1POWR 1', '%1POWR ?', '%1POWR ?', '%1POWR 0', '%1POWR ?', '%1POWR ?']);
  });

  it('input, AV mute, error status and lamp', async () => {
    const { sim, port } = await startSim({ initial: { power: 1, lampHours: 2048, errorStatus: '010020' } });
    const c = client(port);
    await call<void>((cb) => c.setInput('32', cb));
    expect((await call((cb: Cb<{ code: string }>) => c.getInput(cb)))?.code).toBe('32');
    expect(sim.state.input).toBe('32');
    await call<void>((cb) => c.setMute({ audio: true, video: true }, cb));
    expect(await call((cb: Cb<{ audio: boolean; video: boolean }>) => c.getMute(cb))).toEqual({ audio: true, video: true });
    await call<void>((cb) => c.setMute({ audio: false, video: false }, cb));
    expect(await call((cb: Cb<{ audio: boolean; video: boolean }>) => c.getMute(cb))).toEqual({ audio: false, video: false });
    const errors = await call((cb: Cb<Record<string, string | false> | null>) => c.getErrors(cb));
    expect(errors).toEqual({ fan: false, lamp: 'warning', temperature: false, cover: false, filter: 'error', other: false });
    expect(await call((cb: Cb<Array<{ hours: number; on: boolean }>>) => c.getLamps(cb))).toEqual([{ hours: 2048, on: true }]);
    expect(sim.received.map((r) => r.line)).toContain('%1AVMT 31');
  });

  it('ERR2 for an input the projector lacks, ERR3 while in standby, ERR4 on failure', async () => {
    const { sim, port } = await startSim({ initial: { power: 0 } });
    const c = client(port);
    await expect(call<void>((cb) => c.setInput('31', cb))).rejects.toThrow('Unavailable time');
    sim.state.power = 1;
    await expect(call<void>((cb) => c.setInput('59', cb))).rejects.toThrow('Out of parameter');
    sim.failNext('POWR', 'ERR4');
    await expect(call<number>((cb) => c.getPowerState(cb))).rejects.toThrow('Projector/Display failure');
    expect(await call<number>((cb) => c.getPowerState(cb))).toBe(1);
  });

  it('authentication: the right password is accepted, a wrong one gets ERRA', async () => {
    const { sim, port } = await startSim({ password: 'JBMIAProjectorLink' });
    const good = client(port, 'JBMIAProjectorLink');
    await call<void>((cb) => good.powerOn(cb));
    expect(sim.state.power).toBe(3);
    expect(sim.received[0]?.digest).toMatch(/^[0-9a-f]{32}$/);
    const bad = client(port, 'not-the-password');
    await expect(call<number>((cb) => bad.getPowerState(cb))).rejects.toThrow('Authorization failed');
  });
});

describe('our driver against PjlinkSim over TCP', () => {
  const drivers: DeviceDriver[] = [];
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close();
  });

  it('power on (with a password), warm-up queueing of input and mute, status, power off', async () => {
    const { sim, port } = await startSim({ password: 'JBMIAProjectorLink', warmupMs: 300 });
    const passwordFile = join(dir, 'pjlink.secret');
    writeFileSync(passwordFile, 'JBMIAProjectorLink\n', { mode: 0o600 });
    const states: StatePatch[] = [];
    const driver = pjlinkDriver.create({
      deviceId: 'projector',
      options: pjlinkOptionsSchema.parse({ passwordFile, pollSeconds: 3600, timeoutMs: 1000, warmupPollMs: 50 }),
      transport: { type: 'bytes', transport: new TcpTransport({ host: '127.0.0.1', port }) },
      logger: silentLogger(),
      clock: systemClock,
    });
    drivers.push(driver);
    driver.on('state', (p) => states.push(p));
    await driver.open();
    await expect(driver.execute('power', { on: true })).resolves.toEqual({ power: 'warming' });
    // Queued until the lamp is on, then sent: no ERR3 reaches the caller.
    await expect(driver.execute('input', { source: 'hdmi2' })).resolves.toEqual({ input: 'hdmi2', power: 'on' });
    await expect(driver.execute('mute', { on: true })).resolves.toEqual({ mute: true, videoMute: true, audioMute: true, power: 'on' });
    expect(sim.state).toMatchObject({ power: 1, input: '32', videoMute: true, audioMute: true });
    const status = await driver.execute('refresh', {});
    expect(status).toEqual({ power: 'on', fault: null, lampHours: 1234, lampOn: true, input: 'hdmi2', mute: true, videoMute: true, audioMute: true });
    await expect(driver.execute('power', { on: false })).resolves.toEqual({ power: 'cooling' });
    expect(states.some((s) => s.power === 'warming')).toBe(true);
    // Every connection authenticated with its own digest on its first line.
    expect(sim.received.filter((r) => r.digest !== undefined).length).toBe(sim.connections);
  });

  it('an ERR4 from the fake is a typed PjlinkError naming device and command', async () => {
    const { sim, port } = await startSim({ initial: { power: 1 } });
    const driver = pjlinkDriver.create({
      deviceId: 'projector',
      options: pjlinkOptionsSchema.parse({ pollSeconds: 3600, timeoutMs: 1000 }),
      transport: { type: 'bytes', transport: new TcpTransport({ host: '127.0.0.1', port }) },
      logger: silentLogger(),
      clock: systemClock,
    });
    drivers.push(driver);
    await driver.open();
    sim.failNext('AVMT', 'ERR4');
    const err = await driver.execute('mute', { on: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PjlinkError);
    expect((err as PjlinkError).pjlinkCode).toBe('ERR4');
    expect((err as Error).message).toBe('projector: mute: device refused: ERR4 projector/display failure');
  });
});
