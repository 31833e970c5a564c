/**
 * Capability builders beyond drivers/capabilities.ts, added by the issue-3
 * drivers. Same shape (data the command router and the kiosk both read).
 * Several drivers append to this file: keep each builder self-contained.
 */
import { z } from 'zod';
import type { Capability } from './capabilities.js';

/**
 * Camera zoom (VISCA, Pelco-D). `zoom {direction, speed?}` starts or stops a
 * continuous zoom; speed 0 (slow) .. 7 (fast), the VISCA range (drivers with
 * fewer steps scale it). With `direct: true` the camera also takes
 * `zoom-to {position}`, an absolute lens position 0 (wide) .. maxPosition.
 */
export const zoom = (opts: { direct?: boolean; maxPosition?: number } = {}): Capability => {
  const maxPosition = opts.maxPosition ?? 0x4000;
  const commands: Capability['commands'] = {
    zoom: {
      args: z
        .object({ direction: z.enum(['in', 'out', 'stop']), speed: z.number().int().min(0).max(7).optional() })
        .strict(),
      description: 'zoom in (tele), out (wide) or stop',
    },
  };
  if (opts.direct) {
    commands['zoom-to'] = {
      args: z.object({ position: z.number().int().min(0).max(maxPosition) }).strict(),
      description: 'move the zoom lens to an absolute position',
    };
  }
  return { type: 'zoom', meta: { direct: opts.direct === true, maxPosition }, commands };
};

/**
 * Switched outputs: Modbus relay boards (named channels) and GPIO relays
 * (one output, no channels). Same type as capabilities.ts `relay()`, so the
 * kiosk renders it alike; extends it with channels and a default pulse.
 * - `set {on, channel?}`: switch one channel, or every channel when omitted.
 * - `pulse {ms?, channel?}`: on for `ms` then off (curtain motors, door
 *   strikes); `ms` may be omitted when the device has a configured `pulseMs`.
 * `channel` is accepted only when the device has channels.
 */
export const switchedOutputs = (opts: { channels?: readonly string[]; pulseMs?: number } = {}): Capability => {
  const channels = opts.channels ?? [];
  const channel = channels.length > 0 ? { channel: z.enum(channels as [string, ...string[]]).optional() } : {};
  const ms = z.number().int().min(10).max(60_000);
  return {
    type: 'relay',
    meta: { channels: [...channels], ...(opts.pulseMs !== undefined ? { pulseMs: opts.pulseMs } : {}) },
    commands: {
      set: {
        args: z.object({ on: z.boolean(), ...channel }).strict(),
        description: channels.length > 0 ? 'switch a channel (or all channels) on or off' : 'switch the output on or off',
      },
      pulse: {
        args: z.object({ ms: opts.pulseMs !== undefined ? ms.optional() : ms, ...channel }).strict(),
        description: 'switch on for a while, then off (curtain motors, door strikes)',
      },
    },
  };
};

/**
 * A two-state input (GPIO): PIR motion (`occupied`), door contact (`open`)
 * or wall button (`pressed`, and one `press` reading per press). `meta`
 * names the state key and the reading metric so the kiosk and the scenes
 * layer know what to watch.
 */
export const binaryInput = (role: 'motion' | 'door' | 'button', stateKey: string, metric: string): Capability => ({
  type: 'binary-input',
  meta: { role, state: stateKey, metric },
  commands: {},
});
