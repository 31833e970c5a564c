/** Small fakes for the store tests: temp dirs, a fixed clock, a log capture. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../edge/util/logger.js';
import type { Clock } from '../../../edge/util/clock.js';

export const T0 = Date.UTC(2025, 2, 3, 8, 0, 0); // 2025-03-03T08:00:00Z

export function fixedClock(nowMs = T0): Clock {
  return { now: () => nowMs, monotonic: () => performance.now() };
}

export interface TempDir {
  dir: string;
  file: (name: string) => string;
  remove: () => void;
}

export function tempDir(): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ce-store-'));
  return {
    dir,
    file: (name) => path.join(dir, name),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger whose JSON lines are kept for assertions. */
export function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination: sink }), lines };
}

/**
 * Counts committed transactions in a WAL file by reading the frame headers
 * (sqlite.org/fileformat2.html#walformat: bytes 4..7 of a frame header hold
 * the database size after a commit, 0 for other frames). Only meaningful when
 * the WAL was truncated before the counted work and not checkpointed since.
 */
export function countWalCommits(walFile: string): number {
  const buf = fs.readFileSync(walFile);
  if (buf.length < 32) return 0;
  const pageSize = buf.readUInt32BE(8);
  const salt1 = buf.readUInt32BE(16);
  const salt2 = buf.readUInt32BE(20);
  let commits = 0;
  for (let off = 32; off + 24 + pageSize <= buf.length; off += 24 + pageSize) {
    if (buf.readUInt32BE(off + 8) !== salt1 || buf.readUInt32BE(off + 12) !== salt2) break;
    if (buf.readUInt32BE(off + 4) !== 0) commits++;
  }
  return commits;
}
