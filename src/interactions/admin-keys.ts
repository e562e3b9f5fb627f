// The admin console's signing keys (/admin/keys): the published keys and their state, and a rotation
// behind an explanation and a confirmation box (it changes what signs every token). The rotation is
// the CLI's (oidc/signing-key-admin.ts), audited with the admin's id; every instance picks the new
// keys up within keyCheckInterval.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { listKeys, rotateKeys } from '../oidc/signing-key-admin.js';
import { adminCsrf, adminForPage, adminForPost } from './admin-session.js';
import { when } from './admin-reviews.js';
import { pageLocale } from './account-page.js';

/** GET /admin/keys */
export async function showKeys(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPage(s, ctx, '/admin/keys');
  if (!admin) return;
  const locale = pageLocale(s, ctx);
  const keys = (await listKeys(s.db)).map((k) => ({
    kid: k.kid,
    alg: k.alg,
    state: `admin.keys.${k.state}`,
    created: when(k.createdAt, locale),
    publishedUntil: k.publishedUntil ? when(k.publishedUntil, locale) : null,
  }));
  ctx.type = 'html';
  ctx.body = await s.renderer.page('admin-keys', locale, {
    title: 'admin.keys.title',
    section: 'keys',
    csrf: adminCsrf(s, admin),
    keys,
    pickupSeconds: s.config.keyCheckInterval,
    notice: ctx.query.done === 'rotated' ? 'admin.keys.rotated' : null,
    error: ctx.query.done === 'unconfirmed' ? 'admin.keys.unconfirmed' : null,
  });
}

/** POST /admin/keys/rotate with `confirm=yes`: the rotation, audited with the admin's id. */
export async function submitRotation(s: Services, ctx: Context): Promise<void> {
  const admin = await adminForPost(s, ctx);
  ctx.status = 303;
  if ((ctx.request.body as Record<string, unknown> | undefined)?.confirm !== 'yes') {
    ctx.redirect('/admin/keys?done=unconfirmed');
    return;
  }
  await rotateKeys(s.db, s.config, { via: 'console', actor: `admin:${admin.userId}`, userId: admin.userId, ip: ctx.ip });
  ctx.redirect('/admin/keys?done=rotated');
}
