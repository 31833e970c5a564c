/**
 * Sharp PN display driver (`sharp-pn`): Sharp PN-series monitors and
 * interactive displays over RS-232C, a declarative protocol on the
 * request/response kit (drivers/kit).
 *
 * Follows the Sharp PN-L862B operation manual p51-53 (and the same RS-232C
 * section of PN-R603 / PN-655U / PN-K321): 4+4 character commands with CR,
 * responses OK / ERR / WAIT / LOCKED / UNSELECTED or a value, "to set a
 * timeout for the command response, specify 10 seconds or longer", and
 * "provide an interval of 100 ms or more between the command response and
 * the transmission of the next command". Framing in ./framer.ts, encoding
 * in ./codec.ts.
 *
 * POWR can be read in standby, so the poll tells "off" from "unreachable":
 * `offlineAfter` silent requests report the monitor offline; what cannot be
 * done in standby is answered ERR at once, so the kit's standby refusal is
 * off. ERR may also come from line noise (PN-K321 manual: "please ensure that
 * the system or software retries the command"): `errRetries` resends after
 * ERR; timeouts are not retried (they already take timeoutMs). The refusal
 * code is the response word itself (ERR, LOCKED, UNSELECTED, TIMEOUT).
 * Warm-up: POWR answers WAIT until the monitor is up, inside the 10 s the
 * manual asks to wait for a response; SHARP_WARMUP_MS uses the same figure.
 */
