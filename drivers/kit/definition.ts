/**
 * A request/response protocol described as data (shared/STYLE.md patterns 1
 * and 3): the framer and codec of one protocol, how a request's reply is
 * recognised, which replies are refusals (and their error code from the
 * manual), the line's timing, and a table of command handlers. The engine in
 * ./engine.ts does everything else the same way for every protocol: the
 * line lock, the waitress, retries, the inter-command gap, polling,
 * reachability, warm-up, standby, broadcast and stale state.
 */
import type { z } from 'zod';
import type { Capability } from '../capabilities.js';
import type { DeviceKind, StatePatch, StateValue } from '../contract.js';
import type { Clock } from '../../edge/util/clock.js';
import type { Logger } from '../../edge/util/logger.js';

/** Bytes in, decoded replies out; garbage is reported in `errors` (never thrown). */
export interface ReplyFramer<Rep, Req = unknown> {
  push(chunk: Buffer): { replies: Rep[]; errors: string[] };
  /** Drop any partial frame (the line went down). */
  reset(): void;
  /**
   * For framers that can only find the replies a request expects (patterns
   * declared in config): called with the request before it is written, and
   * with undefined once it is over.
   */
  expect?(req: Req | undefined): void;
}

/** State decoded from a reply, or why the reply makes no sense. */
export type DecodedState = { ok: true; value: StatePatch } | { ok: false; error: string };

/** What a matched reply means: accepted, or refused with the protocol's own error field. */
export type Outcome = { ok: true } | { ok: false; code: string; reason: string };

/** Timing of one line, from the options (and the vendor's manual). */
export interface LineTiming {
  /** Wait for a reply, per attempt. */
  timeoutMs: number;
  /** Extra attempts after a timeout. */
  retries: number;
  /** Minimum time between two requests. */
  gapMs: number;
  /** Where the gap is measured from: the last write, or the end of the last exchange (reply or timeout). */
  gapFrom: 'write' | 'done';
  /** Status poll period (runs the `refresh` handler); undefined: no polling (send-only, broadcast). */
  pollSeconds?: number;
  /** Consecutive unanswered requests before offline; 0: only a transport down makes it offline. */
  offlineAfter: number;
  /** Longest warm-up after power-on (from the manual, or a documented default); 0: no warm-up. */
  warmupMs: number;
  /** Pause between status probes while warming up. */
  warmupProbeMs: number;
}

/** Per-request overrides (e.g. a power command that is acknowledged only once the panel is up). */
export interface RequestTiming {
  timeoutMs?: number;
  retries?: number;
}

/** What a command handler may do; one session per command. */
export interface Session<O, Req, Rep> {
  readonly device: string;
  readonly command: string;
  readonly options: O;
  readonly log: Logger;
  /** True while the device warms up after power-on (a status probe may see silence). */
  readonly warming: boolean;
  /** The last value of a state field this driver published (read or commanded), e.g. for toggle keys. */
  last(field: string): StateValue | undefined;
  /**
   * Send one request and return its accepted reply (undefined when the
   * request gets no reply by design). Refusals throw a DeviceNakError with
   * the protocol's code; silence throws DeviceTimeoutError after retries.
   */
  request(req: Req): Promise<Rep | undefined>;
  /** Turn the reply to `req` into state, or throw a 'protocol' DeviceError (reported as malformed). */
  decode(req: Req, reply: Rep): StatePatch;
  /**
   * Send a set and resolve with the state it leaves: the decoded reply when
   * the reply carries the value, `expected` when the reply is a bare OK, and
   * `expected` marked `assumed: true` when nobody replies.
   */
  set(req: Req, expected: StatePatch): Promise<StatePatch>;
}

export type CommandHandler<O, Req, Rep> = (s: Session<O, Req, Rep>, args: Record<string, unknown>) => Promise<StatePatch>;

export interface ProtocolDefinition<O, Req, Rep> {
  /** Config `driver` name. */
  driver: string;
  kinds: readonly DeviceKind[];
  transports: readonly ('serial' | 'tcp' | 'udp' | 'gpio' | 'sim')[];
  summary: string;
  multidrop?: boolean;
  optionsSchema: z.ZodType<O>;
  capabilities(options: O): Capability[];
  /** Log namespace, e.g. 'drv:lg'. */
  logNs: string;
  /** What log lines call the device ('display', 'monitor', 'panel'). */
  what: string;
  timing(options: O): LineTiming;
  framer(options: O, clock: Clock): ReplyFramer<Rep, Req>;
  encode(options: O, req: Req): Buffer;
  /** Is `reply` the answer to `req` (address and command)? */
  matches(options: O, req: Req, reply: Rep): boolean;
  /** Accepted or refused; a refusal's code is the protocol's error field, named from the manual. */
  outcome(options: O, req: Req, reply: Rep): Outcome;
  /** Turn an accepted reply into state (protocol error text when it makes no sense); `{}` for a bare OK. */
  decode(options: O, req: Req, reply: Rep): DecodedState;
  /** Per-request timing overrides. */
  requestTiming?(options: O, req: Req): RequestTiming;
  /** Resend after this refusal (e.g. Sharp ERR from line noise)? `attempt` counts from 0. */
  retryRefusal?(options: O, req: Req, outcome: Extract<Outcome, { ok: false }>, attempt: number): boolean;
  /** Requests that get no reply by design: a broadcast address, or a send-only protocol. */
  noReply(options: O, req: Req): boolean;
  /** The device is reported online as soon as its port is up (it cannot say more, or silence is standby). */
  onlineWithPort(options: O): boolean;
  /** A display in standby refuses or ignores everything but power-on: fail other commands at once. */
  refusesInStandby: boolean;
  /** Patch emitted at open (e.g. `{ tracked: true }` for a protocol without status). */
  openState?(options: O): StatePatch | undefined;
  /** Command name -> handler. `refresh` (when present) is also the poll and the warm-up probe. */
  commands: Readonly<Record<string, CommandHandler<O, Req, Rep>>>;
}
