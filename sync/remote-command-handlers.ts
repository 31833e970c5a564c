/**
 * The built-in remote commands of the edge (docs/sync.md, "Technicians'
 * remote commands"), registered into a CommandRegistry
 * (sync/remote-commands.ts):
 *
 * - `devices.list`    every device with its state (the supervisor's list);
 * - `device.command`  one device command through DeviceSupervisor.execute, so the device's queue,
 *                     timeout, argument validation and audit apply as for a local command;
 * - `scene.run`       a configured scene, step by step (SceneRunner);
 * - `logs.recent`     the newest records of the service's log ring (edge/util/log-ring.ts);
 * - `diagnostics`     serial ports and GPIO chips as `classroom-edge ports` lists them (edge/ports.ts),
 *                     and a ping per device: reachability, last error, and a status query
 *                     (`refresh`) where the driver has the `status` capability;
 * - `service.restart` (admin) answers first, then calls the injected restart: in production the
 *                     process stops gracefully and exits, and systemd starts it again
 *                     (`Restart=always` in docs/classroom-edge.service).
 */
import type { ConfigPushResult } from '../edge/config/apply.js';
import { z } from 'zod';
import type { CommandResult, DeviceSupervisor } from '../edge/devices/supervisor.js';
import type { PortsReport } from '../edge/ports.js';
import type { SceneRunner } from '../edge/scenes/scenes.js';
import type { LogRing } from '../edge/util/log-ring.js';
import { linkIdSchema } from './protocol.js';
import type { CommandRegistry, HandlerOutcome } from './remote-commands.js';

export interface BuiltinCommandDeps {
  devices: Pick<DeviceSupervisor, 'list' | 'get' | 'execute'>;
  scenes: Pick<SceneRunner, 'has' | 'run' | 'names'>;
  /** Absent when the logger has no ring (then `logs.recent` answers `error/unavailable`). */
  logRing?: LogRing | null;
  /** Default: edge/ports.ts collectPorts (loaded on demand). */
  ports?: () => Promise<PortsReport>;
  /** Absent: `service.restart` answers `error/unavailable`. */
  restart?: ((reason: string) => void) | null;
}

/** Logs in one answer: newest first until this much JSON (the result limit is 128 KB). */
const LOG_BUDGET_BYTES = 96 * 1024;

/** Supervisor errors that mean "not run" (refused) rather than "ran and failed". */
const REFUSED_CODES = new Set(['unknown-device', 'unsupported', 'invalid-args']);

function fromDevice(r: CommandResult, result?: unknown): HandlerOutcome {
  if (r.ok) return { status: 'ok', result: result ?? { state: r.state ?? {} } };
  const error = r.error ?? { code: 'error', message: 'device command failed' };
  return { status: REFUSED_CODES.has(error.code) ? 'rejected' : 'error', error };
}

