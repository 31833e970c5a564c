import { mkdtemp, readFile, rm, stat, writeFile, chmod, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialsError, loadCredentials, type ConfiguredUser } from '../../../edge/security/credentials.js';
import { hashPassword } from '../../../edge/security/passwords.js';
import { createLogger, silentLogger } from '../../../edge/util/logger.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ce-cred-'));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

function captureLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level: 'trace', destination }), lines };
}

/** Parse the plaintext file: username -> password. */
function parseInitial(text: string): Map<string, { role: string; password: string }> {
  const out = new Map<string, { role: string; password: string }>();
  const re = /^username: (\S+)\nrole: +(\S+)\npassword: (\S+)$/gm;
  for (const m of text.matchAll(re)) out.set(m[1] ?? '', { role: m[2] ?? '', password: m[3] ?? '' });
  return out;
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe('loadCredentials: first start without configured users', () => {
  it('generates kiosk (teacher) and technician, writes the passwords only to a 0600 file in a 0700 dir', async () => {
    const { logger, lines } = captureLogger();
    const { store, created } = await loadCredentials({ dataDir, configured: [], logger });

    const file = join(dataDir, 'secrets', 'initial-credentials.txt');
    expect(created).toEqual({ file, usernames: ['kiosk', 'technician'] });
    expect(await mode(join(dataDir, 'secrets'))).toBe(0o700);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(join(dataDir, 'credentials.json'))).toBe(0o600);

    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^# classroom-edge initial credentials/);
    expect(text).toMatch(/DELETE THIS FILE/);
    const users = parseInitial(text);
    expect([...users.keys()]).toEqual(['kiosk', 'technician']);
    expect(users.get('kiosk')?.role).toBe('teacher');
    expect(users.get('technician')?.role).toBe('technician');

    const kioskPw = users.get('kiosk')?.password ?? '';
    const techPw = users.get('technician')?.password ?? '';
    expect(kioskPw).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(await store.verify('kiosk', kioskPw)).toEqual({ username: 'kiosk', role: 'teacher' });
    expect(await store.verify('technician', techPw)).toEqual({ username: 'technician', role: 'technician' });
    expect(await store.verify('kiosk', techPw)).toBeNull();

    // Hashes only in credentials.json; passwords never in it nor in the logs.
    const json = await readFile(join(dataDir, 'credentials.json'), 'utf8');
    expect(json).not.toContain(kioskPw);
    expect(json).not.toContain(techPw);
    expect(json).toMatch(/"passwordHash": "scrypt\$16384\$8\$1\$/);
    const log = lines.join('');
    expect(log).not.toContain(kioskPw);
    expect(log).not.toContain(techPw);
    const warn = lines.map((l) => JSON.parse(l) as { level: number; file?: string }).find((l) => l.file === file);
    expect(warn?.level).toBe(40);
  });

  it('reuses the persisted accounts on the next start without regenerating', async () => {
    const first = await loadCredentials({ dataDir, configured: [], logger: silentLogger() });
    const file = first.created?.file ?? '';
    const pw = parseInitial(await readFile(file, 'utf8'));
    const jsonBefore = await readFile(join(dataDir, 'credentials.json'), 'utf8');
    await rm(file); // the operator noted them and deleted the file, as told

    const second = await loadCredentials({ dataDir, configured: [], logger: silentLogger() });
    expect(second.created).toBeNull();
    expect(await readFile(join(dataDir, 'credentials.json'), 'utf8')).toBe(jsonBefore);
    expect(await readdir(join(dataDir, 'secrets'))).toEqual([]);
    expect(await second.store.verify('kiosk', pw.get('kiosk')?.password ?? '')).not.toBeNull();
    expect(await second.store.verify('technician', pw.get('technician')?.password ?? '')).not.toBeNull();
  });

  it('tightens the mode of an existing secrets directory', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dataDir, 'secrets'), { mode: 0o755 });
    await chmod(join(dataDir, 'secrets'), 0o755);
    await loadCredentials({ dataDir, configured: [], logger: silentLogger() });
    expect(await mode(join(dataDir, 'secrets'))).toBe(0o700);
  });
});

