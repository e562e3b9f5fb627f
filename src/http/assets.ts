// Serves the few static files of the pages (CSS, the optional scripts) from views/public, and the
// WebAuthn browser library the passkey scripts use, from its package.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Context, Next } from 'koa';
import { publicDir } from '../paths.js';

const TYPES: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml' };

/** @simplewebauthn/browser's UMD bundle (global `SimpleWebAuthnBrowser`); the package does not export the file, so it is found beside its entry. */
function webauthnBundle() {
  const entry = createRequire(import.meta.url).resolve('@simplewebauthn/browser');
  return readFileSync(join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'));
}

export function assets() {
  // Loaded once: the set is tiny and fixed, and it keeps path traversal impossible.
  const files = new Map<string, Buffer>(readdirSync(publicDir).map((name) => [`/assets/${name}`, readFileSync(join(publicDir, name))]));
  files.set('/assets/simplewebauthn-browser.js', webauthnBundle());
  return async function serveAsset(ctx: Context, next: Next) {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.type = TYPES[ctx.path.split('.').pop() ?? ''] ?? 'application/octet-stream';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file;
  };
}
