/**
 * Which parts of the configuration a push may change, and how a pushed
 * document is validated (docs/config-push.md).
 *
 * A push carries a config document: either only the pushable sections
 * (`devices`, `scenes`, `recording.live`) or a whole config file. The
 * pushable sections replace the running ones; every other section, if
 * present, must equal what is running, or the push is refused naming the
 * field and why it cannot change at run time. Of `recording`, only `live`
 * (the 专递课堂 pairing: which source goes to which media server) is
 * pushable: the recorder reads its sources, storage and rule at start, while
 * a live target is only an ffmpeg it can stop and start. The merged document then goes through the same validation as
 * `classroom-edge check-config` (edge/config/load.ts validateConfig), so the
 * problems are the same `path: reason` lines.
 */
import type { DriverRegistry } from '../devices/registry.js';
import { canonicalJson } from './diff.js';
import { validateConfig, type ConfigProblem } from './load.js';
import type { LiveTargetConfig } from './recording-schema.js';
import { configSchema, type EdgeConfig } from './schema.js';

/** Sections a push replaces: applied live by the device supervisor and the scene runner. */
export const PUSHABLE_SECTIONS = ['devices', 'scenes'] as const;
export type PushableSection = (typeof PUSHABLE_SECTIONS)[number];
/** The only key of `recording` a push replaces (applied live by the recorder). */
export const PUSHABLE_RECORDING_KEY = 'live';
/** What a push applies and the store keeps as the overlay; `recording` only in a room with a recording section. */
export type PushedSections = Pick<EdgeConfig, PushableSection> & { recording?: { live: LiveTargetConfig[] } };
const WHAT = 'devices, scenes and/or recording.live';

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
  recording: 'only recording.live can be pushed: the sources, rule, storage and uploads are read by the recorder at start; edit the file and restart',
  configPush: 'the push check settings cannot change through a push',
};

export interface PushValidation {
  config?: EdgeConfig;
  problems: ConfigProblem[];
}

const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Paths where two JSON values differ (at most `limit`). */
function differences(a: unknown, b: unknown, path: string, out: string[], limit: number): void {
  if (out.length >= limit || canonicalJson(a) === canonicalJson(b)) return;
  if (isMapping(a) && isMapping(b)) {
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
  if (!isMapping(pushed)) {
    return { problems: [{ path: '(root)', reason: `a pushed config must be a mapping (${WHAT})` }] };
  }
  const doc = pushed;
  const problems: ConfigProblem[] = [];
  const merged: Record<string, unknown> = { ...running, ...doc };
  let pushedRecording: Record<string, unknown> | undefined;
  if ('recording' in doc) {
    const rec = doc.recording;
    if (!isMapping(rec)) {
      problems.push({ path: 'recording', reason: 'must be a mapping: a push may carry recording: { live: [...] }' });
      merged.recording = running.recording;
    } else if (!running.recording) {
      // The sources a live target reads come from the file: a push cannot create them.
      problems.push({ path: 'recording', reason: 'this room has no recording section (no recording sources): add its sources to the config file first; a push can change only recording.live' });
      merged.recording = running.recording;
    } else {
      pushedRecording = rec;
      merged.recording = { ...running.recording, ...rec };
    }
  }
  const pushesLive = pushedRecording !== undefined && PUSHABLE_RECORDING_KEY in pushedRecording;
  const nothing = { problems: [{ path: '(root)', reason: `nothing to apply: a push must contain ${WHAT}` }] };
  // A `recording` without `live` goes on, so that the fields it tries to change are named.
  if (!PUSHABLE_SECTIONS.some((s) => s in doc) && !('recording' in doc)) return nothing;
  const result = validateConfig(merged, registry);
  problems.push(...result.problems);
  if (result.config) {
    const known = new Set(Object.keys(configSchema.shape));
    for (const key of Object.keys(doc)) {
      if ((PUSHABLE_SECTIONS as readonly string[]).includes(key) || key === 'recording' || !known.has(key)) continue;
      unchanged(key, (running as Record<string, unknown>)[key], (result.config as Record<string, unknown>)[key], problems);
    }
    const rec = result.config.recording;
    if (pushedRecording && rec) {
      for (const key of Object.keys(pushedRecording)) {
        if (key === PUSHABLE_RECORDING_KEY) continue;
        unchanged(`recording.${key}`, (running.recording as Record<string, unknown> | undefined)?.[key], (rec as Record<string, unknown>)[key], problems, 'recording');
      }
    }
  }
  if (problems.length) return { problems };
  return pushesLive || PUSHABLE_SECTIONS.some((s) => s in doc) ? { config: result.config!, problems } : nothing;
}

/** A non-pushable field present in a push must equal the running one: each difference is a problem. */
function unchanged(path: string, before: unknown, after: unknown, problems: ConfigProblem[], section = path): void {
  const paths: string[] = [];
  differences(before, after, path, paths, 10);
  const why = NOT_PUSHABLE[section] ?? 'not pushable';
  for (const p of paths) problems.push({ path: p, reason: `cannot be changed by a push: ${why}` });
}

export function formatProblems(problems: readonly ConfigProblem[]): string[] {
  return problems.map((p) => `${p.path}: ${p.reason}`);
}

/** The running config with pushed sections in force (an overlay kept in the store). */
export function withSections(base: EdgeConfig, sections: PushedSections): EdgeConfig {
  const out: EdgeConfig = { ...base, devices: sections.devices, scenes: sections.scenes };
  if (base.recording && sections.recording) out.recording = { ...base.recording, live: sections.recording.live };
  return out;
}

export function sectionsOf(config: EdgeConfig): PushedSections {
  return { devices: config.devices, scenes: config.scenes, ...(config.recording ? { recording: { live: config.recording.live } } : {}) };
}
