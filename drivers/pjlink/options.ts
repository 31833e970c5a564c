/**
 * `pjlink` driver options (zod) and capabilities.
 *
 * The PJLink password never sits in the config file: `passwordFile` names a
 * file (mode 0600, owned by the service user) read once when the driver is
 * created; `password` is refused with a message saying so.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { inputSelect, mute, power, status, type Capability } from '../capabilities.js';
import { INPUT_CODE } from './codec.js';

/** Common PJLink input codes (type*10 + number); real projectors map their sockets differently: check `INST ?`. */
export const DEFAULT_PJLINK_INPUTS: Readonly<Record<string, string>> = {
  hdmi1: '31',
  hdmi2: '32',
  vga: '11',
  video: '21',
  network: '51',
};

export const pjlinkOptionsSchema = z
  .object({
    /** File holding the PJLink password (first line; surrounding whitespace ignored). Absent: no authentication. */
    passwordFile: z.string().min(1).optional(),
    password: z
      .never({ error: 'a PJLink password must not be written in the config: put it in a file (mode 0600) and set passwordFile' })
      .optional(),
    /** Status poll period; also how fast an unreachable projector is noticed. */
    pollSeconds: z.number().min(1).max(86_400).default(30),
    /** Wait for the connection + greeting, and for each reply (the spec allows the projector up to 2 s; slow ones need more). */
    timeoutMs: z.number().int().min(100).max(60_000).default(5000),
    /** Extra attempts of an exchange after a timeout (errors ERRx are never retried). */
    retries: z.number().int().min(0).max(5).default(1),
    /** Consecutive timeouts before the projector is reported offline (a refused connection is at once). */
    offlineAfter: z.number().int().min(1).max(20).default(2),
    /** How long a command that needs the lamp waits for warm-up (or power-on waits for cool-down). */
    warmupQueueMs: z.number().int().min(0).max(600_000).default(60_000),
    /** Power status query period while warming up or cooling down. */
    warmupPollMs: z.number().int().min(10).max(60_000).default(2000),
    /** Input names -> PJLink input codes ('31' = DIGITAL 1). */
    inputs: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'input names: lower-case letters, digits and dashes'), z.string().regex(INPUT_CODE, 'a PJLink input code: type 1..6 then number 1..9/A..Z, e.g. "31"'))
      .refine((m) => Object.keys(m).length > 0, 'at least one input')
      .default({ ...DEFAULT_PJLINK_INPUTS }),
  })
  .strict();
export type PjlinkOptions = z.infer<typeof pjlinkOptionsSchema>;

export function pjlinkCapabilities(options: PjlinkOptions): Capability[] {
  return [power(), inputSelect(Object.keys(options.inputs)), mute(), status()];
}

/**
 * Read the password file: the first line, trimmed. Throws an error naming
 * the device and the file (never its content).
 */
export function readPasswordFile(device: string, path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${device}: cannot read PJLink passwordFile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const password = (text.split(/\r?\n/)[0] ?? '').trim();
  if (password === '') throw new Error(`${device}: PJLink passwordFile ${path} is empty`);
  return password;
}
