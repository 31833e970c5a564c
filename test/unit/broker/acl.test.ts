import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canPublish, canSubscribe, filterCovered, isValidFilter } from '../../../edge/broker/acl.js';
import type { Principal } from '../../../edge/security/credentials.js';

const ROOM = 'jy-0101-r203';
const R = `classroom/${ROOM}/`;

const P = {
  technician: { username: 'tech', role: 'technician' },
  teacher: { username: 'kiosk', role: 'teacher' },
  device: { username: 'air-1', role: 'device', deviceId: 'air' },
  deviceCard: { username: 'reader-1', role: 'device', deviceId: 'reader', publish: ['card'] },
  deviceBoth: { username: 'clicker-1', role: 'device', deviceId: 'clicker', publish: ['card', 'behaviour'] },
  deviceGreedy: { username: 'evil-1', role: 'device', deviceId: 'evil', publish: ['lesson', 'alert', 'device/+/command', 'attendance', '#'] },
  deviceWildId: { username: 'wild', role: 'device', deviceId: '+' },
  integrator: { username: 'cam-vendor', role: 'integrator' },
  cloud: { username: 'district', role: 'cloud' },
} satisfies Record<string, Principal>;
type Who = keyof typeof P;
const EVERYONE = Object.keys(P) as Who[];

/** Topic -> who may publish it (not retained). Every other principal must be refused. */
const PUBLISH_TABLE: [string, Who[]][] = [
  // edge-owned: nobody
  [`${R}device/panel/state`, []],
  [`${R}device/air/state`, []],
  [`${R}device/panel/reply`, []],
  [`${R}attendance`, []],
  [`${R}lesson`, []],
  [`${R}recording`, []],
  [`${R}alert`, []],
  // commands
  [`${R}device/panel/command`, ['technician', 'teacher']],
  [`${R}device/air/command`, ['technician', 'teacher']],
  // shared event topics
  [`${R}behaviour`, ['technician', 'teacher', 'deviceBoth', 'integrator']],
  [`${R}card`, ['technician', 'deviceCard', 'deviceBoth', 'integrator']],
  // sensors: each its own subtree
  [`${R}sensor/air/co2`, ['device']],
  [`${R}sensor/air/temperature`, ['device']],
  [`${R}sensor/reader/co2`, ['deviceCard']],
  [`${R}sensor/clicker/battery`, ['deviceBoth']],
  [`${R}sensor/cam-vendor/people`, ['integrator']],
  [`${R}sensor/evil/co2`, ['deviceGreedy']],
  [`${R}sensor/panel/co2`, []],
  [`${R}sensor/air`, []],
  [`${R}sensor/air/co2/extra`, []],
  [`${R}sensor/+/co2`, []],
  [`${R}sensor/air/#`, []],
  // unknown or malformed topics under the room
  [`${R}device/panel/command/x`, []],
  [`${R}device/panel`, []],
  [`${R}card/x`, []],
  [`${R}behaviour/x`, []],
  [`${R}whatever`, []],
  [R, []],
  [`${R}#`, []],
  // outside the room
  [`classroom/other-room/behaviour`, []],
  [`classroom/other-room/device/panel/command`, []],
  [`classroom/${ROOM}`, []],
  [`classroom/${ROOM}x/behaviour`, []],
  ['behaviour', []],
  ['/classroom/' + ROOM + '/behaviour', []],
  ['$SYS/broker/clients', []],
  [`$SYS/${R}behaviour`, []],
  [`${R}behaviour\u0000`, []],
];

describe('canPublish', () => {
  const cases = PUBLISH_TABLE.flatMap(([topic, allowed]) => EVERYONE.map((who) => [who, topic, allowed.includes(who)] as const));
  it.each(cases)('%s publishing %j -> %s', (who, topic, expected) => {
    const d = canPublish(P[who], ROOM, topic, false);
    expect(d.ok).toBe(expected);
    if (!d.ok) expect(d.reason.length).toBeGreaterThan(0);
  });

  it.each(PUBLISH_TABLE.flatMap(([topic]) => EVERYONE.map((who) => [who, topic] as const)))('%s: retained publish of %j is refused', (who, topic) => {
    expect(canPublish(P[who], ROOM, topic, true).ok).toBe(false);
  });

  it('gives reasons that say why', () => {
    const r = (who: Who, topic: string, retain = false) => {
      const d = canPublish(P[who], ROOM, topic, retain);
      return d.ok ? 'ok' : d.reason;
    };
    expect(r('technician', `${R}lesson`)).toMatch(/edge only/);
    expect(r('technician', `${R}behaviour`, true)).toMatch(/retained/);
    expect(r('device', `${R}sensor/panel/co2`)).toMatch(/role device may not publish to sensor\/panel\/co2/);
    expect(r('teacher', 'classroom/other/behaviour')).toMatch(/outside the room root/);
    expect(r('teacher', '$SYS/x')).toMatch(/\$SYS topics are reserved/);
    expect(r('teacher', `${R}+`)).toMatch(/invalid topic name/);
  });
});

