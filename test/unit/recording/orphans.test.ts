/**
 * Finding the service's ffmpeg children after a crash by the tag in their
 * environment: real processes, found and killed by tag, others left alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv, findTagged, reapOrphans } from '../../../edge/recording/orphans.js';
import { silentLogger } from '../../../edge/util/logger.js';

const children: ChildProcess[] = [];
const sleeper = (env: Record<string, string>) => {
  const c = spawn('sleep', ['30'], { detached: true, stdio: 'ignore', env: { ...process.env, ...env } });
  children.push(c);
  return c;
};
const exited = (c: ChildProcess) => new Promise<string>((r) => (c.exitCode !== null || c.signalCode !== null ? r(String(c.signalCode)) : c.once('exit', (_code, sig) => r(String(sig)))));

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) process.kill(-c.pid!, 'SIGKILL');
});

describe('orphaned recorder children', () => {
  it('finds and kills the processes tagged with this room\'s data directory, and only those', async () => {
    const mine = sleeper(childEnv('/var/lib/room-a'));
    const other = sleeper(childEnv('/var/lib/room-b'));
    const untagged = sleeper({});
    await new Promise((r) => setTimeout(r, 100));
    expect(findTagged('/var/lib/room-a')).toEqual([mine.pid]);
    // A tag that is a prefix of another's is not a match.
    expect(findTagged('/var/lib/room')).toEqual([]);
    expect(reapOrphans('/var/lib/room-a', silentLogger())).toBe(1);
    expect(await exited(mine)).toBe('SIGKILL');
    expect(other.exitCode === null && other.signalCode === null).toBe(true);
    expect(untagged.exitCode === null && untagged.signalCode === null).toBe(true);
    expect(findTagged('/var/lib/room-a')).toEqual([]);
  });
});
