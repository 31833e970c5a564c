#!/usr/bin/env node
// Installs the Debian tools the test suite runs as independent peers
// (shared/PROTOCOLS.md), when they are missing: `apt-get update` once, then
// `apt-get install`. Fails loudly (non-zero exit) when it cannot: a test that
// needs a tool never passes by skipping.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/** [package, check] — check returns true when the tool is usable. */
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const pgServer = () => existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/postgres`));
const pyHas = (mod) => existsSync('/usr/bin/python3') && spawnSync('/usr/bin/python3', ['-c', `import ${mod}`], { stdio: 'ignore' }).status === 0;

const wanted = [
  ['socat', () => has('socat')],
  ['mosquitto', () => has('mosquitto') || existsSync('/usr/sbin/mosquitto')],
  ['mosquitto-clients', () => has('mosquitto_pub') && has('mosquitto_sub')],
  ['python3-pymodbus', () => pyHas('pymodbus')],
  ['python3-serial', () => pyHas('serial')],
  ['gpiod', () => has('gpiomon') && has('gpioget') && has('gpioset')],
  ['openssl', () => existsSync('/usr/bin/openssl')],
  // The kiosk's browser tests (test/browser): Debian's Chromium driven by playwright-core, and CJK fonts so Chinese renders.
  ['chromium', () => existsSync('/usr/bin/chromium')],
  ['fonts-noto-cjk', () => existsSync('/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc')],
  // The reference cloud's PostgreSQL backend (test/helpers/postgres.ts runs a throwaway cluster per test file).
  ['postgresql', pgServer],
];

const missing = wanted.filter(([, ok]) => !ok()).map(([pkg]) => pkg);
if (missing.length === 0) {
  console.log('test tools: all present');
  process.exit(0);
}
console.log(`test tools: installing ${missing.join(', ')} with apt-get`);
const asRoot = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
const run = (args) => {
  const [cmd, ...rest] = [...asRoot, ...args];
  execFileSync(cmd, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
};
try {
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing]);
} catch (e) {
  console.error(`test tools: could not install ${missing.join(', ')}: ${e.message}`);
  console.error('The test suite needs them as independent peers; install them and run again.');
  process.exit(1);
}
const still = wanted.filter(([, ok]) => !ok()).map(([pkg]) => pkg);
if (still.length) {
  console.error(`test tools: still missing after install: ${still.join(', ')}`);
  process.exit(1);
}
console.log('test tools: installed');
