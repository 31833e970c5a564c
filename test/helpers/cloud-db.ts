/**
 * The cloud's database backends for tests: `describe.each(BACKENDS)` with
 * `useCloudDb(backend)` inside gives each test a fresh, empty database of
 * that backend. SQLite: a new file in the test's dir. PostgreSQL: one
 * throwaway cluster per test file (test/helpers/postgres.ts, started in
 * beforeAll of the describe that uses it) and a new database per test,
 * reached the way a district configures it (host/port/user/database and a
 * passwordFile, no password in the config).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { DatabaseConfig } from '../../sync/cloud/db-config.js';
import { CloudStore } from '../../sync/cloud/store.js';
import { startPostgres, type TestPostgres } from './postgres.js';

export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: Backend[] = ['sqlite', 'postgres'];

export interface CloudDbFactory {
  backend: Backend;
  /** A new empty database's config; `dir` holds the SQLite file or the password file. */
  fresh(dir: string): Promise<DatabaseConfig>;
  /** A store on a new empty database (migrated). */
  open(dir: string, opts?: { skewThresholdMs?: number }): Promise<CloudStore>;
  /** The PostgreSQL cluster (null for SQLite). */
  server(): TestPostgres | null;
}

let counter = 0;

export function useCloudDb(backend: Backend): CloudDbFactory {
  let server: TestPostgres | null = null;
  if (backend === 'postgres') {
    beforeAll(async () => {
      server = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });
  }
  const fresh = async (dir: string): Promise<DatabaseConfig> => {
    counter++;
    if (backend === 'sqlite') return { kind: 'sqlite', file: join(dir, `cloud-${counter}.db`) };
    if (!server) throw new Error('the PostgreSQL test cluster did not start (see beforeAll)');
    const u = new URL(server.url);
    const name = `cloud_${process.pid}_${counter}`;
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const passwordFile = join(dir, `db-${counter}.secret`);
    writeFileSync(passwordFile, `${decodeURIComponent(u.password)}\n`, { mode: 0o600 });
    return { kind: 'postgres', host: '127.0.0.1', port: server.port, user: decodeURIComponent(u.username), database: name, passwordFile, poolSize: 10 };
  };
  return {
    backend,
    fresh,
    open: async (dir, opts = {}) => CloudStore.open(await fresh(dir), opts),
    server: () => server,
  };
}
