/**
 * Simulators of GPIO devices for the demo room and tests: they drive lines
 * of the fake GPIO backend (`transport: { type: gpio, backend: fake }`) the
 * way the real device would (Wiegand pulse trains, a PIR or a button).
 */
import { z } from 'zod';
import type { FakeGpioBackend } from '../transports/gpio-fake.js';
import type { Simulator } from './index.js';
import { WiegandSim } from './wiegand.js';
import { wiegandOptionsSchema } from '../wiegand/driver.js';
import { gpioInputOptionsSchema } from '../gpio-input/driver.js';

export interface GpioSimInput {
  chip: string;
  line: number;
  settings: Record<string, unknown>;
  options: Record<string, unknown>;
}

const presentArgs = z.object({
  fc: z.number().int().min(0).max(65535),
  card: z.number().int().min(0).max(65535),
  format: z.enum(['w26', 'w34']).default('w26'),
});

export function wiegand(gpio: FakeGpioBackend, input: GpioSimInput): Simulator {
  const o = wiegandOptionsSchema.parse(input.options);
  const sim = new WiegandSim(gpio, { chip: input.chip, d0Line: o.d0Line ?? input.line, d1Line: o.d1Line });
  return {
    model: 'wiegand',
    actions: {
      present: (args) => {
        const a = presentArgs.parse(args);
        if (a.format === 'w26' && a.fc > 255) throw new Error('a W26 facility code is 0..255');
        sim.present(a.fc, a.card, a.format);
      },
      noise: () => {
        sim.noise('both-low');
      },
    },
    start: () => undefined,
    stop: async () => undefined,
  };
}

const nowNs = (): bigint => process.hrtime.bigint();

export function gpioInput(gpio: FakeGpioBackend, input: GpioSimInput): Simulator {
  const o = gpioInputOptionsSchema.parse(input.options);
  const active: 0 | 1 = o.activeLow ? 0 : 1;
  const idle: 0 | 1 = o.activeLow ? 1 : 0;
  gpio.setLevel(input.chip, input.line, idle);
  const timers = new Set<NodeJS.Timeout>();
  /** Hold the line active for `ms`, then release it (real time passes, so the driver's debounce sees a real hold). */
  const pulse = (ms: number) => {
    gpio.replay(input.chip, input.line, [{ value: active, tsNs: nowNs() }]);
    const t = setTimeout(() => {
      timers.delete(t);
      gpio.replay(input.chip, input.line, [{ value: idle, tsNs: nowNs() }]);
    }, ms);
    timers.add(t);
  };
  const actions: Simulator['actions'] =
    o.role === 'door'
      ? {
          door: (args) => {
            const open = z.object({ open: z.boolean() }).parse(args).open;
            gpio.replay(input.chip, input.line, [{ value: open ? active : idle, tsNs: nowNs() }]);
          },
        }
      : o.role === 'motion'
        ? { motion: () => pulse(2000) }
        : { press: () => pulse(150) };
  return {
    model: 'gpio-input',
    actions,
    start: () => undefined,
    stop: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
