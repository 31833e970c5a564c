/**
 * `classroom-edge cameras` in process (runCamerasCommand) against the
 * spec-written stand-ins: the table, the JSON, the recording.sources lines
 * (checked by the config's own schema), the credentials file rules and the
 * errors a technician sees.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCamerasCommand } from '../../../edge/recording/cameras-cli.js';
import { recordingSourceSchema } from '../../../edge/config/recording-schema.js';
import { startOnvifCameras, startSilentPeer, type OnvifCameras } from '../../helpers/onvif-camera.js';

const CREDS = { username: 'onvif', password: 'S3cret:with-colon' };
let cams: OnvifCameras | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  await cams?.close();
  cams = undefined;
  for (const c of cleanups.splice(0)) c();
});

function credentialsFile(text: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'ce-onvif-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'cam.cred');
  writeFileSync(f, text);
  chmodSync(f, mode);
  return f;
}

async function run(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCamerasCommand(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const TWO = [
  { name: 'Teacher Cam', hardware: 'DS-2CD2345', manufacturer: 'HIKVISION', credentials: CREDS, uriUserinfo: 'admin:hunter2' },
  { name: 'Student Cam', hardware: 'IPC-HFW2431', manufacturer: 'Dahua', credentials: CREDS },
];

describe('classroom-edge cameras (in process)', () => {
  it('prints each camera, both profiles with userinfo-free URIs, and valid recording.sources lines', async () => {
    cams = await startOnvifCameras(TWO);
    const cred = credentialsFile(`${CREDS.username}:${CREDS.password}\n`);
    // --interface: the probe goes out from (and answers come back to) that local address.
    const r = await run(['--timeout', '0.5', '--probe-address', cams.probeAddress, '--credentials-file', cred, '--interface', '127.0.0.1']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Found 2 ONVIF camera\(s\)\./);
    expect(r.out).toContain('Teacher Cam (HIKVISION DS-2CD2345) at 127.0.0.1');
    expect(r.out).toContain('Student Cam (Dahua IPC-HFW2431) at 127.0.0.1');
    expect(r.out).toMatch(/mainStream +1920x1080 +H264 +rtsp:\/\/127\.0\.0\.1:554\/Streaming\/Channels\/101\?transportmode=unicast&profile=Profile_1$/m);
    expect(r.out).toMatch(/subStream +640x360 +H264 +rtsp:\/\/127\.0\.0\.1:554\/Streaming\/Channels\/102\?transportmode=unicast&profile=Profile_2$/m);
    expect(r.out).not.toMatch(/hunter2|S3cret/);
    const yamlLines = r.out.split('\n').filter((l) => l.trimStart().startsWith('- { id:'));
    expect(yamlLines).toHaveLength(2);
    const sources = parse(yamlLines.map((l) => l.trim()).join('\n')) as unknown[];
    for (const [i, s] of sources.entries()) {
      const parsed = recordingSourceSchema.parse(s);
      expect(parsed).toMatchObject({ id: `cam${i + 1}`, kind: 'rtsp', url: 'rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1', credentialsFile: cred });
    }
  });

  it('--json gives the same facts as one document, without secrets', async () => {
    cams = await startOnvifCameras(TWO.slice(0, 1));
    const cred = credentialsFile(`${CREDS.username}:${CREDS.password}`);
    const r = await run(['--timeout', '0.5', '--probe-address', cams.probeAddress, '--credentials-file', cred, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out) as { cameras: { name: string; info: { model: string }; profiles: { name: string; uri: string }[] }[]; sources: { yaml: string }[] };
    expect(doc.cameras).toHaveLength(1);
    expect(doc.cameras[0]).toMatchObject({ name: 'Teacher Cam', info: { model: 'DS-2CD2345' } });
    expect(doc.cameras[0]!.profiles.map((p) => [p.name, p.uri.split('?')[0]])).toEqual([
      ['mainStream', 'rtsp://127.0.0.1:554/Streaming/Channels/101'],
      ['subStream', 'rtsp://127.0.0.1:554/Streaming/Channels/102'],
    ]);
    expect(recordingSourceSchema.safeParse((parse(doc.sources[0]!.yaml) as unknown[])[0]).success).toBe(true);
    expect(r.out).not.toMatch(/hunter2|S3cret/);
  });

  it('names each camera that refuses the credentials, and exits 1', async () => {
    cams = await startOnvifCameras(TWO);
    const cred = credentialsFile('onvif:not-the-password\n');
    const r = await run(['--timeout', '0.5', '--probe-address', cams.probeAddress, '--credentials-file', cred]);
    expect(r.code).toBe(1);
    const esc = cred.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const name of ['Teacher Cam', 'Student Cam']) {
      expect(r.out).toMatch(new RegExp(`^${name} \\(.*\\) at 127\\.0\\.0\\.1\n.*\n  error: the camera refused the credentials in ${esc} \\(NotAuthorized\\)`, 'm'));
    }
    expect(r.err).toBe('2 of 2 camera(s) could not be read: see the errors above.');
    const json = await run(['--timeout', '0.5', '--probe-address', cams.probeAddress, '--credentials-file', cred, '--json']);
    expect(json.code).toBe(1);
    expect(json.err.split('\n')).toHaveLength(2);
    expect(json.err).toMatch(new RegExp(`^Student Cam \\(IPC-HFW2431\\) at 127\\.0\\.0\\.1: the camera refused the credentials in ${esc} \\(NotAuthorized\\)`, 'm'));
    const doc = JSON.parse(json.out) as { cameras: { error: { kind: string } }[] };
    expect(doc.cameras.map((c) => c.error.kind)).toEqual(['not-authorized', 'not-authorized']);
    expect(r.out).not.toContain('recording.sources');
    expect(`${r.out}${r.err}${json.out}${json.err}`).not.toContain('not-the-password');
  });

  it('tells the technician to give credentials when the camera needs them', async () => {
    cams = await startOnvifCameras(TWO.slice(1));
    const r = await run(['--timeout', '0.5', '--probe-address', cams.probeAddress]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^  error: the camera needs credentials \(NotAuthorized\): pass --credentials-file FILE/m);
  });

  it('says when a camera answers discovery but not HTTP', async () => {
    cams = await startOnvifCameras([{ name: 'Dead Web', hardware: 'X', xaddrOverride: 'http://127.0.0.1:9/onvif/device_service' }, { name: 'Fine', hardware: 'Y' }]);
    const r = await run(['--timeout', '0.5', '--probe-address', cams.probeAddress]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^Dead Web \(X\) at 127\.0\.0\.1\n.*\n  error: the camera answered discovery but not HTTP: no HTTP answer from http:\/\/127\.0\.0\.1:9\/onvif\/device_service: connection refused\n\nFine /m);
    expect(r.err).toBe('1 of 2 camera(s) could not be read: see the errors above.');
    expect(r.out).toContain('- { id: cam1, kind: rtsp, url: rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1 }');
  });

  it('with no camera, waits the timeout, prints the hints and exits 1', async () => {
    const peer = await startSilentPeer();
    cleanups.push(peer.close);
    const started = Date.now();
    const r = await run(['--timeout', '0.4', '--probe-address', peer.probeAddress]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(`No ONVIF camera answered within 0.4 s (probe sent to ${peer.probeAddress}).`);
    expect(r.err).toMatch(/same LAN\/VLAN/);
    expect(r.err).toMatch(/ONVIF is enabled/);
    expect(r.err).toMatch(/multicast to 239\.255\.255\.250:3702/);
    expect(peer.probes[0]).toContain('NetworkVideoTransmitter');
  });

  it('refuses a credentials file others can read, without showing its content', async () => {
    const cred = credentialsFile('onvif:leaky-password\n', 0o644);
    const r = await run(['--credentials-file', cred, '--probe-address', '127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`refusing the credentials file ${cred}: others can read it (mode 644); run chmod 600 ${cred}`);
  });

  it('rejects bad options with exit 2', async () => {
    expect((await run(['--probe-address', 'camera.local'])).code).toBe(2);
    expect((await run(['--timeout', 'soon'])).err).toMatch(/--timeout wants seconds/);
    expect((await run(['--interface', 'eth0'])).err).toMatch(/--interface wants this appliance's IPv4 address/);
    expect((await run(['--password', 'x'])).code).toBe(2);
    expect((await run(['--credentials-file', '/nonexistent/cred'])).err).toMatch(/cannot read the credentials file \/nonexistent\/cred: ENOENT/);
  });
});
