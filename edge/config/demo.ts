/**
 * The embedded demo room: what `classroom-edge start` runs with no config.
 * Every device is simulated (transport `sim`): the real drivers talk their
 * real byte protocols to device-side simulators over in-memory pairs.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultDemoDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'classroom-edge', 'demo');
}

export function demoConfigYaml(dataDir: string): string {
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
scenes:
  class-start:
    - { device: panel, command: power, args: { on: true } }
    - { device: panel, command: input, args: { source: hdmi1 } }
  class-end:
    - { device: panel, command: power, args: { on: false } }
`;
}
