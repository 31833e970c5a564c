/**
 * The character-device GPIO backend (gpiod tools).
 *
 * THIS MACHINE HAS NO GPIO CHIP (no /dev/gpiochip*, no gpio-sim module), so
 * the real gpiomon/gpioset cannot watch or drive a line here. What is tested:
 * - the gpiomon output parser on lines in the format documented by
 *   gpiomon(1) of libgpiod 1.6 (`--format='%o %e %s %n'`: offset, 1 rising /
 *   0 falling, seconds, nanoseconds printed with %ld, not zero-padded);
 * - the process handling (arguments, events, restart with backoff, logging
 *   once, killing on close, outputs held by gpioset --mode=signal) with fake
 *   `gpiomon`/`gpioget`/`gpioset` shell scripts placed first on PATH, which
 *   print lines in that format;
 * - the real Debian tools only for their failure here: opening a line fails
 *   with an error that names the chip and line and carries gpioget's message.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GpioEdgeEvent } from '../../../drivers/transports/gpio.js';
import { findOnPath } from '../../../drivers/transports/gpio-auto.js';
import { ChardevGpioBackend, parseGpiomonLine, type ChardevBackendOptions } from '../../../drivers/transports/gpio-chardev.js';
import { GpioUnavailableError } from '../../../drivers/transports/gpio-onoff.js';
import { createLogger, silentLogger } from '../../../edge/util/logger.js';
import type { CardRead } from '../../../drivers/contract.js';
import { encodeWiegand } from '../../../drivers/wiegand/codec.js';
import { wiegandDriver, wiegandOptionsSchema } from '../../../drivers/wiegand/driver.js';
import { systemClock } from '../../../edge/util/clock.js';

const FAKE_GPIOMON = `#!/bin/sh
# Fake gpiomon: the n-th start prints $FAKE_GPIO_DIR/gpiomon-n.out, then exits
# with the code in gpiomon-n.exit if that file exists, else runs until killed.
d="$FAKE_GPIO_DIR"
n=$(( $(cat "$d/gpiomon.starts" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$d/gpiomon.starts"
echo "$*" >> "$d/gpiomon.args"
echo "$$" >> "$d/gpiomon.pids"
if [ -f "$d/gpiomon-$n.out" ]; then cat "$d/gpiomon-$n.out"; fi
if [ -f "$d/gpiomon-$n.exit" ]; then echo "gpiomon: fake failure $n" >&2; exit "$(cat "$d/gpiomon-$n.exit")"; fi
exec sleep 600
`;
const FAKE_GPIOGET = `#!/bin/sh
d="$FAKE_GPIO_DIR"
echo "$*" >> "$d/gpioget.args"
if [ -f "$d/gpioget.fail" ]; then cat "$d/gpioget.fail" >&2; exit 1; fi
if [ -f "$d/gpioget.value" ]; then cat "$d/gpioget.value"; else echo 1; fi
`;
const FAKE_GPIOSET = `#!/bin/sh
d="$FAKE_GPIO_DIR"
echo "$*" >> "$d/gpioset.args"
echo "$$" >> "$d/gpioset.pids"
if [ -f "$d/gpioset.fail" ]; then cat "$d/gpioset.fail" >&2; exit 1; fi
exec sleep 600
`;

let dir: string;
let env: NodeJS.ProcessEnv;
const closers: (() => Promise<void>)[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fake-gpiod-'));
  for (const [name, text] of [
    ['gpiomon', FAKE_GPIOMON],
    ['gpioget', FAKE_GPIOGET],
    ['gpioset', FAKE_GPIOSET],
  ] as const) {
    await writeFile(join(dir, name), text);
    await chmod(join(dir, name), 0o755);
  }
  env = { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}`, FAKE_GPIO_DIR: dir };
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  // Anything a test left running is killed here, by pid.
  for (const file of ['gpiomon.pids', 'gpioset.pids']) {
    const pids = (await readFile(join(dir, file), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await rm(dir, { recursive: true, force: true });
});

const read = (name: string): Promise<string> => readFile(join(dir, name), 'utf8').catch(() => '');
const lines = async (name: string): Promise<string[]> => (await read(name)).split('\n').filter(Boolean);
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function capture(): { logs: { level: number; msg: string; [k: string]: unknown }[]; logger: ReturnType<typeof createLogger> } {
  const logs: { level: number; msg: string }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(l) as { level: number; msg: string });
      cb();
    },
  });
  return { logs, logger: createLogger({ level: 'debug', destination }) };
}

function backend(opts: ChardevBackendOptions = {}): ChardevGpioBackend {
  return new ChardevGpioBackend({ env, restart: { initialMs: 20, maxMs: 40, jitter: 0 }, stableMs: 300, settleMs: 60, ...opts });
}

describe('parseGpiomonLine', () => {
  it('parses offset, edge and the kernel timestamp (nanoseconds not zero-padded)', () => {
    expect(parseGpiomonLine('17 1 1700000000 5')).toEqual({ ok: true, event: { offset: 17, value: 1, tsNs: 1_700_000_000_000_000_005n } });
    expect(parseGpiomonLine('4 0 12 999999999\n')).toEqual({ ok: true, event: { offset: 4, value: 0, tsNs: 12_999_999_999n } });
    expect(parseGpiomonLine('0 0 0 0')).toEqual({ ok: true, event: { offset: 0, value: 0, tsNs: 0n } });
  });

  it.each([
    'event:  RISING EDGE offset: 17 timestamp: [    1234.000000005]', // the default (non --format) output
    '17 2 1 1',
    '17 1 1 1000000000',
    '17 1 -1 5',
    '17 1 5',
    '17 1 5 5 5',
    '',
    'x 1 1 1',
  ])('rejects %j', (line) => {
    expect(parseGpiomonLine(line)).toMatchObject({ ok: false, reason: /unexpected gpiomon output/ });
  });
});

describe('ChardevGpioBackend inputs (fake gpiod tools on PATH)', () => {
  it('runs gpioget for the level, then gpiomon with the documented arguments, and delivers its events', async () => {
    await writeFile(join(dir, 'gpiomon-1.out'), '17 0 100 5000\n17 1 100 55000\n');
    const input = await backend().openInput('gpiochip0', 17, 'both');
    closers.push(() => input.close());
    const got: GpioEdgeEvent[] = [];
    input.onEdge((e) => got.push(e));
    expect(await input.read()).toBe(1); // gpioget's answer
    await until('2 events', () => got.length === 2);
    expect(got).toEqual([
      { line: 17, value: 0, tsNs: 100_000_005_000n },
      { line: 17, value: 1, tsNs: 100_000_055_000n },
    ]);
    expect(await input.read()).toBe(1);
    expect(await lines('gpioget.args')).toEqual(['gpiochip0 17']);
    expect(await lines('gpiomon.args')).toEqual(['--line-buffered --format=%o %e %s %n gpiochip0 17']);
  });

  it('passes --active-low, --rising-edge / --falling-edge, and tracks the level from events', async () => {
    await writeFile(join(dir, 'gpioget.value'), '0\n');
    await writeFile(join(dir, 'gpiomon-1.out'), '5 1 7 1\n');
    const b = backend();
    const input = await b.openInput('gpiochip1', 5, 'rising', { activeLow: true });
    closers.push(() => input.close());
    expect(await input.read()).toBe(0);
    await until('level 1', async () => (await input.read()) === 1);
    await writeFile(join(dir, 'gpiomon-2.out'), '');
    const falling = await b.openInput('gpiochip1', 6, 'falling');
    closers.push(() => falling.close());
    await until('second gpiomon', async () => (await lines('gpiomon.args')).length === 2);
    expect(await lines('gpiomon.args')).toEqual([
      '--line-buffered --format=%o %e %s %n --active-low --rising-edge gpiochip1 5',
      '--line-buffered --format=%o %e %s %n --falling-edge gpiochip1 6',
    ]);
    expect((await lines('gpioget.args'))[0]).toBe('--active-low gpiochip1 5');
  });

  it('restarts gpiomon with backoff when it exits, logging the outage once and the recovery once', async () => {
    const { logs, logger } = capture();
    await writeFile(join(dir, 'gpiomon-1.out'), '17 0 1 100\n17 1 1 200\n');
    await writeFile(join(dir, 'gpiomon-1.exit'), '1');
    await writeFile(join(dir, 'gpiomon-2.exit'), '2');
    await writeFile(join(dir, 'gpiomon-3.out'), '17 0 2 100\n');
    const input = await backend({ logger }).openInput('gpiochip0', 17, 'both');
    closers.push(() => input.close());
    const got: GpioEdgeEvent[] = [];
    input.onEdge((e) => got.push(e));
    await until('3 events from 3 runs', () => got.length === 3);
    expect(got.map((e) => e.tsNs)).toEqual([1_000_000_100n, 1_000_000_200n, 2_000_000_100n]);
    expect(input.starts).toBe(3);
    const warn = logs.filter((l) => l.msg === 'gpio tool exited; restarting with backoff');
    expect(warn).toHaveLength(1);
    expect(warn[0]).toMatchObject({ level: 40, what: 'gpiomon gpiochip0 17', why: 'exit 1', stderr: 'gpiomon: fake failure 1' });
    expect(logs.filter((l) => l.msg === 'gpio tool exited again')).toHaveLength(1);
    await until('recovery logged', () => logs.some((l) => l.msg === 'gpio tool running again'));
    expect(logs.filter((l) => l.msg === 'gpio tool running again')).toHaveLength(1);
  });

  it('kills gpiomon on close and does not restart it', async () => {
    const input = await backend().openInput('gpiochip0', 17, 'both');
    await until('gpiomon running', async () => (await lines('gpiomon.pids')).length === 1);
    const pid = input.pid!;
    expect(await lines('gpiomon.pids')).toEqual([String(pid)]);
    expect(alive(pid)).toBe(true);
    await input.close();
    await until('gpiomon gone', () => !alive(pid));
    await new Promise((r) => setTimeout(r, 100)); // longer than the restart backoff
    expect(input.starts).toBe(1);
    expect(await lines('gpiomon.args')).toHaveLength(1);
    await expect(input.read()).rejects.toThrow(/input closed/);
  });

  it('skips lines it cannot parse (or for another line) and keeps the rest', async () => {
    await writeFile(join(dir, 'gpiomon-1.out'), 'garbage\n18 0 1 1\n17 0 1 5\n\n17 1 1 60000\n');
    const input = await backend().openInput('gpiochip0', 17, 'both');
    closers.push(() => input.close());
    const got: GpioEdgeEvent[] = [];
    input.onEdge((e) => got.push(e));
    await until('2 events', () => got.length === 2);
    expect(got.map((e) => e.value)).toEqual([0, 1]);
    expect(input.unparsed).toBe(2);
  });

  it('applies debounceMs to events', async () => {
    await writeFile(join(dir, 'gpiomon-1.out'), '3 0 1 0\n3 1 1 1000000\n3 0 1 20000000\n');
    const input = await backend().openInput('gpiochip0', 3, 'both', { debounceMs: 5 });
    closers.push(() => input.close());
    const got: GpioEdgeEvent[] = [];
    input.onEdge((e) => got.push(e));
    await until('2 events', () => got.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(got.map((e) => e.tsNs)).toEqual([1_000_000_000n, 1_020_000_000n]);
  });

  it('fails to open with an error naming chip and line when gpioget fails, starting no gpiomon', async () => {
    await writeFile(join(dir, 'gpioget.fail'), 'gpioget: error reading GPIO values: Device or resource busy\n');
    const err = await backend()
      .openInput('gpiochip0', 17, 'both')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpioUnavailableError);
    expect((err as Error).message).toMatch(/^gpio gpiochip0 line 17: gpioget gpiochip0 17 failed \(exit 1\): gpioget: error reading GPIO values: Device or resource busy$/);
    expect(await lines('gpiomon.args')).toEqual([]);
  });

  it('edge "none" starts no gpiomon and reads with gpioget each time', async () => {
    const input = await backend().openInput('gpiochip0', 9, 'none');
    closers.push(() => input.close());
    await writeFile(join(dir, 'gpioget.value'), '0\n');
    expect(await input.read()).toBe(0);
    expect(await lines('gpioget.args')).toHaveLength(2);
    expect(await lines('gpiomon.args')).toEqual([]);
  });

  it('says so when the gpiod tools are not installed', async () => {
    await expect(backend({ env: { PATH: join(dir, 'nothing-here') } }).openInput('gpiochip0', 17, 'both')).rejects.toThrow(
      /^gpio gpiochip0 line 17: gpioget not found on PATH \(install the Debian package gpiod\)$/,
    );
  });

  it('feeds the Wiegand driver: one gpiomon watches D0 and D1, its W26 frame becomes a card', async () => {
    // gpiomon(1) takes several offsets and prints their events in kernel order.
    const bits = encodeWiegand('w26', 123, 4567);
    let out = '';
    bits.forEach((bit, i) => {
      const ns = 200_000_000 + i * 2_000_000; // a bit every 2 ms, 50 us pulses
      const offset = bit === 1 ? 27 : 17;
      out += `${offset} 0 4242 ${ns}\n${offset} 1 4242 ${ns + 50_000}\n`;
    });
    await writeFile(join(dir, 'gpiomon-1.out'), out);
    const driver = wiegandDriver.create({
      deviceId: 'door-reader',
      options: wiegandOptionsSchema.parse({ d1Line: 27 }),
      transport: { type: 'gpio', backend: backend(), chip: 'gpiochip0', line: 17 },
      logger: silentLogger(),
      clock: systemClock,
    });
    closers.push(() => driver.close());
    const cards: CardRead[] = [];
    const malformed: string[] = [];
    driver.on('card', (c) => cards.push(c));
    driver.on('malformed', (m) => malformed.push(m));
    await driver.open();
    await until('a card', () => cards.length === 1);
    expect(cards[0]).toMatchObject({ uid: '7B11D7', number: '123,04567', format: 'w26' });
    expect(malformed).toEqual([]);
    expect(await lines('gpiomon.args')).toEqual(['--line-buffered --format=%o %e %s %n gpiochip0 17 27']);
    expect(await lines('gpioget.args')).toEqual(['gpiochip0 17', 'gpiochip0 27']);
  });

  it('an input group tracks each line\'s level, rejects lines not in it and repeated lines', async () => {
    await writeFile(join(dir, 'gpiomon-1.out'), '5 0 1 100\n6 0 1 200\n6 1 1 300\n');
    const group = await backend().openInputGroup('gpiochip2', [5, 6], 'both');
    closers.push(() => group.close());
    const seen: string[] = [];
    group.onEdge((e) => seen.push(`${e.line}:${e.value}@${e.tsNs}`));
    await until('three edges', () => seen.length === 3);
    expect(seen).toEqual(['5:0@1000000100', '6:0@1000000200', '6:1@1000000300']);
    expect(await group.read(5)).toBe(0);
    expect(await group.read(6)).toBe(1);
    await expect(group.read(7)).rejects.toThrow(/not a line of this input/);
    await expect(backend().openInputGroup('gpiochip2', [5, 5], 'both')).rejects.toThrow(/lines repeat/);
  });

  it('rejects bad chip names and lines before running anything', async () => {
    await expect(backend().openInput('gpiochip0;rm', 1, 'both')).rejects.toThrow(GpioUnavailableError);
    await expect(backend().openInput('gpiochip0', -1, 'both')).rejects.toThrow(/line must be an integer/);
    expect(await lines('gpioget.args')).toEqual([]);
  });
});

describe('ChardevGpioBackend outputs (fake gpioset on PATH)', () => {
  it('holds the value with gpioset --mode=signal, replacing the process on write, killing it on close', async () => {
    const out = await backend().openOutput('gpiochip0', 4, { activeLow: true, initial: 1 });
    const first = out.pid!;
    expect(alive(first)).toBe(true);
    expect(await out.read()).toBe(1);
    await out.write(0);
    expect(alive(first)).toBe(false);
    const second = out.pid!;
    expect(second).not.toBe(first);
    expect(await out.read()).toBe(0);
    await out.write(0); // same value, holder alive: nothing to do
    expect(out.pid).toBe(second);
    expect(await lines('gpioset.args')).toEqual(['--mode=signal --active-low gpiochip0 4=1', '--mode=signal --active-low gpiochip0 4=0']);
    await out.close();
    await until('gpioset gone', () => !alive(second));
    await expect(out.write(1)).rejects.toThrow(/output closed/);
  });

  it('restarts a holder that dies, with the last value', async () => {
    const out = await backend().openOutput('gpiochip0', 4, { initial: 1 });
    closers.push(() => out.close());
    process.kill(out.pid!, 'SIGKILL');
    await until('second gpioset', async () => (await lines('gpioset.args')).length === 2 && out.pid !== undefined);
    expect(await lines('gpioset.args')).toEqual(['--mode=signal gpiochip0 4=1', '--mode=signal gpiochip0 4=1']);
  });

  it('fails when gpioset does not hold the line, with its message', async () => {
    await writeFile(join(dir, 'gpioset.fail'), 'gpioset: error setting the GPIO line values: Device or resource busy\n');
    await expect(backend().openOutput('gpiochip0', 4)).rejects.toThrow(
      /^gpio gpiochip0 line 4: gpioset did not hold the line: gpioset: error setting the GPIO line values: Device or resource busy$/,
    );
  });
});

describe('ChardevGpioBackend with the real Debian gpiod tools (no GPIO chip here)', () => {
  it('fails to open a line with gpioget\'s own error, naming chip and line', async () => {
    if (!findOnPath('gpioget') || !findOnPath('gpiomon')) {
      throw new Error('gpioget/gpiomon are missing: install the Debian package gpiod (apt-get install -y gpiod)');
    }
    const err = await new ChardevGpioBackend()
      .openInput('gpiochip0', 17, 'both')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpioUnavailableError);
    expect((err as Error).message).toMatch(/^gpio gpiochip0 line 17: gpioget gpiochip0 17 failed \(exit 1\): gpioget: .+/);
  });
});
