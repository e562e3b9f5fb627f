// The optional sign-up step "What should we call you?". The profile scope promises a `name`, and a
// passwordless account starts without one: right after a new account's first sign-in through the
// hosted pages by a code or link, when the client asked for `profile`, the login pauses here once
// (an external connection's own login service asserts the name, so it is not asked). The step acts
// only on the account this interaction's own login result names (never a form field) and only
// while that account has no name; skipping or saving continues where the login was going. Back from
// the app lands here once the interaction is gone: like the other steps, the page says signed in.
import Router from '@koa/router';
import { noStore } from '../http/middleware.js';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { SesameError } from '../errors.js';
import { showGoneInteraction } from './gone.js';
import { heldLogin, type Details, type HeldLogin } from './held-login.js';
import { isNewNamelessUser, setNameIfUnset } from '../storage/users.js';
import { MAX_NAME_LENGTH, parseName } from '../passwordless/names.js';
import { afterName } from './passkey-offer.js';
import { pageBrand } from '../http/brand.js';

function asksForProfile(details: Details): boolean {
  return typeof details.params.scope === 'string' && details.params.scope.split(' ').includes('profile');
}

/**
 * Whether this interaction's login stops at the name step: a client asking for profile, a sign-in
 * by code or link (`amr`), and an account made during this sign-in that is still nameless.
 */
export async function asksForName(s: Services, details: Details, accountId: string, amr: readonly string[]): Promise<boolean> {
  if (!asksForProfile(details) || amr.includes('ext') || typeof details.iat !== 'number') return false;
  return isNewNamelessUser(s.db, accountId, new Date(details.iat * 1000));
}

/** Set by `signedIn`, which every route calls first. */
interface NameState {
  locale: string;
}
type NameContext = Context & { state: NameState };
type SignedIn = HeldLogin;

/**
 * This browser's interaction and the account its login result names; null when there is no login
 * to name; 'gone' when this browser has no such interaction (finished, expired, another browser).
 */
async function signedIn(s: Services, ctx: NameContext): Promise<SignedIn | null | 'gone'> {
  const held = await heldLogin(s, ctx);
  return held === 'gone' || 'accountId' in held ? held : null;
}

async function page(s: Services, ctx: NameContext, details: Details, locals: { name: string; error: string | null }, status = 200) {
  const client = await s.provider.Client.find(String(details.params.client_id));
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('name', ctx.state.locale, {
    title: 'name.title',
    uid: details.uid,
    csrf: csrfToken(s.csrfKey, details.uid),
    clientName: s.renderer.clientName(ctx.state.locale, client),
    brand: pageBrand(ctx, client),
    maxLength: MAX_NAME_LENGTH,
    notice: null,
    ...locals,
  });
}

/** Where the login goes once the name step is done or skipped: the passkey offer when it applies, else on. */
async function onward(s: Services, ctx: NameContext, found: SignedIn): Promise<string> {
  return afterName(s, ctx, found.details, found.details.result ?? {}, found.details.returnTo);
}

function goOn(ctx: NameContext, to: string) {
  ctx.status = 303;
  ctx.redirect(to);
}

async function showNameStep(s: Services, ctx: NameContext) {
  const found = await signedIn(s, ctx);
  if (found === 'gone') return showGoneInteraction(s, ctx);
  if (!found) return goOn(ctx, `/interaction/${ctx.params.uid}`);
  if (!(await asksForName(s, found.details, found.accountId, found.amr))) return goOn(ctx, await onward(s, ctx, found));
  return page(s, ctx, found.details, { name: '', error: null });
}

async function submitName(s: Services, ctx: NameContext) {
  const found = await signedIn(s, ctx);
  // A late post (Back, another tab) changes nothing: "signed in" for this browser, else expired.
  if (found === 'gone') return showGoneInteraction(s, ctx);
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  if (!csrfValid(s.csrfKey, String(ctx.params.uid), body.csrf)) throw new SesameError('csrf');
  if (!found) return goOn(ctx, `/interaction/${ctx.params.uid}`);
  const { details, accountId, amr } = found;
  if (body.decision === 'skip' || !(await asksForName(s, details, accountId, amr))) return goOn(ctx, await onward(s, ctx, found));
  const name = parseName(body.name);
  if (!name) return page(s, ctx, details, { name: typeof body.name === 'string' ? body.name.slice(0, 4 * MAX_NAME_LENGTH) : '', error: 'name.invalid' }, 400);
  await setNameIfUnset(s.db, accountId, name);
  return goOn(ctx, await onward(s, ctx, found));
}

export function nameStepRouter(s: Services): Router<NameState> {
  const router = new Router<NameState>({ prefix: '/interaction/:uid/name' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' });

  router.use(noStore);

  router.get('/', (ctx) => showNameStep(s, ctx));
  router.post('/', form, (ctx) => submitName(s, ctx));
  return router;
}
