// /account: the signed-in user's own page (what Keycloak's account console and Auth0's "My account"
// give): passkeys (list, rename, remove, add), second factors (account-mfa.ts), recent sign-ins, "sign out other sessions", the display
// name. Who is signed in comes from account-session.ts; every POST needs that session and its CSRF
// token; adding or removing a passkey also needs a fresh sign-in. Each change is limited, audited
// and confirmed by email (account-changes.ts). Works without JavaScript except adding a passkey.
import Router from '@koa/router';
import { noStore } from '../http/middleware.js';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { parseName } from '../passwordless/names.js';
import { setName } from '../storage/users.js';
import { deletePasskey, findPasskey, renamePasskey } from '../storage/passkeys.js';
import { endOtherSessions } from '../storage/oidc-sessions.js';
import { accountCsrf, accountSession, finishSignIn, isFresh, requirePost, sendToSignIn, type AccountSession } from './account-session.js';
import { pageLocale, passkeyLabel, passkeysOn, showAccountPage } from './account-page.js';
import { confirmChange, limitChange } from './account-changes.js';
import { finishAddingPasskey, startAddingPasskey } from './account-passkeys.js';
import { confirmFactorRemoval, confirmTotp, regenerateCodes, startTotp, submitFactorRemoval } from './account-mfa.js';

const PASSKEY_ID = /^[\w-]{1,400}$/;
const MAX_PASSKEY_NAME = 64;

function field(ctx: Context, name: string): string {
  const value = ((ctx.request.body ?? {}) as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}

function done(ctx: Context, what: string) {
  ctx.status = 303;
  ctx.redirect(`/account?done=${what}`);
}

async function showAccount(s: Services, ctx: Context) {
  const session = await accountSession(s, ctx);
  if (!session) return sendToSignIn(s, ctx, '/account', false);
  return showAccountPage(s, ctx, session);
}

async function submitName(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  const name = parseName(field(ctx, 'name'));
  if (!name) return showAccountPage(s, ctx, session, { error: 'name.invalid', name: field(ctx, 'name').slice(0, 400) });
  await limitChange(s, session);
  await setName(s.db, session.userId, name);
  await confirmChange(s, ctx, session, 'name_changed', name, pageLocale(s, ctx));
  return done(ctx, 'name_changed');
}

/** One of this user's passkeys by the form's id; 404 for anything else (another user's id included). */
async function ownPasskey(s: Services, ctx: Context, session: AccountSession, id: string) {
  if (!passkeysOn(s)) throw new SesameError('passkeysUnavailable');
  const passkey = PASSKEY_ID.test(id) ? await findPasskey(s.db, id) : null;
  if (!passkey || passkey.userId !== session.userId) throw new SesameError('notFound', { detail: 'You have no such passkey.' });
  return passkey;
}

async function submitRename(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  const passkey = await ownPasskey(s, ctx, session, field(ctx, 'id'));
  const name = parseName(field(ctx, 'name'));
  if (!name || [...name].length > MAX_PASSKEY_NAME) return showAccountPage(s, ctx, session, { error: 'account.passkey.name_invalid' });
  await limitChange(s, session);
  if (!(await renamePasskey(s.db, session.userId, passkey.id, name))) throw new SesameError('notFound', { detail: 'You have no such passkey.' });
  await confirmChange(s, ctx, session, 'passkey_renamed', name, pageLocale(s, ctx));
  return done(ctx, 'passkey_renamed');
}

/** GET: asks to confirm the removal (after a fresh sign-in); the form posts back here. */
async function confirmRemoval(s: Services, ctx: Context) {
  const id = typeof ctx.query.id === 'string' ? ctx.query.id : '';
  const back = PASSKEY_ID.test(id) ? `/account/passkeys/remove?id=${id}` : '/account';
  const session = await accountSession(s, ctx);
  if (!session || !isFresh(session)) return sendToSignIn(s, ctx, back, Boolean(session));
  const passkey = await ownPasskey(s, ctx, session, id);
  const locale = pageLocale(s, ctx);
  ctx.type = 'html';
  ctx.body = await s.renderer.page('account-remove', locale, { title: 'account.remove.title', csrf: accountCsrf(s, session), id: passkey.id, label: passkeyLabel(passkey) });
}

async function submitRemoval(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  const passkey = await ownPasskey(s, ctx, session, field(ctx, 'id'));
  // A stale sign-in proves itself again first, then confirms again.
  if (!isFresh(session)) return sendToSignIn(s, ctx, `/account/passkeys/remove?id=${passkey.id}`, true);
  await limitChange(s, session);
  if (!(await deletePasskey(s.db, session.userId, passkey.id))) throw new SesameError('notFound', { detail: 'You have no such passkey.' });
  await confirmChange(s, ctx, session, 'passkey_removed', passkeyLabel(passkey), pageLocale(s, ctx));
  return done(ctx, 'passkey_removed');
}

async function submitEndOthers(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  await limitChange(s, session);
  const ended = await endOtherSessions(s.db, session.userId, session.sessionUid);
  await confirmChange(s, ctx, session, 'sessions_ended', String(ended), pageLocale(s, ctx));
  return done(ctx, 'sessions_ended');
}

/** GET /account/sign-in-again: a fresh sign-in before adding a passkey (the script sends stale sessions here). */
function signInAgain(s: Services, ctx: Context) {
  return sendToSignIn(s, ctx, '/account?done=signed_in_again', true);
}

export function accountRouter(s: Services): Router {
  const router = new Router({ prefix: '/account' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '32kb' });

  router.use(noStore);
  router.get('/', (ctx) => showAccount(s, ctx));
  router.get('/callback', (ctx) => finishSignIn(s, ctx));
  router.get('/sign-in-again', (ctx) => signInAgain(s, ctx));
  router.post('/name', form, (ctx) => submitName(s, ctx));
  router.post('/passkeys/rename', form, (ctx) => submitRename(s, ctx));
  router.get('/passkeys/remove', (ctx) => confirmRemoval(s, ctx));
  router.post('/passkeys/remove', form, (ctx) => submitRemoval(s, ctx));
  router.post('/passkeys/options', json, (ctx) => startAddingPasskey(s, ctx));
  router.post('/passkeys', json, (ctx) => finishAddingPasskey(s, ctx));
  router.post('/sessions/end-others', form, (ctx) => submitEndOthers(s, ctx));
  router.post('/mfa/totp/start', form, (ctx) => startTotp(s, ctx));
  router.post('/mfa/totp', form, (ctx) => confirmTotp(s, ctx));
  router.post('/mfa/recovery-codes', form, (ctx) => regenerateCodes(s, ctx));
  router.get('/mfa/remove', (ctx) => confirmFactorRemoval(s, ctx));
  router.post('/mfa/remove', form, (ctx) => submitFactorRemoval(s, ctx));
  return router;
}
