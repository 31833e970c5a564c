/**
 * A problem found in a timetable or roster: where (a document path such as
 * `term.makeupDays[0].date`, or `line 7` for a row of an imported file) and
 * why. Every check reports all its problems at once, so a school fixes its
 * file in one go (like `classroom-edge check-config`).
 */
import type { z } from 'zod';
import { formatPath } from '../config/load.js';

export interface Problem {
  path: string;
  reason: string;
  /** The imported file the problem is in, when there are several. */
  file?: string;
}

export function formatProblem(p: Problem): string {
  return `${p.file ? `${p.file}: ` : ''}${p.path}: ${p.reason}`;
}

/** Where each document item came from: `weekly[3]` -> line 9 of a file. */
export type Origins = Map<string, { line: number; file?: string }>;

/**
 * Names imported rows by their line: a problem at `weekly[3].period` becomes
 * `line 9`, and `weekly[1]` inside a reason becomes `line 4`.
 */
export function toLines(problems: Problem[], origins: Origins): Problem[] {
  const keyOf = (path: string) => /^[A-Za-z]+(?:\.[A-Za-z]+)*\[\d+\]/.exec(path)?.[0];
  const rewrite = (reason: string) =>
    reason.replace(/\b([A-Za-z]+)\[(\d+)\]/g, (m: string, name: string, i: string) => {
      const key = `${name}[${i}]`;
      const o = origins.get(key) ?? [...origins].find(([k]) => k.endsWith(`.${key}`))?.[1];
      return o ? `line ${o.line}` : m;
    });
  return problems.map((p) => {
    const key = keyOf(p.path);
    const o = key ? origins.get(key) : undefined;
    if (!o) return { ...p, reason: rewrite(p.reason) };
    const rest = p.path.slice(key!.length).replace(/^\./, '');
    return { path: `line ${o.line}`, reason: `${rest ? `${rest}: ` : ''}${rewrite(p.reason)}`, ...(o.file ? { file: o.file } : {}) };
  });
}

/** Orders problems by file, then line (`line 7` before `line 12`), keeping the order of the rest. */
export function sortProblems(problems: Problem[]): Problem[] {
  const lineOf = (p: Problem) => Number(/^line (\d+)/.exec(p.path)?.[1] ?? 0);
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.file ?? '\uffff').localeCompare(b.p.file ?? '\uffff') || lineOf(a.p) - lineOf(b.p) || a.i - b.i)
    .map((x) => x.p);
}

export function zodProblems(error: z.ZodError, prefix: readonly PropertyKey[] = []): Problem[] {
  return error.issues.map((i) => ({ path: formatPath([...prefix, ...i.path]), reason: i.message }));
}

export { formatPath };

/** Thrown where a caller wants an exception instead of a problem list (e.g. a dataset refused). */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  constructor(
    message: string,
    readonly problems: Problem[],
  ) {
    super(`${message}:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`);
  }
}
