/**
 * A fake device supervisor for the config applier's tests: reconfigures by
 * the real diff, records every start and stop, and brings a started device
 * online unless `deadPaths` names its serial port (a device that never comes
 * online, with the transport's kind of error as its last error).
 */
import { diffDevices, type DeviceDiff } from '../../../edge/config/diff.js';
import type { ApplyDevices } from '../../../edge/config/apply.js';
import type { DeviceConfig } from '../../../edge/config/schema.js';
import type { CommandResult } from '../../../edge/devices/supervisor.js';

export class FakeDevices implements ApplyDevices {
  readonly log: string[] = [];
  readonly running = new Map<string, { config: DeviceConfig; online: boolean; lastError: { message: string } | null }>();
  /** Devices whose status query fails. */
  readonly failingProbe = new Set<string>();
  /** When set, reconfigure waits for this before returning (a push caught mid-apply). */
  hold: Promise<void> | null = null;

  constructor(
    devices: readonly DeviceConfig[],
    private readonly deadPaths: ReadonlySet<string> = new Set(['/dev/serial/by-id/missing']),
  ) {
    for (const d of devices) this.startOne(d, false);
  }

  private startOne(d: DeviceConfig, log = true): void {
    const dead = d.transport.type === 'serial' && this.deadPaths.has(d.transport.path);
    const path = d.transport.type === 'serial' ? d.transport.path : '';
    this.running.set(d.id, { config: d, online: false, lastError: dead ? { message: `${d.id}: serial ${path}: no such file or directory` } : null });
    if (log) this.log.push(`start ${d.id}`);
    // Comes online a little later, as a real driver does after its first answer.
    if (!dead) setTimeout(() => {
      const r = this.running.get(d.id);
      if (r?.config === d) r.online = true;
    }, 20);
  }

  async reconfigure(next: readonly DeviceConfig[]): Promise<DeviceDiff> {
    const diff = diffDevices([...this.running.values()].map((r) => r.config), next);
    for (const id of diff.stop) {
      this.running.delete(id);
      this.log.push(`stop ${id}`);
    }
    for (const d of next) if (diff.start.includes(d.id)) this.startOne(d);
    if (this.hold) await this.hold;
    return diff;
  }

  get(id: string) {
    return this.running.get(id);
  }

  async probe(id: string): Promise<CommandResult | undefined> {
    if (this.failingProbe.has(id)) return { ok: false, error: { code: 'timeout', message: `${id}: refresh: no answer within 500 ms` } };
    return { ok: true };
  }

  ids(): string[] {
    return [...this.running.keys()].sort();
  }
}
