/**
 * The command line as a technician uses it: check-config, start refusing a
 * bad config, start with no config (the demo room), SIGTERM shutdown; the
 * demo room beside `cloud start --demo`: a lesson recorded, uploaded and
 * served by the fleet page (README's quick start, as a user would run it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
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
    const xdg = tmp();
    running = await startCli(['--data-dir', dataDir], { XDG_DATA_HOME: xdg });
    expect(running.ports.api).toBe(8080);
    // The demo's camera and its upload token (shared with `cloud start --demo`), made on first start, 0600.
    expect(statSync(join(xdg, 'classroom-edge', 'demo-upload.token')).mode & 0o777).toBe(0o600);
    const health = (await (await fetch('http://127.0.0.1:8080/health')).json()) as { room: string; devices: { total: number } };
    expect(health).toMatchObject({ room: 'demo-room', devices: { total: 3 }, recording: { sources: { 'demo-cam': {} }, upload: { configured: true } } });

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

  it('the demo room records a lesson, and with `cloud start --demo` beside it the fleet page serves the recording', async () => {
    const xdg = tmp();
    const env = { ...process.env, XDG_DATA_HOME: xdg };
    const cloud: ChildProcess = spawn(process.execPath, [CLI, 'cloud', 'start', '--demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let cloudOut = '';
    cloud.stdout!.on('data', (b: Buffer) => (cloudOut += b.toString()));
    cloud.stderr!.on('data', (b: Buffer) => (cloudOut += b.toString()));
    const cloudExited = new Promise<number | null>((r) => cloud.once('exit', (code) => r(code)));
    try {
      const until = async (what: string, cond: () => Promise<boolean>, ms: number) => {
        const t0 = Date.now();
        while (Date.now() - t0 < ms) {
          if (await cond().catch(() => false)) return;
          await new Promise((r) => setTimeout(r, 250));
        }
        throw new Error(`timed out waiting for ${what}\ncloud:\n${cloudOut.slice(-2000)}\nedge:\n${running?.output().slice(-3000) ?? ''}`);
      };
      await until('the demo cloud', async () => cloudOut.includes('demo cloud: http://127.0.0.1:8090/fleet/rooms/demo-room/recordings'), 20_000);
      const passwordFile = join(xdg, 'classroom-edge', 'demo-cloud', 'technician-password.txt');
      expect(cloudOut).toContain(passwordFile);
      expect(statSync(passwordFile).mode & 0o777).toBe(0o600);
      const techAuth = `Basic ${Buffer.from(`demo-tech:${readFileSync(passwordFile, 'utf8').trim()}`).toString('base64')}`;

      const dataDir = join(xdg, 'demo');
      running = await startCli(['--data-dir', dataDir], { XDG_DATA_HOME: xdg });
      const creds = readFileSync(join(dataDir, 'secrets', 'initial-credentials.txt'), 'utf8');
      const pw = /username: technician\s+role:\s+\S+\s+password: (\S+)/.exec(creds)![1]!;
      const edge = (path: string, body: unknown) =>
        fetch(`http://127.0.0.1:8080${path}`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`technician:${pw}`).toString('base64')}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const started = await edge('/api/lessons/ad-hoc', { course: '数学', classId: 'g10-1', minutes: 45 });
      expect(started.status).toBe(200);
      const lessonId = ((await started.json()) as { lesson: { lessonId: string } }).lesson.lessonId;
      const recording = async () => ((await (await fetch('http://127.0.0.1:8080/health')).json()) as { recording: { sources: Record<string, { state: string; lessonId: string | null }> } }).recording.sources['demo-cam']!;
      await until('the demo camera to record the lesson', async () => (await recording()).state === 'recording' && (await recording()).lessonId === lessonId, 20_000);
      await new Promise((r) => setTimeout(r, 4000));
      expect((await edge('/api/lessons/end', {})).status).toBe(200);

      const day = lessonId.split('/')[1]!;
      let listed: Array<{ lessonId: string; status: string; bytes: number }> = [];
      await until(
        'the recording in the demo cloud',
        async () => {
          const page = await fetch(`http://127.0.0.1:8090/fleet/rooms/demo-room/recordings?day=${day}`, { headers: { authorization: techAuth } });
          const html = await page.text();
          const api = await fetch(`http://127.0.0.1:8090/fleet/rooms/demo-room/recordings/${encodeURIComponent(lessonId)}/demo-cam.mp4`, { headers: { authorization: techAuth, range: 'bytes=0-15' } });
          listed = [{ lessonId, status: html.includes('<video') ? 'ready' : 'missing', bytes: api.status === 206 ? (await api.arrayBuffer()).byteLength : 0 }];
          return api.status === 206 && html.includes('<video');
        },
        60_000,
      );
      expect(listed).toEqual([{ lessonId, status: 'ready', bytes: 16 }]);
      expect(running.output()).toContain('recording uploaded to the district');
    } finally {
      cloud.kill('SIGTERM');
      expect(await cloudExited).toBe(0);
    }
  }, 120_000);
});
