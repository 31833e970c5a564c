#!/usr/bin/env node
// Copies the kiosk UI's static files (HTML, CSS) next to its compiled
// modules in dist/kiosk/ui (the TypeScript compiler copies only what it compiles).
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const src = dirname(fileURLToPath(import.meta.url));
const out = join(src, '..', '..', 'dist', 'kiosk', 'ui');
mkdirSync(out, { recursive: true });
let n = 0;
for (const name of readdirSync(src)) {
  if (!['.html', '.css', '.svg', '.png'].includes(extname(name))) continue;
  copyFileSync(join(src, name), join(out, name));
  n++;
}
if (n === 0) {
  console.error(`kiosk UI: no static files found in ${src}`);
  process.exit(1);
}
console.log(`kiosk UI: ${n} static files copied to ${out}`);
