#!/usr/bin/env node
// Installs the Debian tools the test suite runs as independent peers
// (shared/PROTOCOLS.md), when they are missing: `apt-get update` once, then
// `apt-get install --no-install-recommends`. Fails loudly (non-zero exit) when
// it cannot: a test that needs a tool never passes by skipping.
//
// Each check runs or imports what the tests themselves run, not just a
// package's top module or binary name: with --no-install-recommends a package
// can install and still lack what it only recommends (python3-pymodbus imports
// fine, but its server needs python3-serial-asyncio). README's "Test peers"
// lists every package and why.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** Runs a command; ok when it exits 0. `why` keeps its stderr for the report. */
const runs = (cmd, args) => {
  if (!existsSync(cmd)) return { ok: false, why: `${cmd} not found` };
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, why: (r.stderr || r.stdout || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ') };
};
/** Runs a command whatever its exit code; ok when its output contains `text`. */
const prints = (cmd, args, text) => {
  if (!existsSync(cmd)) return { ok: false, why: `${cmd} not found` };
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return `${r.stdout}${r.stderr}`.includes(text) ? { ok: true } : { ok: false, why: `${cmd} ${args.join(' ')} did not print "${text}"` };
};
const py = (code) => runs('/usr/bin/python3', ['-c', code]);
const pgServer = () => {
  const base = '/usr/lib/postgresql';
  const v = existsSync(base) && readdirSync(base).find((d) => existsSync(`${base}/${d}/bin/postgres`) && existsSync(`${base}/${d}/bin/initdb`));
  return v ? runs(`${base}/${v}/bin/postgres`, ['--version']) : { ok: false, why: 'no /usr/lib/postgresql/*/bin/postgres with initdb' };
};
/** A GStreamer element exists (gst-inspect needs no display). */
const gstElements = (...names) =>
  py(
    `import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0')\n` +
      `from gi.repository import Gst, GstRtspServer\nGst.init(None)\n` +
      `missing = [n for n in ${JSON.stringify(names)} if Gst.ElementFactory.find(n) is None]\n` +
      `assert not missing, 'GStreamer elements missing: ' + ', '.join(missing)`,
  );

/** [check name, Debian packages, check]. */
const wanted = [
  ['socat', ['socat'], () => runs('/usr/bin/socat', ['-V'])],
  // `mosquitto -h` exits non-zero by design; its usage text names the version.
  ['mosquitto broker', ['mosquitto'], () => prints('/usr/sbin/mosquitto', ['-h'], 'mosquitto version')],
  ['mosquitto clients', ['mosquitto-clients'], () => (existsSync('/usr/bin/mosquitto_pub') && existsSync('/usr/bin/mosquitto_sub') ? { ok: true } : { ok: false, why: 'mosquitto_pub/sub not found' })],
  // The Modbus peers import exactly this (test/helpers/peers.ts, test/integration/modbus-*.test.ts):
  // pymodbus.server imports serial_asyncio, which Debian's python3-pymodbus only recommends.
  [
    'pymodbus RTU and TCP servers',
    ['python3-pymodbus', 'python3-serial', 'python3-serial-asyncio'],
    () => py('import serial, serial_asyncio\nfrom pymodbus.server import StartSerialServer, StartTcpServer\nfrom pymodbus.transaction import ModbusRtuFramer'),
  ],
  ['gpiod tools', ['gpiod'], () => (['gpiomon', 'gpioget', 'gpioset'].every((t) => existsSync(`/usr/bin/${t}`)) ? { ok: true } : { ok: false, why: 'gpiomon/gpioget/gpioset not found' })],
  ['openssl', ['openssl'], () => runs('/usr/bin/openssl', ['version'])],
  // The kiosk's and the fleet page's browser tests: Debian's Chromium driven by playwright-core, and CJK fonts.
  ['chromium', ['chromium'], () => runs('/usr/bin/chromium', ['--version'])],
  ['CJK fonts', ['fonts-noto-cjk'], () => (existsSync('/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc') ? { ok: true } : { ok: false, why: 'NotoSansCJK-Regular.ttc not found' })],
  // The reference cloud's PostgreSQL backend (test/helpers/postgres.ts runs a throwaway cluster per test file).
  ['postgresql server', ['postgresql'], pgServer],
  // The recorder (edge/recording): ffmpeg records, joins and probes; the tests use lavfi's testsrc and x264/AAC encoders.
  [
    'ffmpeg with lavfi, libx264, aac, segment/concat/flv',
    ['ffmpeg'],
    () => runs('/usr/bin/ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=5:duration=0.4', '-c:v', 'libx264', '-f', 'null', '-']),
  ],
  ['ffprobe', ['ffmpeg'], () => runs('/usr/bin/ffprobe', ['-version'])],
  // The RTSP camera stand-in (test/helpers/rtsp-camera.ts): gst-rtsp-server through python3-gi, H.264 from x264enc, AAC from avenc_aac.
  [
    'GStreamer RTSP camera stand-in',
    ['python3-gi', 'gir1.2-gst-rtsp-server-1.0', 'gstreamer1.0-rtsp', 'gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-good', 'gstreamer1.0-plugins-ugly', 'gstreamer1.0-libav'],
    () => gstElements('videotestsrc', 'audiotestsrc', 'x264enc', 'rtph264pay', 'avenc_aac', 'rtpmp4gpay'),
  ],
  // The district's media server stand-in for live pushes (test/helpers/rtmp-server.ts).
  ['nginx with the RTMP module', ['nginx', 'libnginx-mod-rtmp'], () => (existsSync('/usr/sbin/nginx') && existsSync('/usr/lib/nginx/modules/ngx_rtmp_module.so') ? { ok: true } : { ok: false, why: 'nginx or ngx_rtmp_module.so not found' })],
];

const check = () => wanted.map(([name, pkgs, ok]) => ({ name, pkgs, ...ok() }));
const failing = check().filter((c) => !c.ok);
if (failing.length === 0) {
  console.log('test tools: all present');
  process.exit(0);
}
const packages = [...new Set(failing.flatMap((c) => c.pkgs))];
for (const c of failing) console.log(`test tools: ${c.name}: not usable (${c.why})`);
console.log(`test tools: installing ${packages.join(' ')} with apt-get`);
const asRoot = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
const run = (args) => {
  const [cmd, ...rest] = [...asRoot, ...args];
  execFileSync(cmd, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
};
try {
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...packages]);
} catch (e) {
  console.error(`test tools: could not install ${packages.join(' ')}: ${e.message}`);
  console.error('The test suite needs them as independent peers; install them and run again.');
  process.exit(1);
}
const still = check().filter((c) => !c.ok);
if (still.length) {
  for (const c of still) console.error(`test tools: still not usable after install: ${c.name} (${c.why})`);
  process.exit(1);
}
console.log('test tools: installed');
