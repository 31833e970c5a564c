/**
 * Static files of the kiosk UI under `/kiosk/` (issue 6, docs/kiosk.md).
 *
 * The files of the built UI (dist/kiosk/ui) are listed once at start into a
 * table from URL path to file: a request is answered only when its path is
 * a key of that table, so there is no directory listing and no path
 * traversal (`..`, encoded or not, symlinks out of the directory) by
 * construction: nothing outside the table is ever opened. Every answer
 * carries the kiosk's Content-Security-Policy (the same one the Electron
 * shell adds, kiosk/main/window.ts), `nosniff`, no referrer and no framing;
 * `cache-control: no-cache` with an ETag, so an updated appliance serves the
 * new UI at the next load while unchanged files cost a 304.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Must equal KIOSK_CSP of kiosk/main/window.ts (a unit test checks it). */
export const KIOSK_CSP =
  "default-src 'self'; connect-src 'self' ws://127.0.0.1:*; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};
const MAX_FILES = 500;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** The servable files under `dir`: regular files with a known type, no dotfiles, no source maps. */
export function listAssets(dir: string): Map<string, Asset> {
  const table = new Map<string, Asset>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (name.startsWith('.')) continue;
      const full = join(d, name);
      const st = lstatSync(full); // lstat: a symlink is neither a file nor a directory here, so it is skipped
      if (st.isDirectory()) walk(full);
      else if (st.isFile() && TYPES[extname(name)]) {
        if (table.size >= MAX_FILES) throw new Error(`more than ${MAX_FILES} files under ${dir}`);
        const body = readFileSync(full);
        const path = relative(dir, full).split(sep).join('/');
        table.set(path, { body, type: TYPES[extname(name)]!, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return table;
}

export function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', KIOSK_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

export function registerKioskStatic(app: FastifyInstance, uiDir: string): void {
  const assets = listAssets(uiDir);
  app.get('/kiosk', async (_req, reply) => reply.redirect('/kiosk/', 301));
  const serve = async (req: FastifyRequest<{ Params: { '*': string } }>, reply: FastifyReply) => {
    securityHeaders(reply);
    if (assets.size === 0) {
      return reply.code(503).type('text/plain; charset=utf-8').send(`the kiosk UI is not built (no files in ${uiDir}): run \`npm run build\``);
    }
    const path = req.params['*'] === '' ? 'index.html' : req.params['*'];
    const asset = assets.get(path);
    if (!asset) return reply.code(404).type('text/plain; charset=utf-8').send('not found');
    reply.header('cache-control', 'no-cache').header('etag', asset.etag);
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };
  app.get<{ Params: { '*': string } }>('/kiosk/*', serve);
}
