/**
 * A small ONVIF Profile S client for `classroom-edge cameras`: WS-Discovery
 * Probe over SOAP-over-UDP, then the device and media services over HTTP
 * (GetSystemDateAndTime, GetDeviceInformation, GetCapabilities, GetProfiles,
 * GetStreamUri), with WS-Security UsernameToken PasswordDigest.
 *
 * Written here rather than taken from the `onvif` npm package: its Discovery
 * is a module-level singleton that always sends to 239.255.255.250:3702 (no
 * unicast probe, which a camera on another subnet and our tests need), and
 * its Cam.connect runs a fixed sequence of calls we do not need. Parsing is
 * fast-xml-parser with namespace prefixes removed, narrowed by hand below.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { XMLParser } from 'fast-xml-parser';

export const WS_DISCOVERY_PORT = 3702;
export const WS_DISCOVERY_MULTICAST = '239.255.255.250';

export interface OnvifCredentials {
  username: string;
  password: string;
}

/** One ProbeMatch: a device that answered our Probe. */
export interface DiscoveredDevice {
  /** The EndpointReference address (usually urn:uuid:...), stable per device. */
  endpoint: string;
  /** The device service URLs it advertised. */
  xaddrs: string[];
  scopes: string[];
  /** Where the answer came from. */
  from: string;
}

export type OnvifErrorKind = 'not-authorized' | 'unreachable' | 'timeout' | 'http' | 'fault' | 'bad-answer';

/** A failed ONVIF call; the message names the URL and never a credential. */
export class OnvifError extends Error {
  constructor(
    readonly kind: OnvifErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'OnvifError';
  }
}

// ---- XML narrowing -------------------------------------------------------

const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, processEntities: true });

/** Parse XML into plain objects (namespace prefixes dropped, attributes as "@name"); undefined when not XML. */
export function parseXml(xml: string): unknown {
  try {
    return parser.parse(xml) as unknown;
  } catch {
    return undefined;
  }
}

function isNode(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every child element `name` of `v` (a repeated element parses as an array, a single one not). */
export function all(v: unknown, name: string): unknown[] {
  const first = Array.isArray(v) ? (v as unknown[])[0] : v;
  if (!isNode(first)) return [];
  const c = first[name];
  if (c === undefined) return [];
  return Array.isArray(c) ? (c as unknown[]) : [c];
}

/** The first element along a path of child names. */
export function one(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const name of path) cur = all(cur, name)[0];
  return cur;
}

/** An element's text (also when it has attributes), trimmed; undefined when absent. */
export function text(v: unknown): string | undefined {
  const n = Array.isArray(v) ? (v as unknown[])[0] : v;
  if (typeof n === 'string') return n.trim();
  if (typeof n === 'number' || typeof n === 'boolean') return String(n);
  if (isNode(n)) {
    const t = n['#text'];
    if (typeof t === 'string' || typeof t === 'number') return String(t).trim();
    return '';
  }
  return undefined;
}

function attr(v: unknown, name: string): string | undefined {
  const n = Array.isArray(v) ? (v as unknown[])[0] : v;
  const a = isNode(n) ? n[`@${name}`] : undefined;
  return typeof a === 'string' ? a : undefined;
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

// ---- WS-Discovery --------------------------------------------------------

const NS = {
  soap: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://schemas.xmlsoap.org/ws/2004/08/addressing',
  wsd: 'http://schemas.xmlsoap.org/ws/2005/04/discovery',
  dn: 'http://www.onvif.org/ver10/network/wsdl',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tt: 'http://www.onvif.org/ver10/schema',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
};

/** The Probe for NetworkVideoTransmitters (ONVIF Core, "Discovery"; WS-Discovery 2005/04). */
export function buildProbe(messageId: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS.wsa}" xmlns:d="${NS.wsd}" xmlns:dn="${NS.dn}">` +
    `<s:Header><a:Action s:mustUnderstand="1">${NS.wsd}/Probe</a:Action><a:MessageID>${messageId}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${NS.wsa}/role/anonymous</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>` +
    `<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>`
  );
}

