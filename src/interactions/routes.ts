// Hosted sign-in pages bound to the oidc-provider Interaction: email → code → consent → back to the
// RP. Each POST either redirects (303) to the next step or re-renders the step with a message.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Next } from 'koa';
import { errors } from 'oidc-provider';
import type { Services } from '../services.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { csrfToken, csrfValid } from '../http/csrf.js';
import { ERRORS, SesameError, smsRefusal } from '../errors.js';
import { findLiveCode, retireFlowCodes } from '../storage/codes.js';
import { isPhoneIdentifier, normalizeEmail, parseIdentifier, parsePhone } from '../passwordless/identifiers.js';
import { sendSmsCode, type SmsSendResult } from '../passwordless/sms-login.js';
import { checkEmailCode, sendEmailCode, type CheckResult } from '../passwordless/email-login.js';
import { interactionFlowKey } from '../passwordless/flows.js';
import { sendCooldownLeft } from '../passwordless/throttle.js';
import { throttlePolicy } from '../passwordless/email-login.js';
import { browserIdOf, ensureBrowserId } from './browser-id.js';
import { AT_CLIENT_START, atInteraction, atRequest, redeemLoginTicket } from '../passwordless/login-tickets.js';
import { redeemLinkApproval } from '../passwordless/links.js';
import { findApproval, revokeFlowLinks } from '../storage/magic-links.js';
import { loginLinkUrl, matchNumberOf, rememberFlow } from './links.js';
import { TICKET_COOKIE } from '../http/ticket-cookie.js';
import { approveConsent, consentView } from './consent.js';
import { isFirstParty } from '../oidc/client-metadata.js';
import { externalConnection, externalConnections, smsConnection } from '../config/connections.js';
import { markProgress, progressOf } from './progress.js';
import { showGoneInteraction } from './gone.js';
import { handOffUrl } from '../connections/external.js';
import { AMR, availableMethods, codeAmr, loginResult, offeredMethods, type Method } from '../oidc/acr.js';
import { asksForName } from './name-step.js';

type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;

interface StepState {
  details: Details;
  locale: string;
  flowKey: string;
}

const CODE_MESSAGES: Record<Exclude<CheckResult, { ok: true }>['reason'], string> = {
  wrong: 'code.wrong',
  expired: 'code.expired',
  exhausted: 'code.exhausted',
  missing: 'code.missing',
  used: 'code.missing',
  delayed: 'code.delayed',
};

/** Ends a sign-in's codes and links ("use another email", cancel). */
async function retireFlow(db: Services['db'], flowKey: string) {
  await retireFlowCodes(db, flowKey);
  await revokeFlowLinks(db, flowKey);
}

