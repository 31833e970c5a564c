/**
 * The kiosk's command ledger (edge/api/command-ledger.ts) and sessions
 * (edge/api/kiosk-sessions.ts) on a real store file: a command id runs once,
 * also across a reopen of the store (a service restart) and for a retry
 * that arrives while the first attempt runs; a reused id for something else
 * is refused; a thrown action is not recorded. Sessions: only teachers
 * pair, only the token's hash is stored, revocation holds across a reopen,
 * PINs are checked against scrypt hashes with a lockout.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandLedger } from '../../../edge/api/command-ledger.js';
import { KioskSessions } from '../../../edge/api/kiosk-sessions.js';
import { hashPassword } from '../../../edge/security/passwords.js';
import { silentLogger } from '../../../edge/util/logger.js';
import { SettableClock, at, tempStore, type TempStore } from '../attendance/fakes.js';

let clock: SettableClock;
let tmp: TempStore;
const logger = silentLogger();

beforeEach(() => {
  clock = new SettableClock(at('08:00'));
  tmp = tempStore(clock);
});
afterEach(async () => {
  await tmp.cleanup();
});

const key = (commandId: string, over: Partial<{ actor: string; action: string; target: string }> = {}) => ({ commandId, actor: 'kiosk', action: 'device.command', target: 'panel', ...over });

describe('CommandLedger', () => {
  it('runs a command id once and answers later attempts, also after a restart, with the stored reply', async () => {
    let runs = 0;
    const action = async () => ({ status: 200, body: { ok: true, n: ++runs } });
    const ledger = new CommandLedger({ store: tmp.store, clock, logger });
    expect(await ledger.once(key('c1'), action)).toEqual({ status: 200, body: { ok: true, n: 1 }, replayed: false });
    expect(await ledger.once(key('c1'), action)).toEqual({ status: 200, body: { ok: true, n: 1 }, replayed: true });
    const again = new CommandLedger({ store: await tmp.reopen(clock), clock, logger });
    expect(await again.once(key('c1'), action)).toEqual({ status: 200, body: { ok: true, n: 1 }, replayed: true });
    expect(await again.once(key('c2'), action)).toMatchObject({ body: { n: 2 }, replayed: false });
    expect(runs).toBe(2);
  });

  it('lets a retry that arrives during the first attempt wait for it', async () => {
    let release!: () => void;
    let runs = 0;
    const ledger = new CommandLedger({ store: tmp.store, clock, logger });
    const slow = () =>
      new Promise<{ status: number; body: unknown }>((resolve) => {
        runs++;
        release = () => resolve({ status: 201, body: { ok: true } });
      });
    const first = ledger.once(key('c1'), slow);
    const second = ledger.once(key('c1'), slow);
    await new Promise((r) => setTimeout(r, 10));
    release();
    expect(await first).toMatchObject({ status: 201, replayed: false });
    expect(await second).toMatchObject({ status: 201, replayed: true });
    expect(runs).toBe(1);
  });

  it('refuses an id reused for another action, target or user, and records nothing for a thrown action', async () => {
    const ledger = new CommandLedger({ store: tmp.store, clock, logger });
    await ledger.once(key('c1'), async () => ({ status: 200, body: {} }));
    for (const other of [{ target: 'projector' }, { action: 'scene.run' }, { actor: 'someone-else' }]) {
      const r = await ledger.once(key('c1', other), async () => ({ status: 200, body: { ran: true } }));
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ error: { code: 'command-id-reused' } });
    }
    await expect(ledger.once(key('c2'), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await ledger.once(key('c2'), async () => ({ status: 200, body: { second: true } }))).toMatchObject({ body: { second: true }, replayed: false });
  });
});

describe('KioskSessions', () => {
  const config = async (pins: Array<{ teacherId: string; pin: string }> = []) => ({
    idleLockSeconds: 180,
    pins: await Promise.all(pins.map(async (p) => ({ teacherId: p.teacherId, pinHash: await hashPassword(p.pin) }))),
    ventilation: { co2Ppm: 1000, pm25: 75 },
    recordingControl: true,
  });

  it('pairs a teacher only, stores a hash of the token, and revokes it for good', async () => {
    const s = new KioskSessions({ store: tmp.store, clock, logger, config: await config() });
    await expect(s.pair({ username: 'tech', role: 'technician' }, 'kiosk')).rejects.toThrow(/teacher-role/);
    const { sessionId, token } = await s.pair({ username: 'kiosk', role: 'teacher' }, 'front panel');
    expect(s.verify(token)).toEqual({ username: 'kiosk', role: 'teacher', sessionId });
    expect(s.verify(`${token}x`)).toBeNull();
    const rows = tmp.store.db.prepare('SELECT * FROM kiosk_sessions').all() as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(token);

    const reopened = new KioskSessions({ store: await tmp.reopen(clock), clock, logger, config: await config() });
    expect(reopened.verify(token)?.sessionId).toBe(sessionId);
    expect(await reopened.revoke(sessionId)).toBe(true);
    expect(reopened.verify(token)).toBeNull();
    const third = new KioskSessions({ store: await tmp.reopen(clock), clock, logger, config: await config() });
    expect(third.verify(token)).toBeNull();
    expect(third.list()[0]).toMatchObject({ id: sessionId, label: 'front panel', revokedAt: clock.now() });
  });

  it('checks PINs against the configured hashes and locks PIN entry after five wrong ones', async () => {
    const s = new KioskSessions({ store: tmp.store, clock, logger, config: await config([{ teacherId: 't-wang', pin: '2468' }, { teacherId: 't-li', pin: '1357' }]) });
    expect(await s.unlockWithPin('s1', '1357')).toEqual({ ok: true, teacherId: 't-li' });
    for (let i = 0; i < 4; i++) expect(await s.unlockWithPin('s1', '0000')).toEqual({ ok: false, code: 'wrong-pin' });
    expect(await s.unlockWithPin('s1', '0000')).toMatchObject({ ok: false, code: 'too-many-attempts' });
    expect(await s.unlockWithPin('s1', '2468')).toMatchObject({ ok: false, code: 'too-many-attempts' });
    expect(await s.unlockWithPin('s2', '2468')).toEqual({ ok: true, teacherId: 't-wang' });
    const none = new KioskSessions({ store: tmp.store, clock, logger, config: await config() });
    expect(await none.unlockWithPin('s1', '2468')).toEqual({ ok: false, code: 'no-pins' });
  });
});
