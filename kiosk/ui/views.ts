/**
 * The kiosk's screens as functions of the state: lesson line, scene
 * progress, attendance grid, device controls, environment and alerts,
 * today's timetable (the recording parts are in recording-view.ts). Each
 * returns DOM (built with h(), no innerHTML); the actions they call live in
 * main.ts.
 */
import { h } from './dom.js';
import { latestByMetric, needsVentilation } from './env.js';
import { getLocale, t, tOr, type MessageKey } from './i18n.js';
import { uploadPill } from './recording-view.js';
import type { AttendanceStatus, DeviceInfo, Lesson, SceneProgress, Snapshot, StudentLine } from './types.js';

export interface Actions {
  openStudent(s: StudentLine): void;
  /** 多选: selection mode on/off, a student in or out, the whole class, award the selected. */
  selectMode(on: boolean): void;
  toggleStudent(s: StudentLine): void;
  selectAll(ids: string[]): void;
  awardSelected(): void;
  device(d: DeviceInfo, command: string, args: Record<string, unknown>): void;
  help(): void;
}

const STATUS_KEY: Record<AttendanceStatus, MessageKey> = { present: 'att.present', late: 'att.late', absent: 'att.absent', leave: 'att.leave' };
export const statusLabel = (s: AttendanceStatus) => t(STATUS_KEY[s]);

function hhmm(ts: number, zone: string): string {
  return new Intl.DateTimeFormat(getLocale(), { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: zone }).format(ts);
}

export function deviceName(snap: Snapshot | null, id: string): string {
  const d = snap?.devices.find((x) => x.deviceId === id);
  return d?.name ?? (d ? tOr(`kind.${d.kind}`, 'kind.input') : id);
}

export function lessonLine(snap: Snapshot, now: number): Node {
  const l = snap.lesson;
  if (!l) {
    const n = snap.next;
    return h('div.lesson.none', {}, h('strong', {}, t('lesson.none')), n ? h('span', {}, t('lesson.next', { course: n.course, time: hhmm(n.startsAt, snap.room.timeZone) })) : null);
  }
  const parts: Array<Node | string> = [h('strong#lesson-course', {}, l.course)];
  if (l.className) parts.push(h('span', {}, l.className));
  parts.push(h('span', {}, l.period !== null ? t('lesson.period', { n: l.period }) : t('lesson.adHoc')));
  parts.push(h('span', {}, `${hhmm(l.startsAt, snap.room.timeZone)}–${hhmm(l.endsAt, snap.room.timeZone)}`));
  if (snap.phase === 'in-progress') parts.push(h('span#time-left.pill', {}, t('lesson.left', { m: Math.max(0, Math.ceil((l.endsAt - now) / 60_000)) })));
  else parts.push(h('span#time-left.pill', {}, t('lesson.startsIn', { m: Math.max(0, Math.ceil((l.startsAt - now) / 60_000)) }), ' · ', t('lesson.windowOpen')));
  return h('div.lesson', {}, ...parts);
}

/** The latest scene run (class-start, class-end, whoever started it), step by step. */
export function sceneProgress(snap: Snapshot | null, latest: SceneProgress[] | null): Node | null {
  if (!latest || latest[0]?.phase !== 'start') return null;
  const start = latest[0] as Extract<SceneProgress, { phase: 'start' }>;
  const done = latest.find((p) => p.phase === 'done');
  const rows = start.steps.map((s, i) => {
    const step = latest.find((p): p is Extract<SceneProgress, { phase: 'step' }> => p.phase === 'step' && p.index === i);
    const name = deviceName(snap, s.device);
    const state = !step ? 'pending' : step.step.ok ? 'ok' : 'failed';
    const label = state === 'pending' ? t('scene.pending') : state === 'ok' ? t('scene.ok') : t('scene.noReply');
    return h('li', { class: `step ${state}`, dataset: { device: s.device, state } }, h('span.step-name', {}, `${name} · ${tOr(`cmd.${s.command}`, { text: s.command })}`), h('span.step-state', {}, label));
  });
  let summary: Node | null = null;
  if (done?.phase === 'done') {
    const failed = [...new Set(done.result.steps.filter((s) => !s.ok).map((s) => deviceName(snap, s.device)))];
    summary = done.result.ok
      ? h('p.scene-ok', {}, t('scene.allOk'))
      : h('div.scene-failed', {}, ...failed.map((d) => h('p.failed-device', {}, t('scene.failed', { device: d }))), h('p', {}, t('scene.someFailed')));
  }
  return h('div.scene-run', { dataset: { scene: start.scene, run: start.runId, done: done ? '1' : '0' } }, h('h3', {}, tOr(`scene.${start.scene}`, 'class.working')), h('ol', {}, ...rows), summary);
}

export interface Selection {
  on: boolean;
  ids: ReadonlySet<string>;
}

