/**
 * Attendance as CSV for Excel/WPS: UTF-8 with a byte-order mark (so Excel
 * opens Chinese names correctly), CRLF line ends, RFC 4180 quoting, and a
 * leading apostrophe on cells that a spreadsheet would run as a formula.
 * Header and status words in Chinese by default, English with lang 'en'.
 */
import { DateTime } from 'luxon';
import type { AttendanceStatus, AttendanceSummary } from './types.js';

export type CsvLang = 'zh' | 'en';

const HEADERS: Record<CsvLang, readonly string[]> = {
  zh: ['日期', '节次', '课程', '班级', '学号', '姓名', '状态', '刷卡时间'],
  en: ['Date', 'Period', 'Course', 'Class', 'Student ID', 'Name', 'Status', 'Tap time'],
};

const STATUS_WORDS: Record<CsvLang, Record<AttendanceStatus | 'unmarked', string>> = {
  zh: { present: '出勤', late: '迟到', absent: '缺勤', leave: '请假', unmarked: '未签到' },
  en: { present: 'present', late: 'late', absent: 'absent', leave: 'leave', unmarked: 'not marked' },
};

const AD_HOC: Record<CsvLang, string> = { zh: '临时', en: 'ad hoc' };

export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** One CSV cell: quoted when it holds a comma, quote or line break; formula-looking text is defused. */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvLine(cells: readonly string[]): string {
  return cells.map(csvCell).join(',') + '\r\n';
}

/** The attendance of the given lessons, one row per student, as CSV bytes (BOM first). */
export function attendanceCsv(summaries: readonly AttendanceSummary[], opts: { lang: CsvLang; timeZone: string }): Buffer {
  const words = STATUS_WORDS[opts.lang];
  let text = csvLine(HEADERS[opts.lang]);
  for (const s of summaries) {
    const l = s.lesson;
    const period = l.period === null ? AD_HOC[opts.lang] : String(l.period);
    for (const st of s.students) {
      const tap = st.tapTs === null ? '' : DateTime.fromMillis(st.tapTs, { zone: opts.timeZone }).toFormat('HH:mm:ss');
      text += csvLine([l.date, period, l.course, l.classId, st.studentId, st.name ?? '', words[st.status ?? 'unmarked'], tap]);
    }
  }
  return Buffer.concat([UTF8_BOM, Buffer.from(text, 'utf8')]);
}
