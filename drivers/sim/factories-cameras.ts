/** Demo-room simulator factories of PTZ cameras (VISCA serial, VISCA over IP, Pelco-D). */
import { z } from 'zod';
import type { ByteTransport } from '../transports/types.js';
import type { SimInput, Simulator } from './index.js';
import { silentArgs } from './factories-core.js';
import { ViscaSim } from './visca.js';
import { ViscaIpSim } from './visca-ip.js';
import { PelcoDSim } from './pelco-d.js';
import { viscaOptionsSchema } from '../visca/options.js';
import { pelcoDOptionsSchema } from '../pelco-d/driver.js';

/** Camera timings that make the demo visibly move without making tests slow. */
const DEMO_TIMING = { replyDelayMs: 10, moveMs: 1500, powerOnMs: 2000 };

export function visca(end: ByteTransport, input: SimInput): Simulator {
  const o = viscaOptionsSchema.parse(input.options);
  const sim = new ViscaSim(end, { address: o.address, ...DEMO_TIMING });
  return {
    model: 'visca',
    actions: {
      'power-cut': (args) => {
        sim.silent = silentArgs.parse(args).silent;
      },
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}

export function viscaIp(end: ByteTransport): Simulator {
  const sim = new ViscaIpSim(end, DEMO_TIMING);
  return {
    model: 'visca-ip',
    actions: {
      'power-cut': (args) => {
        sim.silent = silentArgs.parse(args).silent;
      },
      drop: (args) => {
        const a = z.object({ inbound: z.number().int().min(0).max(10).default(0), replies: z.number().int().min(0).max(10).default(0) }).parse(args);
        sim.dropInbound(a.inbound);
        sim.dropReplies(a.replies);
      },
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}

export function pelcoD(end: ByteTransport, input: SimInput): Simulator {
  const o = pelcoDOptionsSchema.parse(input.options);
  const sim = new PelcoDSim(end, { address: o.address });
  // A Pelco-D receiver never answers: nothing to act on.
  return { model: 'pelco-d', actions: {}, start: () => undefined, stop: () => sim.close() };
}
