/**
 * LG display driver (`lg`): LG TVs and monitors over RS-232C, as a
 * declarative protocol on the request/response kit (drivers/kit).
 *
 * Follows the LG 55LV5400 owner's manual p135 "External control device
 * setup" (frame format, OK/NG acknowledgement, NG data 01/02/03, no status in
 * standby) and its command reference (see ./codec.ts for the pages and
 * codes). Framing in ./framer.ts, encoding in ./codec.ts; this file maps
 * capability commands to requests and OK/NG to state and errors.
 *
 * Standby: the set "will not send the status during the standby mode", so a
 * power read that gets no answer means either "in standby" or "unreachable"
 * and the two cannot be told apart on the wire. With `offlineAfter: 0` (the
 * default) silence is read as standby: the state says `power: 'off'` and the
 * device stays online while its port is up, so a power-on can still be sent.
 * Other commands to a set known to be in standby fail at once (the kit's
 * DeviceStandbyError). With `offlineAfter: N` (sets that do answer in
 * standby) N consecutive silent requests report the set offline.
 *
 * Warm-up: the manual gives no figure; the set acknowledges `ka` only once it
 * is up, which `powerTimeoutMs` (default 10 s) already bounds, so that is the
 * warm-up maximum too. NG 03 "Wait more time" is the manual's own warm-up
 * refusal.
 *
 * Set id 0 addresses every set on the line: replies would collide, so such a
 * request is sent without waiting and its state marked `assumed: true`; no
 * polling and no refresh.
 */
