import { scryptSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodePasswordHash, generateSecret, hashPassword, isPasswordHash, verifyPassword } from '../../../edge/security/passwords.js';

describe('hashPassword', () => {
  it('encodes scrypt$N$r$p$salt$hash with N=16384 r=8 p=1 and a 16-byte salt', async () => {
    const h = await hashPassword('correct horse');
    const m = /^scrypt\$16384\$8\$1\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(h);
    expect(m).not.toBeNull();
    expect(Buffer.from(m?.[1] ?? '', 'base64')).toHaveLength(16);
    expect(Buffer.from(m?.[2] ?? '', 'base64')).toHaveLength(32);
  });

  it('uses a fresh salt each time', async () => {
    const [a, b] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same', a)).toBe(true);
    expect(await verifyPassword('same', b)).toBe(true);
  });

  it('matches node scrypt for the encoded parameters (interoperable hash)', async () => {
    const h = await hashPassword('pw');
    const d = decodePasswordHash(h);
    expect(d).not.toBeNull();
    if (!d) return;
    expect(scryptSync('pw', d.salt, 32, { N: 16384, r: 8, p: 1 }).equals(d.hash)).toBe(true);
  });
});

describe('verifyPassword', () => {
  it('accepts the right password and refuses wrong ones', async () => {
    const h = await hashPassword('s3cret-密码');
    expect(await verifyPassword('s3cret-密码', h)).toBe(true);
    expect(await verifyPassword('s3cret-密', h)).toBe(false);
    expect(await verifyPassword('', h)).toBe(false);
    expect(await verifyPassword('S3cret-密码', h)).toBe(false);
  });

  it('refuses when the stored hash was tampered with', async () => {
    const h = await hashPassword('pw');
    const parts = h.split('$');
    const hash = Buffer.from(parts[5] ?? '', 'base64');
    hash[0] = (hash[0] ?? 0) ^ 1;
    parts[5] = hash.toString('base64');
    expect(await verifyPassword('pw', parts.join('$'))).toBe(false);
  });

  it('verifies hashes with other in-bounds cost parameters', async () => {
    const salt = randomBytes(16);
    const key = scryptSync('pw', salt, 32, { N: 1024, r: 4, p: 2 });
    const enc = `scrypt$1024$4$2$${salt.toString('base64')}$${key.toString('base64')}`;
    expect(await verifyPassword('pw', enc)).toBe(true);
    expect(await verifyPassword('px', enc)).toBe(false);
  });

  const salt = randomBytes(16).toString('base64');
  const key = randomBytes(32).toString('base64');
  const malformed: [string, string][] = [
    ['empty', ''],
    ['plain text', 'hunter2'],
    ['bcrypt', '$2b$10$abcdefghijklmnopqrstuu5Zq4I1cA7mB0Tn0gYz3p7i9eL6uZ0a'],
    ['too few parts', `scrypt$16384$8$1$${salt}`],
    ['too many parts', `scrypt$16384$8$1$${salt}$${key}$x`],
    ['wrong algorithm', `argon2$16384$8$1$${salt}$${key}`],
    ['N not a power of two', `scrypt$16383$8$1$${salt}$${key}`],
    ['N absurdly large (DoS)', `scrypt$1073741824$8$1$${salt}$${key}`],
    ['N too small', `scrypt$16$8$1$${salt}$${key}`],
    ['r zero', `scrypt$16384$0$1$${salt}$${key}`],
    ['r huge', `scrypt$16384$4096$1$${salt}$${key}`],
    ['p negative', `scrypt$16384$8$-1$${salt}$${key}`],
    ['non-numeric N', `scrypt$abc$8$1$${salt}$${key}`],
    ['salt not base64', `scrypt$16384$8$1$not*base64$${key}`],
    ['salt too short', `scrypt$16384$8$1$${randomBytes(2).toString('base64')}$${key}`],
    ['hash empty', `scrypt$16384$8$1$${salt}$`],
    ['hash too short', `scrypt$16384$8$1$${salt}$${randomBytes(4).toString('base64')}`],
  ];
  it.each(malformed)('returns false, never throws, on a malformed encoding: %s', async (_name, enc) => {
    await expect(verifyPassword('pw', enc)).resolves.toBe(false);
    expect(isPasswordHash(enc)).toBe(false);
  });

  it('does not block the event loop while verifying', async () => {
    // A deliberately costly hash (N=2^17, ~0.3 s): a synchronous implementation would starve the timer.
    const s = randomBytes(16);
    const k = scryptSync('pw', s, 32, { N: 131072, r: 8, p: 1, maxmem: 300 * 1024 * 1024 });
    const enc = `scrypt$131072$8$1$${s.toString('base64')}$${k.toString('base64')}`;
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    const ok = await verifyPassword('pw', enc);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(ok).toBe(true);
    expect(elapsed).toBeGreaterThan(30);
    expect(ticks).toBeGreaterThanOrEqual(3);
  });
});

describe('generateSecret', () => {
  it('returns base64url of 18 random bytes by default', () => {
    const s = generateSecret();
    expect(s).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(Buffer.from(s, 'base64url')).toHaveLength(18);
  });

  it('honours the byte count and does not repeat', () => {
    expect(Buffer.from(generateSecret(32), 'base64url')).toHaveLength(32);
    const seen = new Set(Array.from({ length: 200 }, () => generateSecret()));
    expect(seen.size).toBe(200);
  });
});
