// /admin: the admin console (issue 17). Server-rendered like the hosted pages, no script, every form
// with a CSRF token; who may use it is admin-session.ts (a sign-in with a passkey or a second factor,
// the admin role read on every request). Pages so far: the REVIEW queue (admin-reviews.ts).
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { noStore } from '../http/middleware.js';
import { adminForPage, finishAdminSignIn } from './admin-session.js';
import { showReviews, submitReview } from './admin-reviews.js';
import { showDashboard, showSignedOut, signOut } from './admin-dashboard.js';
import { downloadAudit, showAudit } from './admin-audit.js';
import { showOutbox, submitRetry } from './admin-outbox.js';
import { showKeys, submitRotation } from './admin-keys.js';

/** GET /admin: the console's first page, the dashboard. */
async function showHome(s: Services, ctx: Context) {
  if (!(await adminForPage(s, ctx, '/admin'))) return;
  ctx.status = 303;
  ctx.redirect('/admin/dashboard');
}

export function adminRouter(s: Services): Router {
  const router = new Router({ prefix: '/admin' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' });
  router.use(noStore);
  router.get('/', (ctx) => showHome(s, ctx));
  router.get('/callback', (ctx) => finishAdminSignIn(s, ctx));
  router.get('/reviews', (ctx) => showReviews(s, ctx));
  router.post('/reviews/approve', form, (ctx) => submitReview(s, ctx, 'approve'));
  router.post('/reviews/deny', form, (ctx) => submitReview(s, ctx, 'deny'));
  router.get('/dashboard', (ctx) => showDashboard(s, ctx));
  router.post('/sign-out', form, (ctx) => signOut(s, ctx));
  router.get('/signed-out', (ctx) => showSignedOut(s, ctx));
  router.get('/audit', (ctx) => showAudit(s, ctx));
  router.get('/audit.csv', (ctx) => downloadAudit(s, ctx));
  router.get('/outbox', (ctx) => showOutbox(s, ctx));
  router.post('/outbox/retry', form, (ctx) => submitRetry(s, ctx));
  router.get('/keys', (ctx) => showKeys(s, ctx));
  router.post('/keys/rotate', form, (ctx) => submitRotation(s, ctx));
  return router;
}