export function registerBuiltinCommands(registry: CommandRegistry, deps: BuiltinCommandDeps): void {
  const both = ['technician', 'admin'] as const;

  registry.register('devices.list', {
    args: z.object({}).strict(),
    roles: both,
    target: () => 'devices',
    run: async () => ({ status: 'ok', result: { devices: deps.devices.list() } }),
  });

  registry.register('device.command', {
    args: z
      .object({
        device: linkIdSchema,
        command: z.string().min(1).max(64),
        args: z.record(z.string(), z.unknown()).default({}),
      })
      .strict(),
    roles: both,
    target: (a) => a.device,
    run: async (a, ctx) => fromDevice(await deps.devices.execute(a.device, a.command, a.args, ctx.actor)),
  });

  registry.register('scene.run', {
    args: z.object({ scene: z.string().min(1).max(64) }).strict(),
    roles: both,
    target: (a) => `scene:${a.scene}`,
    run: async (a, ctx) => {
      if (!deps.scenes.has(a.scene)) {
        return { status: 'rejected', error: { code: 'unknown-scene', message: `no scene "${a.scene}" (scenes: ${deps.scenes.names().join(', ') || 'none'})` } };
      }
      const r = await deps.scenes.run(a.scene, ctx.actor);
      if (r.ok) return { status: 'ok', result: r };
      const failed = r.steps.filter((s) => !s.ok).map((s) => `${s.device}.${s.command}: ${s.error?.message ?? 'failed'}`);
      return { status: 'error', result: r, error: { code: 'scene-failed', message: failed.join('; ').slice(0, 2000) || 'scene stopped early' } };
    },
  });

  registry.register('logs.recent', {
    args: z
      .object({
        limit: z.number().int().min(1).max(1000).default(100),
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
      })
      .strict(),
    roles: both,
    target: () => 'logs',
    run: async (a) => {
      if (!deps.logRing) return { status: 'error', error: { code: 'unavailable', message: 'this service keeps no log ring' } };
      const { records, dropped } = deps.logRing.recent({ limit: a.limit, minLevel: a.level });
      // Keep the newest records that fit the budget.
      const kept: typeof records = [];
      let bytes = 0;
      for (let i = records.length - 1; i >= 0; i--) {
        bytes += Buffer.byteLength(JSON.stringify(records[i])) + 1;
        if (bytes > LOG_BUDGET_BYTES) break;
        kept.unshift(records[i]!);
      }
      return { status: 'ok', result: { records: kept, omitted: records.length - kept.length, droppedFromRing: dropped, capacity: deps.logRing.capacity } };
    },
  });

  registry.register('diagnostics', {
    args: z.object({ ping: z.boolean().default(true) }).strict(),
    roles: both,
    target: () => 'diagnostics',
    run: async (a, ctx) => {
      const ports = await (deps.ports ?? (async () => (await import('../edge/ports.js')).collectPorts()))().catch((e: unknown) => ({
        serial: [],
        gpio: [],
        notes: [`ports could not be listed: ${e instanceof Error ? e.message : String(e)}`],
      }));
      const devices = await Promise.all(
        deps.devices.list().map(async (d) => {
          const entry: Record<string, unknown> = { deviceId: d.deviceId, driver: d.driver, online: d.online, lastError: d.lastError };
          if (!a.ping) return entry;
          const queryable = d.capabilities.some((c) => c.type === 'status' && c.commands.includes('refresh'));
          if (!queryable) entry.statusQuery = 'not supported by the driver';
          else if (!d.online) entry.statusQuery = 'skipped: device offline';
          else {
            const r = await deps.devices.execute(d.deviceId, 'refresh', {}, ctx.actor);
            entry.statusQuery = r.ok ? { ok: true, state: deps.devices.get(d.deviceId)?.state ?? {} } : { ok: false, error: r.error };
          }
          return entry;
        }),
      );
      return { status: 'ok', result: { ports, devices } };
    },
  });

  registry.register('service.restart', {
    args: z.object({}).strict(),
    roles: ['admin'],
    target: () => 'service',
    run: async (_a, ctx) => {
      const restart = deps.restart;
      if (!restart) return { status: 'error', error: { code: 'unavailable', message: 'this service cannot restart itself (not run by the CLI under systemd)' } };
      return {
        status: 'ok',
        result: { restarting: true },
        afterReply: () => restart(`remote command ${ctx.command.id} by ${ctx.command.issuedBy.technician}`),
      };
    },
  });
}

/** What `config.apply` needs of the configuration applier (edge/config/apply.ts). */
export interface ConfigPushTarget {
  applyConfigPush(req: { config: unknown; version?: number; issuedBy: string; issuedAt?: number; source?: string; role?: string }): Promise<ConfigPushResult>;
}

/**
 * `config.apply` (admin only): a technician's configuration change, through
 * the same validate / apply / check / roll-back path as a district push
 * (docs/config-push.md). applied and unchanged are `ok`; a refusal (the
 * `path: reason` problems) is `rejected`; a rollback or an interrupted
 * apply is `error`, with the whole result (failing devices and why).
 */
export function registerConfigCommand(registry: CommandRegistry, applier: ConfigPushTarget): void {
  registry.register('config.apply', {
    args: z
      .object({
        /** `devices` and/or `scenes`, or a whole edge config whose other sections are unchanged. */
        config: z.record(z.string(), z.unknown()),
        version: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
      })
      .strict(),
    roles: ['admin'],
    target: (a) => `config${a.version === undefined ? '' : ` v${a.version}`}`,
    run: async (a, ctx) => {
      const r = await applier.applyConfigPush({
        config: a.config,
        version: a.version,
        issuedBy: ctx.actor.username,
        issuedAt: ctx.command.issuedAt,
        source: 'command',
        role: ctx.actor.role,
      });
      switch (r.outcome) {
        case 'applied':
        case 'unchanged':
          return { status: 'ok', result: r };
        case 'refused':
          return { status: 'rejected', result: r, error: { code: 'refused', message: (r.problems ?? []).join('; ').slice(0, 2000) || 'refused' } };
        default: {
          const why = r.failed?.map((f) => `${f.deviceId}: ${f.reason}`).join('; ') || r.message || r.outcome;
          return { status: 'error', result: r, error: { code: r.outcome, message: why.slice(0, 2000) } };
        }
      }
    },
  });
}
