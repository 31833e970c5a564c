/**
 * PJLink driver against PjlinkSim over real TCP on 127.0.0.1 (port 0),
 * through the shared TcpTransport, and over an in-memory pair (the demo
 * room's `sim` transport).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PjlinkDriver, pjlinkDriver, pjlinkOptionsSchema } from '../../../drivers/pjlink/driver.js';
import { PjlinkAuthError, PjlinkConnectionError, PjlinkError } from '../../../drivers/pjlink/errors.js';
import { PjlinkSim, type PjlinkSimOptions } from '../../../drivers/sim/pjlink.js';
import { TcpTransport } from '../../../drivers/transports/tcp.js';
import { createMemoryPair } from '../../../drivers/transports/memory.js';
import type { ByteTransport } from '../../../drivers/transports/types.js';
import { DeviceError, DeviceNakError, DeviceOfflineError, DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { deviceSchema } from '../../../edge/config/schema.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { systemClock } from '../../../edge/util/clock.js';

const dir = mkdtempSync(join(tmpdir(), 'pjlink-drv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secret(password: string): string {
  const file = join(dir, `secret-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return file;
}

interface Rig {
  driver: PjlinkDriver;
  sim: PjlinkSim;
  port: number;
  transport: ByteTransport;
  states: StatePatch[];
  online: Array<[boolean, string | undefined]>;
  malformed: string[];
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function makeDriver(transport: ByteTransport, options: Record<string, unknown>): Omit<Rig, 'sim' | 'port'> {
  const driver = pjlinkDriver.create({
    deviceId: 'projector',
    options: pjlinkOptionsSchema.parse({ pollSeconds: 3600, timeoutMs: 300, warmupPollMs: 30, ...options }),
    transport: { type: 'bytes', transport },
    logger: silentLogger(),
    clock: systemClock,
  }) as PjlinkDriver;
  const r = { driver, transport, states: [] as StatePatch[], online: [] as Array<[boolean, string | undefined]>, malformed: [] as string[] };
  driver.on('state', (p) => r.states.push(p));
  driver.on('online', (o, why) => r.online.push([o, why]));
  driver.on('malformed', (d) => r.malformed.push(d));
  cleanup.push(() => driver.close());
  return r;
}

async function rig(sim: PjlinkSimOptions = {}, options: Record<string, unknown> = {}, open = true): Promise<Rig> {
  const s = new PjlinkSim({ warmupMs: 200, cooldownMs: 100, ...sim });
  cleanup.push(() => s.close());
  const { port } = await s.listen();
  const transport = new TcpTransport({ host: '127.0.0.1', port, connectTimeoutMs: 500 });
  const r = { ...makeDriver(transport, options), sim: s, port };
  if (open) {
    await r.driver.open();
    await until(() => r.online.length > 0);
  }
  return r;
}

function until(cond: () => boolean, ms = 3000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('condition not met in time'));
      else setTimeout(tick, 5);
    };
    tick();
  });
}

const lines = (sim: PjlinkSim, prefix: string) => sim.received.filter((r) => r.line.startsWith(prefix)).length;

describe('pjlink driver over TCP', () => {
  it('polls on open: online, status, and the connection is closed afterwards', async () => {
    const r = await rig();
    expect(r.online).toEqual([[true, undefined]]);
    expect(r.states[0]).toEqual({ power: 'off', fault: null, lampHours: 1234, lampOn: false });
    expect(r.sim.received.map((x) => x.line)).toEqual(['%1POWR ?', '%1ERST ?', '%1LAMP ?']);
    expect(r.sim.connections).toBe(1);
    expect(r.transport.isUp).toBe(false);
  });

  it('authenticates with the password from passwordFile on every connection', async () => {
    const r = await rig({ password: 'JBMIAProjectorLink' }, { passwordFile: secret('JBMIAProjectorLink') });
    expect(r.online).toEqual([[true, undefined]]);
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'warming' });
    expect(r.sim.connections).toBe(2);
    expect(r.sim.received.filter((x) => x.digest !== undefined)).toHaveLength(2);
    expect(r.sim.received.map((x) => x.line)).toContain('%1POWR 1');
  });

  it('a wrong password: offline with a clear reason, commands refused at once', async () => {
    const r = await rig({ password: 'JBMIAProjectorLink' }, { passwordFile: secret('wrong') });
    expect(r.online).toHaveLength(1);
    expect(r.online[0]?.[0]).toBe(false);
    expect(r.online[0]?.[1]).toBe('projector: refresh: device refused: authentication failed (PJLINK ERRA): the projector refused the password (check passwordFile)');
    const err = await r.driver.execute('power', { on: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceOfflineError);
    expect((err as Error).message).toMatch(/^projector: power: device is offline \(.*authentication failed/);
    expect(r.sim.state.power).toBe(0);
  });

  it('a projector asking for a password none is configured for', async () => {
    const r = await rig({ password: 'secret' });
    expect(r.online[0]).toEqual([false, expect.stringContaining('requires a password and none is configured (set passwordFile)')]);
  });

  it('refuses a password in the config and reports an unreadable passwordFile', async () => {
    const parsed = pjlinkOptionsSchema.safeParse({ password: 'x' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(/must not be written in the config.*passwordFile/);
    const r = await rig({}, { passwordFile: join(dir, 'nope') }, false);
    await expect(r.driver.open()).rejects.toThrow(`projector: cannot read PJLink passwordFile ${join(dir, 'nope')}: ENOENT`);
    expect(r.online).toEqual([[false, expect.stringContaining('ENOENT')]]);
    await expect(r.driver.execute('refresh', {})).rejects.toMatchObject({ code: 'offline' });
  });

  it('power on, then input during warm-up waits for the lamp instead of failing with ERR3', async () => {
    const r = await rig();
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'warming' });
    const t0 = Date.now();
    await expect(r.driver.execute('input', { source: 'vga' })).resolves.toEqual({ input: 'vga', power: 'on' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(lines(r.sim, '%1INPT 11')).toBe(1); // sent once, when the lamp was on
    expect(r.sim.state.input).toBe('11');
    expect(r.states.map((s) => s.power)).toEqual(expect.arrayContaining(['warming', 'on']));
  });

  it('ERR3 from a warm-up the driver did not know about: checks power, waits, sends again', async () => {
    const r = await rig();
    r.sim.state.power = 3; // someone pressed the remote
    setTimeout(() => (r.sim.state.power = 1), 150);
    await expect(r.driver.execute('mute', { on: true })).resolves.toEqual({ mute: true, videoMute: true, audioMute: true, power: 'on' });
    expect(lines(r.sim, '%1AVMT 31')).toBe(2); // ERR3 first, then accepted
  });

  it('after power on the driver polls the transition and publishes "on" by itself', async () => {
    const r = await rig();
    await r.driver.execute('power', { on: true });
    await until(() => r.states.at(-1)?.power === 'on');
    expect(r.states.at(-1)).toMatchObject({ power: 'on', input: 'vga', mute: false, lampOn: true });
  });

  it('closing the driver ends a command waiting for the warm-up', async () => {
    const r = await rig({ warmupMs: 5000 });
    await r.driver.execute('power', { on: true });
    const pending = r.driver.execute('input', { source: 'hdmi1' }).catch((e: unknown) => e);
    await new Promise((res) => setTimeout(res, 50));
    await r.driver.close();
    const err = await pending;
    expect(err).toBeInstanceOf(DeviceOfflineError);
    expect((err as Error).message).toMatch(/^projector: input: (driver closed while waiting for the warm-up|driver closed)$/);
  });

  it('the warm-up queue expires with a clear ERR3', async () => {
    const r = await rig({ warmupMs: 5000 }, { warmupQueueMs: 200 });
    await r.driver.execute('power', { on: true });
    const err = await r.driver.execute('input', { source: 'hdmi1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PjlinkError);
    expect((err as Error).message).toBe('projector: input: device refused: ERR3 unavailable time (still warming after 200 ms)');
    expect(lines(r.sim, '%1INPT')).toBe(0);
  });

  it('input while the projector is off fails at once with ERR3, saying so', async () => {
    const r = await rig();
    await expect(r.driver.execute('input', { source: 'hdmi1' })).rejects.toThrow('projector: input: device refused: ERR3 unavailable time (the projector is off)');
  });

  it('power on during cool-down waits for standby, then powers on', async () => {
    const r = await rig({ initial: { power: 1 } });
    await expect(r.driver.execute('power', { on: false })).resolves.toEqual({ power: 'cooling' });
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'warming' });
    expect(lines(r.sim, '%1POWR 1')).toBe(1);
  });

  it.each([
    ['ERR1', 'undefined command'],
    ['ERR2', 'out of parameter'],
    ['ERR3', 'unavailable time (the projector is on)'],
    ['ERR4', 'projector/display failure'],
  ] as const)('%s is a typed PjlinkError (a DeviceNakError), and the projector stays online', async (code, text) => {
    const r = await rig({ initial: { power: 1 } });
    r.sim.failNext('INPT', code);
    const err = await r.driver.execute('input', { source: 'hdmi2' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PjlinkError);
    expect(err).toBeInstanceOf(DeviceNakError);
    expect((err as PjlinkError).pjlinkCode).toBe(code);
    expect((err as PjlinkError).code).toBe('nak');
    expect((err as Error).message).toBe(`projector: input: device refused: ${code} ${text}`);
    expect(lines(r.sim, '%1INPT 32')).toBe(1); // never retried
    expect(r.online).toEqual([[true, undefined]]);
  });

  it('a silent projector: timeout (greeting), then offline, then commands fail at once', async () => {
    const r = await rig({}, { retries: 0, offlineAfter: 2 });
    r.sim.silent = true;
    const e1 = await r.driver.execute('refresh', {}).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(DeviceTimeoutError);
    expect((e1 as Error).message).toBe('projector: refresh (waiting for the PJLINK greeting): no reply within 300 ms');
    expect(r.online).toEqual([[true, undefined]]);
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceTimeoutError);
    expect(r.online.at(-1)?.[0]).toBe(false);
    const t0 = Date.now();
    await expect(r.driver.execute('power', { on: true })).rejects.toBeInstanceOf(DeviceOfflineError);
    expect(Date.now() - t0).toBeLessThan(100);
  });

  it('a reply that never comes is retried, then a DeviceTimeoutError naming the command', async () => {
    const r = await rig({}, { retries: 1 });
    r.sim.replyDelayMs = 1000; // the projector greets but answers too late
    await expect(r.driver.execute('power', { on: true })).rejects.toThrow('projector: power: no reply within 300 ms');
    expect(lines(r.sim, '%1POWR 1')).toBe(2);
  });

  it('server gone: offline at once (connection refused); back on the same port: online again', async () => {
    const r = await rig({}, { pollSeconds: 1 });
    await r.sim.close();
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(PjlinkConnectionError);
    expect(r.online.at(-1)?.[0]).toBe(false);
    expect(r.online.at(-1)?.[1]).toMatch(/cannot connect: connect ECONNREFUSED 127\.0\.0\.1/);
    await expect(r.driver.execute('refresh', {})).rejects.toBeInstanceOf(DeviceOfflineError);
    const back = new PjlinkSim({ port: r.port, initial: { power: 1 } });
    cleanup.push(() => back.close());
    await back.listen();
    await until(() => r.online.at(-1)?.[0] === true, 5000);
    expect(r.online.map(([o]) => o)).toEqual([true, false, true]);
    expect(r.states.at(-1)?.power).toBe('on');
  });

  it('a projector that hangs up after every reply: one connection per line, transparently', async () => {
    const r = await rig({ closeAfterReply: true, initial: { power: 1, input: '32' } });
    const status = await r.driver.execute('refresh', {});
    expect(status).toMatchObject({ power: 'on', input: 'hdmi2', mute: false });
    expect(r.sim.connections).toBeGreaterThanOrEqual(1 + 5);
  });

  it('garbage from the projector is reported as malformed and does not stop the exchange', async () => {
    const server = net.createServer((s) => {
      s.write(Buffer.from('\xff\xfb\x01noise\rPJLINK 0\r', 'latin1'));
      s.on('data', (d: Buffer) => {
        const line = d.toString('latin1');
        if (line.startsWith('%1POWR ?')) s.write('junk%1POWR=1\r%1POWR=7\r');
        else s.write(`%1${line.slice(2, 6)}=ERR1\r`);
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    cleanup.push(() => new Promise<void>((res) => server.close(() => res())));
    const port = (server.address() as net.AddressInfo).port;
    const r = makeDriver(new TcpTransport({ host: '127.0.0.1', port }), {});
    await r.driver.open();
    await until(() => r.states.length > 0);
    expect(r.states[0]).toEqual({ power: 'on' });
    expect(r.malformed).toEqual(expect.arrayContaining(['not a PJLink line: "\\xff\\xfb\\x01noise"', 'skipped 4 byte(s) before a line: "junk"']));
  });

  it('unknown commands and bad arguments are refused without talking to the projector', async () => {
    const r = await rig();
    const before = r.sim.received.length;
    await expect(r.driver.execute('volume', { level: 3 })).rejects.toMatchObject({ code: 'unsupported' });
    await expect(r.driver.execute('input', { source: 'hdmi9' })).rejects.toMatchObject({ code: 'invalid-args' });
    await expect(r.driver.execute('power', {})).rejects.toBeInstanceOf(DeviceError);
    expect(r.sim.received.length).toBe(before);
  });
});

describe('pjlink driver over an in-memory pair (the demo room)', () => {
  it('PjlinkSim.attach greets each connection; power, input, mute, refresh work', async () => {
    const [host, device] = createMemoryPair('sim:projector');
    const sim = new PjlinkSim({ password: 'demo', warmupMs: 60, cooldownMs: 30 });
    sim.attach(device);
    cleanup.push(() => sim.close());
    const r = makeDriver(host, { passwordFile: secret('demo'), inputs: { laptop: '31', doc: '32' } });
    await r.driver.open();
    await until(() => r.online.length > 0);
    expect(r.online).toEqual([[true, undefined]]);
    await r.driver.execute('power', { on: true });
    await expect(r.driver.execute('input', { source: 'doc' })).resolves.toEqual({ input: 'doc', power: 'on' });
    await expect(r.driver.execute('refresh', {})).resolves.toMatchObject({ power: 'on', input: 'doc', mute: false });
    expect(sim.received.filter((x) => x.digest !== undefined).length).toBe(sim.connections);
  });

  it('a hang-up after every reply needs TCP: attach() refuses it', () => {
    const [, device] = createMemoryPair('sim:projector');
    expect(() => new PjlinkSim({ closeAfterReply: true }).attach(device)).toThrow('closeAfterReply needs TCP');
  });

  it('a wrong password over the pair: ERRA, offline', async () => {
    const [host, device] = createMemoryPair('sim:projector');
    const sim = new PjlinkSim({ password: 'demo' });
    sim.attach(device);
    cleanup.push(() => sim.close());
    const r = makeDriver(host, { passwordFile: secret('nope') });
    await r.driver.open();
    await until(() => r.online.length > 0);
    expect(r.online[0]).toEqual([false, expect.stringContaining('PJLINK ERRA')]);
  });
});

describe('pjlink driver definition', () => {
  it('declares its capabilities from the input map and validates options', () => {
    const options = pjlinkOptionsSchema.parse({});
    expect(options).toMatchObject({ pollSeconds: 30, timeoutMs: 5000, warmupQueueMs: 60_000, inputs: { hdmi1: '31', hdmi2: '32', vga: '11', video: '21', network: '51' } });
    const caps = pjlinkDriver.capabilities(options);
    expect(caps.map((c) => c.type)).toEqual(['power', 'input', 'mute', 'status']);
    expect(caps[1]?.meta).toEqual({ inputs: ['hdmi1', 'hdmi2', 'vga', 'video', 'network'] });
    expect(pjlinkOptionsSchema.safeParse({ inputs: { hdmi1: '71' } }).success).toBe(false);
    expect(pjlinkOptionsSchema.safeParse({ inputs: {} }).success).toBe(false);
    expect(pjlinkDriver).toMatchObject({ driver: 'pjlink', kinds: ['projector'], transports: ['tcp', 'sim'] });
  });

  it('the config example of docs/drivers/pjlink.md is valid', () => {
    const dev = deviceSchema.parse({
      id: 'projector',
      kind: 'projector',
      driver: 'pjlink',
      commandTimeoutMs: 75000,
      transport: { type: 'tcp', host: 'projector-203.school.lan', port: 4352 },
      options: { passwordFile: '/etc/classroom-edge/pjlink.secret', inputs: { laptop: '31', 'document-camera': '32', pc: '11' } },
    });
    const options = pjlinkOptionsSchema.parse(dev.options);
    expect(pjlinkDriver.capabilities(options)[1]?.meta).toEqual({ inputs: ['laptop', 'document-camera', 'pc'] });
    expect(dev.commandTimeoutMs).toBeGreaterThan(options.warmupQueueMs);
  });
});
