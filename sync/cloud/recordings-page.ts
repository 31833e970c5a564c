/**
 * The fleet page's 录像 view of one room (docs/sync.md, "Fleet page"):
 * server-rendered like the rest of the fleet page (sync/cloud/fleet.ts), no
 * scripts, zh-CN first. The recordings of one local day, by lesson: times in
 * the room's time zone (not the server's, not UTC), course, class, teacher,
 * source, duration, gaps ("中断 12 秒"), and a plain <video controls
 * preload="metadata"> on the MP4 (range requests, audited per playback) or
 * an "uploading" marker while a file is missing. Previous/next day links
 * and a date field (a GET form) move between days.
 */
import { createHash } from 'node:crypto';
import { DateTime } from 'luxon';
import { esc } from './fleet.js';
import type { RecordingView } from './recordings-registry.js';

const TEXT = {
  'zh-CN': {
    title: (room: string) => `${room} 教室录像`,
    back: '返回总览',
    day: '日期',
    show: '查看',
    prev: '前一天',
    next: '后一天',
    zone: (z: string) => `时间按教室所在时区（${z}）显示`,
    none: '这一天没有录像',
    time: '时间',
    course: '课程',
    class: '班级',
    teacher: '教师',
    source: '机位',
    duration: '时长',
    gaps: '中断',
    video: '录像',
    noGaps: '无',
    gap: (s: number) => `中断 ${s} 秒`,
    uploading: '上传中',
    minutes: (m: number, s: number) => (m ? `${m} 分 ${s} 秒` : `${s} 秒`),
    badRequest: '教室或日期无效',
    forbidden: '该教室不在您的管理范围内',
  },
  en: {
    title: (room: string) => `Recordings of ${room}`,
    back: 'Back to the fleet',
    day: 'Day',
    show: 'Show',
    prev: 'Previous day',
    next: 'Next day',
    zone: (z: string) => `Times in the room's time zone (${z})`,
    none: 'No recordings on this day',
    time: 'Time',
    course: 'Course',
    class: 'Class',
    teacher: 'Teacher',
    source: 'Source',
    duration: 'Duration',
    gaps: 'Gaps',
    video: 'Recording',
    noGaps: 'none',
    gap: (s: number) => `gap of ${s} s`,
    uploading: 'uploading',
    minutes: (m: number, s: number) => (m ? `${m} min ${s} s` : `${s} s`),
    badRequest: 'invalid room or day',
    forbidden: 'this room is outside your scope',
  },
} as const;
type Lang = keyof typeof TEXT;

const STYLE =
  'body{font-family:"Noto Sans CJK SC","Noto Sans SC",sans-serif;margin:24px;color:#1f2933}' +
  'table{border-collapse:collapse}td,th{border:1px solid #cbd2d9;padding:4px 10px;text-align:left;vertical-align:top}' +
  'video{width:480px;max-width:40vw;background:#000}.up{color:#b26a00;font-weight:bold}.gap{color:#b00020}nav{margin:12px 0}nav a,nav form{margin-right:16px}form.inline{display:inline}';
const STYLE_HASH = createHash('sha256').update(STYLE, 'utf8').digest('base64');
/** The fleet page's policy plus media from this origin (the <video> source). */
export const RECORDINGS_CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; media-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`;

export type RecordingsPageInput =
  | { lang: Lang; error: 'bad-request' | 'forbidden' }
  | { lang: Lang; error?: undefined; roomId: string; day: string; zone: string; recordings: RecordingView[]; mediaPath: (r: RecordingView) => string };

function doc(lang: Lang, title: string, body: string): string {
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export function renderRecordingsPage(input: RecordingsPageInput): { csp: string; body: string } {
  const t = TEXT[input.lang];
  const lang = input.lang;
  const back = `<p><a href="/fleet?lang=${lang}">${t.back}</a></p>`;
  if (input.error) return { csp: RECORDINGS_CSP, body: doc(lang, t.back, `<p>${input.error === 'forbidden' ? t.forbidden : t.badRequest}</p>${back}`) };
  const { roomId, day, zone } = input;
  const d = DateTime.fromISO(day, { zone });
  const link = (to: DateTime, label: string) => `<a href="?day=${to.toISODate()}&amp;lang=${lang}">${label}</a>`;
  const nav =
    `<nav>${link(d.minus({ days: 1 }), t.prev)}` +
    `<form method="get" class="inline"><label>${t.day} <input type="date" name="day" value="${esc(day)}"></label>` +
    `<input type="hidden" name="lang" value="${lang}"> <button type="submit">${t.show}</button></form>` +
    `${link(d.plus({ days: 1 }), t.next)}</nav><p>${esc(t.zone(zone))}</p>`;
  const hm = (ms: number) => DateTime.fromMillis(ms, { zone }).toFormat('HH:mm');
  const rows = input.recordings.map((r) => {
    const secs = Math.round(r.durationMs / 1000);
    const gaps = r.gaps.length
      ? r.gaps.map((g) => `<div class="gap" title="${esc(g.reason)}">${hm(g.from)} ${esc(t.gap(Math.round(g.ms / 1000)))}</div>`).join('')
      : t.noGaps;
    const player =
      r.status === 'ready'
        ? `<video controls preload="metadata" src="${esc(input.mediaPath(r))}" data-lesson="${esc(r.lessonId)}" data-source="${esc(r.source)}"></video>`
        : `<span class="up">${t.uploading}</span>`;
    return (
      `<tr><td>${hm(r.startsAt)}–${hm(r.endsAt)}</td><td>${esc(r.course)}</td><td>${esc(r.className ?? r.classId)}</td>` +
      `<td>${esc(r.teacherName ?? r.teacherId ?? '')}</td><td>${esc(r.source)}</td><td>${esc(t.minutes(Math.floor(secs / 60), secs % 60))}</td>` +
      `<td>${gaps}</td><td>${player}</td></tr>`
    );
  });
  const table = rows.length
    ? `<table><thead><tr><th>${t.time}</th><th>${t.course}</th><th>${t.class}</th><th>${t.teacher}</th><th>${t.source}</th><th>${t.duration}</th><th>${t.gaps}</th><th>${t.video}</th></tr></thead><tbody>${rows.join('')}</tbody></table>`
    : `<p>${t.none}</p>`;
  return { csp: RECORDINGS_CSP, body: doc(lang, t.title(roomId), `<h1>${esc(t.title(roomId))}</h1>${back}${nav}${table}`) };
}
