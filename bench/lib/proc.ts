/**
 * Child processes of the benchmarks: the edge service started through its
 * CLI (ports read from its "classroom-edge started" log line), forked helper
 * scripts, orderly stop with a SIGKILL fallback, and resident memory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  ports: { mqtt: number; ws?: number; api: number };
  exited: Promise<Exit>;
  output(): string;
}

const startedLineSchema = z.object({
  msg: z.literal('classroom-edge started'),
  ports: z.object({ mqtt: z.number().int(), ws: z.number().int().optional(), api: z.number().int() }),
});

function exitOf(child: ChildProcess): Promise<Exit> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Starts `node <cli> start --config FILE` and resolves once it logged its ports (needs log level info). */
export function startServiceProcess(cli: string, configFile: string, timeoutMs = 20_000): Promise<ServiceProcess> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  // As deployed (docs/classroom-edge.service, `npm start`): a fixed glibc mmap threshold, so the
  // scrypt scratch buffers of start-up go back to the system instead of staying in malloc arenas.
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072' };
  // BENCH_SERVICE_NODE_FLAGS: extra node flags for the service only (e.g. --max-semi-space-size=2), to compare settings.
  const flags = (process.env.BENCH_SERVICE_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [...flags, cli, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const exited = exitOf(child);
  let out = '';
  let scanned = 0;
  return new Promise<ServiceProcess>((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`service did not start within ${timeoutMs} ms; output:\n${out}`)), timeoutMs);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (settled) return;
      const end = out.lastIndexOf('\n');
      if (end < scanned) return;
      const lines = out.slice(scanned, end).split('\n');
      scanned = end + 1;
      for (const line of lines) {
        if (!line.includes('"classroom-edge started"')) continue;
        let parsed: z.infer<typeof startedLineSchema>;
        try {
          parsed = startedLineSchema.parse(JSON.parse(line));
        } catch (e) {
          fail(new Error(`unreadable "started" log line (${e instanceof Error ? e.message : String(e)}): ${line}`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve({ child, pid: child.pid!, ports: parsed.ports, exited, output: () => out });
        return;
      }
    });
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    void exited.then(({ code, signal }) => fail(new Error(`service exited (code ${code}, signal ${signal}) before starting; output:\n${out}`)));
  });
}

/** SIGTERM, then SIGKILL if the process has not exited after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<Exit> {
  const exited = exitOf(child);
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  child.kill('SIGTERM');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  return exited;
}

/** Resident set size of a live process, in bytes (VmRSS of /proc/<pid>/status; Linux only). */
export function readRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Resolves with the first IPC message of `child` that `parse` accepts; rejects on exit or timeout. */
export function nextMessage<T>(child: ChildProcess, parse: (m: unknown) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (m: unknown) => {
      const v = parse(m);
      if (v === undefined) return;
      cleanup();
      resolve(v);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      cleanup();
      reject(new Error(`${what}: child exited (code ${code}, signal ${signal}) before answering`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function cpuTotals(): { busy: number; all: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const all = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: all - idle, all };
}

/** Share of all CPUs' time spent busy over the next `ms` (from /proc/stat): how loaded the machine is by others. */
export async function machineBusyFraction(ms = 1000): Promise<number> {
  const a = cpuTotals();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTotals();
  return b.all > a.all ? (b.busy - a.busy) / (b.all - a.all) : 0;
}