export function attendanceView(snap: Snapshot, act: Actions, sel: Selection = { on: false, ids: new Set() }): Node {
  const a = snap.attendance;
  if (!a || !snap.lesson) return h('p.empty', {}, t('att.noLesson'));
  const points = new Map((snap.behaviour?.points.byStudent ?? []).map((p) => [p.studentId, p.total]));
  const counts = h(
    'div.counts',
    {},
    ...(
      [
        ['expected', 'att.expected', a.expected],
        ['present', 'att.present', a.present],
        ['late', 'att.late', a.late],
        ['absent', 'att.absent', a.absent],
        ['leave', 'att.leave', a.leave],
        ['unmarked', 'att.unmarked', a.unmarked],
      ] as Array<[string, MessageKey, number]>
    ).map(([k, key, n]) => h('div', { class: `count ${k}`, dataset: { count: k } }, h('b', {}, n), h('span', {}, t(key)))),
  );
  const shown = a.students.filter((s) => s.expected || s.status !== null);
  const tiles = shown.map((s) => {
    const status = s.status ?? (s.onLeave ? 'onleave' : 'unmarked');
    const label = s.status ? statusLabel(s.status) : s.onLeave ? t('att.onLeave') : t('att.unmarked');
    const p = points.get(s.studentId);
    const picked = sel.on && sel.ids.has(s.studentId);
    return h(
      'button.student',
      {
        type: 'button',
        class: picked ? `st-${status} selected` : `st-${status}`,
        dataset: { student: s.studentId, status },
        'aria-pressed': sel.on ? String(picked) : undefined,
        onclick: () => (sel.on ? act.toggleStudent(s) : act.openStudent(s)),
      },
      h('span.name', {}, s.name ?? s.studentId),
      h('span.status', {}, label),
      p ? h('span.points', { class: p > 0 ? 'plus' : 'minus' }, p > 0 ? `+${p}` : String(p)) : null,
    );
  });
  const q = snap.behaviour?.questions.at(-1);
  const clicker = q
    ? h(
        'div#clicker.clicker',
        { dataset: { question: q.questionId } },
        h('b', {}, t('clicker.title', { question: q.questionId })),
        ...Object.entries(q.answers)
          .sort(([x], [y]) => x.localeCompare(y))
          .map(([answer, n]) => h('span.answer', { dataset: { answer } }, h('b', {}, answer), ` ${n}`)),
        h('span.answered', {}, t('clicker.answered', { n: q.answered, m: snap.behaviour?.expected ?? a.expected })),
      )
    : null;
  const unknown = a.unknownCards.map((c) => h('li.unknown-card', {}, t('att.unknownCard', { uid: c.uid }), ' · ', hhmm(c.ts, snap.room.timeZone)));
  const bar = sel.on
    ? h(
        'div#group-bar.group-bar.selecting',
        {},
        h('span#group-count', {}, t('group.count', { n: sel.ids.size })),
        h('button#group-all.opt', { type: 'button', onclick: () => act.selectAll(shown.map((s) => s.studentId)) }, t('group.all')),
        h('button#group-none.opt', { type: 'button', disabled: sel.ids.size === 0, onclick: () => act.selectAll([]) }, t('group.none')),
        h('button#group-award.opt.primary', { type: 'button', disabled: sel.ids.size === 0, onclick: () => act.awardSelected() }, t('group.award')),
        h('button#group-done.opt', { type: 'button', onclick: () => act.selectMode(false) }, t('group.done')),
      )
    : h('div#group-bar.group-bar', {}, h('p.hint', {}, t('att.tapHint')), h('button#group-select.opt', { type: 'button', onclick: () => act.selectMode(true) }, t('group.select')));
  return h(
    'div',
    {},
    counts,
    clicker,
    bar,
    sel.on ? h('p.hint', {}, t('group.hint')) : null,
    h('div#grid.grid', { class: sel.on ? 'selecting' : '' }, ...tiles),
    unknown.length ? h('ul.unknown', {}, ...unknown) : null,
  );
}

function controlRow(label: string, ...buttons: Node[]): Node {
  return h('div.ctl', {}, h('span.ctl-label', {}, label), h('div.ctl-buttons', {}, ...buttons));
}

