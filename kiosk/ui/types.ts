/**
 * The wire shapes the kiosk UI reads (the snapshot of edge/api/kiosk-routes.ts
 * and the live frames of edge/api/kiosk-live.ts). The UI is a separate
 * program that talks to the edge only over HTTP (shared/DESIGN.md section 2),
 * so these are declared here, limited to the fields the UI uses.
 */
export type AttendanceStatus = 'present' | 'late' | 'absent' | 'leave';

export interface Lesson {
  lessonId: string;
  date: string;
  period: number | null;
  course: string;
  classId: string;
  className: string | null;
  teacherName: string | null;
  startsAt: number;
  endsAt: number;
  adHoc: boolean;
}

export interface StudentLine {
  studentId: string;
  name: string | null;
  expected: boolean;
  onLeave: boolean;
  status: AttendanceStatus | null;
  source: 'card' | 'teacher' | 'auto' | null;
}

export interface AttendanceSummary {
  lesson: { lessonId: string };
  expected: number;
  present: number;
  late: number;
  absent: number;
  leave: number;
  unmarked: number;
  open: boolean;
  started: boolean;
  unknownCards: Array<{ uid: string; reader: string; ts: number }>;
  students: StudentLine[];
}

export interface DeviceInfo {
  deviceId: string;
  name?: string;
  kind: string;
  online: boolean;
  state: Record<string, unknown>;
  lastError: { message: string; code?: string } | null;
  capabilities: Array<{ type: string; meta?: Record<string, unknown>; commands: string[] }>;
}

export interface Category {
  id: string;
  label: string;
  kind: 'praise' | 'remark';
  points: number;
}

export interface Alert {
  id: string;
  severity: 'info' | 'warning' | 'critical';
  code: string;
  message: string;
  data?: Record<string, unknown>;
  ts: number;
}

export interface SceneStep {
  device: string;
  command: string;
  ok: boolean;
  error?: { code: string; message: string };
}

export type SceneProgress =
  | { runId: string; scene: string; actor: string; phase: 'start'; total: number; steps: Array<{ device: string; command: string }> }
  | { runId: string; scene: string; actor: string; phase: 'step'; index: number; total: number; step: SceneStep }
  | { runId: string; scene: string; actor: string; phase: 'done'; total: number; result: { ok: boolean; steps: SceneStep[] } };

export interface Reading {
  device: string;
  metric: string;
  value: number;
  unit: string;
  ts: number;
}

export interface Snapshot {
  serverNow: number;
  version: string;
  room: { id: string; name: string; timeZone: string };
  kiosk: {
    idleLockSeconds: number;
    pinUnlock: boolean;
    ventilation: { co2Ppm: number; pm25: number };
    /** Start/stop buttons: the room has a recorder with sources and allows teachers to use them. */
    recordingControl: boolean;
    /** The recorder's sources, with the label a teacher knows them by (教师特写). */
    recordingSources: Array<{ id: string; label: string | null }>;
  };
  categories: Category[];
  classes: Array<{ classId: string; name: string }>;
  devices: DeviceInfo[];
  phase: 'in-progress' | 'window-open' | 'none';
  lesson: Lesson | null;
  next: Lesson | null;
  attendance: AttendanceSummary | null;
  behaviour: {
    expected: number;
    points: { byStudent: Array<{ studentId: string; total: number; count: number }> };
    /** Clicker questions of the lesson, in the order they were first answered. */
    questions: Array<{ questionId: string; answered: number; answers: Record<string, number> }>;
  } | null;
  today: Array<
    Lesson & {
      counts: { expected: number; present: number; late: number; absent: number; leave: number } | null;
      /** The district's confirmation of the ended lesson's records (null: not ended, or no district link). */
      sync: 'pending' | 'complete' | 'incomplete' | null;
    }
  >;
  sensors: Reading[];
  alerts: Alert[];
  scene: SceneProgress[] | null;
  /** The latest `recording` message from the bus; null when no recorder has published. */
  recording: RecordingState | null;
}

export type RecordingSourceState = 'idle' | 'starting' | 'recording' | 'degraded' | 'stopping' | 'error';
export type LiveState = 'off' | 'connecting' | 'live' | 'retrying' | 'error';

/** A source's live push to the district's media server (专递课堂). */
export interface LivePush {
  state: LiveState;
  target: string;
  since: number | null;
  reason: string | null;
}

export interface RecordingSource {
  state: RecordingSourceState;
  lessonId: string | null;
  /** When this source's recording of the lesson began (epoch ms, the edge's clock). */
  since: number | null;
  elapsedMs?: number;
  bytes?: number;
  /** Why the source is in error or degraded; null otherwise. */
  reason?: string | null;
  live?: LivePush;
}

/** Uploads of a lesson's finished recordings to the district. */
export interface LessonUpload {
  files: number;
  uploadedFiles: number;
  bytes: number;
  uploadedBytes: number;
}

/** The bus's `recording` message (edge/schemas/bus.ts recordingSchema): per source, and uploads per lesson. */
export interface RecordingState {
  sources: Record<string, RecordingSource>;
  upload?: { pendingFiles: number; pendingBytes: number; failedFiles: number; lessons: Record<string, LessonUpload> };
}

export type LiveFrame =
  | { type: 'snapshot'; data: Snapshot }
  | { type: 'event'; kind: string; deviceId?: string; metric?: string; payload: unknown }
  | { type: 'scene'; progress: SceneProgress }
  | { type: 'unlock'; teacherId: string; name: string }
  | { type: 'tick'; serverNow: number };
