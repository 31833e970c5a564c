/**
 * Debian's nginx with libnginx-mod-rtmp as the district's media server for live
 * pushes: `application live { live on; record off; }` on a free loopback port,
 * in a temp dir of its own (config, logs, pid, temp paths), never the
 * machine's default config. With `onPublish`, nginx asks a small HTTP server
 * of the test before each publish (rtmp `on_publish`): 2xx allows it, anything
 * else refuses it, as a district server checks stream keys. Restartable on the
 * same port. Missing tools fail loudly.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './mosquitto.js';
import { killGroupAndWait, peerOutput, startPeer, waitFor } from './peers.js';

export const NGINX = '/usr/sbin/nginx';
export const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

export function requireNginxRtmp(): void {
  if (!existsSync(NGINX)) throw new Error(`nginx is missing (${NGINX}): apt-get install -y nginx libnginx-mod-rtmp (npm test installs it in pretest)`);
  if (!existsSync(RTMP_MODULE)) throw new Error(`the nginx RTMP module is missing (${RTMP_MODULE}): apt-get install -y libnginx-mod-rtmp (npm test installs it in pretest)`);
}

/** What nginx-rtmp posts to on_publish (form fields), e.g. `{app: 'live', name: 'KEY', call: 'publish'}`. */
export type PublishRequest = Record<string, string>;

export interface RtmpServer {
  dir: string;
  port: number;
  /** rtmp://127.0.0.1:PORT/live */
  url: string;
  /** Publish requests on_publish received, in order. */
  publishes: PublishRequest[];
  /** Starts nginx (again) on the same port; resolves when the port accepts. */
  start(): Promise<void>;
  /** Kills nginx's process group (master and workers); resolves when it has exited. */
  stop(): Promise<void>;
  /** SIGSTOP to nginx's group: a hung server (the kernel still accepts TCP connections, nothing answers). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** nginx's error log plus what it printed, for failure messages. */
  log(): string;
  /** Stops nginx and the on_publish server and removes the temp dir. */
  cleanup(): Promise<void>;
}

export async function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** `onPublish(request)` answers on_publish: true allows the publish, false refuses it with 403. */
export async function startRtmpServer(opts: { onPublish?: (req: PublishRequest) => boolean } = {}): Promise<RtmpServer> {
  requireNginxRtmp();
  const dir = mkdtempSync(join(tmpdir(), 'ce-rtmp-'));
  for (const d of ['logs', 'temp']) mkdirSync(join(dir, d));
  const port = await freePort();
  const publishes: PublishRequest[] = [];

  let hook: Server | null = null;
  let hookPort = 0;
  if (opts.onPublish) {
    const decide = opts.onPublish;
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        const fields = Object.fromEntries(new URLSearchParams(body));
        publishes.push(fields);
        res.statusCode = decide(fields) ? 200 : 403;
        res.end();
      });
    });
    const h = hook;
    hookPort = await new Promise<number>((resolve, reject) => {
      h.once('error', reject);
      h.listen(0, '127.0.0.1', () => {
        const a = h.address();
        resolve(a && typeof a === 'object' ? a.port : 0);
      });
    });
  }

  const t = (name: string) => join(dir, 'temp', name);
  const conf = [
    `load_module ${RTMP_MODULE};`,
    'worker_processes 1;',
    'master_process on;',
    `error_log ${join(dir, 'logs', 'error.log')} info;`,
    `pid ${join(dir, 'nginx.pid')};`,
    'events { worker_connections 128; }',
    'rtmp {',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    application live {',
    '      live on;',
    '      record off;',
    ...(hook ? [`      on_publish http://127.0.0.1:${hookPort}/on_publish;`, '      notify_method post;'] : []),
    '    }',
    '  }',
    '}',
    // The http module is in nginx's core build; its temp paths must be ours too, or nginx tries /var/lib/nginx.
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${t('body')}; proxy_temp_path ${t('proxy')}; fastcgi_temp_path ${t('fastcgi')};`,
    `  uwsgi_temp_path ${t('uwsgi')}; scgi_temp_path ${t('scgi')};`,
    '}',
    '',
  ].join('\n');
  const confFile = join(dir, 'nginx.conf');
  writeFileSync(confFile, conf);

  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    // A port still held by the previous run (TIME_WAIT does not block listen, a live socket does).
    await waitFor(async () => !(await portAccepts(port)), 5_000, `port ${port} to be free for nginx`);
    const p = startPeer('nginx-rtmp', NGINX, ['-p', dir, '-c', confFile, '-g', 'daemon off;']);
    proc = p;
    await waitFor(() => portAccepts(port), 10_000, `nginx-rtmp on port ${port}`, [p]);
  };
  const stop = async (): Promise<void> => {
    await killGroupAndWait(proc);
    // The worker is in the same group; wait until nothing answers on the port any more.
    await waitFor(async () => !(await portAccepts(port)), 5_000, `nginx-rtmp on port ${port} to go away`);
  };
  const signal = (sig: NodeJS.Signals): void => {
    if (!proc?.pid || proc.exitCode !== null || proc.signalCode !== null) throw new Error(`nginx-rtmp is not running (${sig})`);
    process.kill(-proc.pid, sig);
  };
  const log = (): string => {
    let errorLog = '';
    try {
      errorLog = readFileSync(join(dir, 'logs', 'error.log'), 'utf8').slice(-8_192);
    } catch {
      /* not written yet */
    }
    return `${proc ? peerOutput(proc) : ''}\n${errorLog}`;
  };
  await start();
  return {
    dir,
    port,
    url: `rtmp://127.0.0.1:${port}/live`,
    publishes,
    start,
    stop,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    log,
    cleanup: async () => {
      if (proc?.pid && proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid, 'SIGCONT');
      await killGroupAndWait(proc);
      await new Promise<void>((resolve) => (hook ? hook.close(() => resolve()) : resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
