/**
 * `classroom-edge cameras`: find the room's ONVIF cameras and print their
 * RTSP URLs, with lines ready to paste into `recording.sources`, so a
 * technician installing a 录播 room does not hunt for URLs in each camera's
 * web page. Credentials come only from a 0600 file and never reach the
 * output: stream URIs are printed without userinfo.
 */
import { readFileSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { parseArgs } from 'node:util';
import { discover, inspectCamera, type CameraReport, type DiscoverOptions, type OnvifCredentials, type StreamProfile } from './onvif.js';

export const CAMERAS_USAGE = `Usage: classroom-edge cameras [--timeout SECONDS] [--credentials-file FILE] [--json] [--interface ADDR]
  Send an ONVIF WS-Discovery probe on the room LAN (multicast 239.255.255.250,
  UDP 3702), ask each camera that answers for its profiles and RTSP URIs, and
  print them with recording.sources lines to paste into the config.
  --timeout SECONDS        how long to wait for answers, and for each camera's HTTP
                           answers (default 3)
  --credentials-file FILE  a file (mode 0600) holding username:password of an ONVIF
                           user, sent as a WS-Security digest (never on the command line)
  --interface ADDR         the local IPv4 address to probe from (appliances with several NICs)
  --json                   print one JSON document instead of the table
  --probe-address IP:PORT  diagnostics: send the probe unicast to one address instead of
                           the multicast group (e.g. a camera on another subnet, port 3702)
`;

const NO_CAMERA_HINTS = [
  'Check that:',
  '  - this appliance is on the same LAN/VLAN as the cameras (discovery does not cross routers);',
  '  - ONVIF is enabled on each camera (often off by default; some cameras also need an ONVIF user);',
  '  - the switch or access point lets multicast to 239.255.255.250:3702 through (IGMP snooping, client isolation);',
  '  - with several network interfaces, --interface names the one on the cameras\' LAN.',
];

export interface CamerasIo {
  out: (line: string) => void;
  err: (line: string) => void;
  now?: () => number;
}

class UsageError extends Error {}

/** username:password from the first line of a file that only its owner can read. */
export function readCredentialsFile(file: string): OnvifCredentials {
  let mode: number;
  let textContent: string;
  try {
    mode = statSync(file).mode;
    textContent = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the credentials file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(`refusing the credentials file ${file}: others can read it (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${file}`);
  }
  const line = textContent.split(/\r?\n/)[0] ?? '';
  const colon = line.indexOf(':');
  if (colon <= 0) throw new UsageError(`the credentials file ${file} must hold username:password on its first line`);
  return { username: line.slice(0, colon), password: line.slice(colon + 1) };
}

function parseProbeAddress(s: string): { host: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  if (!m || !isIPv4(m[1]!) || port < 1 || port > 65535) throw new UsageError(`--probe-address wants IPv4:PORT, e.g. 192.168.1.64:3702 (got "${s}")`);
  return { host: m[1]!, port };
}

interface CamerasOptions {
  timeoutMs: number;
  credentialsFile?: string;
  json: boolean;
  discover: DiscoverOptions;
}

function parseOptions(args: string[]): CamerasOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      options: {
        timeout: { type: 'string' },
        'credentials-file': { type: 'string' },
        json: { type: 'boolean' },
        interface: { type: 'string' },
        'probe-address': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return 'help';
  const seconds = values.timeout === undefined ? 3 : Number(values.timeout);
  if (!Number.isFinite(seconds) || seconds < 0.2 || seconds > 60) throw new UsageError(`--timeout wants seconds between 0.2 and 60 (got "${values.timeout}")`);
  if (values.interface !== undefined && !isIPv4(values.interface)) throw new UsageError(`--interface wants this appliance's IPv4 address on the cameras' LAN (got "${values.interface}")`);
  const timeoutMs = Math.round(seconds * 1000);
  return {
    timeoutMs,
    credentialsFile: values['credentials-file'] === undefined ? undefined : resolvePath(values['credentials-file']),
    json: values.json === true,
    discover: {
      timeoutMs,
      interfaceAddress: values.interface,
      probeAddress: values['probe-address'] === undefined ? undefined : parseProbeAddress(values['probe-address']),
    },
  };
}

/** A YAML plain scalar when safe in a flow mapping, else a double-quoted one (JSON strings are valid YAML). */
function yamlScalar(s: string): string {
  return /^[A-Za-z0-9/][A-Za-z0-9._~:/?=&%+;@!$()*-]*$/.test(s) && !s.includes(': ') ? s : JSON.stringify(s);
}

/** The profile to record: the largest picture with an RTSP URI (the main stream). */
export function mainProfile(c: CameraReport): StreamProfile | undefined {
  const usable = c.profiles.filter((p) => p.uri);
  return usable.sort((a, b) => (b.width ?? 0) * (b.height ?? 0) - (a.width ?? 0) * (a.height ?? 0))[0];
}

export interface SourceLine {
  camera: string;
  profile: string;
  yaml: string;
}

export function sourceLines(cameras: CameraReport[], credentialsFile: string | undefined): SourceLine[] {
  const lines: SourceLine[] = [];
  for (const c of cameras) {
    const p = mainProfile(c);
    if (!p?.uri) continue;
    const cred = credentialsFile ? `, credentialsFile: ${yamlScalar(credentialsFile)}` : '';
    lines.push({ camera: c.deviceService, profile: p.name, yaml: `- { id: cam${lines.length + 1}, kind: rtsp, url: ${yamlScalar(p.uri)}${cred} }` });
  }
  return lines;
}

export function cameraTitle(c: CameraReport): string {
  const model = [c.info?.manufacturer, c.info?.model ?? c.hardware].filter(Boolean).join(' ');
  return `${c.name ?? c.info?.model ?? c.endpoint}${model ? ` (${model})` : ''} at ${c.address}`;
}

/** What a technician should do about a camera's error, and the technical detail behind it. */
function explain(c: CameraReport, credentialsFile: string | undefined): { advice: string; detail: string } | undefined {
  const e = c.error;
  if (!e) return undefined;
  let advice = e.message;
  if (e.kind === 'not-authorized') {
    advice = credentialsFile
      ? `the camera refused the credentials in ${credentialsFile} (NotAuthorized): check the ONVIF user (some cameras keep ONVIF users apart from the web login) and its password`
      : 'the camera needs credentials (NotAuthorized): pass --credentials-file FILE, a 0600 file holding username:password of an ONVIF user';
  } else if (e.kind === 'unreachable' || e.kind === 'timeout') {
    advice = `the camera answered discovery but not HTTP: ${e.message}`;
  }
  return { advice, detail: e.message };
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s} ` : s.padEnd(n);
}

export function formatTable(cameras: CameraReport[], credentialsFile: string | undefined): string[] {
  const lines: string[] = [`Found ${cameras.length} ONVIF camera(s).`];
  for (const c of cameras) {
    lines.push('', cameraTitle(c), `  device service: ${c.deviceService}`);
    if (c.info?.firmwareVersion || c.info?.serialNumber) lines.push(`  firmware ${c.info.firmwareVersion ?? '?'}, serial ${c.info.serialNumber ?? '?'}`);
    const problem = explain(c, credentialsFile);
    if (problem) {
      lines.push(`  error: ${problem.advice}`);
      if (problem.detail !== problem.advice && !problem.advice.endsWith(problem.detail)) lines.push(`         (${problem.detail})`);
      continue;
    }
    if (c.profiles.length === 0) lines.push('  no media profiles');
    const w = Math.max(8, ...c.profiles.map((p) => p.name.length + 1));
    if (c.profiles.length > 0) lines.push(`  ${pad('profile', w)}${pad('resolution', 11)}${pad('encoding', 9)}RTSP URI`);
    for (const p of c.profiles) {
      const res = p.width && p.height ? `${p.width}x${p.height}` : '?';
      lines.push(`  ${pad(p.name, w)}${pad(res, 11)}${pad(p.encoding ?? '?', 9)}${p.uri ?? `error: ${p.error ?? 'no URI'}`}`);
    }
  }
  const sources = sourceLines(cameras, credentialsFile);
  if (sources.length > 0) {
    lines.push('', 'recording.sources (main streams; paste under recording: sources: in the config):');
    for (const s of sources) lines.push(`  ${s.yaml}`);
  }
  return lines;
}

/** The command; returns its exit code: 0 all cameras read, 1 none found or one failed, 2 usage. */
export async function runCamerasCommand(args: string[], io: CamerasIo): Promise<number> {
  const now = io.now ?? Date.now;
  let opts: CamerasOptions | 'help';
  let credentials: OnvifCredentials | undefined;
  try {
    opts = parseOptions(args);
    if (opts === 'help') {
      io.out(CAMERAS_USAGE.trimEnd());
      return 0;
    }
    if (opts.credentialsFile) credentials = readCredentialsFile(opts.credentialsFile);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(e.message);
    return 2;
  }
  let devices;
  try {
    devices = await discover(opts.discover);
  } catch (e) {
    io.err(`discovery failed: ${(e as Error).message}`);
    return 1;
  }
  const seconds = opts.timeoutMs / 1000;
  if (devices.length === 0) {
    const where = opts.discover.probeAddress ? `${opts.discover.probeAddress.host}:${opts.discover.probeAddress.port}` : 'the multicast group 239.255.255.250:3702';
    io.err(`No ONVIF camera answered within ${seconds} s (probe sent to ${where}).`);
    for (const h of NO_CAMERA_HINTS) io.err(h);
    return 1;
  }
  const cameras = await Promise.all(devices.map((d) => inspectCamera(d, { credentials, timeoutMs: opts.timeoutMs, now })));
  cameras.sort((a, b) => a.address.localeCompare(b.address, 'en', { numeric: true }) || (a.name ?? '').localeCompare(b.name ?? '') || a.deviceService.localeCompare(b.deviceService));
  const failed = cameras.filter((c) => c.error);
  if (opts.json) {
    const doc = {
      cameras: cameras.map((c) => ({ ...c, error: c.error ? { ...c.error, advice: explain(c, opts.credentialsFile)?.advice } : undefined })),
      sources: sourceLines(cameras, opts.credentialsFile),
    };
    io.out(JSON.stringify(doc, null, 2));
    // The JSON is for programs; whoever watches the terminal still reads what went wrong.
    for (const c of failed) io.err(`${cameraTitle(c)}: ${explain(c, opts.credentialsFile)?.advice ?? ''}`);
  } else {
    for (const l of formatTable(cameras, opts.credentialsFile)) io.out(l);
    if (failed.length > 0) io.err(`${failed.length} of ${cameras.length} camera(s) could not be read: see the errors above.`);
  }
  return failed.length > 0 ? 1 : 0;
}
