/**
 * The request/response kit (drivers/kit) on a toy protocol, with a fake
 * transport and fake time: warm-up, broadcast, standby, retries, gap,
 * stale state, fault reporting and refusal codes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KitDriver } from '../../../drivers/kit/engine.js';
import { DeviceStandbyError, ProtocolNakError } from '../../../drivers/kit/errors.js';
import { DeviceTimeoutError } from '../../../drivers/errors.js';
import type { StatePatch } from '../../../drivers/contract.js';
import { silentLogger } from '../../../edge/util/logger.js';
import type { Clock } from '../../../edge/util/clock.js';
import { ToyLine, toyDriver, toyOptionsSchema, type ToyOptions, type ToyReply, type ToyRequest } from './kit-fixtures.js';

/** Follows the fake Date, so gaps and warm-up deadlines move with vi.advanceTimersByTimeAsync. */
const fakeClock: Clock = { now: () => Date.now(), monotonic: () => Date.now() };

interface Rig {
  driver: KitDriver<ToyOptions, ToyRequest, ToyReply>;
  line: ToyLine;
  states: StatePatch[];
  online: boolean[];
  faults: Array<string | null>;
}

const rigs: Rig[] = [];

async function rig(options: Partial<ToyOptions> = {}, setup: (line: ToyLine) => void = () => undefined): Promise<Rig> {
  const line = new ToyLine();
  setup(line);
  const driver = toyDriver.create({
    deviceId: 'panel',
    options: toyOptionsSchema.parse(options),
    transport: { type: 'bytes', transport: line },
    logger: silentLogger(),
    clock: fakeClock,
  });
  const r: Rig = { driver, line, states: [], online: [], faults: [] };
  driver.on('state', (p) => r.states.push(p));
  driver.on('online', (o) => r.online.push(o));
  driver.on('fault', (e) => r.faults.push(e ? e.message : null));
  rigs.push(r);
  await driver.open();
  await vi.advanceTimersByTimeAsync(0); // transport up, first poll
  return r;
}

const sent = (r: Rig): string[] => r.line.written.map((w) => w.line);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.driver.close();
  vi.useRealTimers();
});

