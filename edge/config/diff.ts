/**
 * What a configuration change changes (docs/config-push.md): which devices
 * are added, removed, changed or left alone, and whether the scenes differ.
 * The device supervisor restarts exactly the devices named in `stop` and
 * `start`, so unchanged devices keep running through a push and its rollback.
 *
 * Devices that share a physical line (one serial port or TCP endpoint: see
 * edge/devices/transports.ts lineKey) are restarted together when any of
 * them changes, since the line is opened once for all of them.
 */
import type { DeviceConfig, EdgeConfig } from './schema.js';
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

export interface ConfigChanges {
  devices: DeviceDiff;
  scenesChanged: boolean;
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

export function diffConfig(before: Pick<EdgeConfig, 'devices' | 'scenes'>, after: Pick<EdgeConfig, 'devices' | 'scenes'>): ConfigChanges {
  const devices = diffDevices(before.devices, after.devices);
  const scenesChanged = canonicalJson(before.scenes) !== canonicalJson(after.scenes);
  return { devices, scenesChanged, none: !scenesChanged && devices.start.length === 0 && devices.stop.length === 0 };
}