export function devicesView(snap: Snapshot, act: Actions): Node {
  const controllable = snap.devices.filter((d) => d.capabilities.some((c) => c.commands.length > 0 && c.type !== 'status'));
  if (controllable.length === 0) return h('p.empty', {}, t('dev.none'));
  return h(
    'div.devices',
    {},
    ...controllable.map((d) => {
      const off = !d.online;
      const btn = (text: string, active: boolean, command: string, args: Record<string, unknown>, key: string) =>
        h('button', { type: 'button', class: active ? 'opt active' : 'opt', disabled: off, 'aria-pressed': active ? 'true' : 'false', dataset: { ctl: key }, onclick: () => act.device(d, command, args) }, text);
      const rows: Node[] = [];
      for (const c of d.capabilities) {
        if (c.type === 'power') rows.push(controlRow(t('dev.power'), btn(t('dev.on'), d.state.power === 'on', 'power', { on: true }, 'power-on'), btn(t('dev.off'), d.state.power === 'off', 'power', { on: false }, 'power-off')));
        if (c.type === 'input') {
          const inputs = (Array.isArray(c.meta?.inputs) ? c.meta.inputs : []).filter((x): x is string => typeof x === 'string').slice(0, 6);
          rows.push(controlRow(t('dev.input'), ...inputs.map((i) => btn(i.toUpperCase(), d.state.input === i, 'input', { source: i }, `input-${i}`))));
        }
        if (c.type === 'volume') {
          const max = typeof c.meta?.max === 'number' ? c.meta.max : 100;
          const v = typeof d.state.volume === 'number' ? d.state.volume : null;
          rows.push(
            controlRow(
              t('dev.volume'),
              btn('−', false, 'volume', { level: Math.max(0, (v ?? 0) - 5) }, 'volume-down'),
              h('span.value', { dataset: { value: 'volume' } }, v ?? '–'),
              btn('+', false, 'volume', { level: Math.min(max, (v ?? 0) + 5) }, 'volume-up'),
            ),
          );
        }
        if (c.type === 'mute') rows.push(controlRow(t('dev.mute'), btn(d.state.mute === true ? t('dev.unmute') : t('dev.mute'), d.state.mute === true, 'mute', { on: d.state.mute !== true }, 'mute')));
        if (c.type === 'ptz-presets') rows.push(controlRow(t('kind.camera'), ...[1, 2, 3, 4].map((n) => btn(t('dev.preset', { n }), d.state.preset === n, 'preset', { recall: n }, `preset-${n}`))));
        if (c.type === 'relay') rows.push(controlRow(t('dev.switch'), btn(t('dev.on'), d.state.on === true, 'set', { on: true }, 'relay-on'), btn(t('dev.off'), d.state.on === false, 'set', { on: false }, 'relay-off')));
      }
      return h(
        'article.device',
        { class: off ? 'offline' : 'online', dataset: { device: d.deviceId, online: String(d.online) } },
        h('header', {}, h('h3', {}, d.name ?? tOr(`kind.${d.kind}`, 'kind.input')), h('span', { class: off ? 'badge off' : 'badge on' }, off ? t('dev.offline') : t('dev.online'))),
        ...rows,
        off && d.lastError ? h('p.error', {}, t('toast.deviceFailed', { device: d.name ?? d.deviceId })) : null,
      );
    }),
  );
}

const METRICS: Array<[string, MessageKey]> = [
  ['temperature', 'env.temperature'],
  ['humidity', 'env.humidity'],
  ['co2', 'env.co2'],
  ['pm25', 'env.pm25'],
  ['illuminance', 'env.illuminance'],
];

export function environmentView(snap: Snapshot, act: Actions): Node {
  const byMetric = latestByMetric(snap.sensors);
  const tiles = METRICS.filter(([m]) => byMetric.has(m)).map(([m, key]) => {
    const r = byMetric.get(m)!;
    return h('div.reading', { dataset: { metric: m } }, h('span', {}, t(key)), h('b', {}, `${Math.round(r.value * 10) / 10}`), h('small', {}, r.unit));
  });
  const ventilate = needsVentilation(byMetric, snap.kiosk.ventilation);
  const alerts = snap.alerts.slice(0, 8).map((a) => h('li', { class: `alert ${a.severity}`, dataset: { code: a.code } }, h('b', {}, tOr(`alert.${a.code}`, 'alert.other')), ' · ', hhmm(a.ts, snap.room.timeZone)));
  return h(
    'div.env',
    {},
    ventilate ? h('p#ventilate.warn', { role: 'alert' }, t('env.ventilate')) : null,
    tiles.length ? h('div.readings', {}, ...tiles) : h('p.empty', {}, t('env.noData')),
    h('h3', {}, t('alerts.title')),
    alerts.length ? h('ul.alerts', {}, ...alerts) : h('p.empty', {}, t('alerts.none')),
    h('button#help.big.help', { type: 'button', onclick: () => act.help() }, t('help.button')),
  );
}

export function timetableView(snap: Snapshot): Node {
  if (snap.today.length === 0) return h('p.empty', {}, t('timetable.empty'));
  return h(
    'ol.timetable',
    {},
    ...snap.today.map((l: Snapshot['today'][number]) =>
      h(
        'li',
        { class: snap.lesson?.lessonId === l.lessonId ? 'current' : '', dataset: { lesson: l.lessonId } },
        h('span.when', {}, `${hhmm(l.startsAt, snap.room.timeZone)}–${hhmm(l.endsAt, snap.room.timeZone)}`),
        h('span.what', {}, l.period !== null ? t('lesson.period', { n: l.period }) : t('lesson.adHoc')),
        h('b', {}, l.course),
        h('span', {}, l.className ?? l.classId),
        snap.lesson?.lessonId === l.lessonId ? h('span.pill', {}, t('timetable.current')) : null,
        l.sync ? h('span', { class: `pill sync-${l.sync}` }, t(`timetable.sync.${l.sync}`)) : null,
        uploadPill(snap, l.lessonId),
      ),
    ),
  );
}
