/**
 * Importing timetable and roster files into a new document, merged with the
 * one in force: the format comes from the file name (.csv, .ics, .yaml/.yml,
 * .json). A full document replaces the one in force; a CSV or iCalendar file
 * replaces only its part (see docs/timetable.md). The result is validated as
 * a whole; problems name the file and line of the row they come from.
 * Nothing here touches the store: Datasets.put() stores the result.
 */
import { parseDocText, withDocLines } from './import-doc.js';
import { parseIcalTimetable } from './import-ical.js';
import { parseRosterCsv, type RosterCsvPart } from './import-roster-csv.js';
import { parseTimetableCsv } from './import-timetable-csv.js';
import { sortProblems, toLines, type Origins, type Problem } from './problems.js';
import { validateRoster, type RosterDoc } from './roster-schema.js';
import { validateTimetable, type TimetableDoc } from './timetable-schema.js';

export type ImportFormat = 'csv' | 'ics' | 'doc';

export interface ImportFile {
  /** File name (its extension selects the format); used in problems. */
  name: string;
  text: string;
}

export interface ImportOutcome<D> {
  doc?: D;
  problems: Problem[];
  /** Things worth telling that are not errors (ignored events or columns). */
  notes: string[];
}

export function formatOf(name: string): ImportFormat | undefined {
  const ext = /\.([A-Za-z]+)$/.exec(name)?.[1]?.toLowerCase();
  if (ext === 'csv') return 'csv';
  if (ext === 'ics' || ext === 'ical' || ext === 'ifb') return 'ics';
  if (ext === 'yaml' || ext === 'yml' || ext === 'json') return 'doc';
  return undefined;
}

const tag = (file: string, problems: Problem[]): Problem[] => problems.map((p) => ({ ...p, file: p.file ?? file }));

function unknownFormat(f: ImportFile, what: string): Problem {
  return { file: f.name, path: '(file)', reason: `unknown ${what} file type: use .csv, .ics, .yaml, .yml or .json` };
}

function tagOrigins(origins: Origins, file: string): Origins {
  return new Map([...origins].map(([k, v]) => [k, { ...v, file }]));
}

/** Replaces the origins of one part (`weekly`, `term.holidays`, ...) by those of a newer file. */
function replaceOrigins(all: Origins, prefix: string, next: Origins): void {
  for (const k of [...all.keys()]) if (k.startsWith(`${prefix}[`)) all.delete(k);
  for (const [k, v] of next) if (k.startsWith(`${prefix}[`)) all.set(k, v);
}

function needBase(f: ImportFile, what: string): Problem {
  return {
    file: f.name,
    path: '(file)',
    reason: `${what} holds only part of a timetable, and no timetable is in force: import a full timetable document (YAML or JSON, with bell schedules and term) first`,
  };
}

export function importTimetable(files: ImportFile[], base: TimetableDoc | null, opts: { zone: string }): ImportOutcome<TimetableDoc> {
  const problems: Problem[] = [];
  const notes: string[] = [];
  const origins: Origins = new Map();
  let current: TimetableDoc | null = base;
  for (const f of files) {
    const format = formatOf(f.name);
    if (format === 'doc') {
      const parsed = parseDocText(f.text);
      if (parsed.problems.length > 0) {
        problems.push(...tag(f.name, parsed.problems));
        continue;
      }
      const v = validateTimetable(parsed.value);
      if (!v.doc) problems.push(...tag(f.name, withDocLines(v.problems, parsed)));
      else {
        current = v.doc;
        origins.clear();
      }
    } else if (format === 'csv') {
      if (!current) {
        problems.push(needBase(f, 'a timetable CSV'));
        continue;
      }
      const csv = parseTimetableCsv(f.text);
      if (csv.problems.length > 0) problems.push(...tag(f.name, csv.problems));
      else {
        current = { ...current, weekly: csv.weekly };
        replaceOrigins(origins, 'weekly', tagOrigins(csv.origins, f.name));
      }
    } else if (format === 'ics') {
      if (!current) {
        problems.push(needBase(f, 'an iCalendar file'));
        continue;
      }
      const ics = parseIcalTimetable(f.text, current, opts.zone);
      notes.push(...ics.notes.map((n) => `${f.name}: ${n}`));
      if (ics.problems.length > 0) {
        problems.push(...tag(f.name, ics.problems));
        continue;
      }
      const tagged = tagOrigins(ics.origins, f.name);
      const term = { ...current.term };
      if (ics.holidays) {
        term.holidays = ics.holidays;
        replaceOrigins(origins, 'term.holidays', tagged);
      }
      if (ics.makeupDays) {
        term.makeupDays = ics.makeupDays;
        replaceOrigins(origins, 'term.makeupDays', tagged);
      }
      current = { ...current, term, weekly: ics.weekly ?? current.weekly };
      if (ics.weekly) replaceOrigins(origins, 'weekly', tagged);
    } else problems.push(unknownFormat(f, 'timetable'));
  }
  if (problems.length > 0) return { problems, notes };
  if (!current) return { problems: [{ path: '(import)', reason: 'no file given' }], notes };
  const v = validateTimetable(current);
  if (!v.doc) return { problems: sortProblems(toLines(v.problems, origins)), notes };
  return { doc: v.doc, problems: [], notes };
}

