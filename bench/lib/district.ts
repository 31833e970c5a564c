/**
 * The district side of the sync benchmarks: Debian's mosquitto as the
 * district broker over TLS with client certificates and the room ACL
 * (test/helpers/mosquitto.ts, as the integration tests run it), many room
 * certificates issued quickly, and the reference cloud run as its own process
 * through the CLI (`classroom-edge cloud start --config FILE`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { OPENSSL, type ClientCert, type DistrictBroker } from '../../test/helpers/mosquitto.js';
import { stopProcess } from './proc.js';

const execFileAsync = promisify(execFile);

/**
 * Client certificates for many rooms (CN = room id), signed by the broker's
 * test CA: one openssl call per room, all sharing one EC key (identity is the
 * certificate's CN; a bench does not need a key per room), two calls at a time.
 */
export async function issueRoomCerts(broker: DistrictBroker, roomIds: string[]): Promise<Record<string, ClientCert>> {
  const dir = broker.dir;
  const keyFile = join(dir, 'bench-rooms.key');
  if (!existsSync(keyFile)) {
    await execFileAsync(OPENSSL, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', keyFile], { cwd: dir });
  }
  const out: Record<string, ClientCert> = {};
  const queue = [...roomIds];
  const one = async (): Promise<void> => {
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      const certFile = join(dir, `bench-room-${id}.crt`);
      // test/helpers/mosquitto.ts keeps its CA as ca.crt / ca.key in the broker's directory.
      await execFileAsync(OPENSSL, ['req', '-new', '-key', keyFile, '-subj', `/CN=${id}`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-days', '2', '-out', certFile], { cwd: dir });
      out[id] = { certFile, keyFile };
    }
  };
  await Promise.all([one(), one()]);
  return out;
}

/**
 * BENCH_MOSQUITTO_CONF="line; line": extra mosquitto.conf lines (e.g.
 * `set_tcp_nodelay true`), to compare broker settings. Appended to the
 * broker's config; they apply from its next start (the benchmarks restart it
 * before each run). Returns the lines added, or null.
 */
export function extraBrokerConf(broker: DistrictBroker): string | null {
  const extra = process.env.BENCH_MOSQUITTO_CONF;
  if (!extra) return null;
  const lines = extra.split(';').map((l) => l.trim()).filter(Boolean);
  appendFileSync(join(broker.dir, 'mosquitto.conf'), `${lines.join('\n')}\n`);
  return lines.join('; ');
}

/** Pid of the broker's mosquitto, found by its config file on the command line (for CPU figures); null if not found. */
export function mosquittoPid(broker: DistrictBroker): number | null {
  const conf = join(broker.dir, 'mosquitto.conf');
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(conf)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

let clockTicks: number | undefined;
/** CPU seconds (user + system) of a process, from /proc/<pid>/stat (Linux only). */
export function cpuSecondsOf(pid: number): number {
  clockTicks ??= 100; // USER_HZ is 100 on every Linux we run on (getconf CLK_TCK)
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

export interface CloudProcess {
  child: ChildProcess;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node <cli> cloud start --config <file>` and resolves once it logged
 * "district cloud ingest started" (its workers are connected).
 */
export function startCloudProcess(cli: string, configFile: string, timeoutMs = 20_000): Promise<CloudProcess> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [cli, 'cloud', 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise<CloudProcess>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`cloud did not start within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(err);
    };
    const onData = (b: Buffer) => {
      // Keep the head (start-up) and the tail (problems) of the log, not all of it.
      out = out.length > 200_000 ? `${out.slice(0, 20_000)}\n…\n${out.slice(-100_000)}${b.toString()}` : out + b.toString();
      if (settled || !out.includes('"district cloud ingest started"')) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid!,
        output: () => out,
        stop: async () => {
          const exit = await stopProcess(child, 10_000);
          if (exit.code !== 0) throw new Error(`cloud did not stop cleanly (code ${exit.code}, signal ${exit.signal}); output:\n${out.slice(-4000)}`);
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => fail(new Error(`cloud exited (code ${code}, signal ${signal}) before starting; output:\n${out}`)));
  });
}

/** Writes a cloud config for `classroom-edge cloud start` (one process, `workers` ingest workers). */
export function writeCloudConfig(
  file: string,
  opts: { broker: DistrictBroker; workerCert: ClientCert; database: string; workers: number; clientIdPrefix: string },
): void {
  const b = opts.broker;
  writeFileSync(
    file,
    `broker:
  url: ${b.url}
  certFile: ${JSON.stringify(opts.workerCert.certFile)}
  keyFile: ${JSON.stringify(opts.workerCert.keyFile)}
  caFile: ${JSON.stringify(b.caFile)}
database: ${JSON.stringify(opts.database)}
workers: ${opts.workers}
clientIdPrefix: ${opts.clientIdPrefix}
log: { level: info }
`,
  );
}
