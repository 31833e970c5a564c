/**
 * Technicians' remote commands for the recorder (docs/sync.md, "Technicians'
 * remote commands"): `recording.start` / `recording.stop` `{source?}` and
 * `recording.live` `{target, action}`. They go through the same
 * RecorderControl as the kiosk's buttons, so the same checks and audit apply.
 */
import { z } from 'zod';
import type { CommandRegistry, HandlerOutcome } from '../../sync/remote-commands.js';
import { idSchema } from '../schemas/bus.js';
import type { RecorderControl, RecordingActionResult } from './types.js';

const REFUSALS = new Set(['unknown-source', 'unknown-target', 'no-recorder']);

function outcome(r: RecordingActionResult): HandlerOutcome {
  if (r.ok) return { status: 'ok', result: r };
  const error = r.error ?? { code: 'error', message: 'recording action failed' };
  return { status: REFUSALS.has(error.code) ? 'rejected' : 'error', result: r, error };
}

export function registerRecordingCommands(registry: CommandRegistry, recorder: RecorderControl): void {
  const roles = ['technician', 'admin'] as const;
  for (const action of ['start', 'stop'] as const) {
    registry.register(`recording.${action}`, {
      args: z.object({ source: idSchema.optional() }).strict(),
      roles,
      target: (a) => `recording:${a.source ?? '*'}`,
      run: async (a, ctx) => outcome(await recorder[action]({ ...(a.source ? { source: a.source } : {}), by: ctx.actor })),
    });
  }
  registry.register('recording.live', {
    args: z.object({ target: idSchema, action: z.enum(['start', 'stop']) }).strict(),
    roles,
    target: (a) => `live:${a.target}`,
    run: async (a, ctx) => outcome(await recorder.live({ target: a.target, action: a.action, by: ctx.actor })),
  });
}
