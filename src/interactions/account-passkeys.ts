// "Add a passkey" on the account page: the one part that needs JavaScript (WebAuthn is a browser
// API). views/public/passkey-account.js asks for options, runs the ceremony and posts the answer
// here, as JSON with the page's CSRF token in a header. The challenge is bound to this account
// session (`account:<id>`), and both halves need a fresh sign-in: a stale session is answered
// `login_required` with where to sign in again, never allowed to add a passkey.
import type { Context } from 'koa';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { finishRegistration, startRegistration } from '../passwordless/passkeys.js';
import { insertPasskey } from '../storage/passkeys.js';
import { findUserById } from '../storage/users.js';
import { isFresh, requirePost, type AccountSession } from './account-session.js';
import { pageLocale, passkeyLabel, passkeysOn } from './account-page.js';
import { confirmChange, limitChange } from './account-changes.js';

function askToSignInAgain(ctx: Context) {
  ctx.status = 401;
  ctx.body = { error: 'login_required', error_description: 'Sign in again to add a passkey.', sign_in: '/account/sign-in-again' };
}

function asker(ctx: Context, session: AccountSession) {
  return { boundTo: `account:${session.id}`, ip: ctx.ip };
}

/** POST /account/passkeys/options: registration options for this user (their passkeys excluded). */
export async function startAddingPasskey(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  if (!passkeysOn(s)) throw new SesameError('passkeysUnavailable');
  if (!isFresh(session)) return askToSignInAgain(ctx);
  const user = await findUserById(s.db, session.userId);
  if (!user) throw new SesameError('unauthorized');
  const { handle, options } = await startRegistration(s, { user }, asker(ctx, session));
  ctx.body = { handle, options };
}

/** POST /account/passkeys: the authenticator's answer; stored for this user once verified. */
export async function finishAddingPasskey(s: Services, ctx: Context) {
  const session = await requirePost(s, ctx);
  if (!passkeysOn(s)) throw new SesameError('passkeysUnavailable');
  // The options were given to a fresh session; the ceremony may take up to the challenge's lifetime.
  if (!isFresh(session, s.config.passkeys.challengeTtl)) return askToSignInAgain(ctx);
  const body = (ctx.request.body ?? {}) as { handle?: unknown; response?: unknown };
  if (typeof body.handle !== 'string' || typeof body.response !== 'object' || body.response === null) {
    throw new SesameError('invalidRequest', { detail: 'handle and response are required.' });
  }
  const registered = await finishRegistration(s, body.handle, body.response as RegistrationResponseJSON, asker(ctx, session));
  if (registered.userId !== session.userId) throw new SesameError('passkeyFailed');
  await limitChange(s, session);
  const passkey = await insertPasskey(s.db, { ...registered.credential, userId: session.userId }).catch((err: unknown) => {
    // The same credential registered twice (a replayed answer to another challenge).
    if ((err as { code?: string }).code === 'P2002') throw new SesameError('passkeyFailed');
    throw err;
  });
  await confirmChange(s, ctx, session, 'passkey_added', passkeyLabel(passkey), pageLocale(s, ctx));
  ctx.body = { ok: true, location: '/account?done=passkey_added' };
}
