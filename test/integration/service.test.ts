/**
 * The service end to end, in-process: HTTP command -> real driver -> simulated
 * device -> retained state on the bus; authentication; rejected messages.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import type { RunningService } from '../../edge/service.js';
import { basicAuth, PASSWORDS, startRoom, tempRoom, type TempRoom } from '../helpers/room.js';

const DEVICES = `  - { id: panel, name: 交互平板, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1 } }
  - { id: reader, kind: card-reader, driver: em4100, transport: { type: sim } }
  - { id: ghost, kind: display, driver: samsung-mdc, transport: { type: serial, path: /dev/serial/by-id/usb-not-plugged-in }, options: { displayId: 1 } }`;
const SCENES = `scenes:
  class-start:
    - { device: panel, command: power, args: { on: true } }
    - { device: panel, command: input, args: { source: hdmi2 } }`;

let room: TempRoom;
let svc: RunningService;
let base: string;

async function connect(user: string, pw: string): Promise<MqttClient> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${svc.ports.mqtt}`, { username: user, password: pw, reconnectPeriod: 0, connectTimeout: 5000 });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

function nextMessage(c: MqttClient, topic: string, pred: (m: Record<string, unknown>) => boolean = () => true, ms = 5000) {
  return new Promise<{ payload: Record<string, unknown>; retain: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no matching message on ${topic} within ${ms} ms`)), ms);
    const onMsg = (t: string, buf: Buffer, packet: { retain: boolean }) => {
      if (t !== topic) return;
      const payload = JSON.parse(buf.toString()) as Record<string, unknown>;
      if (!pred(payload)) return;
      clearTimeout(timer);
      c.off('message', onMsg);
      resolve({ payload, retain: packet.retain });
    };
    c.on('message', onMsg);
  });
}

beforeAll(async () => {
  room = tempRoom({ devicesYaml: DEVICES, scenesYaml: SCENES });
  svc = await startRoom(room);
  base = `http://127.0.0.1:${svc.ports.api}`;
  // wait for the panel to come online (first status poll through the real driver)
  for (let i = 0; i < 50 && !svc.devices.get('panel')?.online; i++) await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await svc?.stop();
  room?.cleanup();
});

describe('edge service', () => {
  it('answers /health without credentials and refuses the API without them', async () => {
    const h = await fetch(`${base}/health`);
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: 'ok', room: 'test-room', devices: { total: 3, online: 2 } });
    expect((await fetch(`${base}/api/devices`)).status).toBe(401);
    expect((await fetch(`${base}/api/devices`, { headers: { authorization: basicAuth('tech', 'wrong-password') } })).status).toBe(401);
  });

  it('sends an HTTP command through the real driver and publishes the new state retained', async () => {
    expect(svc.devices.get('panel')?.online).toBe(true);
    const res = await fetch(`${base}/api/devices/panel/commands`, {
      method: 'POST',
      headers: { authorization: basicAuth('kiosk', PASSWORDS.kiosk), 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'c1', command: 'power', args: { on: true } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: 'c1', ok: true, state: { power: 'on' } });

    // A client connecting afterwards gets the state as a retained message.
    const c = await connect('tech', PASSWORDS.tech);
    try {
      const got = nextMessage(c, 'classroom/test-room/device/panel/state', (m) => (m.state as Record<string, unknown>).power === 'on');
      await c.subscribeAsync('classroom/test-room/device/panel/state', { qos: 1 });
      const { payload, retain } = await got;
      expect(retain).toBe(true);
      expect(payload).toMatchObject({ deviceId: 'panel', online: true, driver: 'samsung-mdc' });
    } finally {
      await c.endAsync();
    }
  });

  it('keeps serving when a serial port is missing; the device is offline with an error naming the port', async () => {
    const ghost = svc.devices.get('ghost');
    expect(ghost?.online).toBe(false);
    expect(ghost?.lastError?.message).toMatch(/usb-not-plugged-in/);
    const r = await svc.devices.execute('ghost', 'power', { on: true }, { username: 'tech', role: 'technician' });
    expect(r).toMatchObject({ ok: false, error: { code: 'offline' } });
  });

  it('reports invalid arguments and unknown devices with clear errors', async () => {
    const post = (dev: string, body: unknown) =>
      fetch(`${base}/api/devices/${dev}/commands`, {
        method: 'POST',
        headers: { authorization: basicAuth('tech', PASSWORDS.tech), 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const bad = await post('panel', { command: 'volume', args: { level: 500 } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/^panel: volume: level:/);
    const unknown = await post('nope', { command: 'power', args: { on: true } });
    expect(unknown.status).toBe(404);
  });

  it('runs a scene step by step', async () => {
    const res = await fetch(`${base}/api/scenes/class-start/run`, { method: 'POST', headers: { authorization: basicAuth('kiosk', PASSWORDS.kiosk) } });
    const body = (await res.json()) as { ok: boolean; steps: Array<{ ok: boolean; device: string; command: string }> };
    expect(body.ok).toBe(true);
    expect(body.steps.map((s) => `${s.device}.${s.command}:${s.ok}`)).toEqual(['panel.power:true', 'panel.input:true']);
    expect(svc.devices.get('panel')?.state.input).toBe('hdmi2');
  });

  it('executes a command published on the bus and replies on the reply topic', async () => {
    const c = await connect('kiosk', PASSWORDS.kiosk);
    try {
      await c.subscribeAsync('classroom/test-room/device/panel/reply', { qos: 1 });
      const reply = nextMessage(c, 'classroom/test-room/device/panel/reply', (m) => m.id === 'bus-1');
      await c.publishAsync('classroom/test-room/device/panel/command', JSON.stringify({ id: 'bus-1', command: 'mute', args: { on: true } }), { qos: 1 });
      expect((await reply).payload).toMatchObject({ id: 'bus-1', ok: true, state: { mute: true } });
    } finally {
      await c.endAsync();
    }
  });

  it('stores a card tap from the simulated reader through the EM4100 driver and publishes it', async () => {
    const c = await connect('tech', PASSWORDS.tech);
    try {
      await c.subscribeAsync('classroom/test-room/card', { qos: 1 });
      const tap = nextMessage(c, 'classroom/test-room/card');
      const res = await fetch(`${base}/api/sim/reader/present`, {
        method: 'POST',
        headers: { authorization: basicAuth('tech', PASSWORDS.tech), 'content-type': 'application/json' },
        body: JSON.stringify({ uid: '62E3086CED' }),
      });
      expect(res.status).toBe(200);
      expect((await tap).payload).toMatchObject({ reader: 'reader', uid: '62E3086CED', number: '3808980205' });
      const rows = svc.store.db.prepare("SELECT uid FROM card_taps WHERE uid = '62E3086CED'").all();
      expect(rows).toHaveLength(1);
    } finally {
      await c.endAsync();
    }
  });

  it('rejects, counts and logs a malformed behaviour event and keeps serving', async () => {
    const c = await connect('integ', PASSWORDS.integ);
    try {
      const before = svc.store.lastSeq();
      await c.publishAsync('classroom/test-room/behaviour', '{"kind":"praise","points":"many"}', { qos: 1 });
      await c.publishAsync('classroom/test-room/behaviour', 'not json', { qos: 1 });
      await c.publishAsync('classroom/test-room/behaviour', JSON.stringify({ kind: 'hand-raise', ts: Date.now(), studentId: 's1' }), { qos: 1 });
      expect(svc.store.lastSeq()).toBe(before + 1);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toMatch(/classroom_edge_messages_rejected_total\{topic="behaviour",reason="schema"\} 1/);
      expect(metrics).toMatch(/classroom_edge_messages_rejected_total\{topic="behaviour",reason="json"\} 1/);
      expect(metrics).toMatch(/classroom_edge_device_online\{device="panel",driver="samsung-mdc"\} 1/);
    } finally {
      await c.endAsync();
    }
  });

  it('an alert goes on the bus and into the event log, so it reaches the district with the next sync', async () => {
    const c = await connect('tech', PASSWORDS.tech);
    try {
      await new Promise<void>((resolve, reject) => c.subscribe(`classroom/${svc.config.room.id}/alert`, { qos: 1 }, (e) => (e ? reject(e) : resolve())));
      const seen = nextMessage(c, `classroom/${svc.config.room.id}/alert`, (m) => m.code === 'test-alert');
      await svc.raiseAlert({ severity: 'warning', code: 'test-alert', message: 'a test alert', data: { n: 1 } });
      const { payload } = await seen;
      const row = svc.store.db
        .prepare<[string], { type: string; entity_id: string; payload: string }>("SELECT type, entity_id, payload FROM event_log WHERE stream = 'alert' AND entity_id = ?")
        .get(String(payload.id));
      expect(row).toBeDefined();
      expect(row!.type).toBe('alert/raised');
      expect(JSON.parse(row!.payload)).toMatchObject({ id: payload.id, severity: 'warning', code: 'test-alert', message: 'a test alert', data: { n: 1 } });
    } finally {
      await c.endAsync();
    }
  });

  it('re-publishes device state from its own state after a restart', async () => {
    await svc.stop();
    svc = await startRoom(room);
    base = `http://127.0.0.1:${svc.ports.api}`;
    const c = await connect('tech', PASSWORDS.tech);
    try {
      const got = nextMessage(c, 'classroom/test-room/device/reader/state');
      await c.subscribeAsync('classroom/test-room/device/+/state', { qos: 1 });
      expect((await got).retain).toBe(true);
    } finally {
      await c.endAsync();
    }
  });
});