describe('kit: warm-up', () => {
  it('a command after power-on waits for a status query that answers on, instead of timing out', async () => {
    const r = await rig({ warmupMs: 10_000 }, (l) => {
      l.power = 'on';
      l.warmMs = 3000;
    });
    await r.driver.execute('power', { on: false });
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
    expect(r.states.slice(-2)).toEqual([{ power: 'on' }, { warming: true }]);
    expect(r.driver.warming).toBe(true);
    const input = r.driver.execute('input', { source: 'hdmi2' });
    let settled = false;
    void input.finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(2500);
    expect(settled).toBe(false); // still warming: probes go unanswered, the command is held back
    expect(sent(r).filter((s) => s.startsWith('in'))).toEqual([]);
    await vi.advanceTimersByTimeAsync(1500);
    await expect(input).resolves.toEqual({ input: 'hdmi2' });
    expect(r.driver.warming).toBe(false);
    expect(r.states).toContainEqual({ warming: false });
    expect(sent(r).slice(-2)).toEqual(['st 01 ?', 'in 01 hdmi2']);
  });

  it('the warm-up ends at its maximum when no status query ever answers on', async () => {
    const r = await rig({ warmupMs: 5000 }, (l) => {
      l.power = 'on';
      l.warmMs = 60_000;
    });
    await r.driver.execute('power', { on: false });
    await r.driver.execute('power', { on: true });
    const input = r.driver.execute('input', { source: 'hdmi2' }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(4900);
    expect(sent(r).filter((s) => s.startsWith('in'))).toEqual([]);
    await vi.advanceTimersByTimeAsync(300);
    expect(r.driver.warming).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(await input).toBeInstanceOf(DeviceTimeoutError); // the display is still silent: now a real timeout
    expect(sent(r).at(-1)).toBe('in 01 hdmi2');
  });
});

describe('kit: no-reply (broadcast) requests', () => {
  it('are written once, never waited for, and their state is marked assumed', async () => {
    const r = await rig({ id: 0, retries: 3 });
    expect(r.online).toEqual([true]); // nothing could ever say more than the port being up
    const t0 = Date.now();
    await expect(r.driver.execute('input', { source: 'hdmi2' })).resolves.toEqual({ input: 'hdmi2', assumed: true });
    expect(Date.now() - t0).toBe(0);
    expect(sent(r)).toEqual(['in 00 hdmi2']);
    expect(r.states).toEqual([{ input: 'hdmi2', assumed: true }]);
    expect(r.faults).toEqual([]);
  });
});

describe('kit: standby', () => {
  it('a non-power command to a display known to be in standby fails at once, without writing', async () => {
    const r = await rig({ timeoutMs: 1000 }, (l) => {
      l.power = 'on';
    });
    await r.driver.execute('power', { on: false });
    const before = sent(r).length;
    const e = await r.driver.execute('input', { source: 'hdmi2' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DeviceStandbyError);
    expect((e as Error).message).toBe('panel: input: the display is in standby: power it on first');
    expect((e as DeviceStandbyError).reason).toBe('standby');
    expect(sent(r)).toHaveLength(before);
    expect(r.faults.at(-1)).toBe('panel: input: the display is in standby: power it on first');
    await expect(r.driver.execute('power', { on: true })).resolves.toEqual({ power: 'on' });
  });
});

describe('kit: retries, refusals and gap', () => {
  it('retries after silence, then times out and reports the device offline', async () => {
    const r = await rig({ retries: 2, timeoutMs: 100 }, (l) => {
      l.power = 'on';
    });
    expect(r.online).toEqual([true]);
    r.line.silent = true;
    const p = r.driver.execute('input', { source: 'hdmi2' }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(300);
    const e = await p;
    expect(e).toBeInstanceOf(DeviceTimeoutError);
    expect((e as Error).message).toBe('panel: input: no reply within 100 ms');
    expect(sent(r).filter((s) => s === 'in 01 hdmi2')).toHaveLength(3);
    expect(r.online).toEqual([true, false]);
  });

  it("a refusal's code is the protocol's error field, not the echoed data; not retried", async () => {
    const r = await rig({ retries: 2 }, (l) => {
      l.power = 'on';
    });
    r.line.refuseNext('1');
    const e = await r.driver.execute('input', { source: 'hdmi2' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ProtocolNakError);
    expect((e as ProtocolNakError).protocolCode).toBe('1');
    expect((e as Error).message).toBe('panel: input: device refused: NG 1 (illegal code)');
    expect(sent(r).filter((s) => s.startsWith('in'))).toHaveLength(1);
  });

  it('keeps the inter-command gap between writes', async () => {
    const r = await rig({ gapMs: 250 }, (l) => {
      l.power = 'on';
    });
    const a = r.driver.execute('input', { source: 'hdmi2' });
    const b = r.driver.execute('input', { source: 'hdmi1' });
    await vi.advanceTimersByTimeAsync(600);
    await Promise.all([a, b]);
    const times = r.line.written.map((w) => w.at);
    for (let i = 1; i < times.length; i++) expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(250);
  });
});

describe('kit: stale state and faults', () => {
  it('marks the state stale when the link goes down and fresh at the next read', async () => {
    const r = await rig({}, (l) => {
      l.power = 'on';
    });
    expect(r.states).toEqual([{ power: 'on' }]);
    r.line.setDown(true);
    expect(r.online).toEqual([true, false]);
    expect(r.states.at(-1)).toEqual({ stale: true });
    r.line.setDown(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(r.states.slice(-2)).toEqual([{ stale: false }, { power: 'on' }]);
    expect(r.online).toEqual([true, false, true]);
  });

  it('reports every failed poll or command as a fault and the next success as fault(null)', async () => {
    const r = await rig({ timeoutMs: 100, offlineAfter: 5, pollSeconds: 30 }, (l) => {
      l.power = 'on';
    });
    r.line.silent = true;
    await vi.advanceTimersByTimeAsync(30_000 + 100);
    expect(r.faults).toEqual(['panel: refresh: no reply within 100 ms']);
    r.line.silent = false;
    await vi.advanceTimersByTimeAsync(30_000);
    expect(r.faults).toEqual(['panel: refresh: no reply within 100 ms', null]);
  });
});
