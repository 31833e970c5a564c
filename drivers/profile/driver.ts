/**
 * Table-driven panel driver (`panel-profile`): a panel whose protocol is
 * declared in config (frames to send, patterns of the replies; ./schema.ts)
 * instead of code, for vendors without a driver here (Seewo, Newline, ...),
 * run by the request/response kit (drivers/kit). The vendor document
 * followed is the panel's own RS-232 manual, cited in the profile by whoever
 * writes it; docs/drivers/panel-profile.md has two example profiles.
 *
 * - With `ack`, every set waits for `ack.ok` (resolves) or `ack.error`
 *   (DeviceNakError, code 'error', with the reply text); silence is a
 *   DeviceTimeoutError. Without `ack` the profile is send-only.
 * - With `commands.query.power`, the power state is polled: the device goes
 *   online on a reply and offline after `offlineAfter` failed requests. It
 *   then also warms up after a power-on (PROFILE_WARMUP_MS, a documented
 *   default: a profile has no field for its manual's figure yet), ended early
 *   by a power query answering on. Without a query, state is the last
 *   commanded one (the driver emits `{ tracked: true }` at open), online =
 *   the port is up, and there is no warm-up (nothing could end it).
 * - Standby refusal is off: whether a panel hears commands in standby is not
 *   part of a profile.
 *
 * Replies are found by ./framer.ts among the patterns the request in flight
 * waits for (the kit tells the framer through `expect`).
 */
import { inputSelect, mute, power, status, volume, type Capability } from '../capabilities.js';
import type { StatePatch } from '../contract.js';
import { DeviceError } from '../errors.js';
import type { DecodedState, Outcome, Session } from '../kit/definition.js';
import { defineProtocol, type KitDriver } from '../kit/engine.js';
import { compileProfile, PATTERN_IDS, type CompiledPattern } from './codec.js';
import { ProfileScanner, type ScanMatch } from './framer.js';
import { profileOptionsSchema, type ProfileOptions } from './schema.js';

export { profileOptionsSchema, type ProfileOptions };

export function profileCapabilities(options: ProfileOptions): Capability[] {
  const c = options.commands;
  const caps = [power(), inputSelect(Object.keys(c.inputs))];
  if (c.volume !== undefined) caps.push(volume(options.volumeMax));
  if (c.muteOn !== undefined && c.muteOff !== undefined) caps.push(mute());
  if (c.query?.power) caps.push(status());
  return caps;
}

/** Longest warm-up after power-on for profiles with a power query: a documented default. */
export const PROFILE_WARMUP_MS = 10_000;
const WARMUP_PROBE_MS = 1000;

/** One frame and the reply patterns it waits for (none: send-only). */
export interface ProfileRequest {
  frame: Buffer;
  patterns: readonly CompiledPattern[];
}

export type ProfileDriver = KitDriver<ProfileOptions, ProfileRequest, ScanMatch>;
type ProfileSession = Session<ProfileOptions, ProfileRequest, ScanMatch>;

const show = (text: string): string => JSON.stringify(text);
const tracked = (o: ProfileOptions): boolean => o.commands.query?.power === undefined;

/** Send a set; with `ack`, wait for ok/error. Resolves with the state it sets (tracked when send-only). */
async function set(s: ProfileSession, frame: Buffer | undefined, patch: StatePatch): Promise<StatePatch> {
  if (!frame) throw new DeviceError('unsupported', s.device, s.command, `this panel profile has no command "${s.command}"`);
  const ack = compileProfile(s.options).ack;
  await s.request({ frame, patterns: ack ? [ack.ok, ...(ack.error ? [ack.error] : [])] : [] });
  return patch;
}

async function queryPower(s: ProfileSession): Promise<StatePatch> {
  const p = compileProfile(s.options);
  const q = p.powerQuery;
  if (!q) throw new DeviceError('unsupported', s.device, s.command, 'the profile declares no power query');
  const error = p.ack?.error;
  const req: ProfileRequest = { frame: q.send, patterns: [q.on, q.off, ...(error ? [error] : [])] };
  const reply = await s.request(req);
  if (!reply) throw new DeviceError('protocol', s.device, s.command, 'no reply pattern to wait for');
  return s.decode(req, reply);
}

