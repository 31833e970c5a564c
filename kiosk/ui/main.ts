/**
 * The teacher's kiosk (issue 6, docs/kiosk.md): state, live updates,
 * actions. Pairing, lock screen and dialogs are in overlays.ts, the screens
 * in views.ts. All text comes from i18n.ts (zh-CN default, en at a touch).
 */
import { Api } from './api.js';
import { byId, h } from './dom.js';
import { getLocale, isLocale, MESSAGES, setLocale, t, tOr, type Locale, type MessageKey } from './i18n.js';
import { LiveChannel } from './live.js';
import { Overlays } from './overlays.js';
import type { Category, DeviceInfo, LiveFrame, Reading, RecordingState, SceneProgress, Snapshot, StudentLine } from './types.js';
import { recordingIndicator, recordingNotice, updateRecordingControl } from './recording-view.js';
import { attendanceView, deviceName, devicesView, environmentView, lessonLine, sceneProgress, statusLabel, timetableView, type Actions } from './views.js';

const LOCALE_KEY = 'classroom-edge.kiosk.locale';
type Tab = 'attendance' | 'devices' | 'environment' | 'timetable';
const TABS: Array<[Tab, MessageKey]> = [
  ['attendance', 'tab.attendance'],
  ['devices', 'tab.devices'],
  ['environment', 'tab.environment'],
  ['timetable', 'tab.timetable'],
];

const state = {
  snap: null as Snapshot | null,
  /** Edge clock minus this browser's clock. */
  offset: 0,
  connected: false,
  pending: 0,
  tab: 'attendance' as Tab,
  scene: null as SceneProgress[] | null,
  busy: null as 'start' | 'end' | null,
  /** A recording start/stop is on its way (the button stays disabled: a double touch is one command). */
  recBusy: false,
  /** The teacher who last unlocked the kiosk (card or PIN): the teacher of an unscheduled session. */
  teacherId: null as string | null,
  /** 多选 on the attendance grid: the selected students. */
  selecting: false,
  selected: new Set<string>(),
};

const api = new Api();
const overlays = new Overlays(api, {
  paired: () => live.start(),
  unlocked: (teacher) => {
    if (teacher) state.teacherId = teacher.teacherId;
    render();
  },
});
const live = new LiveChannel(() => api.bearer, {
  frame: onFrame,
  status: (c) => {
    state.connected = c;
    if (c) api.flush();
    renderChrome();
  },
  unauthorized: () => {
    api.forget();
    overlays.showPair();
  },
});
api.onPending = (n) => {
  state.pending = n;
  renderChrome();
};
state.pending = api.pending;
api.onUnauthorized = () => {
  live.stop();
  api.forget();
  overlays.showPair();
};

const now = () => Date.now() + state.offset;

let resyncTimer: number | undefined;
function resyncSoon(): void {
  window.clearTimeout(resyncTimer);
  resyncTimer = window.setTimeout(() => live.resync(), 150);
}

function onFrame(f: LiveFrame): void {
  switch (f.type) {
    case 'snapshot':
      state.snap = f.data;
      state.offset = f.data.serverNow - Date.now();
      state.scene = f.data.scene ?? state.scene;
      overlays.configure(f.data);
      render();
      return;
    case 'tick':
      state.offset = f.serverNow - Date.now();
      renderChrome();
      return;
    case 'unlock':
      overlays.unlockByCard(f.teacherId, f.name);
      return;
    case 'scene':
      if (f.progress.phase === 'start') state.scene = [f.progress];
      else if (state.scene?.[0]?.runId === f.progress.runId) state.scene.push(f.progress);
      renderScene();
      return;
    case 'event':
      onEvent(f);
      return;
  }
}