describe('loadCredentials: configured users', () => {
  it('generates nothing when a teacher and a technician are configured', async () => {
    const configured: ConfiguredUser[] = [
      { username: 'alice', role: 'teacher', passwordHash: await hashPassword('alice-pw') },
      { username: 'bob', role: 'technician', passwordHash: await hashPassword('bob-pw') },
    ];
    const { store, created } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
    expect(created).toBeNull();
    expect(await readdir(dataDir)).toEqual([]);
    expect(await store.verify('alice', 'alice-pw')).toEqual({ username: 'alice', role: 'teacher' });
    expect(await store.verify('bob', 'alice-pw')).toBeNull();
    expect(store.list().map((p) => p.username)).toEqual(['alice', 'bob']);
  });

  it('generates only the missing role', async () => {
    const configured: ConfiguredUser[] = [{ username: 'alice', role: 'teacher', passwordHash: await hashPassword('x') }];
    const { created, store } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
    expect(created?.usernames).toEqual(['technician']);
    expect(store.get('kiosk')).toBeUndefined();
  });

  it('reads a passwordFile at start (trailing newline ignored) and keeps device rights', async () => {
    const pwFile = join(dataDir, 'air.secret');
    await writeFile(pwFile, 'air-sensor-pw\n');
    const configured: ConfiguredUser[] = [
      { username: 'air', role: 'device', deviceId: 'air', publish: ['card'], passwordFile: pwFile },
      { username: 'alice', role: 'teacher', passwordFile: pwFile },
      { username: 'bob', role: 'technician', passwordFile: pwFile },
    ];
    const { store } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
    expect(await store.verify('air', 'air-sensor-pw')).toEqual({ username: 'air', role: 'device', deviceId: 'air', publish: ['card'] });
    expect(await store.verify('air', 'air-sensor-pw\n')).toBeNull();
    // The file is read once: changing it later does not change the password of this start.
    await writeFile(pwFile, 'changed');
    expect(await store.verify('air', 'changed')).toBeNull();
  });

  it('lets a configured user override a generated one of the same name', async () => {
    const first = await loadCredentials({ dataDir, configured: [], logger: silentLogger() });
    const generatedPw = parseInitial(await readFile(first.created?.file ?? '', 'utf8')).get('kiosk')?.password ?? '';
    const configured: ConfiguredUser[] = [{ username: 'kiosk', role: 'teacher', passwordHash: await hashPassword('new-kiosk-pw') }];
    const { store, created } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
    expect(created).toBeNull();
    expect(await store.verify('kiosk', generatedPw)).toBeNull();
    expect(await store.verify('kiosk', 'new-kiosk-pw')).not.toBeNull();
  });

  it('does not hand a generated account the name of a configured user of another role', async () => {
    const configured: ConfiguredUser[] = [{ username: 'kiosk', role: 'technician', passwordHash: await hashPassword('x') }];
    const { created, store } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
    expect(created?.usernames).toEqual(['kiosk-2']);
    expect(store.get('kiosk')?.role).toBe('technician');
    expect(store.get('kiosk-2')?.role).toBe('teacher');
  });

  it('returns copies: callers cannot change the stored rights', async () => {
    const configured: ConfiguredUser[] = [
      { username: 'air', role: 'device', deviceId: 'air', publish: ['card'], passwordHash: await hashPassword('x') },
    ];
    const { store } = await loadCredentials({ dataDir, configured, logger: silentLogger() });
    const p = store.get('air');
    p?.publish?.push('behaviour');
    if (p) p.role = 'technician';
    expect(store.get('air')).toEqual({ username: 'air', role: 'device', deviceId: 'air', publish: ['card'] });
  });

  it('refuses unknown users and wrong passwords', async () => {
    const { store } = await loadCredentials({ dataDir, configured: [], logger: silentLogger() });
    expect(await store.verify('nobody', 'x')).toBeNull();
    expect(await store.verify('', '')).toBeNull();
    expect(store.get('nobody')).toBeUndefined();
  });
});

describe('loadCredentials: bad configuration', () => {
  const load = (configured: ConfiguredUser[]) => loadCredentials({ dataDir, configured, logger: silentLogger() });

  it('names the user and the path of a missing passwordFile', async () => {
    const missing = join(dataDir, 'nope.secret');
    const err = await load([{ username: 'cam', role: 'integrator', passwordFile: missing }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialsError);
    expect((err as Error).message).toContain('"cam"');
    expect((err as Error).message).toContain(missing);
  });

  it('refuses an empty passwordFile', async () => {
    const f = join(dataDir, 'empty.secret');
    await writeFile(f, '\n');
    await expect(load([{ username: 'cam', role: 'integrator', passwordFile: f }])).rejects.toThrow(/"cam".*empty/);
  });

  it('refuses duplicate usernames', async () => {
    const h = await hashPassword('x');
    await expect(
      load([
        { username: 'alice', role: 'teacher', passwordHash: h },
        { username: 'alice', role: 'technician', passwordHash: h },
      ]),
    ).rejects.toThrow(/"alice" is configured twice/);
  });

  it('refuses both or neither of passwordHash and passwordFile', async () => {
    const h = await hashPassword('x');
    await expect(load([{ username: 'a', role: 'teacher' }])).rejects.toThrow(/"a".*exactly one of passwordHash or passwordFile/);
    await expect(load([{ username: 'a', role: 'teacher', passwordHash: h, passwordFile: '/x' }])).rejects.toThrow(CredentialsError);
  });

  it('refuses a malformed passwordHash', async () => {
    await expect(load([{ username: 'a', role: 'teacher', passwordHash: 'scrypt$1$2$3$x$y' }])).rejects.toThrow(/"a": passwordHash is not a valid scrypt hash/);
  });

  it('refuses a device user without a deviceId, and unknown roles', async () => {
    const h = await hashPassword('x');
    await expect(load([{ username: 'd', role: 'device', passwordHash: h }])).rejects.toThrow(/"d".*deviceId/);
    await expect(load([{ username: 'r', role: 'root' as 'device', passwordHash: h }])).rejects.toThrow(/"r".*role/);
  });

  it('refuses a corrupt credentials.json instead of silently regenerating', async () => {
    await writeFile(join(dataDir, 'credentials.json'), '{"version":1,"users":[{"username":"kiosk"}]}');
    await expect(load([])).rejects.toThrow(new RegExp(`${join(dataDir, 'credentials.json')} is invalid`));
    await writeFile(join(dataDir, 'credentials.json'), 'not json');
    await expect(load([])).rejects.toThrow(/is not valid JSON/);
  });
});
