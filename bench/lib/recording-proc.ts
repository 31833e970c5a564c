/**
 * Process plumbing of the recording benchmark (bench/recording.ts): CPU time
 * and memory of another process from /proc, the machine's busy share, an
 * ffmpeg run in its own process group with its `-progress` output parsed,
 * and a registry of process groups killed on exit or Ctrl-C so an aborted
 * run leaves no ffmpeg, camera or cloud behind.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';

let clockTicks: number | undefined;

/** CPU seconds (utime + stime, all threads) of a live process, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** VmRSS and VmHWM (peak RSS) of a live process, in bytes. */
export function memoryOf(pid: number): { rssBytes: number; hwmBytes: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
    if (!m) throw new Error(`no ${key} line in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

function cpuTotals(): { busy: number; all: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const all = v.reduce((a, b) => a + b, 0);
  return { busy: all - (v[3] ?? 0) - (v[4] ?? 0), all };
}

/** A CPU window: call `end()` after the window to get each pid's % of one core and the machine's busy share. */
export function cpuWindow(pids: Record<string, number>): { end(): { pct: Record<string, number>; machineBusyPct: number; seconds: number } } {
  const t0 = performance.now();
  const m0 = cpuTotals();
  const c0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSecondsOf(pid)]));
  return {
    end() {
      const c1 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSecondsOf(pid)]));
      const m1 = cpuTotals();
      const seconds = (performance.now() - t0) / 1000;
      const pct = Object.fromEntries(Object.keys(pids).map((k) => [k, ((c1[k]! - c0[k]!) / seconds) * 100]));
      const machineBusyPct = m1.all > m0.all ? ((m1.busy - m0.busy) / (m1.all - m0.all)) * 100 : 0;
      return { pct, machineBusyPct, seconds };
    },
  };
}

/** Process groups to kill if the run ends early (exit, Ctrl-C, SIGTERM). */
const groups = new Set<number>();
/** Groups whose leader changes (a Capture's ffmpeg is respawned): asked at kill time. */
const groupSources = new Set<() => Array<number | null | undefined>>();
/** Children in the orchestrator's own group (the service, the load publisher): killed by pid. */
const plain = new Set<ChildProcess>();
/** Temp dirs to remove if the run is interrupted (a normal end removes them in its `finally`). */
const dirs = new Set<string>();
let hooked = false;

function killAllGroups(): void {
  const all = new Set(groups);
  for (const f of groupSources) for (const pid of f()) if (pid) all.add(pid);
  for (const pgid of all) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const c of plain) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  plain.clear();
  groups.clear();
}

/** Pids of this process's own children (forks made by shared bench code, e.g. the load publisher). */
function ownChildren(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) is the second after the parenthesised command name.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) out.push(Number(name));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
  groupSources.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  killAllGroups();
  // Interrupted: also what shared bench code forked (bench/lib/load.ts's publisher), by pid.
  for (const pid of ownChildren()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.kill(process.pid, sig);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllGroups);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Process groups led by whatever pids `current` returns when the run is interrupted; call the result to stop tracking. */
export function trackGroupsOf(current: () => Array<number | null | undefined>): () => void {
  hook();
  groupSources.add(current);
  return () => groupSources.delete(current);
}

/** A child that is not a group leader, killed if the run is interrupted; call the result to stop tracking. */
export function trackProcess(child: ChildProcess): () => void {
  hook();
  plain.add(child);
  return () => plain.delete(child);
}

/** A temp dir removed if the run is interrupted by a signal. */
export function trackDir(dir: string): () => void {
  hook();
  dirs.add(dir);
  return () => dirs.delete(dir);
}

/** Tracks a detached child's process group until it exits. */
export function trackGroup(child: ChildProcess): void {
  hook();
  const pid = child.pid;
  if (pid === undefined) return;
  groups.add(pid);
  child.once('exit', () => groups.delete(pid));
}

/** Kills whatever tracked group is still alive (the orchestrator's last `finally`). */
export function killTrackedGroups(): number {
  const n = groups.size + [...groupSources].reduce((k, f) => k + f().filter(Boolean).length, 0);
  killAllGroups();
  return n;
}

export interface FfmpegRun {
  child: ChildProcess;
  pid: number;
  /** Latest -progress values (frame, out_time_us, speed, drop_frames, dup_frames, ...). */
  progress(): Record<string, string>;
  stderrTail(): string;
  /** `q` on stdin, then SIGKILL of the group after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** ffmpeg in its own process group; `args` must include `-progress pipe:1` (globalArgs does). */
export function startFfmpeg(args: string[], ffmpegPath = 'ffmpeg'): FfmpegRun {
  const child = spawn(ffmpegPath, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  trackGroup(child);
  child.stdin.on('error', () => undefined);
  const current: Record<string, string> = {};
  const latest: Record<string, string> = {};
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const lines = out.split('\n');
    out = lines.pop() ?? '';
    for (const l of lines) {
      const eq = l.indexOf('=');
      if (eq < 0) continue;
      const k = l.slice(0, eq).trim();
      const v = l.slice(eq + 1).trim();
      current[k] = v;
      // A block ends with progress=continue|end: publish it whole.
      if (k === 'progress') Object.assign(latest, current);
    }
  });
  let tail = '';
  child.stderr.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    pid: child.pid!,
    progress: () => ({ ...latest }),
    stderrTail: () => tail,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        child.stdin.end('q\n');
      } catch {
        /* closed already */
      }
      const t = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 100 ms until true; throws `what` after `ms`. */
export async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(what());
    await sleep(100);
  }
}

/** Median, min and max of a list of figures. */
export function spread(values: number[]): { median: number; min: number; max: number; n: number } {
  const s = [...values].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}
