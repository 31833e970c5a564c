/**
 * A full timetable or roster document as YAML or JSON (JSON is read as
 * YAML). Syntax errors name line and column; schema problems keep their
 * document path and, where the YAML node is found, the line it is on.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import type { Problem } from './problems.js';

export interface ParsedDoc {
  value: unknown;
  problems: Problem[];
  /** Line of a document path such as `term.makeupDays[0].date`, when known. */
  lineOf(path: string): number | undefined;
}

function splitPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

export function parseDocText(source: string): ParsedDoc {
  const counter = new LineCounter();
  const doc = parseDocument(source, { lineCounter: counter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    return {
      value: undefined,
      problems: doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: pos ? `line ${pos.line} column ${pos.col}` : '(file)', reason: e.message.split('\n')[0] ?? e.message };
      }),
      lineOf: () => undefined,
    };
  }
  const lineOf = (path: string): number | undefined => {
    let node: unknown = doc.contents;
    for (const seg of splitPath(path)) {
      if (isMap(node)) node = node.get(typeof seg === 'number' ? seg : seg, true) ?? node.get(String(seg), true);
      else if (isSeq(node) && typeof seg === 'number') node = node.get(seg, true);
      else break;
    }
    const range = (isScalar(node) || isMap(node) || isSeq(node) ? (node as Node).range : undefined) ?? undefined;
    return range ? counter.linePos(range[0]).line : undefined;
  };
  return { value: doc.toJS(), problems: [], lineOf };
}

/** Adds "(line N)" to problems whose path is found in the YAML/JSON text. */
export function withDocLines(problems: Problem[], parsed: ParsedDoc): Problem[] {
  return problems.map((p) => {
    const line = parsed.lineOf(p.path);
    return line ? { ...p, path: `line ${line} (${p.path})` } : p;
  });
}
