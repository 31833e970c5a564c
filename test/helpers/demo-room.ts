/**
 * A room of the embedded demo (its config, timetable and roster, simulated
 * devices with the real drivers) under another room id, started in-process on
 * a settable clock with a district link, for simulated days against the
 * district broker; and what a test does in it: cards on the simulated
 * reader, sensor readings on request, conditions waited for.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { parse as parseYaml } from 'yaml';
import { demoConfigYaml } from '../../edge/config/demo.js';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { startService, type RunningService } from '../../edge/service.js';
import type { Clock } from '../../edge/util/clock.js';
import { createLogger, silentLogger } from '../../edge/util/logger.js';
import { edgeCloudYaml } from './mosquitto.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class SettableClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  monotonic(): number {
    return performance.now();
  }
}

/** Polls `probe` until it returns something truthy; the error names what was awaited (and `detail()`). */
export async function until<T>(what: string, probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 20_000, detail?: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await sleep(20);
  }
}

/** A weekday at least a week before today in `zone`, outside the demo term's 国庆节 holiday (1-7 October). */
export function pastSchoolDay(zone: string): string {
  let d = DateTime.now().setZone(zone).startOf('day').minus({ days: 7 });
  while (d.weekday > 5 || (d.month === 10 && d.day <= 7)) d = d.minus({ days: 1 });
  return d.toISODate()!;
}

export interface DemoRoom {
  id: string;
  dir: string;
  svc: RunningService;
  /** Basic credentials of the first-start technician. */
  auth: string;
  /** The devices as the YAML declares them (the base of configuration pushes). */
  devices: Array<Record<string, unknown>>;
}

export interface DemoRoomOptions {
  roomId: string;
  /** The room's directory (data in `dir/data`). */
  dir: string;
  clock: Clock;
  /** The reader's debounce of a card left on it (real time). */
  debounceMs: number;
  cloud: { url: string; certFile: string; keyFile: string; caFile: string };
}

/**
 * The demo config with another room id, free ports, the district link, a 2 s
 * device check for pushes, and the air sensor read only on `refresh` (so the
 * event log is quiet once a simulated day is over).
 */
export function demoRoomYaml(o: DemoRoomOptions, dataDir: string): string {
  const yaml = demoConfigYaml(dataDir)
    .replace('id: demo-room', `id: ${o.roomId}`)
    .replace('port: 1883, websocketPort: 8083', 'port: 0, websocketPort: 0')
    .replace('port: 8080', 'port: 0')
    .replace('options: { format: rdm6300 }', `options: { format: rdm6300, debounceMs: ${o.debounceMs} }`)
    .replace('options: { unitId: 1, profile: xy-md02, pollSeconds: 10 }', 'options: { unitId: 1, profile: xy-md02, pollSeconds: 86400 }');
  for (const expected of [`id: ${o.roomId}`, 'pollSeconds: 86400', `debounceMs: ${o.debounceMs}`]) {
    if (!yaml.includes(expected)) throw new Error(`the demo config changed: "${expected}" could not be set`);
  }
  return `${yaml}configPush: { checkTimeoutMs: 2000 }
${edgeCloudYaml(o.cloud, o.cloud, ['batch: { maxEvents: 200, lingerMs: 20 }', 'ackTimeoutMs: 3000'])}`;
}

/** Starts the room (demo timetable and roster seeded for the clock's day; lesson and attendance ticks of 20 ms). */
export async function startDemoRoom(o: DemoRoomOptions): Promise<DemoRoom> {
  const yaml = demoRoomYaml(o, join(o.dir, 'data'));
  const registry = builtinDrivers();
  const config = loadConfigText(yaml, `(${o.roomId}, test)`, registry);
  const logger = process.env.ACCEPT_LOG ? createLogger({ level: 'debug', destination: process.stderr }) : silentLogger();
  const svc = await startService({ config, registry, logger, clock: o.clock, demo: true, timing: { lessonTickMs: 20, attendanceTickMs: 20 } });
  const creds = readFileSync(join(o.dir, 'data', 'secrets', 'initial-credentials.txt'), 'utf8');
  const tech = /username: technician\s+role:\s+\S+\s+password: (\S+)/.exec(creds);
  if (!tech) throw new Error(`${o.roomId}: no technician in the first-start credentials`);
  const devices = (parseYaml(yaml) as { devices: Array<Record<string, unknown>> }).devices;
  return { id: o.roomId, dir: o.dir, svc, auth: `Basic ${Buffer.from(`technician:${tech[1]}`).toString('base64')}`, devices };
}

/** The room's HTTP API as its technician. */
export const edgeApi = (room: DemoRoom, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${room.svc.ports.api}${path}`, { ...init, headers: { authorization: room.auth, 'content-type': 'application/json', ...init.headers } });

/** A card on the room's simulated reader (bytes through the real EM4100 driver); waits for what attendance made of it. */
export async function tap(room: DemoRoom, uid: string, lessonId: string, expect: { studentId: string; status: string } | { teacherId: string }): Promise<void> {
  const r = await edgeApi(room, '/api/sim/reader/present', { method: 'POST', body: JSON.stringify({ uid }) });
  if (r.status !== 200) throw new Error(`${room.id}: present ${uid}: ${r.status} ${await r.text()}`);
  await until(`${room.id}: the tap of ${uid} in ${lessonId}`, () => {
    const s = room.svc.classroom.attendance.summary(lessonId);
    if (!s) return false;
    if ('teacherId' in expect) return s.teacherCheckIn?.teacherId === expect.teacherId;
    return s.students.some((x) => x.studentId === expect.studentId && x.status === expect.status);
  });
}

/** A reading from one of the room's simulated Modbus sensors, asked for by the technician on the edge's API. */
export async function refreshSensor(room: DemoRoom, device = 'air'): Promise<void> {
  const readings = () => (room.svc.store.db.prepare('SELECT count(*) AS n FROM sensor_readings WHERE device = ?').get(device) as { n: number }).n;
  const before = readings();
  const r = await edgeApi(room, `/api/devices/${device}/commands`, { method: 'POST', body: JSON.stringify({ command: 'refresh', args: {} }) });
  if (r.status !== 200) throw new Error(`${room.id}: refresh ${device}: ${r.status} ${await r.text()}`);
  await until(`${room.id}: a reading from ${device}`, () => readings() > before);
}
