// The passkey offer page, /interaction/:uid/passkey-offer, between a verified code or link sign-in
// and oidc-provider's resume (passkey-offer.ts decides when it applies). Every route acts only on the
// account this browser's interaction holds as its own login result: never a session, never a form
// field, so only the sign-in that just proved the code or link can add a passkey, and the challenge
// is bound to `interaction:<uid>`. Whatever the answer (created, not now, a failure, no JavaScript)
// the sign-in goes on with its own amr. Back once the interaction is gone lands on the "signed in" page.
import Router from '@koa/router';
import { noStore } from '../http/middleware.js';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Services } from '../services.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { SesameError } from '../errors.js';
import { check } from '../risk/check.js';
import { PASSKEY_CEREMONIES_PER_IP, PASSKEY_CHANGES_PER_USER } from '../risk/limits.js';
import { finishRegistration, startRegistration, type Asker } from '../passwordless/passkeys.js';
import { insertPasskey } from '../storage/passkeys.js';
import { findUserById } from '../storage/users.js';
import { recordAudit } from '../storage/audit.js';
import { showGoneInteraction } from './gone.js';
import { heldLogin, type Details } from './held-login.js';
import { enrolmentLogin, mandatoryNext, offersPasskey, rememberNotNow, type FreshLogin } from './passkey-offer.js';
import { pageBrand } from '../http/brand.js';

/** Set by `offerOf`, which every route calls first. */
interface OfferState {
  locale: string;
}
type OfferContext = Context & { state: OfferState };

interface Offer {
  details: Details;
  login: FreshLogin;
  /** Set for a mandatory offer (passkey-offer.ts MANDATORY_OFFER): where every way out goes. */
  next: string | null;
}

/**
 * This browser's interaction and the login it holds; null when it holds none (the offer follows a
 * sign-in of this very interaction: a consent interaction only carries an earlier one); 'gone' when
 * this browser has no such interaction (finished, expired, another browser's or another uid).
 */
async function offerOf(s: Services, ctx: OfferContext): Promise<Offer | null | 'gone'> {
  const held = await heldLogin(s, ctx);
  if (held === 'gone') return 'gone';
  if (held.details.prompt.name !== 'login') return null;
  const next = mandatoryNext(held.details.uid, held.details.result);
  const login = 'accountId' in held ? { accountId: held.accountId, amr: held.amr } : next && enrolmentLogin(held.details.result);
  return login ? { details: held.details, login, next } : null;
}

function applies(s: Services, ctx: OfferContext, offer: Offer): Promise<boolean> {
  return offersPasskey(s, ctx, offer.details, offer.login, offer.next !== null);
}

function goOn(ctx: OfferContext, offer: Offer | string) {
  ctx.status = 303;
  ctx.redirect(typeof offer === 'string' ? offer : (offer.next ?? offer.details.returnTo));
}

function asker(ctx: OfferContext, offer: Offer): Asker {
  return { boundTo: `interaction:${offer.details.uid}`, clientId: String(offer.details.params.client_id), ip: ctx.ip };
}

async function page(s: Services, ctx: OfferContext, offer: Offer, error: string | null = null, status = 200) {
  const { details } = offer;
  const client = await s.provider.Client.find(String(details.params.client_id));
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = await s.renderer.page('passkey-offer', ctx.state.locale, {
    title: 'passkey_offer.title',
    uid: details.uid,
    csrf: csrfToken(s.csrfKey, details.uid),
    clientName: s.renderer.clientName(ctx.state.locale, client),
    brand: pageBrand(ctx, client),
    mandatory: offer.next !== null,
    error,
    notice: null,
  });
}

async function showOffer(s: Services, ctx: OfferContext) {
  const offer = await offerOf(s, ctx);
  if (offer === 'gone') return showGoneInteraction(s, ctx);
  if (!offer) return goOn(ctx, `/interaction/${ctx.params.uid}`);
  if (!(await applies(s, ctx, offer))) return goOn(ctx, offer);
  return page(s, ctx, offer);
}

