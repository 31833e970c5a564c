/**
 * ONVIF Profile S camera stand-ins, written from the specifications and not
 * from our client (nothing here imports edge/ or its XML parser):
 * - ONVIF Core Specification, "Discovery": WS-Discovery (2005/04) Probe on
 *   SOAP-over-UDP, answered by ProbeMatches whose RelatesTo is the probe's
 *   MessageID, with EndpointReference, Types, Scopes (onvif://www.onvif.org/
 *   name/..., hardware/...) and XAddrs (the device service URL);
 * - ONVIF Core, "Security": WS-Security UsernameToken with PasswordDigest =
 *   Base64(SHA-1(nonce + created + password)); GetSystemDateAndTime and
 *   GetCapabilities are PRE_AUTH (answered without a token), the rest need
 *   one; a refusal is a SOAP fault env:Sender / ter:NotAuthorized;
 * - Device service (devicemgmt.wsdl) GetSystemDateAndTime,
 *   GetDeviceInformation, GetCapabilities; Media service (media.wsdl)
 *   GetProfiles, GetStreamUri (RTP-Unicast over RTSP), at its own path, as
 *   many cameras serve it (e.g. /onvif/Media).
 * Requests are read with plain regular expressions that accept any namespace
 * prefix, as a device must.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CameraSpec {
  name: string;
  hardware: string;
  manufacturer?: string;
  /** When set, everything but the PRE_AUTH calls needs a valid UsernameToken for this user. */
  credentials?: { username: string; password: string };
  /** The camera's clock minus the real time (ms): a token's Created is checked against the camera's clock. */
  clockSkewMs?: number;
  /** Put userinfo in the stream URIs, as some cameras do. */
  uriUserinfo?: string;
  /** Advertise this device service URL instead of the real one (e.g. a port nobody listens on). */
  xaddrOverride?: string;
}

export interface CameraStandIn {
  spec: CameraSpec;
  endpoint: string;
  deviceService: string;
  /** Every SOAP request body the camera received, in order. */
  requests: { action: string; raw: string; authorized: boolean | null }[];
}

export interface OnvifCameras {
  /** Where to send the unicast probe: 127.0.0.1:port. */
  probeAddress: string;
  cameras: CameraStandIn[];
  /** The probes the UDP socket received. */
  probes: string[];
  close(): Promise<void>;
}

/** The same two profiles on every stand-in: a 1080p main stream and a 360p sub stream, both H.264. */
export const STAND_IN_PROFILES = [
  { token: 'Profile_1', name: 'mainStream', width: 1920, height: 1080, path: '/Streaming/Channels/101' },
  { token: 'Profile_2', name: 'subStream', width: 640, height: 360, path: '/Streaming/Channels/102' },
] as const;

const MEDIA_PATH = '/onvif/Media';
const DEVICE_PATH = '/onvif/device_service';
/** How far a token's Created may be from the camera's clock. */
const CREATED_TOLERANCE_MS = 10_000;

function decode(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The text of the first element with this local name, whatever its prefix. */
function element(xml: string, local: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${local}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[\\w.-]+:)?${local}>`).exec(xml);
  return m ? decode(m[1]!.trim()) : undefined;
}

function attribute(xml: string, local: string, attr: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${local}\\s[^>]*?\\b${attr}="([^"]*)"`).exec(xml);
  return m?.[1];
}

/** The local name of the Body's first element: the operation. */
function operation(xml: string): string {
  return /<(?:[\w.-]+:)?Body\b[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)/.exec(xml)?.[1] ?? '';
}

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?>' +
  '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"' +
  ' xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error">';

function envelope(body: string): string {
  return `${ENVELOPE_OPEN}<SOAP-ENV:Header/><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`;
}

function fault(subcode: string, reason: string): string {
  return envelope(
    `<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value><SOAP-ENV:Subcode><SOAP-ENV:Value>${subcode}</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Code>` +
      `<SOAP-ENV:Reason><SOAP-ENV:Text xml:lang="en">${reason}</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>`,
  );
}

/** Check a UsernameToken as the UsernameToken Profile 1.0 says, with replay protection on the nonce. */
function checkToken(raw: string, spec: CameraSpec, seenNonces: Set<string>): boolean {
  const creds = spec.credentials;
  if (!creds) return true;
  const username = element(raw, 'Username');
  const password = element(raw, 'Password');
  const nonce = element(raw, 'Nonce');
  const created = element(raw, 'Created');
  const type = attribute(raw, 'Password', 'Type') ?? '';
  if (username === undefined || password === undefined || nonce === undefined || created === undefined) return false;
  if (!type.endsWith('#PasswordDigest')) return false;
  const createdAt = Date.parse(created);
  if (!Number.isFinite(createdAt) || Math.abs(createdAt - (Date.now() + (spec.clockSkewMs ?? 0))) > CREATED_TOLERANCE_MS) return false;
  if (seenNonces.has(nonce)) return false;
  const expected = createHash('sha1')
    .update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created, 'utf8'), Buffer.from(creds.password, 'utf8')]))
    .digest('base64');
  if (username !== creds.username || password !== expected) return false;
  seenNonces.add(nonce);
  return true;
}

