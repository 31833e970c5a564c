/**
 * Demo-room simulator factories of displays/panels (LG, Hitevision, table
 * profile, NEC, Sharp) and of the generic UID line reader.
 */
import { z } from 'zod';
import type { ByteTransport } from '../transports/types.js';
import type { SimInput, Simulator } from './index.js';
import { silentArgs } from './factories-core.js';
import { LgSim } from './lg.js';
import { HitevisionSim } from './hitevision.js';
import { ProfileSim } from './profile.js';
import { NecSim } from './nec.js';
import { SharpSim } from './sharp.js';
import { UidReaderSim } from './uid-reader.js';
import { lgOptionsSchema } from '../lg/driver.js';
import { profileOptionsSchema } from '../profile/driver.js';
import { necOptionsSchema } from '../nec/driver.js';
import { uidReaderOptionsSchema } from '../uid-reader/driver.js';

/** Anything with a `silent` switch and a `close()`: the common shape of the display simulators. */
interface SilenceableSim {
  silent: boolean;
  close(): Promise<void>;
}

function displaySim(model: string, sim: SilenceableSim, extra: Simulator['actions'] = {}): Simulator {
  return {
    model,
    actions: {
      'power-cut': (args) => {
        sim.silent = silentArgs.parse(args).silent;
      },
      ...extra,
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}

export function lg(end: ByteTransport, input: SimInput): Simulator {
  const o = lgOptionsSchema.parse(input.options);
  return displaySim('lg', new LgSim(end, { setId: o.setId === 0 ? 1 : o.setId, inputCommand: o.inputCommand, replyDelayMs: 20 }));
}

export function hitevision(end: ByteTransport): Simulator {
  const sim = new HitevisionSim(end, {});
  return displaySim('hitevision-ifp', sim, {
    // Someone pressed mute on the remote: the tracked state drifts, as on a real panel.
    'remote-mute': () => {
      sim.state.muted = !sim.state.muted;
    },
  });
}

export function panelProfile(end: ByteTransport, input: SimInput): Simulator {
  const sim = new ProfileSim(end, profileOptionsSchema.parse(input.options), { replyDelayMs: 10 });
  return displaySim('panel-profile', sim, {
    'remote-power': (args) => {
      sim.state.power = z.object({ on: z.boolean() }).parse(args).on;
    },
  });
}

export function nec(end: ByteTransport, input: SimInput): Simulator {
  const o = necOptionsSchema.parse(input.options);
  return displaySim('nec', new NecSim(end, { monitorId: o.monitorId, replyDelayMs: 20 }));
}

export function sharp(end: ByteTransport): Simulator {
  const sim = new SharpSim(end, { replyDelayMs: 20 });
  return displaySim('sharp-pn', sim, {
    lock: (args) => {
      sim.locked = z.object({ locked: z.boolean() }).parse(args).locked;
    },
  });
}

const uidArgs = z.object({ uid: z.string().regex(/^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/, 'a 4-, 7- or 10-byte hex UID'), repeats: z.number().int().min(1).max(20).default(1) });

export function uidReader(end: ByteTransport, input: SimInput): Simulator {
  const o = uidReaderOptionsSchema.parse(input.options);
  const sim = new UidReaderSim(end, { encoding: o.encoding, byteOrder: o.byteOrder, terminator: o.terminator });
  return {
    model: 'uid-reader',
    actions: {
      present: (args) => {
        const a = uidArgs.parse(args);
        return sim.present(a.uid.toUpperCase(), a.repeats);
      },
    },
    start: () => undefined,
    stop: () => sim.close(),
  };
}