export const profileDriver = defineProtocol<ProfileOptions, ProfileRequest, ScanMatch>({
  driver: 'panel-profile',
  kinds: ['display'],
  transports: ['serial', 'tcp', 'sim'],
  summary: "Panels described as data (frames and reply patterns from the panel's RS-232 manual)",
  optionsSchema: profileOptionsSchema,
  capabilities: (options) => profileCapabilities(options),
  logNs: 'drv:profile',
  what: 'panel',
  timing: (o) => ({
    timeoutMs: o.timeoutMs,
    retries: o.retries,
    gapMs: o.interCommandMs,
    gapFrom: 'write',
    pollSeconds: tracked(o) ? undefined : o.pollSeconds,
    // Nothing would bring a tracked panel back online (no query to poll): silence never makes it offline.
    offlineAfter: tracked(o) ? 0 : o.offlineAfter,
    warmupMs: tracked(o) ? 0 : PROFILE_WARMUP_MS,
    warmupProbeMs: WARMUP_PROBE_MS,
  }),
  framer: (o) => {
    const profile = compileProfile(o);
    const scanner = new ProfileScanner(profile.encoding, profile.terminator);
    const q = profile.powerQuery;
    const a = profile.ack;
    /** Every reply pattern (while no request waits, to tell late replies from garbage). */
    const all = [a?.ok, a?.error, q?.on, q?.off].filter((p): p is CompiledPattern => p !== undefined);
    let active: readonly CompiledPattern[] = [];
    return {
      push: (chunk) => {
        if (all.length === 0) return { replies: [], errors: [] }; // send-only: received bytes mean nothing
        const idle = active.length === 0;
        const out = scanner.push(chunk, idle ? all : active);
        // While idle, a match is a late reply: nobody may take it.
        return { replies: idle ? [] : out.matches, errors: out.errors };
      },
      reset: () => scanner.reset(),
      expect: (req) => {
        scanner.reset(); // whatever is buffered is not the reply to this frame
        active = req?.patterns ?? [];
      },
    };
  },
  encode: (_o, req) => req.frame,
  matches: (_o, req, m) => req.patterns.some((p) => p.id === m.id),
  outcome: (_o, _req, m): Outcome => (m.id === PATTERN_IDS.error ? { ok: false, code: 'error', reason: `error reply ${show(m.text)}` } : { ok: true }),
  decode: (_o, _req, m): DecodedState => {
    if (m.id === PATTERN_IDS.on) return { ok: true, value: { power: 'on' } };
    if (m.id === PATTERN_IDS.off) return { ok: true, value: { power: 'off' } };
    return { ok: true, value: {} };
  },
  noReply: (_o, req) => req.patterns.length === 0,
  onlineWithPort: (o) => tracked(o),
  refusesInStandby: false,
  openState: (o) => (tracked(o) ? { tracked: true } : undefined),
  commands: {
    power: (s, a) => {
      const p = compileProfile(s.options);
      return set(s, a.on === true ? p.powerOn : p.powerOff, { power: a.on === true ? 'on' : 'off' });
    },
    input: (s, a) => {
      const frame = compileProfile(s.options).inputs.get(String(a.source));
      if (!frame) throw new DeviceError('invalid-args', s.device, s.command, `unknown input "${String(a.source)}"`);
      return set(s, frame, { input: String(a.source) });
    },
    volume: (s, a) => set(s, compileProfile(s.options).volume?.(Number(a.level)), { volume: Number(a.level) }),
    mute: (s, a) => {
      const p = compileProfile(s.options);
      const on = a.on === true;
      const toggle = p.muteOff !== undefined && p.muteOn !== undefined && p.muteOn.equals(p.muteOff);
      if (toggle && s.last('mute') === on) return Promise.resolve({ mute: on }); // a toggle would undo it
      return set(s, on ? p.muteOn : p.muteOff, { mute: on });
    },
    refresh: queryPower,
  },
});
