/**
 * Demo-room simulator factories of the first drivers: EM4100 reader, Samsung
 * MDC display, Modbus RTU sensor, PJLink projector.
 */
import { z } from 'zod';
import type { ByteTransport } from '../transports/types.js';
import type { SimInput, Simulator } from './index.js';
import { Em4100Sim } from './em4100.js';
import { MdcSim } from './samsung-mdc.js';
import { ModbusRtuSim } from './modbus-rtu.js';
import { encodeRaw } from '../modbus/registers.js';
import { resolveRegisters, modbusRtuOptionsSchema } from '../modbus-rtu/driver.js';
import { em4100OptionsSchema } from '../em4100/driver.js';
import { mdcOptionsSchema } from '../samsung-mdc/driver.js';
import { PjlinkSim } from './pjlink.js';
import { pjlinkOptionsSchema } from '../pjlink/options.js';


const presentArgs = z.object({ uid: z.string().regex(/^[0-9A-Fa-f]{10}$/, 'a 10-hex-digit EM4100 UID'), repeats: z.number().int().min(1).max(20).default(3) });
export const silentArgs = z.object({ silent: z.boolean() });
const valueArgs = z.object({ metric: z.string(), value: z.number().finite() });

export function em4100(end: ByteTransport, input: SimInput): Simulator {
  const options = em4100OptionsSchema.parse(input.options);
  const sim = new Em4100Sim(end, { format: options.format });
  return {
    model: 'em4100',
    actions: {
      present: (args) => {
        const a = presentArgs.parse(args);
        return sim.present(a.uid.toUpperCase(), a.repeats);
      },
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}

export function samsungMdc(end: ByteTransport, input: SimInput): Simulator {
  const options = mdcOptionsSchema.parse(input.options);
  // A real display answers in tens of milliseconds.
  const sim = new MdcSim(end, { displayId: options.displayId, replyDelayMs: 20 });
  return {
    model: 'samsung-mdc',
    actions: {
      'power-cut': (args) => {
        sim.silent = silentArgs.parse(args).silent;
      },
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}

/** Plausible classroom values by metric name, for the demo. */
const DEMO_VALUES: Record<string, number> = { temperature: 23.5, humidity: 45, co2: 650, pm25: 18, illuminance: 420, noise: 48 };

export function modbusRtu(end: ByteTransport, input: SimInput): Simulator {
  const options = modbusRtuOptionsSchema.parse(input.options);
  const registers = resolveRegisters(options);
  const sim = new ModbusRtuSim(end, { units: { [options.unitId]: {} }, replyDelayMs: 5 });
  const set = (metric: string, value: number) => {
    const spec = registers.find((r) => r.metric === metric);
    if (!spec) throw new Error(`no register for metric "${metric}"; metrics: ${registers.map((r) => r.metric).join(', ')}`);
    const raw = Math.round(((value - spec.offset) / spec.scale) * 1000) / 1000;
    const words = encodeRaw(spec.type, spec.wordOrder, spec.type === 'float32' ? raw : Math.round(raw));
    words.forEach((w, i) => sim.setRegister(options.unitId, spec.function === 3 ? 'holding' : 'input', spec.address + i, w));
  };
  const current = new Map<string, number>();
  for (const r of registers) {
    const v = DEMO_VALUES[r.metric] ?? 0;
    current.set(r.metric, v);
    set(r.metric, v);
  }
  let timer: NodeJS.Timeout | undefined;
  return {
    model: 'modbus-rtu',
    actions: {
      set: (args) => {
        const a = valueArgs.parse(args);
        current.set(a.metric, a.value);
        set(a.metric, a.value);
      },
      'power-cut': (args) => sim.setSilent(options.unitId, silentArgs.parse(args).silent),
    },
    start: () => {
      if (input.settings.drift !== true) return;
      // A slow random walk so the demo's environment panel moves.
      timer = setInterval(() => {
        for (const [metric, v] of current) {
          const next = Math.round((v + (Math.random() - 0.5) * Math.max(0.2, v * 0.01)) * 10) / 10;
          current.set(metric, next);
          set(metric, next);
        }
      }, 5000);
      timer.unref();
    },
    stop: async () => {
      if (timer) clearInterval(timer);
      await end.stop();
    },
  };
}

const faultArgs = z.object({ code: z.enum(['ERR1', 'ERR2', 'ERR3', 'ERR4']).nullable() });

export function pjlink(end: ByteTransport, input: SimInput): Simulator {
  const options = pjlinkOptionsSchema.parse(input.options);
  // A projector takes a while to warm up and cool down; the demo shows it.
  const sim = new PjlinkSim({ warmupMs: 8000, cooldownMs: 4000, inputs: [...new Set(Object.values(options.inputs))] });
  sim.attach(end);
  return {
    model: 'pjlink',
    actions: {
      'power-cut': (args) => {
        sim.silent = silentArgs.parse(args).silent;
      },
      fault: (args) => {
        sim.fault = faultArgs.parse(args).code;
      },
    },
    start: () => undefined,
    stop: async () => {
      await sim.close();
      await end.stop();
    },
  };
}
