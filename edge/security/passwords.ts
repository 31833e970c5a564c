/**
 * Password hashing for every credential of the appliance (bus users, API
 * tokens' owners): scrypt from node:crypto, encoded as
 * `scrypt$N$r$p$saltB64$hashB64` so the cost parameters travel with the hash.
 *
 * The async `crypto.scrypt` runs on libuv's thread pool, so a verification
 * (tens of milliseconds by design) never blocks the event loop.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const N = 16384;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** Bounds accepted when decoding, so a hash from config cannot ask for absurd memory or time. */
const LIMITS = { minLogN: 10, maxLogN: 20, maxR: 32, maxP: 16, minSalt: 8, maxSalt: 64, minKey: 16, maxKey: 64 } as const;

interface DecodedHash {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Memory scrypt needs for (N, r), plus headroom; node's default limit (32 MiB) is too small above N=2^15. */
function maxmemFor(n: number, r: number): number {
  return 128 * n * r * 2 + 1024 * 1024;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeB64(s: string | undefined): Buffer | null {
  if (s === undefined || !B64.test(s)) return null;
  return Buffer.from(s, 'base64');
}

function parseIntStrict(s: string | undefined): number | null {
  if (s === undefined || !/^[1-9][0-9]{0,9}$/.test(s)) return null;
  return Number(s);
}

/** Decode an encoded hash; null when it is not a well-formed, in-bounds scrypt hash. */
export function decodePasswordHash(encoded: string): DecodedHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const n = parseIntStrict(parts[1]);
  const r = parseIntStrict(parts[2]);
  const p = parseIntStrict(parts[3]);
  const salt = decodeB64(parts[4]);
  const hash = decodeB64(parts[5]);
  if (n === null || r === null || p === null || salt === null || hash === null) return null;
  const logN = Math.log2(n);
  if (!Number.isInteger(logN) || logN < LIMITS.minLogN || logN > LIMITS.maxLogN) return null;
  if (r > LIMITS.maxR || p > LIMITS.maxP) return null;
  if (salt.length < LIMITS.minSalt || salt.length > LIMITS.maxSalt) return null;
  if (hash.length < LIMITS.minKey || hash.length > LIMITS.maxKey) return null;
  return { n, r, p, salt, hash };
}

/** True when `encoded` is a hash that verifyPassword can check. */
export function isPasswordHash(encoded: string): boolean {
  return decodePasswordHash(encoded) !== null;
}

/** Hash a password with a fresh random salt. */
export async function hashPassword(plain: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await scryptAsync(plain, salt, KEY_BYTES, { N, r: R, p: P, maxmem: maxmemFor(N, R) });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Check a password against an encoded hash; false (never a throw) when the encoding is malformed. */
export async function verifyPassword(plain: string, encoded: string): Promise<boolean> {
  const d = decodePasswordHash(encoded);
  if (!d) return false;
  try {
    const key = await scryptAsync(plain, d.salt, d.hash.length, { N: d.n, r: d.r, p: d.p, maxmem: maxmemFor(d.n, d.r) });
    return timingSafeEqual(key, d.hash);
  } catch {
    return false;
  }
}

/** A random secret (generated passwords, tokens), base64url so it survives shells, YAML and URLs. */
export function generateSecret(bytes = 18): string {
  return randomBytes(bytes).toString('base64url');
}
