// /admin: the admin console (issue 17). Server-rendered like the hosted pages, no script, every form
// with a CSRF token; who may use it is admin-session.ts (a sign-in with a passkey or a second factor,
// the admin role read on every request). Pages so far: the REVIEW queue (admin-reviews.ts); USERS
// (admin-users.ts, their actions admin-user-actions.ts).
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
import { showUser, showUsers } from './admin-users.js';
import * as userActions from './admin-user-actions.js';
import { showClient, showClients, showNewClient, showRemove, submitClient, submitNewClient, submitRemove, submitRotate } from './admin-clients.js';

/** GET /admin: the console's first page, the dashboard. */
async function showHome(s: Services, ctx: Context) {
  if (!(await adminForPage(s, ctx, '/admin'))) return;
  ctx.status = 303;
  ctx.redirect('/admin/dashboard');
}

export function adminRouter(s: Services): Router {
  const router = new Router({ prefix: '/admin' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' });
  // A client's form carries lists of URIs.
  const clientForm = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });
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
  router.get('/users', (ctx) => showUsers(s, ctx));
  router.get('/users/:id', (ctx) => showUser(s, ctx));
  router.get('/users/:id/export', (ctx) => userActions.exportAccount(s, ctx));
  router.get('/users/:id/delete', (ctx) => userActions.confirmDelete(s, ctx));
  router.post('/users/:id/delete', form, (ctx) => userActions.deleteAccount(s, ctx));
  router.post('/users/:id/block', form, (ctx) => userActions.blockAccount(s, ctx));
  router.post('/users/:id/unblock', form, (ctx) => userActions.unblockAccount(s, ctx));
  router.post('/users/:id/sessions/end', form, (ctx) => userActions.endOneSession(s, ctx));
  router.post('/users/:id/sessions/end-all', form, (ctx) => userActions.endEverySession(s, ctx));
  router.post('/users/:id/grants/revoke', form, (ctx) => userActions.revokeOneGrant(s, ctx));
  router.post('/users/:id/factors/remove', form, (ctx) => userActions.removeOneFactor(s, ctx));
  router.post('/users/:id/passkeys/remove', form, (ctx) => userActions.removeOnePasskey(s, ctx));
  router.post('/users/:id/factors/reset', form, (ctx) => userActions.resetAllFactors(s, ctx));
  router.get('/clients', (ctx) => showClients(s, ctx));
  router.get('/clients/new', (ctx) => showNewClient(s, ctx));
  router.post('/clients/new', clientForm, (ctx) => submitNewClient(s, ctx));
  router.get('/clients/:id', (ctx) => showClient(s, ctx));
  router.post('/clients/:id', clientForm, (ctx) => submitClient(s, ctx));
  router.post('/clients/:id/secret', form, (ctx) => submitRotate(s, ctx));
  router.get('/clients/:id/delete', (ctx) => showRemove(s, ctx));
  router.post('/clients/:id/delete', form, (ctx) => submitRemove(s, ctx));
  return router;
}
