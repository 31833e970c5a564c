/**
 * Capabilities declared as data (see shared/STYLE.md, patterns 1-2): the
 * command router validates arguments with them and the kiosk renders controls
 * from them. Drivers merge a few builders into their definition.
 */
import { z } from 'zod';
import { DeviceError } from './errors.js';

export interface CommandSpec {
  /** zod schema of the command's `args` object. */
  args: z.ZodType<Record<string, unknown>>;
  description: string;
}

export interface Capability {
  /** e.g. 'power', 'input', 'volume', 'mute', 'sensor', 'card-reader', 'relay', 'ptz-presets' */
  type: string;
  /** Commands this capability adds, by name. */
  commands: Record<string, CommandSpec>;
  /** Extra, capability-specific description (inputs list, metric and unit, ...). */
  meta?: Record<string, unknown>;
}

const empty = z.object({}).strict();

export const power = (): Capability => ({
  type: 'power',
  commands: { power: { args: z.object({ on: z.boolean() }).strict(), description: 'turn the device on or off' } },
});

export const inputSelect = (inputs: readonly string[]): Capability => ({
  type: 'input',
  meta: { inputs: [...inputs] },
  commands: {
    input: {
      args: z.object({ source: z.enum(inputs as [string, ...string[]]) }).strict(),
      description: 'select the input source',
    },
  },
});

export const volume = (max = 100): Capability => ({
  type: 'volume',
  meta: { max },
  commands: {
    volume: { args: z.object({ level: z.number().int().min(0).max(max) }).strict(), description: 'set the volume' },
  },
});

export const mute = (): Capability => ({
  type: 'mute',
  commands: { mute: { args: z.object({ on: z.boolean() }).strict(), description: 'mute or unmute audio' } },
});

/** Ask the device for its current status and publish it. */
export const status = (): Capability => ({
  type: 'status',
  commands: { refresh: { args: empty, description: 'query the device for its current state' } },
});

export const numeric = (metric: string, unit: string): Capability => ({
  type: 'sensor',
  meta: { metric, unit },
  commands: {},
});

export const cardReader = (): Capability => ({ type: 'card-reader', commands: {} });

export const relay = (): Capability => ({
  type: 'relay',
  commands: {
    set: { args: z.object({ on: z.boolean() }).strict(), description: 'switch the relay on or off' },
    pulse: {
      args: z.object({ ms: z.number().int().min(10).max(60_000) }).strict(),
      description: 'close the relay for a while (curtain motors)',
    },
  },
});

export const ptzPresets = (count = 255): Capability => ({
  type: 'ptz-presets',
  meta: { count },
  commands: {
    preset: {
      args: z.object({ recall: z.number().int().min(0).max(count) }).strict(),
      description: 'move the camera to a stored preset',
    },
    'preset-set': {
      args: z.object({ store: z.number().int().min(0).max(count) }).strict(),
      description: 'store the current position as a preset',
    },
  },
});

/** Map of command name -> spec over a driver's capabilities. */
export function commandTable(caps: readonly Capability[]): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  for (const cap of caps) for (const [name, spec] of Object.entries(cap.commands)) table.set(name, spec);
  return table;
}

/**
 * A command's arguments, checked against the driver's command table: an unknown command is a
 * DeviceError `unsupported` ("{owner} has no command ..."), arguments that fail the command's
 * schema are `invalid-args` with zod's message.
 */
export function parseCommand(
  table: ReadonlyMap<string, CommandSpec>,
  device: string,
  owner: string,
  command: string,
  args: Record<string, unknown>,
): Record<string, unknown> {
  const spec = table.get(command);
  if (!spec) throw new DeviceError('unsupported', device, command, `${owner} has no command "${command}"`);
  const parsed = spec.args.safeParse(args);
  if (!parsed.success) throw new DeviceError('invalid-args', device, command, parsed.error.message);
  return parsed.data;
}
