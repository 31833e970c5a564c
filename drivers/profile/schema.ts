/**
 * Options of the table-driven panel driver (`panel-profile`): a panel whose
 * vendor has no driver here (Seewo, Newline, ...) is described as data —
 * the frames to send and the patterns of its replies — and validated when the
 * config is loaded, with messages that name the field and what is wrong.
 *
 * Frames:   hex  "7F 08 99 A2 B3 C4 02 FF 01 00 CF" (bytes as two hex digits,
 *                 separated by spaces or not)
 *           ascii "POWR0001" (the `terminator`, if any, is appended on send)
 * Volume:   a frame template with one placeholder: `{level}` (decimal),
 *           `{level:N}` (decimal, zero-padded to N digits), `{levelHex}`
 *           (two hex digits); in hex encoding only `{levelHex}`, which
 *           stands for one byte.
 * Patterns: hex  "AA FF ?? 03 41" (`??` matches any byte)
 *           ascii a regular expression source, e.g. "^OK$" (tested against
 *                 each reply line when a terminator is set)
 * Models:   `model: hitevision-ifp` takes a named profile of the library
 *           (./library.ts, ./library/); options written next to it override
 *           the model's: top-level options and each command replace the
 *           model's, `commands.inputs` are merged by name (added or
 *           replaced, never removed), `ack` and `commands.query` are replaced
 *           whole; `encoding`, if given, must be the model's. The merged
 *           options are then checked like a hand-written profile, and the
 *           result carries no `model` (parsing it again gives the same).
 */
import { z } from 'zod';
import { panelModelNames, panelModelOptions } from './library.js';

const HEX_BYTE = /^[0-9A-Fa-f]{2}$/;
const PLACEHOLDER = /\{level(?::(\d))?\}|\{levelHex\}/g;

/** Split a hex string into byte tokens ("7F 08" or "7F08"), or undefined when malformed. */
export function hexTokens(text: string, wildcards: boolean): string[] | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  const parts = trimmed.split(/\s+/);
  const tokens = parts.length === 1 && parts[0]!.length > 2 ? (parts[0]!.match(/.{1,2}/g) ?? []) : parts;
  for (const t of tokens) {
    if (HEX_BYTE.test(t)) continue;
    if (wildcards && t === '??') continue;
    return undefined;
  }
  return tokens;
}

export function parseHexBytes(text: string): Buffer | undefined {
  const tokens = hexTokens(text, false);
  return tokens && Buffer.from(tokens.join(''), 'hex');
}

type Encoding = 'hex' | 'ascii';

const frameText = z.string().min(1, 'a frame cannot be empty').max(512);
const patternText = z.string().min(1, 'a pattern cannot be empty').max(512);
const INPUT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

const baseSchema = z
  .object({
    encoding: z.enum(['hex', 'ascii']),
    /** ascii only: appended to every frame sent, and the end of every reply line. */
    terminator: z.string().min(1).max(4).optional(),
    commands: z
      .object({
        powerOn: frameText,
        powerOff: frameText,
        inputs: z.record(z.string(), frameText).refine((r) => Object.keys(r).length > 0, 'at least one input'),
        volume: frameText.optional(),
        muteOn: frameText.optional(),
        muteOff: frameText.optional(),
        query: z
          .object({
            power: z
              .object({ send: frameText, replies: z.object({ on: patternText, off: patternText }).strict() })
              .strict()
              .optional(),
          })
          .strict()
          .optional(),
      })
      .strict(),
    /** Highest volume level the template accepts. */
    volumeMax: z.number().int().min(1).max(255).default(100),
    /** Replies to sets; without it the profile is send-only and its state tracked. */
    ack: z.object({ ok: patternText, error: patternText.optional() }).strict().optional(),
    timeoutMs: z.number().int().min(50).max(60_000).default(1000),
    /** Extra attempts after a timeout (default 0: profile frames may be toggles). */
    retries: z.number().int().min(0).max(5).default(0),
    /** Minimum gap between two frames. */
    interCommandMs: z.number().int().min(0).max(10_000).default(100),
    /** Power-query poll period (only with commands.query.power). */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Consecutive failed requests before offline (only with commands.query.power). */
    offlineAfter: z.number().int().min(1).max(20).default(2),
  })
  .strict();