function onEvent(f: Extract<LiveFrame, { type: 'event' }>): void {
  const snap = state.snap;
  if (!snap) return;
  if (f.kind === 'device-state') {
    const p = f.payload as Partial<DeviceInfo> & { deviceId: string };
    const d = snap.devices.find((x) => x.deviceId === p.deviceId);
    if (d) Object.assign(d, { online: p.online ?? d.online, state: p.state ?? d.state, lastError: p.lastError ?? null });
    if (state.tab === 'devices') renderTab();
    return;
  }
  if (f.kind === 'sensor' && f.deviceId && f.metric) {
    const p = f.payload as { value: number; unit: string; ts: number };
    const r: Reading = { device: f.deviceId, metric: f.metric, value: p.value, unit: p.unit, ts: p.ts };
    snap.sensors = [...snap.sensors.filter((x) => !(x.device === r.device && x.metric === r.metric)), r];
    if (state.tab === 'environment') renderTab();
    return;
  }
  if (f.kind === 'recording') {
    // Validated by the edge (recordingSchema); the latest message is the whole state.
    snap.recording = f.payload as RecordingState;
    renderChrome();
    if (state.tab === 'timetable') renderTab();
    return;
  }
  if (f.kind === 'alert') {
    snap.alerts = [f.payload as Snapshot['alerts'][number], ...snap.alerts].slice(0, 30);
    if (state.tab === 'environment') renderTab();
    if ((f.payload as { code?: string }).code === 'unknown-card') resyncSoon();
    return;
  }
  // attendance, behaviour, lesson: many things change; take a fresh snapshot.
  resyncSoon();
}

// --- rendering ---

function renderChrome(): void {
  const snap = state.snap;
  document.documentElement.lang = getLocale();
  document.title = t('app.title');
  byId('room').textContent = snap ? snap.room.name : t('app.title');
  byId('lesson-line').replaceChildren(snap ? lessonLine(snap, now()) : '');
  const conn = byId('conn');
  conn.textContent = state.connected ? t('conn.online') : t('conn.offline');
  conn.className = state.connected ? 'online' : 'offline';
  document.body.classList.toggle('disconnected', !state.connected && snap !== null);
  const outage = byId('outage');
  outage.hidden = state.connected || !snap;
  outage.replaceChildren(t('conn.outage'), state.pending > 0 ? h('b', {}, ' ', t('conn.pending', { n: state.pending })) : '');
  byId('rec').replaceChildren(...recordingIndicator(snap, now()));
  byId('rec-notice').replaceChildren(...recordingNotice(snap, now()));
  updateRecordingControl(byId<HTMLButtonElement>('rec-btn'), snap, state.recBusy);
  byId('lang').textContent = t('lang.switch');
  byId('lock-btn').textContent = t('lock.button');
  const start = byId<HTMLButtonElement>('start');
  const end = byId<HTMLButtonElement>('end');
  start.textContent = state.busy === 'start' ? t('class.working') : t('class.start');
  end.textContent = state.busy === 'end' ? t('class.working') : t('class.end');
  start.disabled = state.busy !== null || !snap;
  end.disabled = state.busy !== null || !snap;
}

function renderTabs(): void {
  byId('tabs').replaceChildren(
    ...TABS.map(([id, key]) =>
      h('button', { type: 'button', class: state.tab === id ? 'tab-btn active' : 'tab-btn', dataset: { tab: id }, onclick: () => selectTab(id) }, t(key)),
    ),
  );
}

function renderScene(): void {
  byId('scene').replaceChildren(sceneProgress(state.snap, state.scene) ?? '');
}

const actions: Actions = {
  openStudent: (s) => openStudent(s),
  device: (d, command, args) => void deviceCommand(d, command, args),
  help: () => void requestHelp(),
  selectMode: (on) => {
    state.selecting = on;
    state.selected.clear();
    renderTab();
  },
  toggleStudent: (s) => {
    if (!state.selected.delete(s.studentId)) state.selected.add(s.studentId);
    renderTab();
  },
  selectAll: (ids) => {
    state.selected = new Set(ids);
    renderTab();
  },
  awardSelected: () => void awardSelected(),
};

