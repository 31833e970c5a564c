/**
 * The NTP-synchronisation probe (edge/util/clock-sync.ts): answers from the
 * latest run of its command, counts anything but a clear "yes" as not
 * synchronised, logs a failure once (not once a minute), probes again on its
 * interval until stopped.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClockSyncProbe, type ProbeExec } from '../../../edge/util/clock-sync.js';
import { createLogger } from '../../../edge/util/logger.js';

function capture() {
  const lines: Array<{ msg: string; problem?: string; synced?: boolean }> = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: createLogger({ level: 'info', destination }), lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ClockSyncProbe', () => {
  it('"yes" is synchronised, "no" is not; the state follows the latest answer and each change is logged', async () => {
    const answers = ['yes\n', 'no\n', 'yes\n'];
    const { logger, lines } = capture();
    const probe = new ClockSyncProbe({ logger, exec: async () => answers.shift()! });
    expect(probe.synced()).toBe(false);
    expect(await probe.probe()).toBe(true);
    expect(probe.synced()).toBe(true);
    expect(await probe.probe()).toBe(false);
    expect(await probe.probe()).toBe(true);
    expect(lines.filter((l) => l.synced !== undefined).map((l) => l.synced)).toEqual([true, false, true]);
  });

  it('a failing or odd probe counts as not synchronised and is logged once per kind of failure', async () => {
    const { logger, lines } = capture();
    let answer: ProbeExec = async () => {
      throw new Error('timedatectl: System has not been booted with systemd as init system (PID 1).');
    };
    const probe = new ClockSyncProbe({ logger, exec: () => answer() });
    expect(await probe.probe()).toBe(false);
    expect(await probe.probe()).toBe(false);
    answer = async () => 'maybe';
    expect(await probe.probe()).toBe(false);
    const problems = lines.filter((l) => l.problem !== undefined).map((l) => l.problem);
    expect(problems).toEqual(['timedatectl: System has not been booted with systemd as init system (PID 1).', 'unexpected answer "maybe"']);
    // After a good answer, a new failure is reported again.
    answer = async () => 'yes';
    expect(await probe.probe()).toBe(true);
    answer = async () => 'maybe';
    expect(await probe.probe()).toBe(false);
    expect(lines.filter((l) => l.problem !== undefined)).toHaveLength(3);
  });

  it('probes at start, then every interval, until stopped', async () => {
    vi.useFakeTimers();
    let runs = 0;
    const probe = new ClockSyncProbe({ logger: capture().logger, intervalMs: 60_000, exec: async () => (++runs % 2 === 1 ? 'yes' : 'no') });
    await probe.start();
    expect(runs).toBe(1);
    expect(probe.synced()).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toBe(2);
    expect(probe.synced()).toBe(false);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toBe(3);
    probe.stop();
    await vi.advanceTimersByTimeAsync(300_000);
    expect(runs).toBe(3);
  });
});