/** A profile written out in full (frames, no `model`): the library entries and the result of profileOptionsSchema. */
export const profileFramesSchema = baseSchema.superRefine((o, ctx) => {
  for (const issue of profileIssues(o)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
});
export type ProfileOptions = z.infer<typeof baseSchema>;
/** A profile as written (before defaults): what a library entry holds. */
export type ProfileInput = z.input<typeof baseSchema>;

/** The driver's options: a profile in full, or `model: <name>` with optional overrides (see the header). */
export const profileOptionsSchema = z
  .unknown()
  .transform((raw, ctx) => {
    const resolved = resolveModel(raw);
    if (typeof resolved === 'string') {
      ctx.addIssue({ code: 'custom', path: ['model'], message: resolved, input: raw });
      return z.NEVER;
    }
    if (resolved.encodingMismatch) {
      ctx.addIssue({ code: 'custom', path: ['encoding'], message: resolved.encodingMismatch, input: raw });
      return z.NEVER;
    }
    return resolved.options;
  })
  .pipe(profileFramesSchema);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Options with `model` replaced by the model's profile under the options
 * written next to it; an error message (for `model`) when the name is not
 * in the library. Anything else is left for profileFramesSchema to report.
 */
function resolveModel(raw: unknown): string | { options: unknown; encodingMismatch?: string } {
  if (!isRecord(raw) || !('model' in raw)) return { options: raw };
  const { model, ...own } = raw;
  const known = `(known: ${panelModelNames().join(', ')})`;
  if (typeof model !== 'string') return `a panel model name is a string ${known}`;
  const base = panelModelOptions(model);
  if (!base) return `unknown panel model ${JSON.stringify(model)} ${known}`;
  if (own.encoding !== undefined && own.encoding !== base.encoding) {
    return {
      options: raw,
      encodingMismatch: `panel model "${model}" is ${base.encoding}-encoded; frames written next to it must be ${base.encoding} too (got ${JSON.stringify(own.encoding)})`,
    };
  }
  const merged: Record<string, unknown> = { ...base, ...own };
  if (own.commands !== undefined) {
    const c = own.commands;
    merged.commands = !isRecord(c)
      ? c
      : {
          ...base.commands,
          ...c,
          inputs: c.inputs === undefined ? base.commands.inputs : isRecord(c.inputs) ? { ...base.commands.inputs, ...c.inputs } : c.inputs,
        };
  }
  return { options: merged };
}

interface Issue {
  path: (string | number)[];
  message: string;
}

/** Cross-field checks that depend on the encoding: frames, templates and patterns. */
function profileIssues(o: ProfileOptions): Issue[] {
  const issues: Issue[] = [];
  const enc: Encoding = o.encoding;
  const frame = (path: (string | number)[], text: string): void => {
    if (/\{level/.test(text)) issues.push({ path, message: 'only commands.volume may hold a {level} placeholder' });
    else if (enc === 'hex' && !parseHexBytes(text)) {
      issues.push({ path, message: `not a hex frame: "${text}" (write bytes as two hex digits, e.g. "7F 08 99")` });
    }
  };
  const pattern = (path: (string | number)[], text: string): void => {
    if (enc === 'hex') {
      if (!hexTokens(text, true)) {
        issues.push({ path, message: `not a hex pattern: "${text}" (bytes as two hex digits, ?? for any byte)` });
      }
      return;
    }
    try {
      new RegExp(text);
    } catch (e) {
      issues.push({ path, message: `not a valid regular expression: ${(e as Error).message}` });
    }
  };

  if (o.terminator !== undefined && enc === 'hex') {
    issues.push({ path: ['terminator'], message: 'terminator applies to ascii encoding only (put it in the hex frames)' });
  }
  const c = o.commands;
  frame(['commands', 'powerOn'], c.powerOn);
  frame(['commands', 'powerOff'], c.powerOff);
  for (const [name, text] of Object.entries(c.inputs)) {
    if (!INPUT_NAME.test(name)) {
      issues.push({ path: ['commands', 'inputs', name], message: `input names: lower-case letters, digits and "-", up to 32 (got "${name}")` });
    }
    frame(['commands', 'inputs', name], text);
  }
  if (c.muteOn !== undefined) frame(['commands', 'muteOn'], c.muteOn);
  if (c.muteOff !== undefined) frame(['commands', 'muteOff'], c.muteOff);
  if ((c.muteOn === undefined) !== (c.muteOff === undefined)) {
    issues.push({ path: ['commands', c.muteOn === undefined ? 'muteOn' : 'muteOff'], message: 'muteOn and muteOff go together' });
  }
  if (c.volume !== undefined) {
    const holders = c.volume.match(PLACEHOLDER) ?? [];
    const stray = c.volume.replace(PLACEHOLDER, '').includes('{');
    if (holders.length !== 1 || stray) {
      issues.push({ path: ['commands', 'volume'], message: 'the volume template needs exactly one of {level}, {level:N}, {levelHex}' });
    } else if (enc === 'hex') {
      const rest = c.volume.replace('{levelHex}', '00');
      if (holders[0] !== '{levelHex}') issues.push({ path: ['commands', 'volume'], message: 'hex volume templates use {levelHex} (one byte)' });
      else if (!parseHexBytes(rest)) issues.push({ path: ['commands', 'volume'], message: `not a hex frame: "${c.volume}"` });
    }
  }
  const q = c.query?.power;
  if (q) {
    frame(['commands', 'query', 'power', 'send'], q.send);
    pattern(['commands', 'query', 'power', 'replies', 'on'], q.replies.on);
    pattern(['commands', 'query', 'power', 'replies', 'off'], q.replies.off);
  }
  if (o.ack) {
    pattern(['ack', 'ok'], o.ack.ok);
    if (o.ack.error !== undefined) pattern(['ack', 'error'], o.ack.error);
  }
  return issues;
}