/** Filter -> who may subscribe to it. */
const SUBSCRIBE_TABLE: [string, Who[]][] = [
  [`${R}#`, ['technician', 'teacher']],
  [`${R}+`, ['technician', 'teacher']],
  [`${R}device/+/state`, ['technician', 'teacher']],
  [`${R}device/panel/state`, ['technician', 'teacher']],
  [`${R}device/+/reply`, ['technician', 'teacher']],
  [`${R}sensor/#`, ['technician', 'teacher']],
  [`${R}attendance`, ['technician', 'teacher']],
  [`${R}alert`, ['technician', 'teacher']],
  [`${R}card`, ['technician', 'teacher']],
  [`${R}lesson`, ['technician', 'teacher', 'device', 'deviceCard', 'deviceBoth', 'deviceGreedy', 'deviceWildId', 'integrator']],
  [`${R}behaviour`, ['technician', 'teacher', 'integrator']],
  [`${R}device/air/command`, ['technician', 'teacher', 'device']],
  [`${R}device/reader/command`, ['technician', 'teacher', 'deviceCard']],
  [`${R}device/evil/command`, ['technician', 'teacher', 'deviceGreedy']],
  // a deviceId that is a wildcard is a literal level, never a wildcard: 'wild' gets no command filter at all
  [`${R}device/+/command`, ['technician', 'teacher']],
  [`${R}device/air/#`, ['technician', 'teacher']],
  [`${R}device/air/+`, ['technician', 'teacher']],
  [`${R}device/#`, ['technician', 'teacher']],
  [`${R}lesson/#`, ['technician', 'teacher']],
  [`${R}lesson/x`, ['technician', 'teacher']],
  // outside the room or across rooms
  ['#', []],
  ['+/#', []],
  ['classroom/#', []],
  ['classroom/+/lesson', []],
  [`classroom/+/device/air/command`, []],
  ['classroom/other-room/#', []],
  ['classroom/other-room/lesson', []],
  [`classroom/${ROOM}`, []],
  [`classroom/${ROOM}x/#`, []],
  ['$SYS/#', []],
  ['$SYS/+/heartbeat', []],
  [`$share/group/${R}lesson`, []],
  // malformed filters
  [`${R}lesson#`, []],
  [`${R}#/lesson`, []],
  [`${R}dev+/x`, []],
  ['', []],
];

describe('canSubscribe', () => {
  const cases = SUBSCRIBE_TABLE.flatMap(([filter, allowed]) => EVERYONE.map((who) => [who, filter, allowed.includes(who)] as const));
  it.each(cases)('%s subscribing %j -> %s', (who, filter, expected) => {
    expect(canSubscribe(P[who], ROOM, filter)).toBe(expected);
  });
});

describe('filterCovered (reference matcher)', () => {
  /** Plain MQTT matching of a topic by a filter. */
  function matches(filter: string, topic: string): boolean {
    const f = filter.split('/');
    const t = topic.split('/');
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length) return false;
      if (f[i] !== '+' && f[i] !== t[i]) return false;
    }
    return f.length === t.length;
  }
  const level = fc.constantFrom('a', 'b', 'c', '');
  const topicArb = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
  const filterArb = fc
    .tuple(fc.array(fc.constantFrom('a', 'b', '+', ''), { minLength: 1, maxLength: 4 }), fc.boolean())
    .map(([l, hash]) => (hash ? [...l, '#'] : l).join('/'));

  it('agrees with MQTT matching when the filter is a concrete topic', () => {
    fc.assert(
      fc.property(filterArb, topicArb, (pattern, topic) => {
        expect(filterCovered(topic.split('/'), pattern.split('/'))).toBe(matches(pattern, topic));
      }),
      { numRuns: 3000 },
    );
  });

  it('is sound: every topic a covered filter matches is matched by the pattern', () => {
    fc.assert(
      fc.property(filterArb, filterArb, topicArb, (filter, pattern, topic) => {
        fc.pre(isValidFilter(filter) && isValidFilter(pattern));
        if (filterCovered(filter.split('/'), pattern.split('/')) && matches(filter, topic)) {
          expect(matches(pattern, topic)).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('canSubscribe never grants a filter that matches a topic the principal could not subscribe to alone', () => {
    const levels = fc.constantFrom('device', 'sensor', 'air', 'panel', 'command', 'state', 'lesson', 'behaviour', 'card', '+', 'x');
    const filterUnderRoom = fc
      .tuple(fc.array(levels, { minLength: 1, maxLength: 4 }), fc.boolean())
      .map(([l, hash]) => R + (hash ? [...l, '#'] : l).join('/'));
    const concrete = fc.array(fc.constantFrom('device', 'sensor', 'air', 'panel', 'command', 'state', 'lesson', 'x'), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.constantFrom(...EVERYONE), filterUnderRoom, concrete, (who, filter, rest) => {
        const topic = R + rest.join('/');
        if (canSubscribe(P[who], ROOM, filter) && matches(filter, topic)) expect(canSubscribe(P[who], ROOM, topic)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