/** The matches in a ProbeMatches answering `messageId` (anything else, e.g. a Hello or another probe's answer: none). */
export function parseProbeMatches(xml: string, messageId: string, from: string): DiscoveredDevice[] {
  const env = one(parseXml(xml), 'Envelope');
  const relatesTo = text(one(env, 'Header', 'RelatesTo'));
  if (relatesTo !== undefined && relatesTo !== messageId) return [];
  return all(one(env, 'Body', 'ProbeMatches'), 'ProbeMatch').flatMap((m) => {
    const endpoint = text(one(m, 'EndpointReference', 'Address'));
    const xaddrs = (text(one(m, 'XAddrs')) ?? '').split(/\s+/).filter((u) => /^https?:\/\//.test(u));
    if (!endpoint || xaddrs.length === 0) return [];
    return [{ endpoint, xaddrs, scopes: (text(one(m, 'Scopes')) ?? '').split(/\s+/).filter(Boolean), from }];
  });
}

export interface DiscoverOptions {
  timeoutMs: number;
  /** Send the probe to this address (unicast, for diagnostics and tests) instead of the multicast group. */
  probeAddress?: { host: string; port: number };
  /** The local IPv4 address to send from (and the multicast interface): for appliances with several NICs. */
  interfaceAddress?: string;
}

/** Probe, and collect the distinct devices that answer within the timeout. */
export function discover(opts: DiscoverOptions): Promise<DiscoveredDevice[]> {
  const messageId = `urn:uuid:${randomUUID()}`;
  const probe = Buffer.from(buildProbe(messageId));
  const target = opts.probeAddress ?? { host: WS_DISCOVERY_MULTICAST, port: WS_DISCOVERY_PORT };
  const found = new Map<string, DiscoveredDevice>();
  const socket = createSocket({ type: 'udp4' });
  return new Promise((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      socket.close();
      if (err) reject(err);
      else resolve([...found.values()]);
    };
    socket.on('error', (e) => finish(new Error(`WS-Discovery socket: ${e.message}`)));
    socket.on('message', (msg, rinfo) => {
      for (const d of parseProbeMatches(msg.toString('utf8'), messageId, rinfo.address)) {
        if (!found.has(d.endpoint)) found.set(d.endpoint, d);
      }
    });
    socket.bind(0, opts.interfaceAddress, () => {
      if (!opts.probeAddress) {
        // SOAP-over-UDP multicast stays on the link (TTL 1), like the cameras' own Hello.
        socket.setMulticastTTL(1);
        if (opts.interfaceAddress) socket.setMulticastInterface(opts.interfaceAddress);
      }
      // UDP may drop one datagram: SOAP-over-UDP repeats a multicast message once after a short random delay.
      const send = () =>
        socket.send(probe, target.port, target.host, (e) => {
          if (e) finish(new Error(`cannot send the WS-Discovery probe to ${target.host}:${target.port}: ${e.message}`));
        });
      send();
      timers.push(setTimeout(send, 50 + Math.floor(Math.random() * 200)));
      timers.push(setTimeout(() => finish(), opts.timeoutMs));
    });
  });
}

/** The camera's name and hardware from its onvif://www.onvif.org/name/... and .../hardware/... scopes. */
export function scopeValues(scopes: string[]): { name?: string; hardware?: string } {
  const pick = (key: string): string | undefined => {
    const s = scopes.find((x) => x.startsWith(`onvif://www.onvif.org/${key}/`));
    if (!s) return undefined;
    const raw = s.slice(`onvif://www.onvif.org/${key}/`.length);
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };
  return { name: pick('name'), hardware: pick('hardware') };
}

// ---- SOAP over HTTP ------------------------------------------------------

/**
 * The WS-Security UsernameToken header with PasswordDigest =
 * Base64(SHA-1(nonce + created + password)) (OASIS UsernameToken Profile 1.0).
 */
