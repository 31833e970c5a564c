/**
 * The ONVIF client (edge/recording/onvif.ts) against the spec-written camera
 * stand-ins (test/helpers/onvif-camera.ts) and against fixed texts: the
 * PasswordDigest vector of the ONVIF Application Programmer's Guide,
 * ProbeMatches for other probes, userinfo in URIs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { discover, inspectCamera, parseProbeMatches, scopeValues, stripUserinfo, usernameTokenHeader, type DiscoveredDevice } from '../../../edge/recording/onvif.js';
import { startOnvifCameras, type OnvifCameras } from '../../helpers/onvif-camera.js';

const CREDS = { username: 'onvif', password: 'Cl4ss-R00m&<pw>' };
let cams: OnvifCameras | undefined;
const servers: Server[] = [];
afterEach(async () => {
  await cams?.close();
  cams = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function probeTarget(c: OnvifCameras) {
  const [host, port] = c.probeAddress.split(':');
  return { host: host!, port: Number(port) };
}

async function discoverOne(c: OnvifCameras): Promise<DiscoveredDevice> {
  const found = await discover({ timeoutMs: 400, probeAddress: probeTarget(c) });
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('WS-Security UsernameToken', () => {
  it('computes the PasswordDigest of the ONVIF Application Programmer\'s Guide example', () => {
    const header = usernameTokenHeader({ username: 'user', password: 'userpassword' }, new Date('2010-09-16T07:50:45Z'), Buffer.from('LKqI6G/AikKCQrN0zqZFlg==', 'base64'));
    expect(header).toContain('>tuOSpGlFlIXsozq4HFNeeGeFLEI=</wsse:Password>');
    expect(header).toContain('<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">LKqI6G/AikKCQrN0zqZFlg==</wsse:Nonce>');
    expect(header).toContain('<wsu:Created>2010-09-16T07:50:45Z</wsu:Created>');
    expect(header).not.toContain('userpassword');
  });

  it('escapes the username', () => {
    expect(usernameTokenHeader({ username: 'a<b&c', password: 'x' }, new Date(0))).toContain('<wsse:Username>a&lt;b&amp;c</wsse:Username>');
  });
});

describe('ProbeMatches and scopes', () => {
  const match = (relatesTo: string) =>
    `<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery">` +
    `<e:Header><w:RelatesTo>${relatesTo}</w:RelatesTo></e:Header><e:Body><d:ProbeMatches>` +
    `<d:ProbeMatch><w:EndpointReference><w:Address>urn:uuid:a</w:Address></w:EndpointReference><d:XAddrs>http://10.0.0.5/onvif/device_service http://[fe80::1]/onvif/device_service</d:XAddrs><d:Scopes>onvif://www.onvif.org/name/Front%20Cam onvif://www.onvif.org/hardware/IPC-HFW</d:Scopes></d:ProbeMatch>` +
    `<d:ProbeMatch><w:EndpointReference><w:Address>urn:uuid:b</w:Address></w:EndpointReference><d:XAddrs>http://10.0.0.6/onvif/device_service</d:XAddrs></d:ProbeMatch>` +
    `</d:ProbeMatches></e:Body></e:Envelope>`;

  it('reads every match of an answer to our probe, whatever the prefixes', () => {
    const found = parseProbeMatches(match('urn:uuid:ours'), 'urn:uuid:ours', '10.0.0.5');
    expect(found.map((d) => d.endpoint)).toEqual(['urn:uuid:a', 'urn:uuid:b']);
    expect(found[0]!.xaddrs).toHaveLength(2);
    expect(scopeValues(found[0]!.scopes)).toEqual({ name: 'Front Cam', hardware: 'IPC-HFW' });
    expect(scopeValues(found[1]!.scopes)).toEqual({ name: undefined, hardware: undefined });
  });

  it('ignores answers to other probes, Hello messages and garbage', () => {
    expect(parseProbeMatches(match('urn:uuid:theirs'), 'urn:uuid:ours', '10.0.0.5')).toEqual([]);
    expect(parseProbeMatches('<Envelope><Body><Hello/></Body></Envelope>', 'urn:uuid:ours', 'x')).toEqual([]);
    expect(parseProbeMatches('\u0000garbage<<', 'urn:uuid:ours', 'x')).toEqual([]);
  });

  it('strips userinfo from stream URIs and leaves others alone', () => {
    expect(stripUserinfo('rtsp://admin:p%40ss@192.168.1.64:554/Streaming/Channels/101')).toBe('rtsp://192.168.1.64:554/Streaming/Channels/101');
    expect(stripUserinfo('rtsp://192.168.1.64/live?user=a@b')).toBe('rtsp://192.168.1.64/live?user=a@b');
  });
});

describe('discovery against the stand-ins', () => {
  it('finds each camera once, ignoring garbage and answers to other probes', async () => {
    cams = await startOnvifCameras([{ name: 'Teacher Cam', hardware: 'DS-2CD2345' }, { name: 'Student Cam', hardware: 'IPC-HFW2431' }], { noise: true });
    const found = await discover({ timeoutMs: 500, probeAddress: probeTarget(cams) });
    expect(found.map((d) => d.endpoint).sort()).toEqual(cams.cameras.map((c) => c.endpoint).sort());
    expect(found.map((d) => scopeValues(d.scopes).name).sort()).toEqual(['Student Cam', 'Teacher Cam']);
    // The stand-in answers only a Probe whose Types names NetworkVideoTransmitter; we send it twice (UDP may drop one).
    expect(cams.probes.length).toBe(2);
  });
});

describe('inspectCamera against a stand-in', () => {
  it('reads both profiles and their RTSP URIs with a digest, in the camera\'s clock, without sending the password', async () => {
    cams = await startOnvifCameras([{ name: 'Teacher Cam', hardware: 'DS-2CD2345', manufacturer: 'HIKVISION', credentials: CREDS, clockSkewMs: 3_600_000, uriUserinfo: 'admin:hunter2' }]);
    const d = await discoverOne(cams);
    const r = await inspectCamera(d, { credentials: CREDS, timeoutMs: 2000, now: Date.now });
    expect(r.error).toBeUndefined();
    expect(r.info).toMatchObject({ manufacturer: 'HIKVISION', model: 'DS-2CD2345', firmwareVersion: 'V5.7.3 build 220112' });
    expect(r.profiles).toEqual([
      { token: 'Profile_1', name: 'mainStream', encoding: 'H264', width: 1920, height: 1080, uri: 'rtsp://127.0.0.1:554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1' },
      { token: 'Profile_2', name: 'subStream', encoding: 'H264', width: 640, height: 360, uri: 'rtsp://127.0.0.1:554/Streaming/Channels/102?transportmode=unicast&profile=Profile_2' },
    ]);
    const cam = cams.cameras[0]!;
    expect(cam.requests.map((q) => q.action)).toEqual(['GetSystemDateAndTime', 'GetDeviceInformation', 'GetCapabilities', 'GetProfiles', 'GetStreamUri', 'GetStreamUri']);
    expect(cam.requests.filter((q) => q.authorized === false)).toEqual([]);
    for (const q of cam.requests) expect(q.raw).not.toContain(CREDS.password);
    expect(JSON.stringify(r)).not.toContain('hunter2');
  });

  it('reports a wrong password as not-authorized', async () => {
    cams = await startOnvifCameras([{ name: 'Cam', hardware: 'X', credentials: CREDS }]);
    const r = await inspectCamera(await discoverOne(cams), { credentials: { ...CREDS, password: 'wrong' }, timeoutMs: 2000, now: Date.now });
    expect(r.error?.kind).toBe('not-authorized');
    expect(r.error?.message).toMatch(/Sender not Authorized \(NotAuthorized\)/);
    expect(r.profiles).toEqual([]);
  });

  it('reports a camera that needs credentials when none are given', async () => {
    cams = await startOnvifCameras([{ name: 'Cam', hardware: 'X', credentials: CREDS }]);
    const r = await inspectCamera(await discoverOne(cams), { timeoutMs: 2000, now: Date.now });
    expect(r.error?.kind).toBe('not-authorized');
  });

  it('reports a device service nobody listens on as unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    cams = await startOnvifCameras([{ name: 'Cam', hardware: 'X', xaddrOverride: `http://127.0.0.1:${port}/onvif/device_service` }]);
    const r = await inspectCamera(await discoverOne(cams), { timeoutMs: 2000, now: Date.now });
    expect(r.error).toEqual({ kind: 'unreachable', message: `no HTTP answer from http://127.0.0.1:${port}/onvif/device_service: connection refused` });
  });

  it('reports a device service that accepts but never answers as a timeout', async () => {
    const mute = createServer(() => undefined);
    servers.push(mute);
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(mute.address() as AddressInfo).port}/onvif/device_service`;
    const started = Date.now();
    const r = await inspectCamera({ endpoint: 'urn:uuid:m', xaddrs: [url], scopes: [], from: '127.0.0.1' }, { timeoutMs: 300, now: Date.now });
    expect(r.error).toEqual({ kind: 'timeout', message: `no HTTP answer from ${url} within 0.3 s` });
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