import { z } from 'zod';
import { inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import type { StatePatch } from '../contract.js';
import { DeviceError, DeviceTimeoutError } from '../errors.js';
import { defineProtocol, type KitDriver } from '../kit/engine.js';
import type { Session } from '../kit/definition.js';
import { readStatusItems } from '../kit/status.js';
import { defaultInputs, encodeLgRequest, LG_NG_REASONS, replyLetter, replyToPatch, type LgRequest } from './codec.js';
import { LgReplyFramer, type LgReply } from './framer.js';

const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const lgOptionsSchema = z
  .object({
    /** Set ID 1..99 as on the set's menu; 0 addresses every set on the line (any set's reply is accepted). */
    setId: z.number().int().min(0).max(99).default(1),
    /** Input select command: 'xb' (current sets) or 'kb' (older sets). */
    inputCommand: z.enum(['xb', 'kb']).default('xb'),
    /** Input name -> data code, replacing the built-in table of the input command (models differ). */
    inputs: z
      .record(z.string(), z.number().int().min(0).max(255))
      .superRefine((r, ctx) => {
        if (Object.keys(r).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one input' });
        for (const name of Object.keys(r)) {
          if (!INPUT_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
          }
        }
      })
      .optional(),
    /** Time to wait for OK/NG, per attempt. */
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Time to wait for the acknowledgement of a power command (the set answers once it has powered up). */
    powerTimeoutMs: z.number().int().min(100).max(60_000).default(10_000),
    /** Extra attempts after a timeout (power commands and NG replies are never retried). */
    retries: z.number().int().min(0).max(5).default(1),
    /** Power-state poll period. */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Consecutive silent requests before the set is reported offline; 0 = silence means standby (see header). */
    offlineAfter: z.number().int().min(0).max(20).default(0),
  })
  .strict();
export type LgOptions = z.infer<typeof lgOptionsSchema>;

export function lgInputs(options: Pick<LgOptions, 'inputCommand' | 'inputs'>): Readonly<Record<string, number>> {
  return options.inputs ?? defaultInputs(options.inputCommand);
}

export function lgCapabilities(options: LgOptions): Capability[] {
  return [power(), inputSelect(Object.keys(lgInputs(options))), volume(100), mute(), status()];
}

/** Period of the status probe while the set warms up. */
const WARMUP_PROBE_MS = 1000;

export type LgDriver = KitDriver<LgOptions, LgRequest, LgReply>;
type LgSession = Session<LgOptions, LgRequest, LgReply>;

const isBroadcast = (o: LgOptions): boolean => o.setId === 0;

/**
 * Read power and, when on, input, volume and mute. A power read that times
 * out is standby when `offlineAfter` is 0 (see the header), except while
 * warming up, when silence only means "not up yet".
 */
async function refresh(s: LgSession): Promise<StatePatch> {
  if (isBroadcast(s.options)) throw new DeviceError('unsupported', s.device, s.command, 'set id 0 (all sets) cannot be read: replies would collide');
  const powerRead: LgRequest = { kind: 'read', what: 'power' };
  let reply: LgReply | undefined;
  try {
    reply = await s.request(powerRead);
  } catch (e) {
    if (!(e instanceof DeviceTimeoutError) || s.options.offlineAfter > 0 || s.warming) throw e;
    s.log.debug('no reply to the power read: taken as standby (the set sends no status in standby)');
    return { power: 'off' };
  }
  if (!reply) return {};
  const items: LgRequest[] = (['input', 'volume', 'mute'] as const).map((what) => ({ kind: 'read', what }));
  return readStatusItems(s, { ...s.decode(powerRead, reply) }, items);
}

export const lgDriver = defineProtocol<LgOptions, LgRequest, LgReply>({
  driver: 'lg',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'LG TVs/monitors over RS-232C (LG 55LV5400 owner\'s manual p135, "External control device setup")',
  optionsSchema: lgOptionsSchema,
  capabilities: (options) => lgCapabilities(options),
  logNs: 'drv:lg',
  what: 'display',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    gapMs: 0,
    gapFrom: 'done',
    pollSeconds: isBroadcast(o) ? undefined : o.pollSeconds,
    offlineAfter: o.offlineAfter,
    warmupMs: o.powerTimeoutMs,
    warmupProbeMs: WARMUP_PROBE_MS,
  }),
  framer: () => {
    const f = new LgReplyFramer();
    return {
      push: (chunk) => {
        const out = f.push(chunk);
        return { replies: out.frames, errors: out.errors };
      },
      reset: () => f.reset(),
    };
  },
  encode: (o, req) => encodeLgRequest(o, req),
  matches: (o, req, r) => r.cmd2 === replyLetter(req, o.inputCommand) && (o.setId === 0 || r.setId === o.setId),
  outcome: (_o, _req, r) => {
    if (r.ok) return { ok: true };
    // NG's data field is the error code of the manual (01 illegal code, 02 not supported, 03 wait more time).
    const code = r.data.padStart(2, '0').slice(-2);
    const known = LG_NG_REASONS[code];
    return {
      ok: false,
      code: known ? code : 'unknown',
      reason: known ? `NG ${code} (${known})` : `NG ${r.data || '(no data)'} (not an error code of the manual)`,
    };
  },
  decode: (o, _req, r) => replyToPatch(r, lgInputs(o)),
  // The set acknowledges a power command once it has powered up; retrying would toggle nothing but waste the wait.
  requestTiming: (o, req) => (req.kind === 'set-power' ? { timeoutMs: o.powerTimeoutMs, retries: 0 } : {}),
  noReply: (o) => isBroadcast(o),
  onlineWithPort: (o) => o.offlineAfter === 0 || isBroadcast(o),
  refusesInStandby: true,
  commands: {
    power: (s, a) => s.set({ kind: 'set-power', on: a.on === true }, { power: a.on === true ? 'on' : 'off' }),
    volume: (s, a) => s.set({ kind: 'set-volume', level: Number(a.level) }, { volume: Number(a.level) }),
    mute: (s, a) => s.set({ kind: 'set-mute', on: a.on === true }, { mute: a.on === true }),
    input: (s, a) => {
      const source = String(a.source);
      const code = lgInputs(s.options)[source];
      if (code === undefined) throw new DeviceError('invalid-args', s.device, s.command, `unknown input "${source}"`);
      return s.set({ kind: 'set-input', code }, { input: source });
    },
    refresh,
  },
});
