/**
 * Serving the kiosk UI (edge/api/kiosk-static.ts) through fastify's inject:
 * only files of the built directory, no listing, no traversal (plain,
 * encoded, through a symlink), no dotfiles; the CSP (the same as the
 * Electron shell's) on every answer; ETag revalidation; a clear 503 when the
 * UI is not built.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KIOSK_CSP, registerKioskStatic } from '../../../edge/api/kiosk-static.js';
import { KIOSK_CSP as SHELL_CSP } from '../../../kiosk/main/window.js';

let dir: string;
let app: FastifyInstance;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ce-kiosk-static-'));
  const ui = join(dir, 'ui');
  mkdirSync(join(ui, 'sub'), { recursive: true });
  writeFileSync(join(ui, 'index.html'), '<!doctype html><title>kiosk</title>');
  writeFileSync(join(ui, 'main.js'), 'export {};');
  writeFileSync(join(ui, 'sub', 'x.css'), 'body{}');
  writeFileSync(join(ui, '.secret.js'), 'DOTFILE-CONTENT');
  writeFileSync(join(ui, 'notes.txt'), 'unknown type');
  writeFileSync(join(dir, 'outside.js'), 'SECRET-OUTSIDE-CONTENT');
  symlinkSync(join(dir, 'outside.js'), join(ui, 'link.js'));
  app = Fastify();
  registerKioskStatic(app, ui);
  await app.ready();
});

afterEach(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('kiosk static files', () => {
  it('sends the same CSP as the Electron shell', () => {
    expect(KIOSK_CSP).toBe(SHELL_CSP);
  });

  it('serves index.html at /kiosk/ and files by path, with the security headers', async () => {
    const r = await app.inject('/kiosk/');
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['content-security-policy']).toBe(KIOSK_CSP);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['cache-control']).toBe('no-cache');
    expect(r.body).toContain('<title>kiosk</title>');
    expect((await app.inject('/kiosk/main.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await app.inject('/kiosk/sub/x.css')).body).toBe('body{}');
    expect((await app.inject('/kiosk')).statusCode).toBe(301);
  });

  it('answers 404 for anything outside the table', async () => {
    for (const url of ['/kiosk/../outside.js', '/kiosk/%2e%2e/outside.js', '/kiosk/..%2Foutside.js', '/kiosk/sub/', '/kiosk/sub', '/kiosk/.secret.js', '/kiosk/link.js', '/kiosk/notes.txt', '/kiosk/%00']) {
      const r = await app.inject(url);
      expect(r.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(r.body, url).not.toContain('SECRET-OUTSIDE-CONTENT');
      expect(r.body, url).not.toContain('DOTFILE-CONTENT');
      expect(r.body, url).not.toContain('unknown type');
    }
  });

  it('answers 304 to a matching ETag', async () => {
    const first = await app.inject('/kiosk/main.js');
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect((await app.inject({ url: '/kiosk/main.js', headers: { 'if-none-match': etag } })).statusCode).toBe(304);
  });

  it('says how to build the UI when it is missing', async () => {
    const empty = Fastify();
    registerKioskStatic(empty, join(dir, 'missing'));
    const r = await empty.inject('/kiosk/');
    expect(r.statusCode).toBe(503);
    expect(r.body).toMatch(/npm run build/);
    expect(r.headers['content-security-policy']).toBe(KIOSK_CSP);
    await empty.close();
  });
});
