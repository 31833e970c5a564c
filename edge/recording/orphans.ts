/**
 * ffmpeg children that outlived the service. Each capture and live push runs
 * in its own process group (so a stop signals it and nothing else), which
 * also means that when the service itself dies by SIGKILL or a crash, its
 * ffmpegs go on: a capture would keep writing segments into a directory the
 * next start resumes in, a push would keep a stream key busy. systemd's
 * default KillMode kills them with the unit; a service run any other way
 * (by hand, in tests, in a container) relies on this: every child carries
 * CHILD_TAG=<the room's data directory> in its environment, and the recorder
 * kills whatever still carries its tag before it starts anything.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from '../util/logger.js';

export const CHILD_TAG = 'CLASSROOM_EDGE_RECORDER';

/** The environment entry the service's ffmpeg children carry. */
export function childEnv(tag: string): Record<string, string> {
  return { [CHILD_TAG]: tag };
}

/** Pids under /proc whose environment has `CHILD_TAG=tag` (other than this process). */
export function findTagged(tag: string, procDir = '/proc'): number[] {
  const needle = `${CHILD_TAG}=${tag}\0`;
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^[0-9]+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      // environ is NUL-separated; the trailing NUL of the last entry is there too.
      if (`${readFileSync(`${procDir}/${e}/environ`, 'latin1')}\0`.includes(needle)) out.push(pid);
    } catch {
      // Gone meanwhile, or another user's: not ours either way.
    }
  }
  return out;
}

/** Kills the tagged leftovers (their whole process groups); returns how many. */
export function reapOrphans(tag: string, logger: Logger): number {
  const pids = findTagged(tag);
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  if (pids.length) logger.warn({ pids }, 'killed ffmpeg processes left running by a previous run of the service');
  return pids.length;
}