function renderTab(): void {
  const snap = state.snap;
  for (const [id] of TABS) byId(`tab-${id}`).hidden = id !== state.tab;
  if (!snap) return;
  const el = byId(`tab-${state.tab}`);
  if (state.tab === 'attendance') el.replaceChildren(attendanceView(snap, actions, { on: state.selecting, ids: state.selected }));
  if (state.tab === 'devices') el.replaceChildren(devicesView(snap, actions));
  if (state.tab === 'environment') el.replaceChildren(environmentView(snap, actions));
  if (state.tab === 'timetable') el.replaceChildren(timetableView(snap));
}

function render(): void {
  renderChrome();
  renderTabs();
  renderScene();
  renderTab();
  overlays.render();
}

function selectTab(tab: Tab): void {
  state.tab = tab;
  render();
}

// --- actions ---

function failure(body: unknown): string {
  const e = (body as { error?: { message?: string } } | null)?.error;
  return e?.message ?? '?';
}

async function classAction(which: 'start' | 'end'): Promise<void> {
  const snap = state.snap;
  let adHoc: { classId: string; course: string; minutes: number; teacherId?: string } | null = null;
  if (which === 'start' && snap?.phase === 'none') {
    // Nothing scheduled now: 上课 starts an unscheduled session of the class and course the teacher picks.
    const courses = [...new Set([...snap.today.map((l) => l.course), MESSAGES['zh-CN']['adhoc.selfStudy']])];
    adHoc = await overlays.adHoc(snap.classes, courses);
    if (!adHoc) return;
    if (state.teacherId) adHoc.teacherId = state.teacherId;
  }
  state.busy = which;
  renderChrome();
  try {
    const r = await api.command<{ scene?: { result?: { ok: boolean } | null } }>('POST', `/api/kiosk/class/${which}`, adHoc ? { adHoc } : {}, () => overlays.toast(t('toast.pending')));
    if (r.status >= 400) overlays.toast(t('toast.failed', { message: failure(r.body) }), true);
    else if (r.body.scene && 'result' in r.body.scene && r.body.scene.result === null) overlays.toast(t('class.noScene'));
  } finally {
    state.busy = null;
    renderChrome();
    live.resync();
  }
}

async function deviceCommand(d: DeviceInfo, command: string, args: Record<string, unknown>): Promise<void> {
  const r = await api.command<{ ok?: boolean }>('POST', `/api/kiosk/devices/${encodeURIComponent(d.deviceId)}/commands`, { command, args }, () => overlays.toast(t('toast.pending')));
  if (r.status >= 400 || r.body?.ok === false) overlays.toast(t('toast.deviceFailed', { device: deviceName(state.snap, d.deviceId) }), true);
}

function openStudent(s: StudentLine): void {
  const snap = state.snap;
  const lesson = snap?.lesson;
  if (!snap || !lesson) return;
  const name = s.name ?? s.studentId;
  const path = (rest: string) => `/api/lessons/${encodeURIComponent(lesson.lessonId)}${rest}`;
  overlays.student(s, snap.categories, {
    award: async (c) => {
      const r = await api.command('POST', path('/behaviour'), { studentId: s.studentId, categoryId: c.id }, () => overlays.toast(t('toast.pending')));
      if (r.status >= 400) overlays.toast(t('toast.failed', { message: failure(r.body) }), true);
      else overlays.toast(t('toast.awarded', { name, category: tOr(`cat.${c.id}`, { text: c.label }) }));
    },
    mark: async (status) => {
      const ok = await overlays.confirm(t('confirm.mark', { name, status: statusLabel(status) }));
      if (!ok) return;
      const r = await api.command('PUT', path(`/attendance/${encodeURIComponent(s.studentId)}`), { status }, () => overlays.toast(t('toast.pending')));
      if (r.status >= 400) overlays.toast(t('toast.failed', { message: failure(r.body) }), true);
      else overlays.toast(t('toast.marked', { name, status: statusLabel(status) }));
    },
  });
}

