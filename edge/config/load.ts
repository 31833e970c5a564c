/**
 * Loading and validating the config file. Every problem is reported as
 * `path: reason` (e.g. `devices[2].options.unitId: Too big: expected number to be <=247`),
 * all of them at once, so a technician fixes the file in one go.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type EdgeConfig } from './schema.js';
import { commandTable } from '../../drivers/capabilities.js';
import type { DriverRegistry } from '../devices/registry.js';
import { lineKey } from '../devices/transports.js';

export interface ConfigProblem {
  path: string;
  reason: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  ${p.path}: ${p.reason}`).join('\n')}`);
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

function zodProblems(error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigProblem[] {
  return error.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), reason: i.message }));
}

/** Parse YAML text into a plain value; syntax errors become problems with line and column. */
export function parseYaml(text: string): { value: unknown; problems: ConfigProblem[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      value: undefined,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: pos ? `line ${pos.line} column ${pos.col}` : '(yaml)', reason: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  return { value: doc.toJS(), problems: [] };
}

/**
 * Validate a parsed config: the schema, then what the schema cannot see alone
 * (driver names, driver options, duplicate ids, scenes naming devices and commands).
 */
export function validateConfig(raw: unknown, registry: DriverRegistry): { config?: EdgeConfig; problems: ConfigProblem[] } {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) return { problems: zodProblems(parsed.error) };
  const config = parsed.data;
  const problems: ConfigProblem[] = [];

  const seen = new Map<string, number>();
  const commandsByDevice = new Map<string, Set<string>>();
  config.devices.forEach((dev, i) => {
    const first = seen.get(dev.id);
    if (first !== undefined) problems.push({ path: `devices[${i}].id`, reason: `duplicate device id "${dev.id}" (first used by devices[${first}])` });
    else seen.set(dev.id, i);

    const def = registry.get(dev.driver);
    if (!def) {
      problems.push({ path: `devices[${i}].driver`, reason: `unknown driver "${dev.driver}"; known drivers: ${registry.names().join(', ')}` });
      return;
    }
    if (!def.kinds.includes(dev.kind)) {
      problems.push({ path: `devices[${i}].kind`, reason: `driver "${dev.driver}" serves ${def.kinds.join(', ')}, not ${dev.kind}` });
    }
    if (!def.transports.includes(dev.transport.type)) {
      problems.push({
        path: `devices[${i}].transport.type`,
        reason: `driver "${dev.driver}" works over ${def.transports.join(', ')}, not ${dev.transport.type}`,
      });
    }
    const opts = def.optionsSchema.safeParse(dev.options);
    if (!opts.success) {
      problems.push(...zodProblems(opts.error as z.ZodError, ['devices', i, 'options']));
      return;
    }
    dev.options = opts.data as Record<string, unknown>;
    commandsByDevice.set(dev.id, new Set(commandTable(def.capabilities(opts.data)).keys()));
  });

  // Devices on one physical line: only addressed (multidrop) protocols, with identical line settings.
  const byLine = new Map<string, number[]>();
  config.devices.forEach((dev, i) => {
    const key = lineKey(dev);
    if (key) byLine.set(key, [...(byLine.get(key) ?? []), i]);
  });
  for (const [key, idx] of byLine) {
    if (idx.length < 2) continue;
    const first = config.devices[idx[0]!]!;
    for (const i of idx) {
      const dev = config.devices[i]!;
      const def = registry.get(dev.driver);
      if (def && !def.multidrop) {
        problems.push({ path: `devices[${i}].transport`, reason: `${key} is used by ${idx.length} devices, but driver "${dev.driver}" cannot share a line` });
      }
      if (i !== idx[0] && JSON.stringify(dev.transport) !== JSON.stringify(first.transport)) {
        problems.push({ path: `devices[${i}].transport`, reason: `shares ${key} with devices[${idx[0]}] but with different line settings` });
      }
    }
  }

  for (const [scene, steps] of Object.entries(config.scenes)) {
    steps.forEach((step, j) => {
      const base = `scenes.${scene}[${j}]`;
      const dev = config.devices.find((d) => d.id === step.device);
      if (!dev) {
        problems.push({ path: `${base}.device`, reason: `no device with id "${step.device}"` });
        return;
      }
      const cmds = commandsByDevice.get(step.device);
      if (!cmds) return; // the device's own problem is already reported
      if (!cmds.has(step.command)) {
        problems.push({
          path: `${base}.command`,
          reason: `device "${step.device}" has no command "${step.command}"; it has: ${[...cmds].join(', ') || 'none'}`,
        });
        return;
      }
      const def = registry.get(dev.driver);
      const spec = def && commandTable(def.capabilities(dev.options)).get(step.command);
      const args = spec?.args.safeParse(step.args);
      if (args && !args.success) problems.push(...zodProblems(args.error as z.ZodError, ['scenes', scene, j, 'args']));
    });
  }

  const ports = [config.broker.port, config.broker.websocketPort, config.api.port].filter((p) => p !== 0);
  if (new Set(ports).size !== ports.length) {
    problems.push({ path: 'api.port', reason: 'broker.port, broker.websocketPort and api.port must differ' });
  }

  return problems.length ? { problems } : { config, problems };
}

/** Read, parse and validate a config file. Throws ConfigError listing every problem. */
export function loadConfigFile(file: string, registry: DriverRegistry): EdgeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '(file)', reason: `cannot read: ${(e as Error).message}` }]);
  }
  return loadConfigText(text, file, registry);
}

export function loadConfigText(text: string, source: string, registry: DriverRegistry): EdgeConfig {
  const { value, problems } = parseYaml(text);
  if (problems.length) throw new ConfigError(source, problems);
  const result = validateConfig(value, registry);
  if (!result.config) throw new ConfigError(source, result.problems);
  return result.config;
}
