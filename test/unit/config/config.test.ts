import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigText, parseYaml, validateConfig } from '../../../edge/config/load.js';
import { demoConfigYaml } from '../../../edge/config/demo.js';
import { builtinDrivers } from '../../../edge/devices/registry.js';

const registry = builtinDrivers();

const base = `
version: 1
room: { id: r203, name: 初二(3)班 }
dataDir: /tmp/x
broker: { port: 1883 }
`;

function problems(yaml: string): string[] {
  try {
    loadConfigText(yaml, 'test.yaml', registry);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.path}: ${p.reason}`);
    throw e;
  }
  return [];
}

describe('config', () => {
  it('accepts the embedded demo config and fills defaults', () => {
    const c = loadConfigText(demoConfigYaml('/tmp/demo'), 'demo', registry);
    expect(c.room.timezone).toBe('Asia/Shanghai');
    expect(c.devices.map((d) => d.driver).sort()).toEqual(['em4100', 'modbus-rtu', 'samsung-mdc']);
    expect(c.store).toEqual({ flushIntervalMs: 4, maxBatch: 256 });
    expect(Object.keys(c.scenes)).toEqual(['class-start', 'class-end']);
    expect(c.recording).toBeUndefined();
  });

  it('accepts the demo config with its camera, as `classroom-edge start` runs it', () => {
    const c = loadConfigText(demoConfigYaml('/tmp/demo', { recording: { uploadTokenFile: '/tmp/demo-upload.token' } }), 'demo', registry);
    expect(c.recording).toMatchObject({
      segmentSeconds: 10,
      rule: { mode: 'all', courses: [] },
      sources: [{ id: 'demo-cam', kind: 'testsrc', size: '640x360', framerate: 25, audio: true }],
      upload: { url: 'http://127.0.0.1:8090', tokenFile: '/tmp/demo-upload.token' },
      live: [],
    });
    expect(c.kiosk.recordingControl).toBe(true);
  });

  it('refuses recording sources and uploads that would leak or miss their target', () => {
    const base = demoConfigYaml('/tmp/demo');
    const bad = (section: string) => {
      try {
        loadConfigText(`${base}${section}`, 'bad', registry);
        return [];
      } catch (e) {
        return (e as ConfigError).problems.map((p) => `${p.path}: ${p.reason}`);
      }
    };
    expect(bad('recording:\n  sources:\n    - { id: cam, kind: rtsp, url: "rtsp://admin:12345@10.0.0.5/stream1" }\n')).toEqual([
      'recording.sources[0].url: no credentials in the URL (they would reach logs and process lists): put "username:password" in credentialsFile',
    ]);
    expect(bad('recording:\n  sources:\n    - { id: cam, kind: testsrc }\n  upload: { url: "http://cloud.district.lan:8443", tokenFile: /t }\n')).toEqual([
      'recording.upload.url: plain http:// is allowed only on loopback: recordings of minors travel over TLS',
    ]);
    expect(bad('recording:\n  sources:\n    - { id: cam, kind: testsrc }\n  live: [ { id: l1, source: nope, url: "rtmp://m/live/k" } ]\n')).toEqual([
      'recording.live[0].source: no source nope (sources: cam)',
    ]);
    expect(bad('recording:\n  sources: []\n')).toEqual(['recording.sources: list at least one source, or leave out the recording section']);
  });

  it('names YAML syntax errors by line', () => {
    const { problems: p } = parseYaml('version: 1\nroom: { id: x\n');
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]!.path).toMatch(/^line \d+ column \d+$/);
  });

  it('names missing and wrong fields by path', () => {
    const p = problems(`version: 2\nroom: { id: "bad id/", name: x, timezone: Mars/Base }\nbroker: { port: 99999 }\n`);
    expect(p.some((s) => s.startsWith('version:'))).toBe(true);
    expect(p.some((s) => s.startsWith('room.id:'))).toBe(true);
    expect(p.some((s) => s.startsWith('room.timezone: unknown IANA time zone'))).toBe(true);
    expect(p.some((s) => s.startsWith('dataDir:'))).toBe(true);
    expect(p.some((s) => s.startsWith('broker.port:'))).toBe(true);
  });

  it('rejects unknown drivers, naming the known ones', () => {
    const p = problems(`${base}devices:\n  - { id: p, kind: display, driver: samsung-mdx, transport: { type: sim } }\n`);
    expect(p).toEqual([expect.stringMatching(/^devices\[0\]\.driver: unknown driver "samsung-mdx"; known drivers: em4100, gpio-input, gpio-relay, hitevision-ifp, lg, modbus-relay, modbus-rtu, modbus-tcp, nec, panel-profile, pelco-d, pjlink, samsung-mdc, sharp-pn, uid-reader, visca, visca-ip, wiegand$/)]);
  });

  it('rejects duplicate device ids and bad driver options with full paths', () => {
    const p = problems(
      `${base}devices:\n` +
        `  - { id: air, kind: sensor, driver: modbus-rtu, transport: { type: sim }, options: { unitId: 300, profile: xy-md02 } }\n` +
        `  - { id: air, kind: display, driver: samsung-mdc, transport: { type: sim } }\n`,
    );
    expect(p.some((s) => s.startsWith('devices[0].options.unitId:'))).toBe(true);
    expect(p).toContain('devices[1].id: duplicate device id "air" (first used by devices[0])');
  });

  it('rejects a driver on the wrong kind or transport', () => {
    const p = problems(`${base}devices:\n  - { id: r, kind: display, driver: em4100, transport: { type: gpio, line: 4 } }\n`);
    expect(p.some((s) => s.startsWith('devices[0].kind: driver "em4100" serves card-reader'))).toBe(true);
    expect(p.some((s) => s.startsWith('devices[0].transport.type:'))).toBe(true);
  });

  it('checks scenes against devices, commands and argument schemas', () => {
    const p = problems(
      `${base}devices:\n  - { id: panel, kind: display, driver: samsung-mdc, transport: { type: sim } }\n` +
        `scenes:\n  class-start:\n    - { device: projector, command: power, args: { on: true } }\n` +
        `    - { device: panel, command: fly, args: {} }\n    - { device: panel, command: power, args: { on: yes-please } }\n`,
    );
    expect(p).toContain('scenes.class-start[0].device: no device with id "projector"');
    expect(p.some((s) => s.startsWith('scenes.class-start[1].command: device "panel" has no command "fly"; it has: power'))).toBe(true);
    expect(p.some((s) => s.startsWith('scenes.class-start[2].args.on:'))).toBe(true);
  });

  it('lets only multidrop drivers share a serial line, with the same line settings', () => {
    const line = (baud: number) => `transport: { type: serial, path: /dev/serial/by-id/usb-rs485, baudRate: ${baud} }`;
    const ok = problems(
      `${base}devices:\n  - { id: a1, kind: sensor, driver: modbus-rtu, ${line(9600)}, options: { unitId: 1, profile: xy-md02 } }\n` +
        `  - { id: a2, kind: sensor, driver: modbus-rtu, ${line(9600)}, options: { unitId: 2, profile: xy-md02 } }\n`,
    );
    expect(ok).toEqual([]);
    const p = problems(
      `${base}devices:\n  - { id: a1, kind: sensor, driver: modbus-rtu, ${line(9600)}, options: { unitId: 1, profile: xy-md02 } }\n` +
        `  - { id: a2, kind: sensor, driver: modbus-rtu, ${line(19200)}, options: { unitId: 2, profile: xy-md02 } }\n` +
        `  - { id: r, kind: card-reader, driver: em4100, ${line(9600)} }\n`,
    );
    expect(p).toContain('devices[1].transport: shares serial:/dev/serial/by-id/usb-rs485 with devices[0] but with different line settings');
    expect(p).toContain('devices[2].transport: serial:/dev/serial/by-id/usb-rs485 is used by 3 devices, but driver "em4100" cannot share a line');
  });

  it('requires exactly one password source per broker user, and a deviceId for devices', () => {
    const p = problems(`${base.replace('broker: { port: 1883 }', 'broker: { users: [ { username: cam, role: device } ] }')}`);
    expect(p).toContain('broker.users[0].passwordFile: give exactly one of passwordHash or passwordFile');
    expect(p).toContain('broker.users[0].deviceId: a device user needs the deviceId whose subtree it may publish');
  });

  it('rejects unknown keys (typos) instead of ignoring them', () => {
    const r = validateConfig({ version: 1, room: { id: 'a', name: 'b' }, dataDir: '/x', broker: {}, devcies: [] }, registry);
    expect(r.config).toBeUndefined();
    expect(r.problems.map((x) => x.path)).toContain('(root)');
    expect(r.problems.map((x) => x.reason).join()).toMatch(/devcies/);
  });
});