/** 多选: one category for the selected students, after a confirmation naming how many; one command id for the group. */
async function awardSelected(): Promise<void> {
  const snap = state.snap;
  const lesson = snap?.lesson;
  const ids = [...state.selected];
  if (!snap || !lesson || ids.length === 0) return;
  const c: Category | null = await overlays.pickCategory(ids.length, snap.categories);
  if (!c) return;
  const category = tOr(`cat.${c.id}`, { text: c.label });
  if (!(await overlays.confirm(t('group.confirm', { n: ids.length, category })))) return;
  state.selecting = false;
  state.selected.clear();
  renderTab();
  const path = `/api/lessons/${encodeURIComponent(lesson.lessonId)}/behaviour/students`;
  const r = await api.command<{ awarded?: number; duplicates?: number }>('POST', path, { studentIds: ids, categoryId: c.id }, () => overlays.toast(t('toast.pending')));
  if (r.status >= 400) overlays.toast(t('toast.failed', { message: failure(r.body) }), true);
  // A retry after a lost reply finds the awards stored (duplicates): those students have the award all the same.
  else overlays.toast(t('group.awarded', { n: (r.body.awarded ?? 0) + (r.body.duplicates ?? 0), category }));
}

/**
 * Start/stop recording every source (offered when the edge sets kiosk.recordingControl); stopping asks first.
 * The badges change from the recorder's `recording` messages, not from this reply.
 */
async function recordingCommand(action: 'start' | 'stop'): Promise<void> {
  if (state.recBusy) return;
  if (action === 'stop' && !(await overlays.confirm(t('rec.confirmStop')))) return;
  state.recBusy = true;
  renderChrome();
  try {
    const r = await api.command('POST', '/api/kiosk/recording', { action }, () => overlays.toast(t('toast.pending')));
    const code = (r.body as { error?: { code?: string } } | null)?.error?.code;
    if (r.status >= 400) overlays.toast(code ? tOr(`rec.err.${code}`, { text: t('toast.failed', { message: failure(r.body) }) }) : t('toast.failed', { message: failure(r.body) }), true);
    else if (action === 'stop') overlays.toast(t('rec.stopped'));
  } finally {
    state.recBusy = false;
    renderChrome();
  }
}

async function requestHelp(): Promise<void> {
  if (!(await overlays.confirm(t('help.confirm')))) return;
  const r = await api.command('POST', '/api/kiosk/help', {}, () => overlays.toast(t('toast.pending')));
  if (r.status >= 400) overlays.toast(t('toast.failed', { message: failure(r.body) }), true);
  else overlays.toast(t('help.sent'));
}

function toggleLocale(): void {
  const next: Locale = getLocale() === 'zh-CN' ? 'en' : 'zh-CN';
  setLocale(next);
  localStorage.setItem(LOCALE_KEY, next);
  render();
}

// --- start ---

function boot(): void {
  const preload = (window as unknown as { kiosk?: { locale?: unknown } }).kiosk?.locale;
  const saved = localStorage.getItem(LOCALE_KEY);
  setLocale(isLocale(saved) ? saved : isLocale(preload) ? preload : 'zh-CN');
  byId('start').addEventListener('click', () => void classAction('start'));
  byId('end').addEventListener('click', () => void classAction('end'));
  byId('rec-btn').addEventListener('click', (e) => {
    const action = (e.currentTarget as HTMLElement).dataset.recCtl;
    if (action === 'start' || action === 'stop') void recordingCommand(action);
  });
  byId('lang').addEventListener('click', toggleLocale);
  byId('lock-btn').addEventListener('click', () => overlays.lock());
  window.setInterval(() => {
    renderChrome();
    overlays.checkIdle();
  }, 1000);
  render();
  if (api.paired) {
    overlays.lock(); // a (re)loaded kiosk starts locked
    live.start();
  } else overlays.showPair();
}

boot();
