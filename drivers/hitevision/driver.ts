/**
 * Hitevision interactive flat panel driver (`hitevision-ifp`), a declarative
 * protocol on the request/response kit (drivers/kit).
 *
 * Follows the Hitevision IFP RS-232 key frames of shared/PROTOCOLS.md
 * (7F 08 99 A2 B3 C4 02 FF 01 xx CF, 115200 8N1) and the return frames of the
 * panel firmware's serial-port service (see ./framer.ts). The protocol has no
 * status query, so the state is the last commanded one and the driver marks
 * it `tracked: true` (emitted as a state patch at open; the device-wide form
 * of the kit's per-patch `assumed`). Online = the port is up: a send-only
 * panel cannot say more.
 *
 * Mute is a toggle key (02), like the remote's: the driver sends it only when
 * the requested mute differs from the tracked one (or is unknown), so the
 * tracked state drifts if someone uses the remote or the panel resets mute.
 *
 * `confirm: true` (newer firmware) waits for the return frame of each key
 * (7F 09 ... key 01 CF): the refusal code is the frame's status byte (other
 * than 01), no return a DeviceTimeoutError.
 *
 * Warm-up and standby: there is no status to end a warm-up or to know the
 * panel is in standby, and no figure in the key-frame document, so both are
 * off; a scene that needs a pause after power-on keeps its own delay.
 */
import { z } from 'zod';
import { inputSelect, mute, power, type Capability } from '../capabilities.js';
import type { StatePatch } from '../contract.js';
import type { Session } from '../kit/definition.js';
import { defineProtocol, type KitDriver } from '../kit/engine.js';
import { decodeHvFrame, encodeHvKey, HV_INPUT_NAMES, HV_INPUTS, HV_KEYS, HV_STATUS_DONE, type HvInputName } from './codec.js';
import { HvFramer } from './framer.js';

export const hitevisionOptionsSchema = z
  .object({
    /** Wait for the panel's return frame after each key (newer firmware only). */
    confirm: z.boolean().default(false),
    /** Time to wait for a return frame when `confirm` is on. */
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Minimum gap between two keys; [unverified] panels are said to drop keys sent back to back. */
    interCommandMs: z.number().int().min(0).max(10_000).default(100),
    /**
     * After a power-on key, other keys wait this long: the panel boots its Android system and
     * ignores keys meanwhile, and a send-only protocol cannot ask it whether it is up. [unverified]
     * no Hitevision manual gives a figure; 8 s is what such panels are said to need, set it per room.
     */
    warmupSeconds: z.number().int().min(0).max(120).default(8),
  })
  .strict();
export type HitevisionOptions = z.infer<typeof hitevisionOptionsSchema>;

export function hitevisionCapabilities(): Capability[] {
  return [power(), inputSelect(HV_INPUT_NAMES), mute()];
}

/** A key to press. */
export interface HvKeyRequest {
  key: number;
}

/** The panel's return frame for a key (firmware with `confirm`). */
export interface HvReturnFrame {
  key: number;
  status: number;
}

export type HitevisionDriver = KitDriver<HitevisionOptions, HvKeyRequest, HvReturnFrame>;
type HvSession = Session<HitevisionOptions, HvKeyRequest, HvReturnFrame>;

/** Press one key; the state is the commanded one (tracked, see the header). */
async function press(s: HvSession, key: number, patch: StatePatch): Promise<StatePatch> {
  await s.request({ key });
  return patch;
}

export const hitevisionDriver = defineProtocol<HitevisionOptions, HvKeyRequest, HvReturnFrame>({
  driver: 'hitevision-ifp',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'Hitevision interactive flat panels, RS-232 key frames 7F 08 99 A2 B3 C4 02 FF 01 xx CF (send-only, tracked state)',
  optionsSchema: hitevisionOptionsSchema,
  capabilities: () => hitevisionCapabilities(),
  logNs: 'drv:hitevision',
  what: 'panel',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: 0,
    gapMs: o.interCommandMs,
    gapFrom: 'write',
    pollSeconds: undefined,
    offlineAfter: 0,
    warmupMs: o.warmupSeconds * 1000,
    // Nothing to probe: the warm-up simply runs to its end.
    warmupProbeMs: 500,
  }),
  framer: () => {
    const f = new HvFramer();
    return {
      push: (chunk) => {
        const out = f.push(chunk);
        const replies: HvReturnFrame[] = [];
        const errors = [...out.errors];
        for (const frame of out.frames) {
          const msg = decodeHvFrame(frame);
          if (!msg.ok) errors.push(msg.error);
          else if (msg.value.kind === 'return') replies.push({ key: msg.value.key, status: msg.value.status });
        }
        return { replies, errors };
      },
      reset: () => f.reset(),
    };
  },
  encode: (_o, req) => encodeHvKey(req.key),
  matches: (_o, req, r) => r.key === req.key,
  outcome: (_o, _req, r) => {
    if (r.status === HV_STATUS_DONE) return { ok: true };
    const code = `0x${r.status.toString(16).padStart(2, '0')}`;
    return { ok: false, code, reason: `return status ${code}` };
  },
  decode: () => ({ ok: true, value: {} }),
  noReply: (o) => !o.confirm,
  onlineWithPort: () => true,
  // Many displays in standby answer nothing but power-on: a display known to be off refuses at once.
  refusesInStandby: true,
  openState: () => ({ tracked: true }),
  commands: {
    power: (s, a) => press(s, a.on === true ? HV_KEYS.powerOn : HV_KEYS.powerOff, { power: a.on === true ? 'on' : 'off' }),
    input: (s, a) => press(s, HV_INPUTS[a.source as HvInputName], { input: String(a.source) }),
    mute: async (s, a) => {
      const on = a.on === true;
      if (s.last('mute') === on) return { mute: on }; // already so, as far as we know: a toggle would undo it
      return press(s, HV_KEYS.muteToggle, { mute: on });
    },
  },
});
