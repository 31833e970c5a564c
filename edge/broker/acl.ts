/**
 * Topic rights of the local bus (shared/DESIGN.md sections 4 and 6,
 * docs/security.md): pure functions over a table, so the whole policy is
 * readable in one place and tested exhaustively.
 *
 * Patterns are relative to the room root `classroom/{roomId}/`, in MQTT
 * filter syntax; `{deviceId}` and `{username}` are replaced by the
 * principal's own values (as literal levels, never as wildcards).
 */
import type { Principal, Role } from '../security/credentials.js';
import { roomRoot } from '../schemas/topics.js';

export type PublishDecision = { ok: true } | { ok: false; reason: string };

/** Topics only the edge service publishes (in process); no external client may, whatever its role. */
export const EDGE_OWNED: readonly string[] = ['device/+/state', 'device/+/reply', 'attendance', 'lesson', 'recording', 'alert'];
const EDGE_OWNED_LEVELS: readonly string[][] = EDGE_OWNED.map((e) => e.split('/'));

/** Extra topics a device credential may be given (`publish` in its config). */
export const DEVICE_EXTRA_PUBLISH: readonly string[] = ['card', 'behaviour'];

export const RIGHTS: Readonly<Record<Role, { publish: readonly string[]; subscribe: readonly string[] }>> = {
  technician: { publish: ['device/+/command', 'behaviour', 'card'], subscribe: ['#'] },
  teacher: { publish: ['device/+/command', 'behaviour'], subscribe: ['#'] },
  device: { publish: ['sensor/{deviceId}/+'], subscribe: ['device/{deviceId}/command', 'lesson'] },
  integrator: { publish: ['behaviour', 'card', 'sensor/{username}/+'], subscribe: ['lesson', 'behaviour'] },
  cloud: { publish: [], subscribe: [] },
};

/** A value usable as one literal topic level. */
function isLiteralLevel(v: string | undefined): v is string {
  return v !== undefined && v.length > 0 && !/[/+#\u0000]/.test(v);
}

/** The principal's patterns as level arrays, placeholders substituted; patterns whose placeholder is unusable are dropped. */
function expand(p: Principal, patterns: readonly string[]): string[][] {
  const out: string[][] = [];
  for (const pattern of patterns) {
    const levels: string[] = [];
    let usable = true;
    for (const level of pattern.split('/')) {
      if (level === '{deviceId}' || level === '{username}') {
        const v = level === '{deviceId}' ? p.deviceId : p.username;
        if (!isLiteralLevel(v)) usable = false;
        else levels.push(v);
      } else levels.push(level);
    }
    if (usable) out.push(levels);
  }
  return out;
}

function publishPatterns(p: Principal): string[][] {
  const patterns = [...RIGHTS[p.role].publish];
  if (p.role === 'device') for (const extra of p.publish ?? []) if (DEVICE_EXTRA_PUBLISH.includes(extra)) patterns.push(extra);
  return expand(p, patterns);
}

/**
 * True when every topic matched by `filter` is also matched by `pattern`
 * (both as level arrays in MQTT filter syntax). A topic is a filter without
 * wildcards, so this also answers "does pattern match topic".
 */
export function filterCovered(filter: readonly string[], pattern: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const f = filter[i];
    const p = pattern[i];
    if (p === '#') return true;
    if (f === undefined) return p === undefined; // ('a' is also matched by 'a/#', handled above)
    if (p === undefined) return false;
    if (f === '#') return false; // matches any depth; only '#' covers that
    if (f === '+') {
      if (p !== '+') return false;
    } else if (p !== '+' && p !== f) return false;
  }
}

/** Syntax check of a topic filter: '#' only as the last level, '+' only as a whole level, no NUL. */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => (l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+'));
}

/** Syntax check of a topic name (what a PUBLISH carries): no wildcards, no NUL, not empty. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && !/[+#\u0000]/.test(topic);
}

/** The part of `topicOrFilter` below the room root as levels, or null when it is not (entirely) under the root. */
function underRoot(roomId: string, topicOrFilter: string): string[] | null {
  const root = roomRoot(roomId);
  if (!topicOrFilter.startsWith(root)) return null;
  return topicOrFilter.slice(root.length).split('/');
}

/** May `p` publish `topic` (with this retain flag) on the bus of room `roomId`? */
export function canPublish(p: Principal, roomId: string, topic: string, retain: boolean): PublishDecision {
  if (!isValidTopicName(topic)) return { ok: false, reason: 'invalid topic name' };
  if (topic.startsWith('$')) return { ok: false, reason: `${topic.split('/')[0] ?? '$'} topics are reserved` };
  const rel = underRoot(roomId, topic);
  if (!rel) return { ok: false, reason: `outside the room root ${roomRoot(roomId)}` };
  if (EDGE_OWNED_LEVELS.some((e) => filterCovered(rel, e))) return { ok: false, reason: 'topic is published by the edge only' };
  if (!publishPatterns(p).some((pat) => filterCovered(rel, pat))) {
    return { ok: false, reason: `role ${p.role} may not publish to ${rel.join('/')}` };
  }
  if (retain) return { ok: false, reason: 'retained publishes are not allowed for clients' };
  return { ok: true };
}

/**
 * May `p` subscribe to `filter` on the bus of room `roomId`? A filter with
 * wildcards is allowed only if every topic it can match is allowed
 * (decided per pattern: conservative, never more permissive).
 */
export function canSubscribe(p: Principal, roomId: string, filter: string): boolean {
  if (!isValidFilter(filter) || filter.startsWith('$')) return false;
  const rel = underRoot(roomId, filter);
  if (!rel) return false;
  return expand(p, RIGHTS[p.role].subscribe).some((pat) => filterCovered(rel, pat));
}
