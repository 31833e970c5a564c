/**
 * The benchmark's room: a temporary config for the real service (ports 0,
 * one integrator publisher, the demo room's simulated devices, the store's
 * default flush policy spelled out), in a temp directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface BenchRoom {
  roomId: string;
  dir: string;
  dataDir: string;
  configFile: string;
  storeFile: string;
  username: string;
  password: string;
  cleanup(): void;
}

/** Same as the embedded demo room (edge/config/demo.ts): every device simulated. */
const DEMO_DEVICES = `  - { id: panel, name: 交互平板, kind: display, driver: samsung-mdc, transport: { type: sim }, options: { displayId: 1, pollSeconds: 15 } }
  - { id: air, name: 温湿度传感器, kind: sensor, driver: modbus-rtu, transport: { type: sim, settings: { drift: true } }, options: { unitId: 1, profile: xy-md02, pollSeconds: 10 } }
  - { id: reader, name: 刷卡器, kind: card-reader, driver: em4100, transport: { type: sim }, options: { format: rdm6300 } }`;

export function benchRoom(opts: { flushIntervalMs: number; maxBatch: number }): BenchRoom {
  const roomId = 'bench-room';
  const dir = mkdtempSync(join(tmpdir(), 'ce-bench-'));
  const dataDir = join(dir, 'data');
  const username = 'bench-integ';
  const password = randomBytes(18).toString('base64url');
  const secret = join(dir, 'integ.secret');
  writeFileSync(secret, `${password}\n`, { mode: 0o600 });
  const yaml = `version: 1
room: { id: ${roomId}, name: 基准测试教室 }
dataDir: ${JSON.stringify(dataDir)}
# info: the orchestrator reads the ports from the "classroom-edge started" line
log: { level: info }
broker:
  port: 0
  websocketPort: 0
  bind: [127.0.0.1]
  users:
    - { username: ${username}, role: integrator, passwordFile: ${JSON.stringify(secret)} }
api: { port: 0, host: 127.0.0.1 }
store: { flushIntervalMs: ${opts.flushIntervalMs}, maxBatch: ${opts.maxBatch} }
devices:
${DEMO_DEVICES}
`;
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, yaml);
  return {
    roomId,
    dir,
    dataDir,
    configFile,
    storeFile: join(dataDir, 'store.db'),
    username,
    password,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
