/**
 * Reading an imported CSV file (csv-parse): UTF-8 with or without BOM, a
 * header row, each data row with the line it starts on, so every problem
 * names its line. Header names are matched loosely (case, spaces, hyphens)
 * and through aliases (e.g. 星期 -> weekday).
 */
import { parse } from 'csv-parse/sync';
import type { Problem } from './problems.js';

export interface CsvRow {
  /** 1-based line where the row starts in the file. */
  line: number;
  /** Trimmed cell text by canonical column name ('' when empty). */
  get(column: string): string;
}

export interface CsvTable {
  columns: string[];
  rows: CsvRow[];
  problems: Problem[];
}

interface Info {
  lines: number;
  empty_lines: number;
}

function canonical(name: string, aliases: Record<string, string>): string {
  const k = name.trim().toLowerCase().replace(/[\s-]+/g, '_');
  return aliases[k] ?? aliases[name.trim()] ?? k;
}

function errorLine(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'lines' in err) {
    const n = (err as { lines: unknown }).lines;
    if (typeof n === 'number') return n;
  }
  return undefined;
}

export function readCsv(text: string, aliases: Record<string, string> = {}): CsvTable {
  let records: Array<{ record: string[]; info: Info }>;
  try {
    records = parse(text, { bom: true, info: true, relax_column_count: true, skip_empty_lines: true, trim: true }) as unknown as Array<{
      record: string[];
      info: Info;
    }>;
  } catch (err) {
    const line = errorLine(err);
    const message = err instanceof Error ? err.message.replace(/^[^:]*:\s*/, '') : String(err);
    return { columns: [], rows: [], problems: [{ path: line ? `line ${line}` : '(file)', reason: `not valid CSV: ${message}` }] };
  }
  const problems: Problem[] = [];
  const first = records[0];
  if (!first) return { columns: [], rows: [], problems: [{ path: '(file)', reason: 'the file is empty (a header row is required)' }] };

  const columns = first.record.map((c) => canonical(c, aliases));
  const index = new Map<string, number>();
  columns.forEach((c, i) => {
    if (c === '') return;
    if (index.has(c)) problems.push({ path: 'line 1', reason: `column "${c}" appears twice in the header` });
    else index.set(c, i);
  });

  const rows: CsvRow[] = [];
  let prevEnd = first.info.lines;
  let prevEmpty = first.info.empty_lines;
  for (const { record, info } of records.slice(1)) {
    const line = prevEnd + 1 + (info.empty_lines - prevEmpty);
    prevEnd = info.lines;
    prevEmpty = info.empty_lines;
    if (record.every((c) => c === '')) continue; // a row of empty cells (spreadsheet export)
    if (record.length > columns.length && record.slice(columns.length).some((c) => c !== '')) {
      problems.push({ path: `line ${line}`, reason: `has ${record.length} fields but the header has ${columns.length}` });
      continue;
    }
    rows.push({ line, get: (column) => record[index.get(column) ?? -1] ?? '' });
  }
  return { columns, rows, problems };
}

/** Problems for required columns missing from the header. */
export function requireColumns(table: CsvTable, required: readonly string[], what: string): Problem[] {
  const missing = required.filter((c) => !table.columns.includes(c));
  if (missing.length === 0) return [];
  return [{ path: 'line 1', reason: `a ${what} CSV needs the columns ${required.join(', ')}; missing: ${missing.join(', ')}` }];
}
