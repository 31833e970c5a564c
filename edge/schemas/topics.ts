/**
 * Topic names of the local bus (shared/DESIGN.md section 4), built and parsed
 * in one place.
 */
export function roomRoot(roomId: string): string {
  return `classroom/${roomId}/`;
}

export const topics = (roomId: string) => {
  const r = roomRoot(roomId);
  return {
    root: r,
    deviceState: (id: string) => `${r}device/${id}/state`,
    deviceCommand: (id: string) => `${r}device/${id}/command`,
    deviceReply: (id: string) => `${r}device/${id}/reply`,
    sensor: (id: string, metric: string) => `${r}sensor/${id}/${metric}`,
    card: `${r}card`,
    attendance: `${r}attendance`,
    behaviour: `${r}behaviour`,
    lesson: `${r}lesson`,
    recording: `${r}recording`,
    alert: `${r}alert`,
    /** A teacher's card unlocked the kiosk's controls (刷卡授权). */
    kioskUnlock: `${r}kiosk/unlock`,
  };
};
export type Topics = ReturnType<typeof topics>;

export type ParsedTopic =
  | { kind: 'device-state' | 'device-command' | 'device-reply'; deviceId: string }
  | { kind: 'sensor'; deviceId: string; metric: string }
  | { kind: 'card' | 'attendance' | 'behaviour' | 'lesson' | 'recording' | 'alert' }
  | { kind: 'other'; rest: string };

/** Parse a topic under the room root; null when it is outside the room. */
export function parseTopic(roomId: string, topic: string): ParsedTopic | null {
  const r = roomRoot(roomId);
  if (!topic.startsWith(r)) return null;
  const parts = topic.slice(r.length).split('/');
  const [a, b, c, ...more] = parts;
  if (a === 'device' && b && c && more.length === 0) {
    if (c === 'state') return { kind: 'device-state', deviceId: b };
    if (c === 'command') return { kind: 'device-command', deviceId: b };
    if (c === 'reply') return { kind: 'device-reply', deviceId: b };
  }
  if (a === 'sensor' && b && c && more.length === 0) return { kind: 'sensor', deviceId: b, metric: c };
  if (parts.length === 1 && (a === 'card' || a === 'attendance' || a === 'behaviour' || a === 'lesson' || a === 'recording' || a === 'alert')) {
    return { kind: a };
  }
  return { kind: 'other', rest: parts.join('/') };
}
