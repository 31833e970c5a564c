/**
 * What a configuration change changes (docs/config-push.md): which devices
 * are added, removed, changed or left alone, whether the scenes differ, and
 * which live targets (recording.live, the 专递课堂 pairing) differ.
 * The device supervisor restarts exactly the devices named in `stop` and
 * `start`, so unchanged devices keep running through a push and its rollback.
 *
 * Devices that share a physical line (one serial port or TCP endpoint: see
 * edge/devices/transports.ts lineKey) are restarted together when any of
 * them changes, since the line is opened once for all of them.
 */
import type { DeviceConfig, EdgeConfig } from './schema.js';
import type { LiveTargetConfig } from './recording-schema.js';
import { lineKey } from '../devices/transports.js';

export interface DeviceDiff {
  added: string[];
  removed: string[];
  /** Same id, different settings, or on a line whose set of devices changed. */
  changed: string[];
  unchanged: string[];
  /** Ids to stop, from the old list (removed and changed). */
  stop: string[];
  /** Ids to start, from the new list (added and changed): the ones the check waits for. */
  start: string[];
}

/** Live targets by id: a changed one (other URL, source or `when`) is stopped and started again. */
export interface LiveDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ConfigChanges {
  devices: DeviceDiff;
  scenesChanged: boolean;
  live: LiveDiff;
  /** True when any live target is added, removed or changed (their order does not count). */
  liveChanged: boolean;
  /** True when nothing differs. */
  none: boolean;
}

/** Key-order independent JSON, so `{a,b}` and `{b,a}` compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

export function diffDevices(before: readonly DeviceConfig[], after: readonly DeviceConfig[]): DeviceDiff {
  const old = new Map(before.map((d) => [d.id, d]));
  const next = new Map(after.map((d) => [d.id, d]));
  const added = after.filter((d) => !old.has(d.id)).map((d) => d.id);
  const removed = before.filter((d) => !next.has(d.id)).map((d) => d.id);
  const changed = new Set(after.filter((d) => old.has(d.id) && canonicalJson(old.get(d.id)) !== canonicalJson(d)).map((d) => d.id));

  // A line touched by any add/remove/change restarts every device on it (old and new lists).
  const touched = new Set([...added, ...removed, ...changed]);
  const lines = new Map<string, Set<string>>();
  for (const d of [...before, ...after]) {
    const key = lineKey(d);
    if (!key) continue;
    const ids = lines.get(key) ?? new Set<string>();
    ids.add(d.id);
    lines.set(key, ids);
  }
  for (const ids of lines.values()) {
    if (![...ids].some((id) => touched.has(id))) continue;
    for (const id of ids) if (old.has(id) && next.has(id)) changed.add(id);
  }

  const changedList = after.filter((d) => changed.has(d.id)).map((d) => d.id);
  const unchanged = after.filter((d) => old.has(d.id) && !changed.has(d.id)).map((d) => d.id);
  return {
    added,
    removed,
    changed: changedList,
    unchanged,
    stop: before.filter((d) => !next.has(d.id) || changed.has(d.id)).map((d) => d.id),
    start: after.filter((d) => !old.has(d.id) || changed.has(d.id)).map((d) => d.id),
  };
}

export function diffLive(before: readonly LiveTargetConfig[], after: readonly LiveTargetConfig[]): LiveDiff {
  const old = new Map(before.map((t) => [t.id, t]));
  const next = new Set(after.map((t) => t.id));
  return {
    added: after.filter((t) => !old.has(t.id)).map((t) => t.id),
    removed: before.filter((t) => !next.has(t.id)).map((t) => t.id),
    changed: after.filter((t) => old.has(t.id) && canonicalJson(old.get(t.id)) !== canonicalJson(t)).map((t) => t.id),
  };
}

/** What a push compares: the pushable sections (a config without a recording section has no live targets). */
export type DiffableConfig = Pick<EdgeConfig, 'devices' | 'scenes'> & { recording?: { live: readonly LiveTargetConfig[] } | undefined };

export function diffConfig(before: DiffableConfig, after: DiffableConfig): ConfigChanges {
  const devices = diffDevices(before.devices, after.devices);
  const scenesChanged = canonicalJson(before.scenes) !== canonicalJson(after.scenes);
  const live = diffLive(before.recording?.live ?? [], after.recording?.live ?? []);
  const liveChanged = live.added.length + live.removed.length + live.changed.length > 0;
  return { devices, scenesChanged, live, liveChanged, none: !scenesChanged && !liveChanged && devices.start.length === 0 && devices.stop.length === 0 };
}
