/**
 * The recording parts of the screen (DOM; the rules are in recording.ts):
 * the top bar's badges, the notice line under the top bar that says why a
 * source is interrupted or failed, the start/stop button under 上课/下课,
 * and a lesson's upload pill in the timetable.
 */
import { h } from './dom.js';
import { t, type MessageKey } from './i18n.js';
import { lessonUpload, recordingBadges, recordingButton } from './recording.js';
import type { RecordingSourceState, Snapshot } from './types.js';

const STATE_KEY: Record<Exclude<RecordingSourceState, 'idle'>, MessageKey> = {
  starting: 'rec.starting',
  recording: 'rec.recording',
  degraded: 'rec.degraded',
  stopping: 'rec.stopping',
  error: 'rec.error',
};

/** Source names are shown only when the room records more than one: the label a teacher knows (教师特写), else the id. */
function namer(snap: Snapshot): (source: string) => string | null {
  const labels = new Map(snap.kiosk.recordingSources.map((s) => [s.id, s.label]));
  const many = new Set([...labels.keys(), ...Object.keys(snap.recording?.sources ?? {})]).size > 1;
  return (source) => (many ? (labels.get(source) ?? source) : null);
}

/**
 * The top bar: one badge per source that is not idle ("● 录制中 12:34",
 * 正在启动录制, 录制中断·重连中, 正在结束录制, 录制异常), its live push next to it
 * (直播中, 直播重连中...); nothing when every source is idle or no recorder has published.
 */
export function recordingIndicator(snap: Snapshot | null, now: number): Node[] {
  if (!snap) return [];
  const name = namer(snap);
  return recordingBadges(snap.recording, now).flatMap((b) => {
    const n = name(b.source);
    const badge = h(
      'span.rec',
      { class: b.state, dataset: { source: b.source, state: b.state } },
      b.state === 'recording' ? [h('span.rec-dot', {}, '●'), ' '] : null,
      t(STATE_KEY[b.state]),
      b.elapsed !== null ? [' ', h('span.rec-time', {}, b.elapsed)] : null,
      n ? [' ', h('small', {}, n)] : null,
    );
    return b.live ? [badge, h('span.rec-live', { class: b.live, dataset: { source: b.source, live: b.live } }, t(`rec.live.${b.live}` as const))] : [badge];
  });
}

/** Under the top bar, for an interrupted or failed source: what it means for the lesson, and the recorder's reason. */
export function recordingNotice(snap: Snapshot | null, now: number): Node[] {
  if (!snap) return [];
  const name = namer(snap);
  return recordingBadges(snap.recording, now)
    .filter((b) => b.state === 'degraded' || b.state === 'error')
    .map((b) => {
      const n = name(b.source);
      return h(
        'p.rec-notice',
        { class: b.state, dataset: { source: b.source, state: b.state } },
        h('b', {}, n ? `${n}：` : '', t(b.state === 'error' ? 'rec.notice.error' : 'rec.notice.degraded')),
        b.reason ? h('span.rec-reason', {}, t('rec.notice.reason', { reason: b.reason })) : null,
      );
    });
}

/**
 * 开始录制 / 停止录制 under 上课/下课, only when the edge offers it
 * (kiosk.recordingControl). The button is updated in place, not rebuilt: the
 * top bar is redrawn every second, and a touch must not land on a button
 * replaced between press and release. Its `data-rec-ctl` is the action a
 * touch sends (absent while hidden).
 */
export function updateRecordingControl(el: HTMLButtonElement, snap: Snapshot | null, inFlight: boolean): void {
  const b = snap ? recordingButton(snap.recording, snap.kiosk.recordingControl, inFlight) : null;
  el.hidden = b === null;
  if (!b) {
    delete el.dataset.recCtl;
    return;
  }
  el.dataset.recCtl = b.action;
  el.className = `big ${b.action === 'stop' ? 'rec-stop' : 'rec-start'}`;
  el.disabled = b.disabled;
  el.textContent = t(b.action === 'stop' ? 'rec.stop' : 'rec.start');
}

/** A lesson's recordings in the timetable: 录像待上传 / 录像上传中 45% / 录像已上传. */
export function uploadPill(snap: Snapshot, lessonId: string): Node | null {
  const u = lessonUpload(snap.recording, lessonId);
  if (!u) return null;
  const text = u.state === 'uploading' ? t('rec.upload.uploading', { p: u.percent }) : t(u.state === 'done' ? 'rec.upload.done' : 'rec.upload.waiting');
  return h('span', { class: `pill upload-${u.state}`, dataset: { upload: u.state } }, text);
}