/** Registration options for the script (JSON), with a challenge bound to this interaction. */
async function registrationOptions(s: Services, ctx: OfferContext) {
  const offer = await offerOf(s, ctx);
  if (offer === 'gone') throw new SesameError('interactionExpired');
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  if (!csrfValid(s.csrfKey, String(ctx.params.uid), body.csrf)) throw new SesameError('csrf');
  if (!offer || !(await applies(s, ctx, offer))) throw new SesameError('passkeyExpired');
  const decision = await check(s.db, PASSKEY_CEREMONIES_PER_IP, [ctx.ip], undefined);
  if (decision.kind !== 'allow') throw new SesameError('tooManyRequests', { retryAfter: decision.retryAfter });
  const user = await findUserById(s.db, offer.login.accountId);
  if (!user) throw new SesameError('passkeyExpired');
  const { handle, options } = await startRegistration(s, { user }, asker(ctx, offer));
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { handle, options };
}

/** The response the form carries, or null when it is not a registration response at all. */
function responseOf(body: Record<string, unknown>): { handle: string; response: RegistrationResponseJSON } | null {
  const { handle, response } = body;
  if (typeof handle !== 'string' || !/^[A-Za-z0-9_-]{1,100}$/.test(handle) || typeof response !== 'string' || response.length > 32_000) return null;
  try {
    const parsed = JSON.parse(response) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? { handle, response: parsed as RegistrationResponseJSON } : null;
  } catch {
    return null;
  }
}

/** Verifies and stores the new passkey, then goes on; a failure shows the offer again with why. */
async function createPasskey(s: Services, ctx: OfferContext, offer: Offer, body: Record<string, unknown>) {
  if (!(await applies(s, ctx, offer))) return goOn(ctx, offer);
  const given = responseOf(body);
  if (!given) return page(s, ctx, offer, 'passkey.failed', 400);
  let registered;
  try {
    registered = await finishRegistration(s, given.handle, given.response, asker(ctx, offer));
  } catch (err) {
    if (err instanceof SesameError && (err.kind === 'passkeyFailed' || err.kind === 'passkeyExpired')) return page(s, ctx, offer, err.key ?? null, 400);
    throw err;
  }
  // The challenge names the user the options were made for, which is this login's (checked again all the same).
  if (registered.userId !== offer.login.accountId) return page(s, ctx, offer, 'passkey.failed', 400);
  const decision = await check(s.db, PASSKEY_CHANGES_PER_USER, [offer.login.accountId], undefined);
  if (decision.kind !== 'allow') {
    ctx.set('Retry-After', String(decision.retryAfter));
    return page(s, ctx, offer, 'passkey_offer.too_many', 429);
  }
  const passkey = await insertPasskey(s.db, { ...registered.credential, userId: offer.login.accountId });
  const clientId = String(offer.details.params.client_id);
  await recordAudit(s.db, { type: 'passkey.added', userId: passkey.userId, clientId, ip: ctx.ip, reason: passkey.id });
  return goOn(ctx, offer);
}

async function answerOffer(s: Services, ctx: OfferContext) {
  const offer = await offerOf(s, ctx);
  // A late post (Back, another tab) changes nothing: "signed in" for this browser, else expired.
  if (offer === 'gone') return showGoneInteraction(s, ctx);
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  if (!csrfValid(s.csrfKey, String(ctx.params.uid), body.csrf)) throw new SesameError('csrf');
  if (!offer) return goOn(ctx, `/interaction/${ctx.params.uid}`);
  switch (body.decision) {
    case 'create':
      return createPasskey(s, ctx, offer, body);
    case 'later':
      // A mandatory offer has no "not now"; an ordinary one remembers it for this user on this device.
      if (offer.next === null) rememberNotNow(s, ctx, offer.login.accountId);
      return goOn(ctx, offer);
    case 'continue':
      return goOn(ctx, offer);
    default:
      throw new SesameError('badRequest', { detail: 'decision must be create, later or continue' });
  }
}

export function passkeyOfferRouter(s: Services): Router<OfferState> {
  const router = new Router<OfferState>({ prefix: '/interaction/:uid/passkey-offer' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '64kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });

  router.use(noStore);

  router.get('/', (ctx) => showOffer(s, ctx));
  router.post('/options', json, (ctx) => registrationOptions(s, ctx));
  router.post('/', form, (ctx) => answerOffer(s, ctx));
  return router;
}