export function usernameTokenHeader(creds: OnvifCredentials, created: Date, nonce: Buffer = randomBytes(16)): string {
  // Second precision: some cameras reject fractional seconds in Created.
  const createdText = created.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const digest = createHash('sha1').update(Buffer.concat([nonce, Buffer.from(createdText, 'utf8'), Buffer.from(creds.password, 'utf8')])).digest('base64');
  return (
    `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
    `<wsse:Username>${escapeXml(creds.username)}</wsse:Username>` +
    `<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">${digest}</wsse:Password>` +
    `<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${createdText}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  );
}

export interface SoapContext {
  credentials?: OnvifCredentials;
  timeoutMs: number;
  /** Camera clock minus ours (ms): Created must be in the camera's time or it refuses the digest. */
  clockOffsetMs: number;
  now: () => number;
}

/** A camera's answer is a few kB; more is a misbehaving device, not worth the memory. */
const MAX_ANSWER_BYTES = 4 * 2 ** 20;

/**
 * POST with node:http rather than fetch: fetch refuses the "bad ports" of the
 * Fetch standard (e.g. 10080), which a LAN camera may well use.
 */
function httpPost(url: string, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(u, { method: 'POST', headers: { 'content-type': 'application/soap+xml; charset=utf-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new OnvifError('timeout', `no HTTP answer from ${url} within ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** POST one SOAP request; the parsed Body, or an OnvifError saying what went wrong. */
export async function soapCall(url: string, body: string, ctx: SoapContext, authenticate = true): Promise<unknown> {
  const header = authenticate && ctx.credentials ? usernameTokenHeader(ctx.credentials, new Date(ctx.now() + ctx.clockOffsetMs)) : '';
  const envelope =
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${NS.soap}" xmlns:tds="${NS.tds}" xmlns:trt="${NS.trt}" xmlns:tt="${NS.tt}">` +
    `<s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
  let res: { status: number; text: string };
  try {
    res = await httpPost(url, envelope, ctx.timeoutMs);
  } catch (e) {
    if (e instanceof OnvifError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ECONNREFUSED' ? 'connection refused' : code === 'EHOSTUNREACH' ? 'host unreachable' : e instanceof Error ? e.message : String(e);
    throw new OnvifError('unreachable', `no HTTP answer from ${url}: ${why}`);
  }
  const answer = res.text;
  const env = one(parseXml(answer), 'Envelope');
  const fault = one(env, 'Body', 'Fault');
  if (fault !== undefined) {
    const codes: string[] = [];
    for (let c: unknown = one(fault, 'Code'); c !== undefined; c = one(c, 'Subcode')) codes.push(text(one(c, 'Value')) ?? '');
    const reason = text(one(fault, 'Reason', 'Text')) || codes.join(' / ');
    if (codes.some((c) => /(^|:)NotAuthorized$/.test(c))) throw new OnvifError('not-authorized', `${url} refused: ${reason} (NotAuthorized)`);
    throw new OnvifError('fault', `${url} answered a SOAP fault: ${reason}`);
  }
  // Cameras that use HTTP authentication instead of WS-Security answer 401 without a SOAP fault.
  if (res.status === 401 || res.status === 403) throw new OnvifError('not-authorized', `${url} refused: HTTP ${res.status} (NotAuthorized)`);
  if (res.status < 200 || res.status > 299) throw new OnvifError('http', `${url} answered HTTP ${res.status}`);
  const b = one(env, 'Body');
  if (b === undefined) throw new OnvifError('bad-answer', `${url} did not answer a SOAP envelope`);
  return b;
}

// ---- Device and media services -------------------------------------------

export interface DeviceInformation {
  manufacturer?: string;
  model?: string;
  firmwareVersion?: string;
  serialNumber?: string;
}

export interface StreamProfile {
  token: string;
  name: string;
  encoding?: string;
  width?: number;
  height?: number;
  /** The RTSP URI without userinfo (credentials go in a credentialsFile). */
  uri?: string;
  error?: string;
}

export interface CameraReport {
  endpoint: string;
  name?: string;
  hardware?: string;
  /** The host the device service lives on. */
  address: string;
  deviceService: string;
  info?: DeviceInformation;
  profiles: StreamProfile[];
  error?: { kind: OnvifErrorKind; message: string };
}

/** The URI with any user:password@ removed: it would otherwise reach configs, logs and process lists. */
export function stripUserinfo(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@?#]*@/i, '$1');
}

function positiveInt(s: string | undefined): number | undefined {
  const n = s === undefined ? NaN : Number(s);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The camera's UTC clock from GetSystemDateAndTime, as epoch ms; undefined when it does not say. */
export function parseDeviceTime(body: unknown): number | undefined {
  const utc = one(body, 'GetSystemDateAndTimeResponse', 'SystemDateAndTime', 'UTCDateTime');
  const n = (path: string[]) => Number(text(one(utc, ...path)));
  const parts = [n(['Date', 'Year']), n(['Date', 'Month']), n(['Date', 'Day']), n(['Time', 'Hour']), n(['Time', 'Minute']), n(['Time', 'Second'])];
  if (parts.some((p) => !Number.isInteger(p))) return undefined;
  const [y, mo, d, h, mi, s] = parts as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

export function parseProfiles(body: unknown): StreamProfile[] {
  return all(one(body, 'GetProfilesResponse'), 'Profiles').map((p) => {
    const enc = one(p, 'VideoEncoderConfiguration');
    return {
      token: attr(p, 'token') ?? '',
      name: text(one(p, 'Name')) ?? attr(p, 'token') ?? '',
      encoding: text(one(enc, 'Encoding')) || undefined,
      width: positiveInt(text(one(enc, 'Resolution', 'Width'))),
      height: positiveInt(text(one(enc, 'Resolution', 'Height'))),
    };
  });
}

/** The device service URL to use: one on the host that answered the probe if there is one, else the first. */
export function pickXaddr(d: DiscoveredDevice): string {
  return d.xaddrs.find((u) => new URL(u).hostname === d.from) ?? (d.xaddrs[0] as string);
}

/** Ask one discovered device who it is and what streams it has; failures are reported, not thrown. */
export async function inspectCamera(d: DiscoveredDevice, ctx: Omit<SoapContext, 'clockOffsetMs'>): Promise<CameraReport> {
  const deviceService = pickXaddr(d);
  const report: CameraReport = { endpoint: d.endpoint, ...scopeValues(d.scopes), address: new URL(deviceService).hostname, deviceService, profiles: [] };
  const soap: SoapContext = { ...ctx, clockOffsetMs: 0 };
  try {
    // Unauthenticated by the spec (PRE_AUTH): learn the camera's clock so our digest's Created is fresh to it.
    try {
      const t = parseDeviceTime(await soapCall(deviceService, '<tds:GetSystemDateAndTime/>', soap, false));
      if (t !== undefined) soap.clockOffsetMs = t - ctx.now();
    } catch (e) {
      if (e instanceof OnvifError && (e.kind === 'unreachable' || e.kind === 'timeout')) throw e;
    }
    const info = one(await soapCall(deviceService, '<tds:GetDeviceInformation/>', soap), 'GetDeviceInformationResponse');
    const field = (n: string) => text(one(info, n)) || undefined;
    report.info = { manufacturer: field('Manufacturer'), model: field('Model'), firmwareVersion: field('FirmwareVersion'), serialNumber: field('SerialNumber') };
    // The media service may live at another path (or port) than the device service.
    let media = deviceService;
    try {
      const caps = await soapCall(deviceService, '<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>', soap);
      const x = text(one(caps, 'GetCapabilitiesResponse', 'Capabilities', 'Media', 'XAddr'));
      if (x && /^https?:\/\//.test(x)) media = x;
    } catch (e) {
      if (e instanceof OnvifError && e.kind !== 'fault') throw e;
    }
    report.profiles = parseProfiles(await soapCall(media, '<trt:GetProfiles/>', soap));
    for (const p of report.profiles) {
      try {
        const b = await soapCall(
          media,
          `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>` +
            `<trt:ProfileToken>${escapeXml(p.token)}</trt:ProfileToken></trt:GetStreamUri>`,
          soap,
        );
        const uri = text(one(b, 'GetStreamUriResponse', 'MediaUri', 'Uri'));
        if (uri && /^rtsps?:\/\//i.test(uri)) p.uri = stripUserinfo(uri);
        else p.error = `no RTSP URI in the answer${uri ? ` (got ${stripUserinfo(uri)})` : ''}`;
      } catch (e) {
        if (!(e instanceof OnvifError)) throw e;
        p.error = e.message;
      }
    }
  } catch (e) {
    if (!(e instanceof OnvifError)) throw e;
    report.error = { kind: e.kind, message: e.message };
  }
  return report;
}
