/**
 * The `database` section of the cloud config (docs/sync.md, "The cloud's
 * database") and opening it:
 *
 *   database: /var/lib/classroom-cloud/cloud.db              # the old form: a SQLite file
 *   database: { kind: sqlite, file: /var/lib/classroom-cloud/cloud.db }
 *   database: { kind: postgres, host: db.district.lan, port: 5432, user: cloud, database: district,
 *               passwordFile: /etc/classroom-cloud/db.secret,   # or passwordEnv: CLOUD_DB_PASSWORD
 *               ssl: { mode: verify-full, caFile: /etc/classroom-cloud/db-ca.crt }, poolSize: 10 }
 *   database: { kind: postgres, url: "postgres://cloud@db.district.lan:5432/district", passwordFile: … }
 *
 * No password in the config file: a URL with a password is refused; the
 * password comes from `passwordFile` (its first line) or the environment
 * variable named by `passwordEnv`. TLS is verified by default for any host
 * but the loopback (where the default is no TLS).
 */
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { z } from 'zod';
import type { CloudDb } from './db.js';
import { PostgresCloudDb } from './db-postgres.js';
import { SqliteCloudDb } from './db-sqlite.js';

const sqliteSchema = z.object({ kind: z.literal('sqlite'), file: z.string().min(1) }).strict();

const postgresSchema = z
  .object({
    kind: z.literal('postgres'),
    /** postgres://user@host:port/database (without a password). */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL').optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z.string().min(1).optional(),
    database: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    /** The name of an environment variable holding the password. */
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
    ssl: z
      .object({
        /** disable: no TLS; require: TLS without checking the certificate; verify-full: TLS, certificate and host name checked. */
        mode: z.enum(['disable', 'require', 'verify-full']),
        caFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Connections in the pool (default 10); each ingest worker commits on one at a time. */
    poolSize: z.number().int().min(1).max(100).default(10),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.url !== undefined) {
      let u: URL | null = null;
      try {
        u = new URL(p.url);
      } catch {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'not a valid URL' });
      }
      if (u?.password) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not contain a password (no secrets in the config file): use passwordFile or passwordEnv' });
      if (u && [...u.searchParams.keys()].some((k) => k.toLowerCase() === 'password')) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not contain a password parameter: use passwordFile or passwordEnv' });
      for (const k of ['host', 'port', 'user', 'database'] as const) {
        if (p[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'give either url or host/port/user/database, not both' });
      }
    } else if (p.host === undefined) {
      ctx.addIssue({ code: 'custom', path: ['host'], message: 'give url, or host (with port, user, database)' });
    }
    if (p.passwordFile !== undefined && p.passwordEnv !== undefined) ctx.addIssue({ code: 'custom', path: ['passwordEnv'], message: 'give passwordFile or passwordEnv, not both' });
    if (p.ssl?.caFile !== undefined && p.ssl.mode !== 'verify-full') ctx.addIssue({ code: 'custom', path: ['ssl', 'caFile'], message: 'a CA file is only used with mode verify-full' });
  });

export const databaseConfigSchema = z.union([
  // The form before PostgreSQL: a SQLite file's path.
  z
    .string()
    .min(1)
    .transform((file) => ({ kind: 'sqlite' as const, file })),
  z.discriminatedUnion('kind', [sqliteSchema, postgresSchema]),
]);

export type DatabaseConfig = z.output<typeof databaseConfigSchema>;
export type PostgresConfig = z.output<typeof postgresSchema>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** What the config names, for logs: never a password. */
export function describeDatabase(c: DatabaseConfig): Record<string, unknown> {
  if (c.kind === 'sqlite') return { kind: 'sqlite', file: c.file };
  const t = pgTarget(c);
  return { kind: 'postgres', host: t.host, port: t.port, user: t.user, database: t.database, ssl: sslMode(c, t.host) };
}

function pgTarget(c: PostgresConfig): { host: string; port: number; user: string | undefined; database: string | undefined } {
  if (c.url) {
    const u = new URL(c.url);
    return { host: u.hostname, port: u.port ? Number(u.port) : 5432, user: u.username ? decodeURIComponent(u.username) : undefined, database: u.pathname.slice(1) || undefined };
  }
  return { host: c.host!, port: c.port ?? 5432, user: c.user, database: c.database };
}

function sslMode(c: PostgresConfig, host: string): 'disable' | 'require' | 'verify-full' {
  return c.ssl?.mode ?? (LOOPBACK.has(host) || host.startsWith('/') ? 'disable' : 'verify-full');
}

export class DatabaseConfigError extends Error {}

/** The node-postgres pool config: the password read from its file or variable here, at start. */
export function postgresPoolConfig(c: PostgresConfig, env: NodeJS.ProcessEnv = process.env): pg.PoolConfig {
  const t = pgTarget(c);
  let password: string | undefined;
  if (c.passwordFile) {
    try {
      password = readFileSync(c.passwordFile, 'utf8').split(/\r?\n/)[0];
    } catch (e) {
      throw new DatabaseConfigError(`database.passwordFile: cannot read ${c.passwordFile}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (!password) throw new DatabaseConfigError(`database.passwordFile: ${c.passwordFile} is empty`);
  } else if (c.passwordEnv) {
    password = env[c.passwordEnv];
    if (!password) throw new DatabaseConfigError(`database.passwordEnv: the environment variable ${c.passwordEnv} is not set`);
  }
  const mode = sslMode(c, t.host);
  let ssl: pg.PoolConfig['ssl'] = false;
  if (mode === 'require') ssl = { rejectUnauthorized: false };
  if (mode === 'verify-full') {
    let ca: string | undefined;
    if (c.ssl?.caFile) {
      try {
        ca = readFileSync(c.ssl.caFile, 'utf8');
      } catch (e) {
        throw new DatabaseConfigError(`database.ssl.caFile: cannot read ${c.ssl.caFile}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    ssl = { rejectUnauthorized: true, ...(ca ? { ca } : {}) };
  }
  return {
    host: t.host,
    port: t.port,
    ...(t.user ? { user: t.user } : {}),
    ...(t.database ? { database: t.database } : {}),
    ...(password !== undefined ? { password } : {}),
    ssl,
    max: c.poolSize,
    connectionTimeoutMillis: 15_000,
    application_name: 'classroom-cloud',
  };
}

/** Opens the configured database (no migrations: CloudStore.open applies them). */
export function openCloudDb(c: DatabaseConfig, onPoolError: (err: Error) => void = () => undefined): CloudDb {
  if (c.kind === 'sqlite') return new SqliteCloudDb(c.file);
  return new PostgresCloudDb(postgresPoolConfig(c), onPoolError);
}
