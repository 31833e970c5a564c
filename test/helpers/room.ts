/**
 * Test helpers: a temporary room (config file, data dir, known passwords)
 * started in-process or as a child process.
 */
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigText } from '../../edge/config/load.js';
import { builtinDrivers } from '../../edge/devices/registry.js';
import { startService, type RunningService } from '../../edge/service.js';
import { silentLogger } from '../../edge/util/logger.js';
import { systemClock } from '../../edge/util/clock.js';

export const PASSWORDS = {
  tech: 'tech-password-0123456789',
  kiosk: 'kiosk-password-0123456789',
  cam: 'camera-password-0123456789',
  integ: 'integrator-password-0123456789',
};

export interface TempRoom {
  dir: string;
  dataDir: string;
  configFile: string;
  yaml: string;
  cleanup(): void;
}

/** Writes a config with fixed users (passwordFile) and the given devices/scenes YAML. */
export function tempRoom(opts: { roomId?: string; devicesYaml?: string; scenesYaml?: string; ports?: { mqtt: number; ws: number; api: number } } = {}): TempRoom {
  const dir = mkdtempSync(join(tmpdir(), 'ce-room-'));
  const dataDir = join(dir, 'data');
  for (const [name, pw] of Object.entries(PASSWORDS)) writeFileSync(join(dir, `${name}.secret`), `${pw}\n`, { mode: 0o600 });
  const ports = opts.ports ?? { mqtt: 0, ws: 0, api: 0 };
  const yaml = `version: 1
room: { id: ${opts.roomId ?? 'test-room'}, name: 测试教室 }
dataDir: ${JSON.stringify(dataDir)}
log: { level: warn }
broker:
  port: ${ports.mqtt}
  websocketPort: ${ports.ws}
  bind: [127.0.0.1]
  users:
    - { username: tech, role: technician, passwordFile: ${JSON.stringify(join(dir, 'tech.secret'))} }
    - { username: kiosk, role: teacher, passwordFile: ${JSON.stringify(join(dir, 'kiosk.secret'))} }
    - { username: cam, role: device, deviceId: cam, publish: [behaviour], passwordFile: ${JSON.stringify(join(dir, 'cam.secret'))} }
    - { username: integ, role: integrator, passwordFile: ${JSON.stringify(join(dir, 'integ.secret'))} }
api: { port: ${ports.api}, host: 127.0.0.1 }
devices:
${opts.devicesYaml ?? '  []'}
${opts.scenesYaml ?? ''}
`;
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, yaml);
  return { dir, dataDir, configFile, yaml, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function startRoom(room: TempRoom): Promise<RunningService> {
  const registry = builtinDrivers();
  const config = loadConfigText(room.yaml, room.configFile, registry);
  return startService({ config, registry, logger: silentLogger(), clock: systemClock });
}

export function basicAuth(user: string, pw: string): string {
  return `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
}
