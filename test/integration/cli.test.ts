/**
 * The command line as a technician uses it: check-config, start refusing a
 * bad config, start with no config (the demo room), SIGTERM shutdown.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, requireBuilt, startCli, type Started } from '../helpers/cli.js';
import { tempRoom } from '../helpers/room.js';

const BAD = `version: 1
room: { id: r1, name: x }
dataDir: /tmp/nowhere
broker: { port: 1883 }
devices:
  - { id: panel, kind: display, driver: samsung-mdx, transport: { type: sim } }
  - { id: air, kind: sensor, driver: modbus-rtu, transport: { type: sim }, options: { unitId: 0, profile: xy-md02 } }
`;

let running: Started | undefined;
const dirs: string[] = [];
afterEach(async () => {
  if (running && running.child.exitCode === null) {
    running.child.kill('SIGKILL');
    await running.exited;
  }
  running = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ce-cli-'));
  dirs.push(d);
  return d;
}

describe('classroom-edge CLI', () => {
  it('check-config prints every problem as path: reason and exits 1', () => {
    requireBuilt();
    const f = join(tmp(), 'bad.yaml');
    writeFileSync(f, BAD);
    const r = spawnSync(process.execPath, [CLI, 'check-config', f], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^devices\[0\]\.driver: unknown driver "samsung-mdx"; known drivers: /m);
    expect(r.stderr).toMatch(/^devices\[1\]\.options\.unitId: /m);
    expect(r.stderr).toMatch(/2 problem\(s\)/);
  });

  it('check-config accepts a good file', () => {
    const room = tempRoom({ devicesYaml: '  - { id: reader, kind: card-reader, driver: em4100, transport: { type: sim } }' });
    dirs.push(room.dir);
    const r = spawnSync(process.execPath, [CLI, 'check-config', room.configFile], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/OK \(room test-room, 1 devices/);
  });

  it('start refuses an invalid config the same way, naming the field', () => {
    const f = join(tmp(), 'bad.yaml');
    writeFileSync(f, BAD);
    const r = spawnSync(process.execPath, [CLI, 'start', '--config', f], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/refusing to start: invalid config/);
    expect(r.stderr).toMatch(/devices\[0\]\.driver: unknown driver/);
  });

  it('start with no config serves the demo room, creates credentials safely and stops cleanly on SIGTERM', async () => {
    const dataDir = join(tmp(), 'demo');
    running = await startCli(['--data-dir', dataDir]);
    expect(running.ports.api).toBe(8080);
    const health = (await (await fetch('http://127.0.0.1:8080/health')).json()) as { room: string; devices: { total: number } };
    expect(health).toMatchObject({ room: 'demo-room', devices: { total: 3 } });

    const secrets = join(dataDir, 'secrets', 'initial-credentials.txt');
    expect(statSync(secrets).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, 'secrets')).mode & 0o777).toBe(0o700);
    expect(running.output()).toContain(secrets);
    const text = readFileSync(secrets, 'utf8');
    expect(running.output()).not.toContain(text.trim().split('\n').at(-1)!.split(/\s+/).at(-1)!); // the password is never logged

    running.child.kill('SIGTERM');
    const { code } = await running.exited;
    expect(code).toBe(0);
    expect(running.output()).toMatch(/"msg":"stopped"/);
  });
});
