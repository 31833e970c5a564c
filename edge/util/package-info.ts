import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's package.json, found by walking up from this file (works from source and from dist/). */
export function packageInfo(): { name: string; version: string; root: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'classroom-edge') return { name: pkg.name, version: pkg.version ?? '0.0.0', root: dir };
    }
    const up = dirname(dir);
    if (up === dir) return { name: 'classroom-edge', version: '0.0.0', root: process.cwd() };
    dir = up;
  }
}
