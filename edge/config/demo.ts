/**
 * The embedded demo room: what `classroom-edge start` runs with no config.
 * Every device is simulated (transport `sim`): the real drivers talk their
 * real byte protocols to device-side simulators over in-memory pairs.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** `$XDG_DATA_HOME/classroom-edge` (else ~/.local/share/classroom-edge): the demo room's and the demo cloud's data. */
export function demoBaseDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'classroom-edge');
}

export function defaultDemoDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(demoBaseDir(env), 'demo');
}

/** The upload token the demo room and the demo cloud (`cloud start --demo`) share. */
export function demoUploadTokenFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(demoBaseDir(env), 'demo-upload.token');
}

/** The demo cloud's address (sync/cloud/demo.ts listens there). */
export const DEMO_CLOUD_PORT = 8090;

/** A secret in a 0600 file, made on first use ('wx': of two processes starting together, the first one's is kept). */
export function ensureSecretFile(file: string, make: () => string = () => randomBytes(24).toString('base64url')): string {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, `${make()}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

/**
 * The demo's camera: ffmpeg's test picture and tone, every lesson recorded, and finished recordings
 * uploaded to the demo cloud on this machine when it runs (else they wait, retried with backoff).
 */
export function demoRecordingYaml(uploadTokenFile: string): string {
  return `recording:
  segmentSeconds: 10
  rule: { mode: all }
  sources:
    - { id: demo-cam, kind: testsrc, label: 演示摄像机, size: 640x360, framerate: 25 }
  storage: { maxBytes: 2147483648, minFreeBytes: 536870912, retentionDays: 3 }
  upload: { url: "http://127.0.0.1:${DEMO_CLOUD_PORT}", tokenFile: ${JSON.stringify(uploadTokenFile)} }
`;
}

/** The demo room; `recording` adds the demo camera (what `classroom-edge start` without a config runs). */
export function demoConfigYaml(dataDir: string, opts: { recording?: { uploadTokenFile: string } } = {}): string {
  return `# classroom-edge demo room (embedded defaults)
version: 1
room: { id: demo-room, name: 演示教室, school: demo-school, timezone: Asia/Shanghai }
dataDir: ${JSON.stringify(dataDir)}
broker: { port: 1883, websocketPort: 8083, bind: [127.0.0.1] }
api: { port: 8080, host: 127.0.0.1 }
devices:
  - id: panel
    name: 交互平板
    kind: display
    driver: samsung-mdc
    transport: { type: sim }
    options: { displayId: 1, pollSeconds: 15 }
  - id: air
    name: 温湿度传感器
    kind: sensor
    driver: modbus-rtu
    transport: { type: sim, settings: { drift: true } }
    options: { unitId: 1, profile: xy-md02, pollSeconds: 10 }
  - id: reader
    name: 刷卡器
    kind: card-reader
    driver: em4100
    transport: { type: sim }
    options: { format: rdm6300 }
${opts.recording ? demoRecordingYaml(opts.recording.uploadTokenFile) : ''}scenes:
  class-start:
    - { device: panel, command: power, args: { on: true } }
    - { device: panel, command: input, args: { source: hdmi1 } }
  class-end:
    - { device: panel, command: power, args: { on: false } }
`;
}
