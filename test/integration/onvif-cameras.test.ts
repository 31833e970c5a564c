/**
 * `classroom-edge cameras` as a technician runs it (the built CLI in a child
 * process) against ONVIF camera stand-ins written from the specifications
 * (test/helpers/onvif-camera.ts). Discovery goes unicast to 127.0.0.1 through
 * the diagnostics option --probe-address: nothing leaves loopback.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CLI, requireBuilt } from '../helpers/cli.js';
import { startOnvifCameras, startSilentPeer, type OnvifCameras } from '../helpers/onvif-camera.js';
import { recordingSchema } from '../../edge/config/recording-schema.js';

const CREDS = { username: 'admin', password: 'Room-301-onvif' };
let cams: OnvifCameras | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await cams?.close();
  cams = undefined;
  for (const c of cleanups.splice(0)) c();
});

/** Asynchronous on purpose: the stand-ins answer from this process's event loop. */
function cameras(args: string[]): Promise<{ code: number | null; out: string; err: string; ms: number }> {
  requireBuilt();
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, 'cameras', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err, ms: Date.now() - started })));
}

function credentialsFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ce-cams-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'onvif.cred');
  writeFileSync(f, text);
  chmodSync(f, 0o600);
  return f;
}

describe('classroom-edge cameras (built CLI)', () => {
  it('lists both cameras and profiles; the pasted lines make a valid recording section', async () => {
    cams = await startOnvifCameras([
      { name: '教师特写', hardware: 'DS-2DE2A404IW', manufacturer: 'HIKVISION', credentials: CREDS, clockSkewMs: -7 * 60_000, uriUserinfo: 'admin:Room-301-onvif' },
      { name: 'Student Wide', hardware: 'IPC-HFW2431', manufacturer: 'Dahua', credentials: CREDS },
    ]);
    const cred = credentialsFile(`${CREDS.username}:${CREDS.password}\n`);
    const r = await cameras(['--timeout', '1', '--probe-address', cams.probeAddress, '--credentials-file', cred]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('教师特写 (HIKVISION DS-2DE2A404IW) at 127.0.0.1');
    expect(r.out).toContain('Student Wide (Dahua IPC-HFW2431) at 127.0.0.1');
    expect(r.out.match(/mainStream +1920x1080 +H264 +rtsp:\/\/127\.0\.0\.1:554\/Streaming\/Channels\/101\?transportmode=unicast&profile=Profile_1\n/g)).toHaveLength(2);
    expect(r.out.match(/subStream +640x360 +H264 +rtsp:\/\/127\.0\.0\.1:554\/Streaming\/Channels\/102\?transportmode=unicast&profile=Profile_2\n/g)).toHaveLength(2);
    expect(r.out).not.toContain(CREDS.password);
    const pasted = r.out
      .split('\n')
      .filter((l) => l.trimStart().startsWith('- { id:'))
      .map((l) => `    ${l.trim()}`)
      .join('\n');
    const section = recordingSchema.parse((parse(`recording:\n  sources:\n${pasted}\n`) as { recording: unknown }).recording);
    expect(section.sources.map((s) => s.id)).toEqual(['cam1', 'cam2']);
    expect(section.sources.every((s) => s.kind === 'rtsp' && s.credentialsFile === cred && s.url.includes('/Channels/101'))).toBe(true);
  });

  it('--json prints one parseable document', async () => {
    cams = await startOnvifCameras([{ name: 'Front', hardware: 'X1' }]);
    const r = await cameras(['--timeout', '1', '--probe-address', cams.probeAddress, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { cameras: { profiles: { name: string; width: number; height: number; encoding: string }[] }[] };
    expect(doc.cameras[0]!.profiles.map((p) => `${p.name} ${p.width}x${p.height} ${p.encoding}`)).toEqual(['mainStream 1920x1080 H264', 'subStream 640x360 H264']);
  });

  it('wrong credentials: a NotAuthorized message per camera and exit 1', async () => {
    cams = await startOnvifCameras([
      { name: 'Cam A', hardware: 'A', credentials: CREDS },
      { name: 'Cam B', hardware: 'B', credentials: CREDS },
    ]);
    const cred = credentialsFile('admin:guessed-wrong\n');
    const r = await cameras(['--timeout', '1', '--probe-address', cams.probeAddress, '--credentials-file', cred]);
    expect(r.code).toBe(1);
    for (const name of ['Cam A', 'Cam B']) {
      expect(r.out).toMatch(new RegExp(`^${name} \\(\\w\\) at 127\\.0\\.0\\.1\n.*\n  error: the camera refused the credentials in .*onvif\\.cred \\(NotAuthorized\\)`, 'm'));
    }
    expect(r.err).toBe('2 of 2 camera(s) could not be read: see the errors above.\n');
    expect(`${r.out}${r.err}`).not.toContain('guessed-wrong');
  });

  it('no camera: the timeout message with hints, exit 1', async () => {
    const peer = await startSilentPeer();
    cleanups.push(peer.close);
    const r = await cameras(['--timeout', '1', '--probe-address', peer.probeAddress]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^No ONVIF camera answered within 1 s/);
    expect(r.err).toMatch(/same LAN\/VLAN/);
    expect(peer.probes).toHaveLength(2);
    expect(r.ms).toBeGreaterThanOrEqual(1000);
  });
});
