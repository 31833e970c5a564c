/**
 * Debian's mosquitto as the district broker, over TLS with client
 * certificates: a throwaway CA, a server certificate for 127.0.0.1, one
 * client certificate per room (CN = room id) and per cloud worker
 * (CN = cloud-worker-N), made with openssl in a temp dir. The ACL lets a room
 * write only `district/rooms/{its id}/up/#` and read only its `down/#`; the
 * workers get full rights on `district/#`. Missing tools fail loudly.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './peers.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const OPENSSL = '/usr/bin/openssl';

export function requireMosquittoAndOpenssl(): void {
  if (!existsSync(MOSQUITTO)) throw new Error(`mosquitto is missing (${MOSQUITTO}): apt-get install -y mosquitto (npm test installs it in pretest)`);
  if (!existsSync(OPENSSL)) throw new Error(`openssl is missing (${OPENSSL}): apt-get install -y openssl (npm test installs it in pretest)`);
}

export interface ClientCert {
  certFile: string;
  keyFile: string;
}

export interface DistrictBroker {
  dir: string;
  port: number;
  url: string;
  caFile: string;
  rooms: Record<string, ClientCert>;
  workers: Record<string, ClientCert>;
  /** Starts mosquitto (again) on the same port. */
  start(): Promise<void>;
  /** SIGKILL (a crash: no will delivered by a clean shutdown, sessions are not persisted); resolves with how it exited (null: was not running). */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null>;
  /** Broker log (stderr), for failures. */
  log(): string;
  cleanup(): Promise<void>;
}

/**
 * The edge config's `cloud:` section (YAML, newline-terminated) for a room certificate of a
 * district broker; `extra` lines go under it as they are (default: small, quick batches).
 */
export function edgeCloudYaml(
  link: { url: string; caFile: string },
  cert: ClientCert,
  extra: string[] = ['batch: { maxEvents: 100, lingerMs: 20 }'],
): string {
  return [
    'cloud:',
    `  url: ${link.url}`,
    `  certFile: ${JSON.stringify(cert.certFile)}`,
    `  keyFile: ${JSON.stringify(cert.keyFile)}`,
    `  caFile: ${JSON.stringify(link.caFile)}`,
    ...extra.map((l) => `  ${l}`),
    '',
  ].join('\n');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function openssl(dir: string, args: string[]): void {
  execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, cn: string, ext?: string): ClientCert {
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const certFile = join(dir, `${name}.crt`);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
  const args = ['x509', '-req', '-in', csr, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', certFile, '-days', '2'];
  if (ext) {
    const extFile = join(dir, `${name}.ext`);
    writeFileSync(extFile, ext);
    args.push('-extfile', extFile);
  }
  openssl(dir, args);
  return { certFile, keyFile };
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startDistrictBroker(opts: { rooms: string[]; workers?: string[] }): Promise<DistrictBroker> {
  requireMosquittoAndOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'ce-district-'));
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=test district CA']);
  issue(dir, 'server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const rooms = Object.fromEntries(opts.rooms.map((r) => [r, issue(dir, `room-${r}`, r)]));
  const workerIds = opts.workers ?? ['cloud-worker-1', 'cloud-worker-2'];
  const workers = Object.fromEntries(workerIds.map((w) => [w, issue(dir, w, w)]));
  // mosquitto's acl_file has no wildcards in user names: one block per worker identity.
  const acl = [
    ...workerIds.flatMap((w) => [`user ${w}`, 'topic readwrite district/#', 'topic readwrite $share/ingest/district/#', '']),
    'pattern write district/rooms/%u/up/#',
    'pattern read district/rooms/%u/down/#',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'acl'), acl);
  const port = await freePort();
  const conf = [
    `user ${userInfo().username}`, // as root, mosquitto would otherwise drop to the mosquitto user and not read our keys
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'allow_anonymous false',
    `acl_file ${join(dir, 'acl')}`,
    `listener ${port} 127.0.0.1`,
    `cafile ${join(dir, 'ca.crt')}`,
    `certfile ${join(dir, 'server.crt')}`,
    `keyfile ${join(dir, 'server.key')}`,
    'require_certificate true',
    'use_identity_as_username true',
    '',
  ].join('\n');
  const confFile = join(dir, 'mosquitto.conf');
  writeFileSync(confFile, conf);

  let proc: ChildProcess | undefined;
  let stderr = '';
  const start = async (): Promise<void> => {
    const p = spawn(MOSQUITTO, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await waitFor(async () => {
      if (p.exitCode !== null) throw new Error(`mosquitto exited with ${p.exitCode}:\n${stderr}`);
      return portOpen(port);
    }, 10_000, `mosquitto on port ${port}`);
  };
  const kill = async (): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return null;
    const gone = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => p.once('exit', (code, signal) => resolve({ code, signal })));
    p.kill('SIGKILL');
    return gone;
  };
  await start();
  return {
    dir,
    port,
    url: `mqtts://127.0.0.1:${port}`,
    caFile: join(dir, 'ca.crt'),
    rooms,
    workers,
    start,
    kill,
    log: () => stderr,
    cleanup: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
