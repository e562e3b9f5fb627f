// What every hosted sign-in handler shares: the typed router state (the loaded interaction, its
// locale and flow key), the middleware that loads it, and the page answers (render, finish).
import type { RouterContext } from '@koa/router';
import type { Next } from 'koa';
import { errors } from 'oidc-provider';
import type { Services } from '../services.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { SesameError } from '../errors.js';
import { isPhoneIdentifier } from '../passwordless/identifiers.js';
import { interactionFlowKey } from '../passwordless/flows.js';
import { sendCooldownLeft } from '../passwordless/throttle.js';
import { throttlePolicy } from '../passwordless/one-time-codes.js';
import { externalConnections } from '../config/connections.js';
import { availableMethods, offeredMethods, type Method } from '../oidc/acr.js';
import { browserIdOf } from './browser-id.js';
import { matchNumberOf, rememberFlow } from './links.js';
import { markProgress, progressOf } from './progress.js';
import { showGoneInteraction } from './gone.js';
import { asksForName } from './name-step.js';
import { afterName, MANDATORY_OFFER, offerPath, offersPasskey } from './passkey-offer.js';
import { passkeyDemanded, signInMeets } from './steps.js';
import { amrForRequest, MFA_PENDING, mfaNeedOf, mfaPath } from './mfa-step.js';
import { riskStop } from './risk-step.js';
import { acrOf } from '../oidc/acr.js';
import { pageBrand } from '../http/brand.js';
import { clientPolicies } from '../oidc/client-metadata.js';
import { isBlocked } from '../passwordless/user-accounts.js';
import type { User } from '../storage/users.js';

export type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;
type InteractionResult = Parameters<Services['provider']['interactionResult']>[2];

/** Set by `loadInteraction`, which runs first on every route of the interaction router that reads it. */
export interface FlowState {
  step: { details: Details; locale: string; flowKey: string };
  locale: string;
}

export type FlowContext = RouterContext<FlowState>;

export function loadInteraction(s: Services) {
  return async function loadInteraction(ctx: FlowContext, next: Next) {
    let details: Details;
    try {
      details = await s.provider.interactionDetails(ctx.req, ctx.res);
    } catch (err) {
      if (err instanceof errors.SessionNotFound) return showGoneInteraction(s, ctx);
      throw err;
    }
    if (details.uid !== ctx.params.uid) return showGoneInteraction(s, ctx);
    if (!progressOf(ctx, s.csrfKey, details.uid)) {
      markProgress(ctx, s.csrfKey, details.uid, { clientId: String(details.params.client_id), state: 'open' }, s.config.tokens.interaction);
    }
    const uiLocales = typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined;
    const locale = negotiateLocale(uiLocales, ctx.get('accept-language'), s.config.ui.defaultLocale);
    ctx.state.step = { details, locale, flowKey: interactionFlowKey(details.uid) };
    ctx.state.locale = locale;
    await next();
  };
}

export function requireCsrf(s: Services) {
  return async function requireCsrf(ctx: FlowContext, next: Next) {
    const body = ctx.request.body as Record<string, unknown> | undefined;
    if (!csrfValid(s.csrfKey, ctx.params.uid!, body?.csrf)) {
      throw new SesameError('csrf');
    }
    await next();
  };
}