const EMPTY_ROSTER: RosterDoc = { classes: [], students: [], teachers: [], leaves: [] };
const KIND_ORDER = ['classes', 'students', 'teachers', 'leaves'] as const;

function strip<T extends { line: number }>(items: T[]): Array<Omit<T, 'line'>> {
  return items.map(({ line: _line, ...rest }) => rest);
}

function applyRosterCsv(current: RosterDoc, part: RosterCsvPart, file: string, origins: Origins): RosterDoc {
  const setOrigins = (prefix: string, items: Array<{ line: number }>, offset = 0) => {
    if (offset === 0) for (const k of [...origins.keys()]) if (k.startsWith(`${prefix}[`)) origins.delete(k);
    items.forEach((it, i) => origins.set(`${prefix}[${offset + i}]`, { line: it.line, file }));
  };
  switch (part.kind) {
    case 'classes':
      setOrigins('classes', part.classes);
      return { ...current, classes: strip(part.classes) };
    case 'students': {
      // class_name adds or renames classes; the last row naming a class wins.
      const classes = [...current.classes];
      for (const c of part.classes) {
        const i = classes.findIndex((x) => x.classId === c.classId);
        if (i >= 0) classes[i] = { classId: c.classId, name: c.name };
        else {
          origins.set(`classes[${classes.length}]`, { line: c.line, file });
          classes.push({ classId: c.classId, name: c.name });
        }
      }
      setOrigins('students', part.students);
      return { ...current, classes, students: strip(part.students) };
    }
    case 'teachers':
      setOrigins('teachers', part.teachers);
      return { ...current, teachers: strip(part.teachers) };
    case 'leaves':
      setOrigins('leaves', part.leaves);
      return { ...current, leaves: strip(part.leaves) };
    default:
      return current;
  }
}

export function importRoster(files: ImportFile[], base: RosterDoc | null): ImportOutcome<RosterDoc> {
  const problems: Problem[] = [];
  const notes: string[] = [];
  const origins: Origins = new Map();
  let current: RosterDoc = base ?? EMPTY_ROSTER;
  const csvParts: Array<{ file: string; part: RosterCsvPart }> = [];
  for (const f of files) {
    const format = formatOf(f.name);
    if (format === 'doc') {
      const parsed = parseDocText(f.text);
      if (parsed.problems.length > 0) {
        problems.push(...tag(f.name, parsed.problems));
        continue;
      }
      const v = validateRoster(parsed.value);
      if (!v.doc) problems.push(...tag(f.name, withDocLines(v.problems, parsed)));
      else current = v.doc;
    } else if (format === 'csv') {
      const part = parseRosterCsv(f.text);
      if (part.problems.length > 0) problems.push(...tag(f.name, part.problems));
      else csvParts.push({ file: f.name, part });
      if (part.ignored.length > 0) notes.push(`${f.name}: columns ${part.ignored.join(', ')} ignored (not stored)`);
    } else problems.push(unknownFormat(f, 'roster'));
  }
  if (problems.length > 0) return { problems, notes };
  csvParts.sort((a, b) => KIND_ORDER.indexOf(a.part.kind ?? 'leaves') - KIND_ORDER.indexOf(b.part.kind ?? 'leaves'));
  for (const { file, part } of csvParts) current = applyRosterCsv(current, part, file, origins);
  const v = validateRoster(current);
  if (!v.doc) return { problems: sortProblems(toLines(v.problems, origins)), notes };
  return { doc: v.doc, problems: [], notes };
}
