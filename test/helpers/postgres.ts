/**
 * Debian's PostgreSQL as the district cloud's database, in a throwaway
 * cluster per test file: `initdb` into a temp dir (SCRAM-SHA-256 password
 * authentication, a generated password, no trust), `postgres` listening on
 * 127.0.0.1 at a free port with its socket in the same dir, stopped with a
 * fast shutdown and deleted at the end. Nothing of the machine's own
 * clusters is touched. PostgreSQL refuses to run as root: as root the
 * cluster runs as Debian's `postgres` user (`runuser`). A missing server
 * fails loudly (`npm test` installs the package in pretest).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { freePort } from './mosquitto.js';

const PG_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin dir (e.g. /usr/lib/postgresql/15/bin). */
export function postgresBinDir(): string {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((v) => existsSync(join(PG_ROOT, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error(`PostgreSQL server is missing (${PG_ROOT}/*/bin/postgres): apt-get install -y postgresql (npm test installs it in pretest)`);
  return join(PG_ROOT, versions[0]!, 'bin');
}

export interface TestPostgres {
  /** postgres://user:password@127.0.0.1:port/db */
  url: string;
  port: number;
  /** Server log, for failures. */
  log(): string;
  stop(): Promise<void>;
}

function uidOf(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  return { uid, gid };
}

export async function startPostgres(opts: { database?: string; user?: string } = {}): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const user = opts.user ?? 'cloud';
  const database = opts.database ?? 'district';
  const password = randomBytes(18).toString('base64url');
  const dir = mkdtempSync(join(tmpdir(), 'ce-pg-'));
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? uidOf('postgres') : null;
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chownSync(pwfile, owner.uid, owner.gid);
  }
  chmodSync(dir, 0o700);
  const run = (cmd: string, args: string[]) => (asRoot ? { cmd: 'runuser', args: ['-u', 'postgres', '--', cmd, ...args] } : { cmd, args });
  const data = join(dir, 'data');
  const init = run(join(bin, 'initdb'), ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  try {
    execFileSync(init.cmd, init.args, { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`initdb failed: ${err.stderr?.toString().trim() || err.message}`);
  }
  const port = await freePort();
  const server = run(join(bin, 'postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    // A test database: durability is the cloud code's business, not this throwaway cluster's.
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
  ]);
  let log = '';
  const child: ChildProcess = spawn(server.cmd, server.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-20_000)));
  child.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-20_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  // The postmaster's own pid: as root the child is runuser, which turns any signal into SIGTERM for
  // postgres (a "smart" shutdown that waits for every client to leave) and, when killed, orphans it.
  const postmasterPid = (): number | null => {
    try {
      const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  const signal = (sig: NodeJS.Signals) => {
    const pid = postmasterPid();
    try {
      if (pid !== null) process.kill(pid, sig);
      else child.kill(sig);
    } catch {
      child.kill(sig);
    }
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      signal('SIGINT'); // fast shutdown: clients are disconnected
      const t = setTimeout(() => signal('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when it accepts TCP connections and createdb succeeds.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`postgres exited at start (code ${child.exitCode}): ${log.trim()}`);
    }
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`postgres did not listen on 127.0.0.1:${port} within 30 s: ${log.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // The database: CREATE DATABASE through the maintenance db.
  const { default: pg } = await import('pg');
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres' });
    try {
      await client.connect();
      await client.query(`CREATE DATABASE ${database}`);
      await client.end();
      break;
    } catch (e) {
      await client.end().catch(() => undefined);
      // "the database system is starting up" right after listen: retry until the deadline.
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`could not create database ${database}: ${(e as Error).message}; log: ${log.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url: `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    port,
    log: () => log,
    stop,
  };
}