function answer(op: string, raw: string, cam: CameraStandIn, base: string): { status: number; body: string } {
  const skewed = new Date(Date.now() + (cam.spec.clockSkewMs ?? 0));
  switch (op) {
    case 'GetSystemDateAndTime':
      return {
        status: 200,
        body: envelope(
          `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>` +
            `<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime><tt:Time><tt:Hour>${skewed.getUTCHours()}</tt:Hour><tt:Minute>${skewed.getUTCMinutes()}</tt:Minute>` +
            `<tt:Second>${skewed.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${skewed.getUTCFullYear()}</tt:Year><tt:Month>${skewed.getUTCMonth() + 1}</tt:Month>` +
            `<tt:Day>${skewed.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
        ),
      };
    case 'GetCapabilities':
      return {
        status: 200,
        body: envelope(
          `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Media><tt:XAddr>${base}${MEDIA_PATH}</tt:XAddr><tt:StreamingCapabilities>` +
            `<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`,
        ),
      };
    case 'GetDeviceInformation':
      return {
        status: 200,
        body: envelope(
          `<tds:GetDeviceInformationResponse><tds:Manufacturer>${esc(cam.spec.manufacturer ?? 'Stand-in')}</tds:Manufacturer><tds:Model>${esc(cam.spec.hardware)}</tds:Model>` +
            `<tds:FirmwareVersion>V5.7.3 build 220112</tds:FirmwareVersion><tds:SerialNumber>SN-${cam.endpoint.slice(-8)}</tds:SerialNumber><tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>`,
        ),
      };
    case 'GetProfiles':
      return {
        status: 200,
        body: envelope(
          `<trt:GetProfilesResponse>${STAND_IN_PROFILES.map(
            (p, i) =>
              `<trt:Profiles token="${p.token}" fixed="true"><tt:Name>${p.name}</tt:Name>` +
              `<tt:VideoSourceConfiguration token="VideoSourceToken"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken>` +
              `<tt:Bounds x="0" y="0" width="1920" height="1080"/></tt:VideoSourceConfiguration>` +
              `<tt:VideoEncoderConfiguration token="VideoEncoderToken_${i + 1}"><tt:Name>VideoEncoder_${i + 1}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>` +
              `<tt:Resolution><tt:Width>${p.width}</tt:Width><tt:Height>${p.height}</tt:Height></tt:Resolution><tt:Quality>3</tt:Quality>` +
              `<tt:RateControl><tt:FrameRateLimit>25</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>4096</tt:BitrateLimit></tt:RateControl>` +
              `<tt:H264><tt:GovLength>50</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264><tt:SessionTimeout>PT5S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>`,
          ).join('')}</trt:GetProfilesResponse>`,
        ),
      };
    case 'GetStreamUri': {
      const token = element(raw, 'ProfileToken');
      const profile = STAND_IN_PROFILES.find((p) => p.token === token);
      if (!profile) return { status: 400, body: fault('ter:InvalidArgVal', 'No such profile') };
      if (element(raw, 'Stream') !== 'RTP-Unicast' || element(raw, 'Protocol') !== 'RTSP') {
        return { status: 400, body: fault('ter:InvalidArgVal', 'Unsupported StreamSetup') };
      }
      const userinfo = cam.spec.uriUserinfo ? `${cam.spec.uriUserinfo}@` : '';
      const uri = `rtsp://${userinfo}127.0.0.1:554${profile.path}?transportmode=unicast&profile=${profile.token}`;
      return {
        status: 200,
        body: envelope(
          `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>${esc(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>` +
            `<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`,
        ),
      };
    }
    default:
      return { status: 400, body: fault('ter:ActionNotSupported', 'Optional Action Not Implemented') };
  }
}

const PRE_AUTH = new Set(['GetSystemDateAndTime', 'GetCapabilities']);
const DEVICE_OPS = new Set(['GetSystemDateAndTime', 'GetCapabilities', 'GetDeviceInformation']);
const MEDIA_OPS = new Set(['GetProfiles', 'GetStreamUri']);

async function startCamera(spec: CameraSpec): Promise<{ cam: CameraStandIn; server: Server }> {
  const seenNonces = new Set<string>();
  const cam: CameraStandIn = { spec, endpoint: `urn:uuid:${randomUUID()}`, deviceService: '', requests: [] };
  let base = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const op = operation(raw);
      const path = (req.url ?? '').split('?')[0];
      const needsAuth = !PRE_AUTH.has(op) && spec.credentials !== undefined;
      const authorized = needsAuth ? checkToken(raw, spec, seenNonces) : null;
      cam.requests.push({ action: op, raw, authorized });
      let out: { status: number; body: string };
      if (req.method !== 'POST') out = { status: 405, body: '' };
      else if ((path === DEVICE_PATH && !DEVICE_OPS.has(op)) || (path === MEDIA_PATH && !MEDIA_OPS.has(op))) {
        out = { status: 400, body: fault('ter:ActionNotSupported', `${op} is not served at ${path}`) };
      } else if (path !== DEVICE_PATH && path !== MEDIA_PATH) out = { status: 404, body: '' };
      else if (authorized === false) out = { status: 400, body: fault('ter:NotAuthorized', 'Sender not Authorized') };
      else out = answer(op, raw, cam, base);
      res.writeHead(out.status, { 'content-type': 'application/soap+xml; charset=utf-8' });
      res.end(out.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cam.deviceService = spec.xaddrOverride ?? `${base}${DEVICE_PATH}`;
  return { cam, server };
}

function probeMatches(cam: CameraStandIn, relatesTo: string): string {
  const scopes = [
    'onvif://www.onvif.org/type/video_encoder',
    'onvif://www.onvif.org/Profile/Streaming',
    `onvif://www.onvif.org/name/${encodeURIComponent(cam.spec.name)}`,
    `onvif://www.onvif.org/hardware/${encodeURIComponent(cam.spec.hardware)}`,
    'onvif://www.onvif.org/location/country/china',
  ].join(' ');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing"' +
    ' xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:tdn="http://www.onvif.org/ver10/network/wsdl">' +
    `<SOAP-ENV:Header><wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID><wsa:RelatesTo>${esc(relatesTo)}</wsa:RelatesTo>` +
    '<wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>' +
    '<wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>' +
    '<wsdd:AppSequence InstanceId="1" MessageNumber="7"/></SOAP-ENV:Header>' +
    `<SOAP-ENV:Body><wsdd:ProbeMatches><wsdd:ProbeMatch><wsa:EndpointReference><wsa:Address>${cam.endpoint}</wsa:Address></wsa:EndpointReference>` +
    `<wsdd:Types>tdn:NetworkVideoTransmitter</wsdd:Types><wsdd:Scopes>${esc(scopes)}</wsdd:Scopes>` +
    `<wsdd:XAddrs>${esc(cam.deviceService)}</wsdd:XAddrs><wsdd:MetadataVersion>1</wsdd:MetadataVersion></wsdd:ProbeMatch></wsdd:ProbeMatches></SOAP-ENV:Body></SOAP-ENV:Envelope>`
  );
}

/**
 * Start cameras behind one UDP socket on 127.0.0.1 (a unicast probe reaches
 * them all, like a multicast one on a LAN); each answers with its own
 * ProbeMatches datagram. With `noise`, the socket also sends garbage and a
 * ProbeMatches for another probe first, which a client must ignore.
 */
export async function startOnvifCameras(specs: CameraSpec[], opts: { noise?: boolean } = {}): Promise<OnvifCameras> {
  const started = await Promise.all(specs.map(startCamera));
  const probes: string[] = [];
  const udp: Socket = createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    const raw = msg.toString('utf8');
    probes.push(raw);
    const action = element(raw, 'Action') ?? '';
    const types = element(raw, 'Types');
    const messageId = element(raw, 'MessageID');
    // A Probe with no Types matches every target service; with Types it must name ours.
    if (!action.endsWith('/discovery/Probe') || !messageId || (types !== undefined && !/(^|\s|:)NetworkVideoTransmitter(\s|$)/.test(types))) return;
    const send = (s: string) => udp.send(Buffer.from(s), rinfo.port, rinfo.address);
    if (opts.noise) {
      send('not xml at all');
      for (const { cam } of started) send(probeMatches({ ...cam, endpoint: `urn:uuid:${randomUUID()}` }, `urn:uuid:${randomUUID()}`));
    }
    for (const { cam } of started) send(probeMatches(cam, messageId));
  });
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  return {
    probeAddress: `127.0.0.1:${udp.address().port}`,
    cameras: started.map((s) => s.cam),
    probes,
    close: async () => {
      udp.close();
      await Promise.all(started.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    },
  };
}

/** A UDP socket on 127.0.0.1 that receives probes and answers nothing: a LAN without cameras. */
export async function startSilentPeer(): Promise<{ probeAddress: string; probes: string[]; close: () => void }> {
  const probes: string[] = [];
  const udp = createSocket('udp4');
  udp.on('message', (m) => probes.push(m.toString('utf8')));
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  return { probeAddress: `127.0.0.1:${udp.address().port}`, probes, close: () => udp.close() };
}
