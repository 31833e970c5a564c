#!/usr/bin/env node
// Before `npm start`: the recorder needs Debian's ffmpeg. Installs it when it is
// missing and this user may (root, or sudo without a password); otherwise says
// how, and the service still starts (its recording sources then show the error).
import { execFileSync, spawnSync } from 'node:child_process';

const works = () => spawnSync('ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' }).status === 0;
if (works()) process.exit(0);
const asRoot = process.getuid?.() === 0 ? [] : spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0 ? ['sudo', '-n'] : null;
if (!asRoot) {
  console.error('ffmpeg is missing and cannot be installed without a password: run `sudo apt-get install ffmpeg`; until then nothing is recorded');
  process.exit(0);
}
console.error('ffmpeg is missing: installing Debian\'s ffmpeg for the recorder (apt-get)');
const run = (args) => {
  const [cmd, ...rest] = [...asRoot, ...args];
  execFileSync(cmd, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
};
try {
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', 'ffmpeg']);
} catch (e) {
  console.error(`could not install ffmpeg (${e.message}); nothing is recorded until it is installed`);
}
process.exit(0);
