/**
 * Which parts of the configuration a push may change, and how a pushed
 * document is validated (docs/config-push.md).
 *
 * A push carries a config document: either only the pushable sections
 * (`devices`, `scenes`) or a whole config file. The pushable sections replace
 * the running ones; every other section, if present, must equal what is
 * running, or the push is refused naming the field and why it cannot change
 * at run time. The merged document then goes through the same validation as
 * `classroom-edge check-config` (edge/config/load.ts validateConfig), so the
 * problems are the same `path: reason` lines.
 */
import type { DriverRegistry } from '../devices/registry.js';
import { canonicalJson } from './diff.js';
import { validateConfig, type ConfigProblem } from './load.js';
import { configSchema, type EdgeConfig } from './schema.js';

/** Sections a push replaces: applied live by the device supervisor and the scene runner. */
export const PUSHABLE_SECTIONS = ['devices', 'scenes'] as const;
export type PushableSection = (typeof PUSHABLE_SECTIONS)[number];
export type PushedSections = Pick<EdgeConfig, PushableSection>;

/** Why each other section cannot be pushed. */
export const NOT_PUSHABLE: Record<string, string> = {
  version: 'the config format version is not pushable',
  room: 'the room identity keys the store, the bus topics and the district certificate; change it on the appliance',
  dataDir: 'the store lives there; a push cannot move it',
  log: 'read at start; edit the file and restart',
  broker: 'listeners and bus users change only at a restart, and a push must not lock the kiosk or devices out',
  api: 'ports and addresses change only at a restart',
  store: 'group-commit settings apply when the store opens',
  lessons: 'read by the lesson clock at start; edit the file and restart',
  behaviour: 'read by the kiosk services at start; edit the file and restart',
  privacy: 'read by the retention service at start; edit the file and restart',
  cloud: 'the district link itself: a push must never be able to cut the room off from the district',
  configPush: 'the push check settings cannot change through a push',
};

export interface PushValidation {
  config?: EdgeConfig;
  problems: ConfigProblem[];
}

/** Paths where two JSON values differ (at most `limit`). */
function differences(a: unknown, b: unknown, path: string, out: string[], limit: number): void {
  if (out.length >= limit || canonicalJson(a) === canonicalJson(b)) return;
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[k], b[k], `${path}.${k}`, out, limit);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((v, i) => differences(v, b[i], `${path}[${i}]`, out, limit));
    return;
  }
  out.push(path);
}

/**
 * Validates `pushed` against the running config: the pushable sections
 * replace the running ones, the others must be unchanged. Returns the
 * complete config to run, or the problems (`path: reason`).
 */
export function validatePush(pushed: unknown, running: EdgeConfig, registry: DriverRegistry): PushValidation {
  if (pushed === null || typeof pushed !== 'object' || Array.isArray(pushed)) {
    return { problems: [{ path: '(root)', reason: 'a pushed config must be a mapping (devices, scenes)' }] };
  }
  const doc = pushed as Record<string, unknown>;
  if (!PUSHABLE_SECTIONS.some((s) => s in doc)) {
    return { problems: [{ path: '(root)', reason: `nothing to apply: a push must contain ${PUSHABLE_SECTIONS.join(' and/or ')}` }] };
  }
  const merged = { ...running, ...doc };
  const result = validateConfig(merged, registry);
  const problems = [...result.problems];
  if (result.config) {
    const known = new Set(Object.keys(configSchema.shape));
    for (const key of Object.keys(doc)) {
      if ((PUSHABLE_SECTIONS as readonly string[]).includes(key) || !known.has(key)) continue;
      const paths: string[] = [];
      differences((running as Record<string, unknown>)[key], (result.config as Record<string, unknown>)[key], key, paths, 10);
      const why = NOT_PUSHABLE[key] ?? 'not pushable';
      for (const p of paths) problems.push({ path: p, reason: `cannot be changed by a push: ${why}` });
    }
  }
  return problems.length ? { problems } : { config: result.config!, problems };
}

export function formatProblems(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.reason}`);
}

/** The running config with pushed sections in force (an overlay kept in the store). */
export function withSections(base: EdgeConfig, sections: PushedSections): EdgeConfig {
  return { ...base, devices: sections.devices, scenes: sections.scenes };
}

export function sectionsOf(config: EdgeConfig): PushedSections {
  return { devices: config.devices, scenes: config.scenes };
}