import { z } from 'zod';
import { inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import type { StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import type { Session } from '../kit/definition.js';
import { defineProtocol, type KitDriver } from '../kit/engine.js';
import { decodeSharpLine, encodeSharpRequest, readToPatch, SHARP_INPUTS, SHARP_REFUSAL, type SharpCommand, type SharpRequest, type SharpResponse } from './codec.js';
import { SharpLineFramer } from './framer.js';

const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const sharpOptionsSchema = z
  .object({
    /** Input name -> INPS code, replacing the built-in (PN-L862B) table. */
    inputs: z
      .record(z.string(), z.number().int().min(0).max(9999))
      .superRefine((r, ctx) => {
        if (Object.keys(r).length === 0) ctx.addIssue({ code: 'custom', message: 'at least one input' });
        for (const name of Object.keys(r)) {
          if (!INPUT_NAME.test(name)) {
            ctx.addIssue({ code: 'custom', path: [name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
          }
        }
      })
      .optional(),
    /** Wait for a response; the manual asks for 10 s or more. */
    timeoutMs: z.number().int().min(50).max(60_000).default(10_000),
    /** Resends after an ERR response (timeouts are not retried: they already take timeoutMs). */
    errRetries: z.number().int().min(0).max(3).default(1),
    /** Gap between a response and the next command; the manual asks for 100 ms or more. */
    interCommandMs: z.number().int().min(0).max(10_000).default(100),
    pollSeconds: z.number().min(1).max(86_400).default(30),
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type SharpOptions = z.infer<typeof sharpOptionsSchema>;

export function sharpCapabilities(options: Pick<SharpOptions, 'inputs'>): Capability[] {
  return [power(), inputSelect(Object.keys(options.inputs ?? SHARP_INPUTS)), volume(100), mute(), status()];
}

/** The responses a request can end with (WAIT only announces one of them). */
type Final = Exclude<SharpResponse, { kind: 'wait' }>;

/** Longest warm-up after power-on: the manual's 10 s response timeout (p51). */
export const SHARP_WARMUP_MS = 10_000;
const WARMUP_PROBE_MS = 1000;

export type SharpDriver = KitDriver<SharpOptions, SharpRequest, Final>;
type SharpSession = Session<SharpOptions, SharpRequest, Final>;

const sharpInputs = (o: SharpOptions): Readonly<Record<string, number>> => o.inputs ?? SHARP_INPUTS;

async function read(s: SharpSession, command: SharpCommand): Promise<StatePatch> {
  const req: SharpRequest = { kind: 'read', command };
  const reply = await s.request(req);
  return reply ? s.decode(req, reply) : {};
}

/** POWR (answered in standby); when on, INPS, VOLM and MUTE (an ERR for one of them is skipped). */
async function refresh(s: SharpSession): Promise<StatePatch> {
  const patch: StatePatch = { ...(await read(s, 'POWR')) };
  if (patch.power === 'on') {
    for (const what of ['INPS', 'VOLM', 'MUTE'] as const) {
      try {
        Object.assign(patch, await read(s, what));
      } catch (e) {
        if (!(e instanceof DeviceError) || e.code !== 'nak') throw e;
        s.log.debug({ what, err: e }, 'status item not available');
      }
    }
  }
  return patch;
}

/** A set is confirmed by OK (the monitor does not echo the value). */
const set = (s: SharpSession, command: SharpCommand, value: number, expected: StatePatch): Promise<StatePatch> =>
  s.set({ kind: 'set', command, value }, expected);

export const sharpDriver = defineProtocol<SharpOptions, SharpRequest, Final>({
  driver: 'sharp-pn',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: 'Sharp PN monitors/interactive displays over RS-232C (Sharp PN-L862B operation manual p51-53)',
  optionsSchema: sharpOptionsSchema,
  capabilities: (options) => sharpCapabilities(options),
  logNs: 'drv:sharp',
  what: 'monitor',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: 0,
    gapMs: o.interCommandMs,
    gapFrom: 'done',
    pollSeconds: o.pollSeconds,
    offlineAfter: o.offlineAfter,
    warmupMs: SHARP_WARMUP_MS,
    warmupProbeMs: WARMUP_PROBE_MS,
  }),
  framer: () => {
    const f = new SharpLineFramer();
    return {
      push: (chunk) => {
        const out = f.push(chunk);
        const replies: Final[] = [];
        const errors = [...out.errors];
        for (const line of out.frames) {
          const r = decodeSharpLine(line);
          if (!r) errors.push(`unknown response ${JSON.stringify(line)}`);
          else if (r.kind !== 'wait') replies.push(r); // WAIT: executing, OK or ERR follows
        }
        return { replies, errors };
      },
      reset: () => f.reset(),
    };
  },
  encode: (_o, req) => encodeSharpRequest(req),
  matches: (_o, req, r) => r.kind === 'refused' || (req.kind === 'set' ? r.kind === 'ok' : r.kind === 'value'),
  outcome: (_o, _req, r) => (r.kind === 'refused' ? { ok: false, code: r.reason, reason: SHARP_REFUSAL[r.reason] ?? r.reason } : { ok: true }),
  decode: (o, req, r) => {
    if (req.kind === 'set') return { ok: true, value: {} };
    return r.kind === 'value' ? readToPatch(req.command, r.value, sharpInputs(o)) : { ok: false, error: `no value in the reply to ${req.command}????` };
  },
  retryRefusal: (o, _req, out, attempt) => out.code === 'ERR' && attempt < o.errRetries,
  noReply: () => false,
  onlineWithPort: () => false,
  // Many displays in standby answer nothing but power-on: a display known to be off refuses at once.
  refusesInStandby: true,
  commands: {
    power: (s, a) => set(s, 'POWR', a.on === true ? 1 : 0, { power: a.on === true ? 'on' : 'off' }),
    volume: (s, a) => set(s, 'VOLM', Number(a.level), { volume: Number(a.level) }),
    mute: (s, a) => set(s, 'MUTE', a.on === true ? 1 : 0, { mute: a.on === true }),
    input: (s, a) => {
      const source = String(a.source);
      const code = sharpInputs(s.options)[source];
      if (code === undefined) throw new DeviceError('invalid-args', s.device, s.command, `unknown input "${source}"`);
      return set(s, 'INPS', code, { input: source });
    },
    refresh,
  },
});
