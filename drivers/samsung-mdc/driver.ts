/**
 * Samsung MDC display driver (`samsung-mdc`), a declarative protocol on the
 * request/response kit (drivers/kit).
 *
 * Follows the Samsung MDC protocol as printed in the 320TSn-3 user manual
 * (p29) and the MD40B manual (p42), cross-checked with vgavro/samsung-mdc
 * (samsung_mdc/commands.py, samsung_mdc/connection.py). Framing is in
 * ./framer.ts, message encoding in ./codec.ts; this file maps capability
 * commands to requests and ACK/NAK to state and errors; STATUS (0x00) is the
 * poll, the refresh and the warm-up probe.
 *
 * - NAK: the error code is the NAK frame's error byte (AA FF id 03 'N' rcmd
 *   err), never the values an ACK would carry.
 * - Broadcast: display id 0xFE addresses every display and nobody
 *   acknowledges it: sets are written, their state marked `assumed: true`;
 *   no polling, no refresh.
 * - Warm-up: neither manual gives a figure; WARMUP_MS below is a documented
 *   default (docs/drivers/samsung-mdc.md), ended early by a STATUS reply
 *   saying on.
 * - Standby: the display answers in standby and NAKs at once what it cannot
 *   do there (the simulator, like many models, accepts volume and input), so
 *   the kit's standby refusal is off for this protocol.
 */
import { z } from 'zod';
import { inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import { DeviceError } from '../errors.js';
import { defineProtocol, type KitDriver } from '../kit/engine.js';
import {
  ackToPatch,
  decodeMdcReply,
  encodeMdcRequest,
  MDC_BROADCAST_ID,
  MDC_INPUT_NAMES,
  requestCmd,
  type MdcInputName,
  type MdcReply,
  type MdcRequest,
} from './codec.js';
import { MdcFramer } from './framer.js';

export const mdcOptionsSchema = z
  .object({
    /** RS-232 display id 0..254; 254 (0xFE) broadcasts to every display and gets no replies. */
    displayId: z.number().int().min(0).max(254).default(1),
    /** Time to wait for an ACK/NAK, per attempt. */
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Extra attempts after a timeout (a NAK is never retried). */
    retries: z.number().int().min(0).max(5).default(1),
    /** STATUS poll period; the poll also tells whether the display is reachable. */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Consecutive failed requests (after retries) before the display is reported offline. */
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type MdcOptions = z.infer<typeof mdcOptionsSchema>;

export function mdcCapabilities(): Capability[] {
  return [power(), inputSelect(MDC_INPUT_NAMES), volume(100), mute(), status()];
}

/** Longest warm-up after power-on: a documented default, the MDC manuals give none. */
export const MDC_WARMUP_MS = 10_000;
const WARMUP_PROBE_MS = 1000;

export type SamsungMdcDriver = KitDriver<MdcOptions, MdcRequest, MdcReply>;

const isBroadcast = (o: MdcOptions): boolean => o.displayId === MDC_BROADCAST_ID;
const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

export const samsungMdcDriver = defineProtocol<MdcOptions, MdcRequest, MdcReply>({
  driver: 'samsung-mdc',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  multidrop: true,
  summary: 'Samsung MDC over RS-232/TCP (Samsung 320TSn-3 manual p29, MD40B manual p42)',
  optionsSchema: mdcOptionsSchema,
  capabilities: () => mdcCapabilities(),
  logNs: 'drv:mdc',
  what: 'display',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    gapMs: 0,
    gapFrom: 'done',
    pollSeconds: isBroadcast(o) ? undefined : o.pollSeconds,
    offlineAfter: o.offlineAfter,
    warmupMs: MDC_WARMUP_MS,
    warmupProbeMs: WARMUP_PROBE_MS,
  }),
  framer: (_o, clock) => {
    const f = new MdcFramer({ role: 'host', now: () => clock.monotonic() });
    return {
      push: (chunk) => {
        const out = f.push(chunk);
        const replies: MdcReply[] = [];
        const errors = [...out.errors];
        for (const frame of out.frames) {
          const r = decodeMdcReply(frame);
          if (r.ok) replies.push(r.value);
          else errors.push(r.error);
        }
        return { replies, errors };
      },
      reset: () => f.reset(),
    };
  },
  encode: (o, req) => encodeMdcRequest(o.displayId, req),
  matches: (o, req, r) => r.id === o.displayId && r.rcmd === requestCmd(req),
  outcome: (_o, _req, r) =>
    r.kind === 'ack' ? { ok: true } : { ok: false, code: `0x${hex2(r.error)}`, reason: `NAK error code 0x${hex2(r.error)}` },
  decode: (_o, _req, r) => (r.kind === 'ack' ? ackToPatch(r.rcmd, r.values) : { ok: false, error: 'NAK has no state' }),
  noReply: (o) => isBroadcast(o),
  onlineWithPort: (o) => isBroadcast(o),
  // The display answers STATUS in standby and NAKs, at once, what it cannot do there (MDC protocol:
  // NAK with an error code): the manual's own fast refusal, no need to refuse here.
  refusesInStandby: false,
  commands: {
    power: (s, a) => s.set({ kind: 'set-power', on: a.on === true }, { power: a.on === true ? 'on' : 'off' }),
    volume: (s, a) => s.set({ kind: 'set-volume', level: Number(a.level) }, { volume: Number(a.level) }),
    mute: (s, a) => s.set({ kind: 'set-mute', on: a.on === true }, { mute: a.on === true }),
    input: (s, a) => s.set({ kind: 'set-input', source: a.source as MdcInputName }, { input: String(a.source) }),
    refresh: async (s) => {
      if (isBroadcast(s.options)) throw new DeviceError('unsupported', s.device, s.command, 'display id 254 (broadcast) never replies');
      const req: MdcRequest = { kind: 'get', what: 'status' };
      const reply = await s.request(req);
      return reply ? s.decode(req, reply) : {};
    },
  },
});
