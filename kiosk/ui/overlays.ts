/**
 * Everything that covers the screen: the one-time pairing screen, the lock
 * screen (idle lock; PIN pad and/or teacher card), the student sheet
 * (praise, remark, attendance correction), the confirmation dialog and the
 * toast. The lock is the kiosk's (a touch screen at the front of the class):
 * it hides the controls, the live state keeps updating underneath; PINs are
 * checked by the edge (POST /api/kiosk/unlock), never known to the page.
 */
import { Api, Unauthorized } from './api.js';
import { byId, h } from './dom.js';
import { t, tOr } from './i18n.js';
import type { AttendanceStatus, Category, Snapshot, StudentLine } from './types.js';
import { statusLabel } from './views.js';

const STATUSES: AttendanceStatus[] = ['present', 'late', 'absent', 'leave'];

export class Overlays {
  private locked = false;
  private lastTouch = Date.now();
  private idleMs = 180_000;
  private pinUnlock = false;
  private pin = '';
  private lockMessage = '';
  private toastTimer: number | undefined;

  constructor(
    private readonly api: Api,
    private readonly on: { paired(): void; unlocked(teacher: { teacherId: string; name: string | null } | null): void },
  ) {
    for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, () => (this.lastTouch = Date.now()), { capture: true });
  }

  configure(snap: Snapshot): void {
    this.idleMs = snap.kiosk.idleLockSeconds * 1000;
    this.pinUnlock = snap.kiosk.pinUnlock;
    if (this.locked) this.renderLock();
  }

  render(): void {
    if (this.locked) this.renderLock();
    const pair = byId('pair');
    if (!pair.hidden) this.renderPair();
  }

  checkIdle(): void {
    if (!this.locked && this.api.paired && Date.now() - this.lastTouch > this.idleMs) this.lock();
  }

  // --- pairing ---

  showPair(): void {
    byId('pair').hidden = false;
    this.renderPair();
  }

  private renderPair(message = ''): void {
    const user = h('input#pair-user', { name: 'username', autocomplete: 'off', value: 'kiosk' });
    const pass = h('input#pair-pass', { name: 'password', type: 'password', autocomplete: 'off' });
    const submit = async (ev: Event) => {
      ev.preventDefault();
      try {
        const r = await this.api.pair(user.value.trim(), pass.value, 'kiosk');
        if (r.status === 201) {
          byId('pair').hidden = true;
          this.on.paired();
          return;
        }
        this.renderPair(r.status === 403 ? t('pair.notTeacher') : t('pair.failed'));
      } catch {
        this.renderPair(t('pair.unreachable'));
      }
    };
    byId('pair').replaceChildren(
      h(
        'form.card',
        { onsubmit: submit },
        h('h2', {}, t('pair.title')),
        h('p', {}, t('pair.hint')),
        h('label', {}, t('pair.username'), user),
        h('label', {}, t('pair.password'), pass),
        message ? h('p.error', { role: 'alert' }, message) : null,
        h('button#pair-submit.big', { type: 'submit' }, t('pair.submit')),
      ),
    );
  }

  // --- lock ---

  lock(): void {
    this.locked = true;
    this.pin = '';
    this.lockMessage = '';
    this.closeDialog();
    byId('lock').hidden = false;
    this.renderLock();
  }

  private unlock(teacher: { teacherId: string; name: string | null } | null): void {
    this.locked = false;
    this.lastTouch = Date.now();
    byId('lock').hidden = true;
    if (teacher?.name) this.toast(t('lock.unlockedBy', { name: teacher.name }));
    this.on.unlocked(teacher);
  }

  /** A teacher's card was tapped on the room's reader. */
  unlockByCard(teacherId: string, name: string): void {
    if (this.locked) this.unlock({ teacherId, name });
  }

  private async submitPin(): Promise<void> {
    const pin = this.pin;
    this.pin = '';
    try {
      const r = await this.api.request<{ teacherId?: string; name?: string | null; error?: { code: string; retryAfterMs?: number } }>('POST', '/api/kiosk/unlock', { pin });
      if (r.status === 200 && r.body.teacherId) return this.unlock({ teacherId: r.body.teacherId, name: r.body.name ?? null });
      this.lockMessage = r.body.error?.code === 'too-many-attempts' ? t('lock.tooMany', { s: Math.ceil((r.body.error.retryAfterMs ?? 60_000) / 1000) }) : t('lock.wrongPin');
    } catch (e) {
      this.lockMessage = e instanceof Unauthorized ? '' : t('conn.offline');
    }
    this.renderLock();
  }

  private renderLock(): void {
    const digit = (d: string) =>
      h('button.key', { type: 'button', dataset: { key: d }, onclick: () => ((this.pin = (this.pin + d).slice(0, 8)), this.renderLock()) }, d);
    const pad = this.pinUnlock
      ? h(
          'div.pinpad',
          {},
          h('div#pin-dots.dots', {}, '●'.repeat(this.pin.length) || ' '),
          h('div.keys', {}, ...'123456789'.split('').map(digit), h('button.key.clear', { type: 'button', onclick: () => ((this.pin = ''), this.renderLock()) }, t('lock.clear')), digit('0'), h('button#pin-ok.key.ok', { type: 'button', disabled: this.pin.length < 4, onclick: () => void this.submitPin() }, t('lock.unlock'))),
        )
      : null;
    byId('lock').replaceChildren(
      h('div.card.lock', {}, h('h2', {}, '🔒 ', t('lock.title')), h('p', {}, this.pinUnlock ? t('lock.hintPin') : t('lock.hintCard')), this.lockMessage ? h('p.error', { role: 'alert' }, this.lockMessage) : null, pad),
    );
  }

  // --- dialogs ---

  private closeDialog(): void {
    const d = byId('dialog');
    d.hidden = true;
    d.replaceChildren();
  }

  /** Ask; resolves true on 确定. */
  confirm(question: string): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        this.closeDialog();
        resolve(v);
      };
      const d = byId('dialog');
      d.replaceChildren(
        h(
          'div.card.confirm',
          { role: 'alertdialog' },
          h('p.question', {}, question),
          h('div.row', {}, h('button#confirm-cancel.big.secondary', { type: 'button', onclick: () => done(false) }, t('confirm.cancel')), h('button#confirm-ok.big', { type: 'button', onclick: () => done(true) }, t('confirm.ok'))),
        ),
      );
      d.hidden = false;
    });
  }

  student(s: StudentLine, categories: Category[], act: { award(c: Category): Promise<void>; mark(status: AttendanceStatus): Promise<void> }): void {
    const name = s.name ?? s.studentId;
    const catButtons = (kind: Category['kind']) =>
      categories
        .filter((c) => c.kind === kind)
        .map((c) =>
          h('button', { type: 'button', class: `cat ${kind}`, dataset: { category: c.id }, onclick: () => (this.closeDialog(), void act.award(c)) }, tOr(`cat.${c.id}`, { text: c.label }), h('small', {}, c.points > 0 ? ` +${c.points}` : ` ${c.points}`)),
        );
    const d = byId('dialog');
    d.replaceChildren(
      h(
        'div.card.student-sheet',
        { role: 'dialog', dataset: { student: s.studentId } },
        h('header', {}, h('h2', {}, name), h('button#dialog-close.secondary', { type: 'button', onclick: () => this.closeDialog() }, t('dialog.close'))),
        h('h3', {}, t('student.praise')),
        h('div.row.wrap', {}, ...catButtons('praise')),
        h('h3', {}, t('student.remark')),
        h('div.row.wrap', {}, ...catButtons('remark')),
        h('h3', {}, t('student.mark')),
        h(
          'div.row.wrap',
          {},
          ...STATUSES.map((st) =>
            h('button', { type: 'button', class: s.status === st ? `mark st-${st} active` : `mark st-${st}`, dataset: { mark: st }, onclick: () => (this.closeDialog(), void act.mark(st)) }, statusLabel(st)),
          ),
        ),
      ),
    );
    d.hidden = false;
  }

  /** 多选: the category to record for the selected students; null when closed. */
  pickCategory(n: number, categories: Category[]): Promise<Category | null> {
    return new Promise((resolve) => {
      const done = (c: Category | null) => {
        this.closeDialog();
        resolve(c);
      };
      const catButtons = (kind: Category['kind']) =>
        categories
          .filter((c) => c.kind === kind)
          .map((c) => h('button', { type: 'button', class: `cat ${kind}`, dataset: { category: c.id }, onclick: () => done(c) }, tOr(`cat.${c.id}`, { text: c.label }), h('small', {}, c.points > 0 ? ` +${c.points}` : ` ${c.points}`)));
      const d = byId('dialog');
      d.replaceChildren(
        h(
          'div.card.student-sheet.group-sheet',
          { role: 'dialog' },
          h('header', {}, h('h2', {}, t('group.title', { n })), h('button#dialog-close.secondary', { type: 'button', onclick: () => done(null) }, t('dialog.close'))),
          h('h3', {}, t('student.praise')),
          h('div.row.wrap', {}, ...catButtons('praise')),
          h('h3', {}, t('student.remark')),
          h('div.row.wrap', {}, ...catButtons('remark')),
        ),
      );
      d.hidden = false;
    });
  }

  /** No lesson now: choose class, course and length of an unscheduled session; null when closed. */
  adHoc(classes: Array<{ classId: string; name: string }>, courses: string[]): Promise<{ classId: string; course: string; minutes: number } | null> {
    return new Promise((resolve) => {
      const choice = { classId: classes[0]?.classId ?? '', course: courses[0] ?? '', minutes: 45 };
      const done = (v: typeof choice | null) => {
        this.closeDialog();
        resolve(v);
      };
      const render = () => {
        const pick = <K extends keyof typeof choice>(key: K, value: (typeof choice)[K], label: string, data: string) =>
          h('button', { type: 'button', class: choice[key] === value ? 'opt active' : 'opt', dataset: { [key]: data }, onclick: () => ((choice[key] = value), render()) }, label);
        byId('dialog').replaceChildren(
          h(
            'div.card.adhoc',
            { role: 'dialog' },
            h('header', {}, h('h2', {}, t('adhoc.title')), h('button#dialog-close.secondary', { type: 'button', onclick: () => done(null) }, t('dialog.close'))),
            h('p', {}, t('adhoc.hint')),
            h('h3', {}, t('adhoc.class')),
            h('div.row.wrap', {}, ...classes.map((c) => pick('classId', c.classId, c.name, c.classId))),
            h('h3', {}, t('adhoc.course')),
            h('div.row.wrap', {}, ...courses.map((c) => pick('course', c, c, c))),
            h('h3', {}, t('adhoc.minutes')),
            h('div.row.wrap', {}, ...[40, 45, 90].map((n) => pick('minutes', n, t('adhoc.minutesN', { n }), String(n)))),
            h('div.row', {}, h('button#adhoc-start.big.start', { type: 'button', disabled: !choice.classId || !choice.course, onclick: () => done({ ...choice }) }, t('adhoc.start'))),
          ),
        );
      };
      render();
      byId('dialog').hidden = false;
    });
  }

  toast(text: string, error = false): void {
    const el = byId('toast');
    el.textContent = text;
    el.className = error ? 'error' : '';
    el.hidden = false;
    window.clearTimeout(this.toastTimer);
    this.toastTimer = window.setTimeout(() => (el.hidden = true), 4000);
  }
}
