/**
 * `config.apply`, the technicians' remote command for a configuration change:
 * each outcome of the applier maps to a command status, the issuer is the
 * technician as the cloud names them, and only admins may issue it.
 */
import { describe, expect, it } from 'vitest';
import { CommandRegistry, type CommandContext } from '../../../sync/remote-commands.js';
import { registerConfigCommand, type ConfigPushTarget } from '../../../sync/remote-command-handlers.js';
import type { ConfigPushResult } from '../../../edge/config/apply.js';

function setup(result: ConfigPushResult) {
  const calls: unknown[] = [];
  const applier: ConfigPushTarget = {
    applyConfigPush: async (req) => {
      calls.push(req);
      return result;
    },
  };
  const registry = new CommandRegistry();
  registerConfigCommand(registry, applier);
  const handler = registry.get('config.apply')!;
  const ctx = {
    command: { issuedAt: 1_760_000_000_000 },
    actor: { username: 'li', role: 'cloud:admin' },
  } as unknown as CommandContext;
  const run = (args: unknown) => handler.run(handler.args.parse(args), ctx);
  return { handler, run, calls };
}

describe('config.apply remote command', () => {
  it('is for admins only and validates its args', () => {
    const { handler } = setup({ outcome: 'applied', version: 3, ts: 1 });
    expect(handler.roles).toEqual(['admin']);
    expect(handler.args.safeParse({ config: { devices: [] }, version: 3 }).success).toBe(true);
    expect(handler.args.safeParse({ config: 'devices: []' }).success).toBe(false);
    expect(handler.args.safeParse({ config: {}, extra: 1 }).success).toBe(false);
    expect(handler.target(handler.args.parse({ config: {}, version: 7 }))).toBe('config v7');
  });

  it('applied is ok and the push names the technician and the command as its source', async () => {
    const { run, calls } = setup({ outcome: 'applied', version: 3, changes: { added: ['air2'], removed: [], changed: [], scenesChanged: false }, ts: 1 });
    const out = await run({ config: { devices: [] }, version: 3 });
    expect(out.status).toBe('ok');
    expect(calls).toEqual([{ config: { devices: [] }, version: 3, issuedBy: 'li', issuedAt: 1_760_000_000_000, source: 'command', role: 'cloud:admin' }]);
  });

  it('a refusal is rejected with the path: reason problems', async () => {
    const { run } = setup({ outcome: 'refused', version: 0, problems: ['devices[0].driver: unknown driver "x"'], ts: 1 });
    const out = await run({ config: { devices: [{}] } });
    expect(out).toMatchObject({ status: 'rejected', error: { code: 'refused', message: 'devices[0].driver: unknown driver "x"' } });
  });

  it('a rollback is an error naming the failing device and why', async () => {
    const { run } = setup({ outcome: 'rolled-back', version: 4, failed: [{ deviceId: 'projector', reason: 'connect ECONNREFUSED 127.0.0.1:1' }], ts: 1 });
    const out = await run({ config: { devices: [] }, version: 4 });
    expect(out).toMatchObject({ status: 'error', error: { code: 'rolled-back', message: 'projector: connect ECONNREFUSED 127.0.0.1:1' } });
  });
});
