/**
 * The edge's remote-command executor on a real store with small fakes for the
 * device supervisor and scenes: schemas, expiry, at-most-once on redelivery
 * (also across a restart of the store), role checks, audit rows, the result's
 * event-log row, reply-before-restart and recovery of an interrupted command.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Actor, CommandResult } from '../../../edge/devices/supervisor.js';
import type { Store } from '../../../edge/store/index.js';
import { LogRing } from '../../../edge/util/log-ring.js';
import { silentLogger } from '../../../edge/util/logger.js';
import {
  commandResultSchema,
  districtTopics,
  encodeMessage,
  MAX_COMMAND_BYTES,
  parseDistrictTopic,
  remoteCommandSchema,
  type CommandResultMessage,
  type RemoteCommand,
} from '../../../sync/protocol.js';
import { registerBuiltinCommands } from '../../../sync/remote-command-handlers.js';
import { CommandRegistry, RemoteCommands } from '../../../sync/remote-commands.js';
import { ROOM, tempStore, type TempStore } from '../lessons/fixtures.js';

let tmp: TempStore | undefined;
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  tmp?.remove();
  tmp = undefined;
});

const T0 = 1_760_000_000_000;
const topics = districtTopics(ROOM);

function command(over: Partial<RemoteCommand> = {}): RemoteCommand {
  return {
    v: 1,
    roomId: ROOM,
    id: randomUUID(),
    issuedBy: { technician: 'wang.tech', role: 'technician' },
    issuedAt: T0,
    expiresAt: T0 + 60_000,
    command: 'device.command',
    args: { device: 'panel', command: 'power', args: { on: true } },
    ...over,
  };
}

function setup(opts: { now?: number; deviceResult?: CommandResult; districtNow?: () => number | undefined } = {}) {
  tmp ??= tempStore();
  let now = opts.now ?? T0 + 1000;
  const clock = { now: () => now, monotonic: () => now };
  const store = tmp.open(clock);
  stores.push(store);
  const executed: Array<{ device: string; command: string; args: unknown; actor: Actor }> = [];
  const devices = {
    list: () => [
      { deviceId: 'panel', kind: 'display', driver: 'samsung-mdc', online: true, state: { power: false }, lastError: null, ts: now, capabilities: [{ type: 'status', commands: ['refresh'] }] },
    ],
    get: (id: string) => (id === 'panel' ? { deviceId: 'panel', kind: 'display', driver: 'samsung-mdc', online: true, state: { power: true }, lastError: null, ts: now } : undefined),
    execute: async (device: string, cmd: string, args: Record<string, unknown>, actor: Actor): Promise<CommandResult> => {
      executed.push({ device, command: cmd, args, actor });
      return opts.deviceResult ?? { ok: true, state: { power: true } };
    },
  };
  const scenes = { has: (n: string) => n === 'class-start', names: () => ['class-start'], run: async (n: string) => ({ scene: n, ok: true, steps: [] }) };
  const restarts: string[] = [];
  const published: Array<{ topic: string; msg: CommandResultMessage; at: number }> = [];
  const outcomes: string[] = [];
  const ring = new LogRing(10);
  const registry = new CommandRegistry();
  registerBuiltinCommands(registry, {
    devices: devices as never,
    scenes: scenes as never,
    logRing: ring,
    ports: async () => ({ serial: [{ path: '/dev/ttyUSB0', byId: [] }], gpio: [], notes: [] }),
    restart: (reason) => restarts.push(reason),
  });
  const executor = new RemoteCommands({
    roomId: ROOM,
    store,
    clock,
    ...(opts.districtNow ? { districtNow: opts.districtNow } : {}),
    logger: silentLogger(),
    registry,
    publish: (topic, msg) => published.push({ topic, msg: commandResultSchema.parse(msg), at: restarts.length }),
    onOutcome: (c, s) => outcomes.push(`${c}:${s}`),
    afterReplyDelayMs: 1,
  });
  return { store, executor, executed, published, outcomes, restarts, ring, registry, setNow: (t: number) => (now = t) };
}

const send = (ex: RemoteCommands, c: object) => ex.handle(topics.commands, encodeMessage(c));

function auditRows(store: Store) {
  return store.db.prepare<[], { actor: string; role: string; action: string; target: string; result: string; error: string | null }>('SELECT actor, role, action, target, result, error FROM audit_log ORDER BY id').all();
}

function resultEvents(store: Store) {
  return store.eventsAfter(0, 1000).filter((e) => e.stream === 'command' && e.type === 'result');
}

describe('remote command protocol', () => {
  it('accepts a well-formed command and refuses bad ones with a path', () => {
    expect(remoteCommandSchema.safeParse(command()).success).toBe(true);
    const bad = (c: object) => remoteCommandSchema.safeParse(c).success;
    expect(bad({ ...command(), id: 'not-a-uuid' })).toBe(false);
    expect(bad({ ...command(), issuedBy: { technician: 'x', role: 'root' } })).toBe(false);
    expect(bad({ ...command(), expiresAt: T0 - 1 })).toBe(false);
    expect(bad({ ...command(), command: 'Device Command' })).toBe(false);
    expect(bad({ ...command(), extra: 1 })).toBe(false);
    const r = commandResultSchema.safeParse({ v: 1, roomId: ROOM, id: randomUUID(), status: 'error', startedAt: 1, finishedAt: 2 });
    expect(r.success).toBe(false);
    expect(parseDistrictTopic(topics.commands)).toEqual({ kind: 'commands', roomId: ROOM });
    expect(parseDistrictTopic(topics.commandResults)).toEqual({ kind: 'command-results', roomId: ROOM });
  });
});

describe('remote command executor', () => {
  it('runs device.command through the supervisor once, answers, audits and logs the result as an event', async () => {
    const { store, executor, executed, published } = setup();
    const c = command();
    const out = await send(executor, c);
    expect(out.kind).toBe('answered');
    expect(executed).toEqual([{ device: 'panel', command: 'power', args: { on: true }, actor: { username: 'wang.tech', role: 'cloud:technician' } }]);
    expect(published).toHaveLength(1);
    expect(published[0]!.topic).toBe(topics.commandResults);
    expect(published[0]!.msg).toMatchObject({ id: c.id, status: 'ok', result: { state: { power: true } } });
    expect(auditRows(store)).toEqual([{ actor: 'wang.tech', role: 'cloud:technician', action: 'remote:device.command', target: 'panel', result: 'ok', error: null }]);
    const ev = resultEvents(store);
    expect(ev).toHaveLength(1);
    expect(ev[0]!.entityId).toBe(c.id);
    expect(commandResultSchema.parse(JSON.parse(ev[0]!.payload))).toEqual(published[0]!.msg);
  });

  it('a redelivered command is not run again, also after the store is reopened; its stored result is resent', async () => {
    const first = setup();
    const c = command();
    await send(first.executor, c);
    const again = await send(first.executor, c);
    expect(again.kind).toBe('duplicate');
    expect(first.executed).toHaveLength(1);
    expect(first.published.map((p) => p.msg)).toEqual([first.published[0]!.msg, first.published[0]!.msg]);
    await stores.pop()!.close();
    const second = setup();
    const third = await send(second.executor, c);
    expect(third.kind).toBe('duplicate');
    expect(second.executed).toHaveLength(0);
    expect(second.published[0]!.msg.status).toBe('ok');
    expect(auditRows(second.store)).toHaveLength(1);
    expect(resultEvents(second.store)).toHaveLength(1);
    expect(second.outcomes).toEqual(['device.command:duplicate']);
  });

  it('a command that arrives after expiresAt is not run: expired, audited as refused', async () => {
    const { store, executor, executed, published } = setup({ now: T0 + 60_001 });
    const c = command();
    await send(executor, c);
    expect(executed).toEqual([]);
    expect(published[0]!.msg).toMatchObject({ id: c.id, status: 'expired', error: { code: 'expired' } });
    expect(auditRows(store)[0]).toMatchObject({ action: 'remote:device.command', result: 'refused' });
    // Delivered again later: still not run.
    await send(executor, c);
    expect(executed).toEqual([]);
  });

  it("expiry is judged by the district's clock when the acks gave one, not by a wrong edge clock", async () => {
    const DAYS = 3 * 86_400_000;
    // Edge clock three days ahead (no RTC, no NTP yet): the fresh command still runs.
    const ahead = setup({ now: T0 + DAYS, districtNow: () => T0 + 2000 });
    const fresh = command();
    await send(ahead.executor, fresh);
    expect(ahead.executed).toHaveLength(1);
    expect(ahead.published[0]!.msg).toMatchObject({ id: fresh.id, status: 'ok' });
    // Edge clock three days behind: a command that waited past its expiry in the broker is not run.
    const behind = setup({ now: T0 - DAYS, districtNow: () => T0 + 60_000 + 5000 });
    const stale = command();
    await send(behind.executor, stale);
    expect(behind.executed).toEqual([]);
    expect(behind.published[0]!.msg).toMatchObject({ id: stale.id, status: 'expired', error: { code: 'expired' } });
    expect(behind.published[0]!.msg.error!.message).toContain("district's clock");
    expect(behind.published[0]!.msg.error!.message).toContain('5000 ms');
    // No estimate yet: the edge's own clock decides, as the message says.
    const none = setup({ now: T0 + 60_001, districtNow: () => undefined });
    await send(none.executor, command());
    expect(none.executed).toEqual([]);
    expect(none.published[0]!.msg.error!.message).toContain("edge's clock");
  });

  it('unknown command, invalid args, a role that may not: rejected without running', async () => {
    const { executor, executed, published, restarts } = setup();
    await send(executor, command({ command: 'config.apply', args: {} }));
    await send(executor, command({ args: { device: 'panel' } }));
    await send(executor, command({ command: 'service.restart', args: {} }));
    expect(published.map((p) => [p.msg.status, p.msg.error?.code])).toEqual([
      ['rejected', 'unknown-command'],
      ['rejected', 'invalid-args'],
      ['rejected', 'forbidden'],
    ]);
    expect(executed).toEqual([]);
    expect(restarts).toEqual([]);
  });

  it('malformed or misaddressed messages are rejected and counted; one with a readable id is answered', async () => {
    const { executor, published, outcomes } = setup();
    expect((await executor.handle(topics.commands, Buffer.from('{"v":1'))).kind).toBe('rejected');
    expect((await executor.handle(topics.commands, Buffer.alloc(MAX_COMMAND_BYTES + 1, 0x20))).kind).toBe('rejected');
    expect((await send(executor, command({ roomId: 'other-room' }))).kind).toBe('rejected');
    expect((await executor.handle(districtTopics('other-room').commands, encodeMessage(command()))).kind).toBe('rejected');
    expect(published).toEqual([]);
    const id = randomUUID();
    await send(executor, { ...command(), id, issuedBy: { technician: 'x' } });
    expect(published.map((p) => [p.msg.id, p.msg.status, p.msg.error?.code])).toEqual([[id, 'rejected', 'malformed']]);
    expect(outcomes.filter((o) => o === 'unknown:malformed')).toHaveLength(5);
  });

  it('a device error is an error result; a supervisor refusal is rejected', async () => {
    const err = setup({ deviceResult: { ok: false, error: { code: 'timeout', message: 'panel: power timed out' } } });
    await send(err.executor, command());
    expect(err.published[0]!.msg).toMatchObject({ status: 'error', error: { code: 'timeout' } });
    expect(auditRows(err.store)[0]).toMatchObject({ result: 'error', error: 'timeout: panel: power timed out' });
  });

  it('service.restart (admin) answers first and restarts after the reply', async () => {
    const { executor, published, restarts } = setup();
    const c = command({ command: 'service.restart', args: {}, issuedBy: { technician: 'li.admin', role: 'admin' } });
    await send(executor, c);
    expect(published[0]!.msg).toMatchObject({ status: 'ok', result: { restarting: true } });
    expect(published[0]!.at).toBe(0); // published while no restart had happened
    await new Promise((r) => setTimeout(r, 20));
    expect(restarts).toEqual([`remote command ${c.id} by li.admin`]);
  });

  it('logs.recent, devices.list, scene.run and diagnostics answer with their data', async () => {
    const { executor, published, ring, executed } = setup();
    ring.add(JSON.stringify({ level: 30, time: '2025-01-01T00:00:00.000Z', ns: 'edge:devices', msg: 'hello', uid: '1A2B3C', device: 'panel' }));
    ring.add(JSON.stringify({ level: 50, time: '2025-01-01T00:00:01.000Z', msg: 'bad', err: { message: 'boom', stack: 'x' } }));
    await send(executor, command({ command: 'logs.recent', args: { limit: 5, level: 'info' } }));
    await send(executor, command({ command: 'devices.list', args: {} }));
    await send(executor, command({ command: 'scene.run', args: { scene: 'class-start' } }));
    await send(executor, command({ command: 'scene.run', args: { scene: 'nope' } }));
    await send(executor, command({ command: 'diagnostics', args: {} }));
    const [logs, list, scene, noScene, diag] = published.map((p) => p.msg);
    expect(logs!.result).toMatchObject({
      records: [
        { level: 'info', msg: 'hello', ns: 'edge:devices', device: 'panel' },
        { level: 'error', msg: 'bad', err: 'boom' },
      ],
    });
    expect(JSON.stringify(logs!.result)).not.toContain('1A2B3C');
    expect(list!.result).toMatchObject({ devices: [{ deviceId: 'panel' }] });
    expect(scene).toMatchObject({ status: 'ok', result: { scene: 'class-start', ok: true } });
    expect(noScene).toMatchObject({ status: 'rejected', error: { code: 'unknown-scene' } });
    expect(diag).toMatchObject({ status: 'ok', result: { ports: { serial: [{ path: '/dev/ttyUSB0' }] }, devices: [{ deviceId: 'panel', online: true, statusQuery: { ok: true } }] } });
    expect(executed.map((e) => e.command)).toEqual(['refresh']);
  });

  it('a command left running by a crash is finished as interrupted at start and never run on redelivery', async () => {
    const { store, executor, executed, published } = setup();
    const c = command();
    await store.write((tx) => {
      tx.db
        .prepare("INSERT INTO remote_commands (id, command, technician, role, issued_at, expires_at, received_at, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)")
        .run(c.id, c.command, 'wang.tech', 'technician', T0, T0 + 60_000, T0 + 10, T0 + 10);
    });
    expect(await executor.recover()).toBe(1);
    expect(published[0]!.msg).toMatchObject({ id: c.id, status: 'error', error: { code: 'interrupted' } });
    await send(executor, c);
    expect(executed).toEqual([]);
    expect(published[1]!.msg).toMatchObject({ id: c.id, status: 'error', error: { code: 'interrupted' } });
  });

  it('the registry refuses a second handler of the same name (extension point for config.apply)', () => {
    const { registry } = setup();
    expect(registry.names()).toEqual(['device.command', 'devices.list', 'diagnostics', 'logs.recent', 'scene.run', 'service.restart']);
    expect(() => registry.register('devices.list', { args: remoteCommandSchema, roles: ['admin'], target: () => '', run: async () => ({ status: 'ok' }) })).toThrow(/already registered/);
  });
});

describe('log ring', () => {
  it('keeps at most its capacity, newest last, with only allowed fields', () => {
    const ring = new LogRing(3);
    for (let i = 0; i < 5; i++) ring.write(`${JSON.stringify({ level: 30, time: 't', msg: `m${i}`, studentId: 's1' })}\n`);
    ring.write('{"level":40,"time":"t","msg":"half');
    ring.write(' line"}\nnot json\n');
    const { records, dropped } = ring.recent();
    expect(records.map((r) => r.msg)).toEqual(['m3', 'm4', 'half line']);
    expect(dropped).toBe(3);
    expect(ring.recent({ minLevel: 'warn' }).records.map((r) => r.msg)).toEqual(['half line']);
    expect(JSON.stringify(records)).not.toContain('s1');
  });
});
