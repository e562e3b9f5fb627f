// Serves the few static files of the pages (CSS, the optional countdown script) from views/public.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, Next } from 'koa';
import { publicDir } from '../paths.js';

const TYPES: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml' };

export function assets() {
  // Loaded once: the set is tiny and fixed, and it keeps path traversal impossible.
  const files = new Map(readdirSync(publicDir).map((name) => [`/assets/${name}`, readFileSync(join(publicDir, name))]));
  return async function serveAsset(ctx: Context, next: Next) {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.type = TYPES[ctx.path.split('.').pop() ?? ''] ?? 'application/octet-stream';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = file;
  };
}
