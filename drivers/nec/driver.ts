/**
 * NEC LCD monitor driver (`nec`): NEC large-format displays over RS-232C
 * (or LAN, same packets), a declarative protocol on the request/response
 * kit (drivers/kit).
 *
 * Follows the NEC "External Control, NEC LCD Monitor" manual (packet format,
 * get/set parameter, power status read and power control) and the NEC P702
 * user manual's command diagram for the frames; see ./framer.ts and
 * ./codec.ts. The monitor answers in standby, so the power-status poll tells
 * "off" from "unreachable": `offlineAfter` failed requests report it offline;
 * a parameter it cannot set in standby is refused at once with result code
 * 01, so the kit's own standby refusal is off for this protocol.
 *
 * Replies are matched on (message type, operation) and monitor id; the
 * refusal code is the reply's result field (00 no error, 01 unsupported),
 * never the parameter value. `interCommandMs` between packets (from the
 * previous write). Warm-up: the manual gives no figure; NEC_WARMUP_MS is a
 * documented default (docs/drivers/nec.md), ended early by a power status
 * read that says on.
 */
import { z } from 'zod';
import { inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import type { StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import type { Session } from '../kit/definition.js';
import { readStatusItems } from '../kit/status.js';
import { defineProtocol, type KitDriver } from '../kit/engine.js';
import { decodeNecReply, encodeNecRequest, NEC_INPUTS, replyKey, replyToPatch, type NecReply, type NecRequest } from './codec.js';
import { NecFramer } from './framer.js';

const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const necOptionsSchema = z
  .object({
    /** Monitor ID 1..100 as set in the monitor's menu. */
    monitorId: z.number().int().min(1).max(100).default(1),
    /** Input name -> input code (OP 00h/60h value), replacing the built-in table. */
    inputs: z
      .record(z.string(), z.number().int().min(0).max(0xffff))
      .superRefine((r, ctx) => {
        if (Object.keys(r).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one input' });
        for (const name of Object.keys(r)) {
          if (!INPUT_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
          }
        }
      })
      .optional(),
    timeoutMs: z.number().int().min(50).max(60_000).default(2000),
    retries: z.number().int().min(0).max(5).default(1),
    /** Minimum gap between packets; [unverified] value, see docs. */
    interCommandMs: z.number().int().min(0).max(10_000).default(300),
    pollSeconds: z.number().min(1).max(86_400).default(30),
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type NecOptions = z.infer<typeof necOptionsSchema>;

export function necCapabilities(options: Pick<NecOptions, 'inputs'>): Capability[] {
  return [power(), inputSelect(Object.keys(options.inputs ?? NEC_INPUTS)), volume(100), mute(), status()];
}

/** Longest warm-up after power-on: a documented default, the manual gives none. */
export const NEC_WARMUP_MS = 10_000;
const WARMUP_PROBE_MS = 1000;

export type NecDriver = KitDriver<NecOptions, NecRequest, NecReply>;
type NecSession = Session<NecOptions, NecRequest, NecReply>;

const necInputs = (o: NecOptions): Readonly<Record<string, number>> => o.inputs ?? NEC_INPUTS;

/** Power status; when on, input, volume and mute too (an unsupported item is skipped). */
async function refresh(s: NecSession): Promise<StatePatch> {
  const powerRead: NecRequest = { kind: 'power-status' };
  const reply = await s.request(powerRead);
  if (!reply) return {};
  const items: NecRequest[] = (['input', 'volume', 'mute'] as const).map((what) => ({ kind: 'get', what }));
  return readStatusItems(s, { ...s.decode(powerRead, reply) }, items);
}

export const necDriver = defineProtocol<NecOptions, NecRequest, NecReply>({
  driver: 'nec',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'NEC LCD monitors over RS-232C/LAN (NEC "External Control, NEC LCD Monitor" manual; P702 command diagram)',
  optionsSchema: necOptionsSchema,
  capabilities: (options) => necCapabilities(options),
  logNs: 'drv:nec',
  what: 'monitor',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    gapMs: o.interCommandMs,
    gapFrom: 'write',
    pollSeconds: o.pollSeconds,
    offlineAfter: o.offlineAfter,
    warmupMs: NEC_WARMUP_MS,
    warmupProbeMs: WARMUP_PROBE_MS,
  }),
  framer: (_o, clock) => {
    const f = new NecFramer({ now: () => clock.monotonic() });
    return {
      push: (chunk) => {
        const out = f.push(chunk);
        const replies: NecReply[] = [];
        const errors = [...out.errors];
        for (const packet of out.frames) {
          const r = decodeNecReply(packet);
          if (r.ok) replies.push(r.value);
          else errors.push(r.error);
        }
        return { replies, errors };
      },
      reset: () => f.reset(),
    };
  },
  encode: (o, req) => encodeNecRequest(o.monitorId, req),
  matches: (o, req, r) => r.key === replyKey(req) && r.monitor === o.monitorId,
  outcome: (_o, _req, r) => {
    if (r.result === 0) return { ok: true };
    const code = r.result.toString(16).padStart(2, '0');
    const why = r.result === 1 ? ' (unsupported with this monitor or in its current condition)' : '';
    return { ok: false, code, reason: `result code ${code}${why}` };
  },
  decode: (o, _req, r) => replyToPatch(r, necInputs(o)),
  noReply: () => false,
  onlineWithPort: () => false,
  // In standby the monitor answers and refuses a parameter at once with result 01 (NEC external
  // control manual): the manual's own fast refusal, no need to refuse here.
  refusesInStandby: false,
  commands: {
    power: (s, a) => s.set({ kind: 'power', on: a.on === true }, { power: a.on === true ? 'on' : 'off' }),
    volume: (s, a) => s.set({ kind: 'set', what: 'volume', value: Number(a.level) }, { volume: Number(a.level) }),
    // Sound mute: 1 = on, 2 = off (P702 command diagram).
    mute: (s, a) => s.set({ kind: 'set', what: 'mute', value: a.on === true ? 1 : 2 }, { mute: a.on === true }),
    input: (s, a) => {
      const source = String(a.source);
      const code = necInputs(s.options)[source];
      if (code === undefined) throw new DeviceError('invalid-args', s.device, s.command, `unknown input "${source}"`);
      return s.set({ kind: 'set', what: 'input', value: code }, { input: source });
    },
    refresh,
  },
});