/** Steps of one prompt only; a stale form of another step goes back to the current one. */
export function requirePrompt(name: 'login' | 'consent') {
  return async function onPrompt(ctx: FlowContext, next: Next) {
    if (ctx.state.step.details.prompt.name !== name) {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${ctx.params.uid}`);
    }
    await next();
  };
}

/** The methods this request may sign in with (acr_values, essential acr claim). */
function offered(s: Services, ctx: FlowContext) {
  return offeredMethods(ctx.state.step.details.params, availableMethods(s.config));
}

/** Whether this request may sign in with `method` (acr_values, essential acr claim). */
export function methodAllowed(s: Services, ctx: FlowContext, method: Method): boolean {
  const methods = offered(s, ctx);
  return methods !== 'unmet' && methods.includes(method);
}

/** Whether a code may be sent by `method`: to sign in, or, on a request demanding a passkey, to create one first. */
export function codeAllowed(s: Services, ctx: FlowContext, method: 'email' | 'sms'): boolean {
  return methodAllowed(s, ctx, method) || (passkeyDemanded(offered(s, ctx)) && availableMethods(s.config).includes(method));
}

export function requester(ctx: FlowContext) {
  const { details, locale } = ctx.state.step;
  return { ip: ctx.ip, clientId: String(details.params.client_id), locale, browser: browserIdOf(ctx), userAgent: ctx.get('user-agent').slice(0, 300) };
}

export async function render(s: Services, ctx: FlowContext, template: string, locals: Record<string, unknown>, status = 200) {
  const { details, locale } = ctx.state.step;
  const client = await s.provider.Client.find(String(details.params.client_id));
  const may = (m: 'email' | 'sms') => codeAllowed(s, ctx, m);
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = await s.renderer.page(template, locale, {
    title: `${template}.title`,
    uid: details.uid,
    csrf: csrfToken(s.csrfKey, details.uid),
    clientName: s.renderer.clientName(locale, client),
    brand: pageBrand(ctx, client),
    policies: clientPolicies(client?.metadata()),
    identifierKind: may('email') ? (may('sms') ? 'either' : 'email') : may('sms') ? 'phone' : null,
    externals: methodAllowed(s, ctx, 'external') ? externalConnections(s.config).map((c) => ({ id: c.id, name: c.name })) : [],
    passkeys: methodAllowed(s, ctx, 'passkey'),
    passkeyOnly: passkeyDemanded(offered(s, ctx)),
    error: null,
    notice: null,
    ...locals,
  });
}

export async function renderCodeStep(s: Services, ctx: FlowContext, email: string, extra: Record<string, unknown> = {}, status = 200) {
  const { flowKey } = ctx.state.step;
  const resendIn = await sendCooldownLeft(s.db, throttlePolicy(s.config), email, requester(ctx));
  rememberFlow(ctx, s, flowKey);
  const matchNumber = await matchNumberOf(s, flowKey);
  const phone = isPhoneIdentifier(email);
  await render(s, ctx, 'code', { email, phone, resendIn, matchNumber, minutes: Math.round(s.config.codes.ttl / 60), ...extra }, status);
}

/**
 * oidc-provider's `interactionResult` on the interaction this request loaded already: it would read
 * the interaction (and verify its cookie) a second time. Answers where the browser resumes.
 */
async function storeResult(details: Details, result: InteractionResult, merge: boolean): Promise<string> {
  details.result = merge && !('error' in result) ? { ...details.lastSubmission, ...result } : result;
  await details.save(details.exp - Math.floor(Date.now() / 1000));
  return details.returnTo;
}

/**
 * Hands the interaction's result to oidc-provider and sends the browser on (303). `user`: the login's
 * account as this request read it already (a code check's), so it is not read again.
 */
export async function finish(s: Services, ctx: FlowContext, result: InteractionResult, merge = true, user?: Pick<User, 'id' | 'blockedAt'>) {
  const { details } = ctx.state.step;
  // Every hosted sign-in ends here: a blocked account is refused with its page, before any other step.
  const blocked = (accountId: string) => (user?.id === accountId ? user.blockedAt !== null : isBlocked(s.db, accountId));
  if (result.login && (await blocked(result.login.accountId))) throw new SesameError('accountBlocked');
  // A request demanding a passkey is not finished by a code or link: a user without a passkey makes
  // one first (the offer, mandatory: the code's login is kept for it, not as a result oidc-provider
  // could resume with), then signs in with it on the page, which says so.
  if (result.login && !signInMeets(offered(s, ctx), result.login.amr ?? [])) {
    const next = `/interaction/${details.uid}?passkey=first`;
    ctx.status = 303;
    if (!(await offersPasskey(s, ctx, details, result.login, true))) return ctx.redirect(next);
    await s.provider.interactionResult(ctx.req, ctx.res, { [MANDATORY_OFFER]: { next, login: result.login } }, { mergeWithLastSubmission: false });
    return ctx.redirect(offerPath(details.uid));
  }
  // A second factor first, when the MFA policy or the request asks for one (mfa-step.ts); before
  // it, the risk decision of the client's action (risk-step.ts) may challenge, hold or refuse.
  if (result.login) {
    const login = { accountId: result.login.accountId, amr: result.login.amr ?? [] };
    const risk = await riskStop(s, ctx, details, login);
    if (risk.path) {
      ctx.status = 303;
      return ctx.redirect(risk.path);
    }
    if ((await mfaNeedOf(s, ctx, details, login, risk.allowed)).kind !== 'none') {
      await s.provider.interactionResult(ctx.req, ctx.res, { [MFA_PENDING]: { login } }, { mergeWithLastSubmission: false });
      ctx.status = 303;
      return ctx.redirect(mfaPath(details.uid));
    }
    const amr = amrForRequest(details, login.amr);
    result = { ...result, login: { ...result.login, amr, acr: acrOf(amr) } };
  }
  const returnTo = await storeResult(details, result, merge);
  const progress = { clientId: String(details.params.client_id), state: 'error' in result ? ('cancelled' as const) : ('done' as const) };
  markProgress(ctx, s.csrfKey, details.uid, progress, s.config.tokens.interaction);
  ctx.status = 303;
  // A new account's first sign-in may stop at the optional name step, then at the passkey offer, before going on.
  if (result.login && (await asksForName(s, details, result.login.accountId, result.login.amr ?? []))) return ctx.redirect(`/interaction/${details.uid}/name`);
  ctx.redirect(await afterName(s, ctx, details, result, returnTo));
}