export function interactionRouter(s: Services): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  // Every step answers for this browser and this moment only: Back must ask the server again
  // (never the HTTP cache or back/forward cache), so a finished sign-in shows as finished.
  router.use(async function noStore(ctx, next) {
    ctx.set('Cache-Control', 'no-store');
    await next();
  });

  async function loadInteraction(ctx: Context, next: Next) {
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
    ctx.state.step = { details, locale, flowKey: interactionFlowKey(details.uid) } satisfies StepState;
    ctx.state.locale = locale;
    await next();
  }

  async function requireCsrf(ctx: Context, next: Next) {
    const body = ctx.request.body as Record<string, unknown> | undefined;
    if (!csrfValid(s.csrfKey, ctx.params.uid!, body?.csrf)) {
      throw new SesameError('csrf');
    }
    await next();
  }

  /** Steps of one prompt only; a stale form of another step goes back to the current one. */
  function requirePrompt(name: 'login' | 'consent') {
    return async function onPrompt(ctx: Context, next: Next) {
      if ((ctx.state.step as StepState).details.prompt.name !== name) {
        ctx.status = 303;
        return ctx.redirect(`/interaction/${ctx.params.uid}`);
      }
      await next();
    };
  }
  const login = requirePrompt('login');

  /** The sign-in methods this request may use (acr_values, essential acr claim); `unmet` when none can do. */
  function methods(ctx: Context) {
    return offeredMethods((ctx.state.step as StepState).details.params, availableMethods(s.config));
  }

  async function render(ctx: Context, template: string, locals: Record<string, unknown>, status = 200) {
    const { details, locale } = ctx.state.step as StepState;
    const client = await s.provider.Client.find(String(details.params.client_id));
    const may = (m: Method) => methodAllowed(ctx, m);
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = await s.renderer.page(template, locale, {
      title: `${template}.title`,
      uid: details.uid,
      csrf: csrfToken(s.csrfKey, details.uid),
      clientName: s.renderer.clientName(locale, client),
      identifierKind: may('email') ? (may('sms') ? 'either' : 'email') : may('sms') ? 'phone' : null,
      externals: may('external') ? externalConnections(s.config).map((c) => ({ id: c.id, name: c.name })) : [],
      error: null,
      notice: null,
      ...locals,
    });
  }

  async function renderCodeStep(ctx: Context, email: string, extra: Record<string, unknown> = {}, status = 200) {
    const { flowKey } = ctx.state.step as StepState;
    const resendIn = await sendCooldownLeft(s.db, throttlePolicy(s.config), email, requester(ctx));
    rememberFlow(ctx, s, flowKey);
    const matchNumber = await matchNumberOf(s, flowKey);
    const phone = isPhoneIdentifier(email);
    await render(ctx, 'code', { email, phone, resendIn, matchNumber, minutes: Math.round(s.config.codes.ttl / 60), ...extra }, status);
  }

  /** Sends a code for this sign-in: by SMS to a phone number, by email (with the sign-in link) otherwise. */
  function send(ctx: Context, identifier: string): Promise<SmsSendResult> {
    const { flowKey } = ctx.state.step as StepState;
    const who = requester(ctx);
    if (isPhoneIdentifier(identifier)) return sendSmsCode(s, flowKey, { value: identifier, country: parsePhone(identifier)?.country }, who);
    return sendEmailCode(s, flowKey, identifier, who, { link: () => loginLinkUrl(ctx, s, flowKey, identifier, who.clientId) });
  }

  /** The page answer to a refused send: which message, which status. */
  function refusal(sent: Exclude<SmsSendResult, { ok: true }>): { error: string; status: number } {
    const refused = smsRefusal(sent.reason);
    if (refused) return { error: ERRORS[refused].key, status: ERRORS[refused].status };
    return { error: 'code.wait', status: 429 };
  }

  function methodAllowed(ctx: Context, method: Method) {
    const offered = methods(ctx);
    return offered !== 'unmet' && offered.includes(method);
  }

  function requester(ctx: Context) {
    const { details, locale } = ctx.state.step as StepState;
    return { ip: ctx.ip, clientId: String(details.params.client_id), locale, browser: browserIdOf(ctx) };
  }

  async function finish(ctx: Context, result: Parameters<Services['provider']['interactionResult']>[2], merge = true) {
    const { details } = ctx.state.step as StepState;
    const returnTo = await s.provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
    const progress = { clientId: String(details.params.client_id), state: 'error' in result ? ('cancelled' as const) : ('done' as const) };
    markProgress(ctx, s.csrfKey, details.uid, progress, s.config.tokens.interaction);
    ctx.status = 303;
    // A new account's first sign-in may stop at the optional name step before going on.
    ctx.redirect(result.login && (await asksForName(s, details, result.login.accountId, result.login.amr ?? [])) ? `/interaction/${details.uid}/name` : returnTo);
  }

  router.get('/', loadInteraction, async function showStep(ctx) {
    const { details, flowKey } = ctx.state.step as StepState;
    if (details.prompt.name === 'consent') {
      const client = await s.provider.Client.find(String(details.params.client_id));
      if (isFirstParty(client?.metadata())) return finish(ctx, { consent: { grantId: await approveConsent(s.provider, details) } });
      return render(ctx, 'consent', await consentView(s.db, details));
    }
    const offered = methods(ctx);
    if (offered === 'unmet') {
      return finish(ctx, { error: 'unmet_authentication_requirements', error_description: 'none of the requested acr values can be met' }, false);
    }
    // This browser proved a code or link a moment ago (an email link, an external connection, an
    // operator link): its ticket cookie signs in, but only in the interaction the ticket is bound to.
    const redeemed = await redeemTicketCookie(ctx);
    if (redeemed) return finish(ctx, { login: loginResult(redeemed.userId, redeemed.amr) }, false);
    // The sign-in link was used here or approved from another device.
    const approvedUser = await redeemLinkApproval(s.db, flowKey);
    if (approvedUser) return finish(ctx, { login: loginResult(approvedUser, AMR.emailLink) }, false);
    // The RP asked for an external connection: hand the sign-in over right away.
    const external = offered.includes('external') ? externalConnection(s.config, details.params.connection) : undefined;
    if (external) return handOff(ctx, external.id);
    const live = await findLiveCode(s.db, flowKey);
    if (live) return renderCodeStep(ctx, live.identifier, { notice: ctx.query.sent ? 'code.sent_again' : null });
    const hint = typeof details.params.login_hint === 'string' ? details.params.login_hint : '';
    return render(ctx, 'email', { email: normalizeEmail(hint) ?? '' });
  });

  /**
   * The user of this browser's ticket cookie when the ticket is bound to this interaction, to the
   * authorization request that started it (`ticket_ref`), or to a client-started sign-in. A ticket
   * meant for another interaction stays in place for it.
   */
  async function redeemTicketCookie(ctx: Context) {
    const { details } = ctx.state.step as StepState;
    const ticket = ctx.cookies.get(TICKET_COOKIE, { signed: false });
    if (!ticket) return null;
    const places = [atInteraction(details.uid), AT_CLIENT_START];
    if (typeof details.params.ticket_ref === 'string') places.push(atRequest(details.params.ticket_ref));
    const redeemed = await redeemLoginTicket(s.db, s.codeKeys[0]!, ticket, String(details.params.client_id), places);
    if (redeemed) ctx.cookies.set(TICKET_COOKIE, null, { path: '/interaction' });
    return redeemed;
  }

  /** Sends the browser to an external connection's login UI with a state bound to this sign-in. */
  async function handOff(ctx: Context, connectionId: string) {
    const { details } = ctx.state.step as StepState;
    const connection = externalConnection(s.config, connectionId);
    if (!connection) throw new SesameError('unknownConnection');
    if (!methodAllowed(ctx, 'external')) throw new SesameError('methodNotAllowed');
    const param = (name: string) => (typeof details.params[name] === 'string' ? (details.params[name] as string) : undefined);
    const url = await handOffUrl(
      s.db,
      s.codeKeys[0]!,
      connection,
      { interactionUid: details.uid, clientId: String(details.params.client_id), loginHint: param('login_hint'), uiLocales: param('ui_locales') },
      s.config.issuer,
    );
    ctx.status = 303;
    ctx.redirect(url);
  }

  router.post('/external/:connection', loadInteraction, form, requireCsrf, login, async function chooseExternal(ctx) {
    return handOff(ctx, ctx.params.connection!);
  });

  // Polled by the waiting page (sesame.js) so it continues once the link is approved elsewhere.
  // A sign-in that is over (finished in another tab, expired) answers `ended` so the page stops.
  router.get('/status', async function linkStatus(ctx) {
    ctx.set('Cache-Control', 'no-store');
    const details = await s.provider.interactionDetails(ctx.req, ctx.res).catch((err: unknown) => {
      if (err instanceof errors.SessionNotFound) return null;
      throw err;
    });
    if (!details || details.uid !== ctx.params.uid) return void (ctx.body = { approved: false, ended: true });
    ctx.body = { approved: (await findApproval(s.db, interactionFlowKey(details.uid))) !== null };
  });

  router.post('/email', loadInteraction, form, requireCsrf, login, async function submitEmail(ctx) {
    const body = ctx.request.body as Record<string, unknown>;
    const raw = body.identifier ?? body.email;
    const sms = smsConnection(s.config);
    const identifier = parseIdentifier(raw, sms ? sms.defaultCountry : false);
    if (!identifier) {
      return render(ctx, 'email', { email: typeof raw === 'string' ? raw : '', error: sms ? 'identifier.invalid' : 'email.invalid' }, 400);
    }
    // The page offers only the methods the request's acr allows; a hand-made form gets no further.
    if (!methodAllowed(ctx, isPhoneIdentifier(identifier.value) ? 'sms' : 'email')) {
      return render(ctx, 'email', { email: identifier.value, error: 'identifier.method' }, 400);
    }
    const sent = await send(ctx, identifier.value);
    if (!sent.ok) {
      const { error, status } = refusal(sent);
      if (status === 429) ctx.set('Retry-After', String(sent.retryAfter));
      // A code for this address is already on its way in this sign-in (a double click, Back and
      // submit again): the page takes that code rather than only saying "wait".
      const codeSent = status === 429 && (await findLiveCode(s.db, (ctx.state.step as StepState).flowKey))?.identifier === identifier.value;
      const message = codeSent ? { notice: 'code.wait_have_code' } : { error };
      return render(ctx, 'email', { email: identifier.value, ...message, retryAfter: sent.retryAfter, codeSent }, status);
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${ctx.params.uid}`);
  });

  router.post('/code', loadInteraction, form, requireCsrf, login, async function submitCode(ctx) {
    const { flowKey } = ctx.state.step as StepState;
    const code = (ctx.request.body as Record<string, unknown>).code;
    const live = await findLiveCode(s.db, flowKey);
    if (!live) return render(ctx, 'email', { email: '', error: 'code.missing' }, 400);
    if (typeof code !== 'string' || !/^\s*[0-9][0-9\s-]{0,20}$/.test(code)) {
      return renderCodeStep(ctx, live.identifier, { error: 'code.format' }, 400);
    }
    // The id is in place before the check, so a right code marks this browser as the address's own.
    const who = { ...requester(ctx), browser: ensureBrowserId(ctx, s.config.codes.trustedBrowserTtl) };
    const result = await checkEmailCode(s, flowKey, code, who);
    if (result.ok) {
      return finish(ctx, { login: loginResult(result.user.id, codeAmr(isPhoneIdentifier(live.identifier))) }, false);
    }
    if (result.retryAfter) ctx.set('Retry-After', String(result.retryAfter));
    const status = result.reason === 'delayed' ? 429 : 400;
    return renderCodeStep(
      ctx,
      live.identifier,
      { error: CODE_MESSAGES[result.reason], attemptsLeft: result.attemptsLeft ?? null, retryAfter: result.retryAfter ?? null },
      status,
    );
  });

  router.post('/resend', loadInteraction, form, requireCsrf, login, async function resendCode(ctx) {
    const { flowKey } = ctx.state.step as StepState;
    const live = await findLiveCode(s.db, flowKey);
    if (!live) return ctx.redirect(`/interaction/${ctx.params.uid}`);
    const sent = await send(ctx, live.identifier);
    if (!sent.ok) {
      const { error, status } = refusal(sent);
      if (status === 429) ctx.set('Retry-After', String(sent.retryAfter));
      return renderCodeStep(ctx, live.identifier, { error, retryAfter: sent.retryAfter }, status);
    }
    ctx.status = 303;
    ctx.redirect(`/interaction/${ctx.params.uid}?sent=1`);
  });

  router.post('/restart', loadInteraction, form, requireCsrf, login, async function useAnotherEmail(ctx) {
    await retireFlow(s.db, (ctx.state.step as StepState).flowKey);
    ctx.status = 303;
    ctx.redirect(`/interaction/${ctx.params.uid}`);
  });

  router.post('/consent', loadInteraction, form, requireCsrf, requirePrompt('consent'), async function submitConsent(ctx) {
    const { details } = ctx.state.step as StepState;
    if ((ctx.request.body as Record<string, unknown>).decision !== 'allow') {
      return finish(ctx, { error: 'access_denied', error_description: 'The user declined the request.' }, false);
    }
    return finish(ctx, { consent: { grantId: await approveConsent(s.provider, details) } });
  });

  router.post('/cancel', loadInteraction, form, requireCsrf, async function cancel(ctx) {
    await retireFlow(s.db, (ctx.state.step as StepState).flowKey);
    return finish(ctx, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, false);
  });

  return router;
}
