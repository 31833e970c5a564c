/**
 * The device check after a configuration push (docs/config-push.md): every
 * device that was added or restarted must come online, and answer a status
 * query where its driver has one, within one overall timeout. The result
 * names each failing device and why (its last error, e.g. "serial port
 * /dev/... not found", or "did not come online within 30 s").
 */
import type { CommandResult } from './supervisor.js';

export interface CheckTarget {
  get(deviceId: string): { online: boolean; lastError?: { message: string } | null } | undefined;
  probe(deviceId: string): Promise<CommandResult | undefined>;
}

export interface DeviceCheck {
  deviceId: string;
  ok: boolean;
  /** Why the device failed the check. */
  reason?: string;
}

export async function checkDevices(target: CheckTarget, ids: readonly string[], timeoutMs: number, opts: { pollMs?: number } = {}): Promise<DeviceCheck[]> {
  if (ids.length === 0) return [];
  const pollMs = opts.pollMs ?? 100;
  let expired = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => {
      expired = true;
      resolve('expired');
    }, timeoutMs);
  });
  const sleep = () => new Promise<void>((r) => setTimeout(r, pollMs));
  const seconds = Math.round(timeoutMs / 100) / 10;

  const one = async (id: string): Promise<DeviceCheck> => {
    const notOnline = (): DeviceCheck => {
      const last = target.get(id)?.lastError?.message;
      return { deviceId: id, ok: false, reason: `did not come online within ${seconds} s${last ? `: ${last}` : ''}` };
    };
    const run = async (): Promise<DeviceCheck> => {
      for (;;) {
        const status = target.get(id);
        if (!status) return { deviceId: id, ok: false, reason: 'not running' };
        if (status.online) break;
        if (expired) return notOnline();
        await sleep();
      }
      const probed = await target.probe(id);
      if (probed && !probed.ok) return { deviceId: id, ok: false, reason: `status query failed: ${probed.error?.message ?? 'error'}` };
      return { deviceId: id, ok: true };
    };
    const r = await Promise.race([run(), deadline]);
    if (r !== 'expired') return r;
    return target.get(id)?.online ? { deviceId: id, ok: false, reason: `status query not answered within ${seconds} s` } : notOnline();
  };

  try {
    return await Promise.all(ids.map(one));
  } finally {
    clearTimeout(timer);
  }
}
