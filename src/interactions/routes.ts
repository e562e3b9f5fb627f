// Hosted sign-in pages bound to the oidc-provider Interaction: email → code → consent → back to the
// RP. GET shows the step `nextStep` (steps.ts) picks; the POSTs of the code steps are code-steps.ts.
import Router from '@koa/router';
import { noStore } from '../http/middleware.js';
import { bodyParser } from '@koa/bodyparser';
import { errors } from 'oidc-provider';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { findApprovalAndLiveCode, findLiveCode } from '../storage/codes.js';
import { interactionFlowKey } from '../passwordless/flows.js';
import { AT_CLIENT_START, atInteraction, atRequest, redeemLoginTicket } from '../passwordless/login-tickets.js';
import { redeemFoundApproval } from '../passwordless/links.js';
import { findApproval } from '../storage/magic-links.js';
import { TICKET_COOKIE } from '../http/ticket-cookie.js';
import { oauthJsonErrors } from '../http/errors.js';
import { approveConsent, consentView } from './consent.js';
import { isFirstParty } from '../oidc/client-metadata.js';
import { externalConnection, externalConnections } from '../config/connections.js';
import { handOffUrl } from '../connections/external.js';
import { availableMethods, loginResult } from '../oidc/acr.js';
import { nextStep, type Fact, type Step, type StepFacts } from './steps.js';
import { finish, loadInteraction, methodAllowed, render, renderCodeStep, requireCsrf, requirePrompt, type FlowContext, type FlowState } from './flow-context.js';
import { resendCode, retireFlow, submitCode, submitEmail, useAnotherEmail } from './code-steps.js';
import { passkeyOptions, submitPasskey } from './passkey-signin.js';

/**
 * The user of this browser's ticket cookie when the ticket is bound to this interaction, to the
 * authorization request that started it (`ticket_ref`), or to a client-started sign-in. A ticket
 * meant for another interaction stays in place for it.
 */
async function redeemTicketCookie(s: Services, ctx: FlowContext) {
  const { details } = ctx.state.step;
  const ticket = ctx.cookies.get(TICKET_COOKIE, { signed: false });
  if (!ticket) return null;
  const places = [atInteraction(details.uid), AT_CLIENT_START];
  if (typeof details.params.ticket_ref === 'string') places.push(atRequest(details.params.ticket_ref));
  const redeemed = await redeemLoginTicket(s.db, s.keyring, ticket, String(details.params.client_id), places);
  if (redeemed) ctx.cookies.set(TICKET_COOKIE, null, { path: '/interaction' });
  return redeemed;
}

/** Loads the fact `nextStep` asked for into `facts`. */
async function loadFact(s: Services, ctx: FlowContext, facts: StepFacts, fact: Fact) {
  const { details, flowKey } = ctx.state.step;
  if (fact === 'firstParty') facts.firstParty = isFirstParty((await s.provider.Client.find(String(details.params.client_id)))?.metadata());
  // This browser proved a code or link a moment ago (an email link, an external connection, an
  // operator link): its ticket cookie signs in, but only in the interaction the ticket is bound to.
  else if (fact === 'ticket') facts.ticket = await redeemTicketCookie(s, ctx);
  // The sign-in link was used here or approved from another device; read with the live code, which
  // the step asks for next when there is no approval.
  else if (fact === 'approval') {
    const { approval, liveCode } = await findApprovalAndLiveCode(s.db, flowKey);
    facts.approval = approval && (await redeemFoundApproval(s.db, approval));
    facts.liveCode = liveCode;
  } else facts.liveCode = await findLiveCode(s.db, flowKey);
}

/** The step this interaction is at, loading what `nextStep` needs as it asks. */
async function currentStep(s: Services, ctx: FlowContext): Promise<Step> {
  const { details } = ctx.state.step;
  const facts: StepFacts = {
    prompt: details.prompt.name,
    params: details.params,
    available: availableMethods(s.config),
    externals: externalConnections(s.config).map((c) => c.id),
  };
  for (let step = nextStep(facts); ; step = nextStep(facts)) {
    if (step.kind !== 'need') return step;
    await loadFact(s, ctx, facts, step.fact);
  }
}

async function showStep(s: Services, ctx: FlowContext) {
  const { details } = ctx.state.step;
  const step = await currentStep(s, ctx);
  switch (step.kind) {
    case 'approve-consent':
      return finish(s, ctx, { consent: { grantId: await approveConsent(s.provider, details) } });
    case 'ask-consent':
      return render(s, ctx, 'consent', await consentView(s.db, details));
    case 'unmet':
      return finish(s, ctx, { error: 'unmet_authentication_requirements', error_description: 'none of the requested acr values can be met' }, false);
    case 'sign-in':
      return finish(s, ctx, { login: loginResult(step.userId, step.amr) }, false);
    case 'hand-off':
      return handOff(s, ctx, step.connectionId);
    case 'code':
      return renderCodeStep(s, ctx, step.identifier, { notice: ctx.query.sent ? 'code.sent_again' : null });
    case 'email':
      // Back from a code sign-in on a request that demands a passkey (see finish).
      return render(s, ctx, 'email', { email: step.email, notice: ctx.query.passkey === 'first' ? 'passkey.first' : null });
  }
}

/** Sends the browser to an external connection's login UI with a state bound to this sign-in. */
async function handOff(s: Services, ctx: FlowContext, connectionId: string) {
  const { details } = ctx.state.step;
  const connection = externalConnection(s.config, connectionId);
  if (!connection) throw new SesameError('unknownConnection');
  if (!methodAllowed(s, ctx, 'external')) throw new SesameError('methodNotAllowed');
  const param = (name: string) => (typeof details.params[name] === 'string' ? (details.params[name] as string) : undefined);
  const url = await handOffUrl(
    s.db,
    s.keyring.current().secret,
    connection,
    { interactionUid: details.uid, clientId: String(details.params.client_id), loginHint: param('login_hint'), uiLocales: param('ui_locales') },
    s.config.issuer,
  );
  ctx.status = 303;
  ctx.redirect(url);
}

// Polled by the waiting page (sesame.js) so it continues once the link is approved elsewhere.
// A sign-in that is over (finished in another tab, expired) answers `ended` so the page stops.
async function linkStatus(s: Services, ctx: FlowContext) {
  ctx.set('Cache-Control', 'no-store');
  const details = await s.provider.interactionDetails(ctx.req, ctx.res).catch((err: unknown) => {
    if (err instanceof errors.SessionNotFound) return null;
    throw err;
  });
  if (!details || details.uid !== ctx.params.uid) return void (ctx.body = { approved: false, ended: true });
  ctx.body = { approved: (await findApproval(s.db, interactionFlowKey(details.uid))) !== null };
}

async function submitConsent(s: Services, ctx: FlowContext) {
  const { details } = ctx.state.step;
  if ((ctx.request.body as Record<string, unknown>).decision !== 'allow') {
    return finish(s, ctx, { error: 'access_denied', error_description: 'The user declined the request.' }, false);
  }
  return finish(s, ctx, { consent: { grantId: await approveConsent(s.provider, details) } });
}

async function cancel(s: Services, ctx: FlowContext) {
  await retireFlow(s.db, ctx.state.step.flowKey);
  return finish(s, ctx, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, false);
}

export function interactionRouter(s: Services): Router<FlowState> {
  const router = new Router<FlowState>({ prefix: '/interaction/:uid' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' });
  const jsonErrors = oauthJsonErrors(s.renderer, s.config.ui.defaultLocale);
  const [load, csrf, login] = [loadInteraction(s), requireCsrf(s), requirePrompt('login')];

  router.use(noStore);

  router.get('/', load, (ctx) => showStep(s, ctx));
  router.post('/external/:connection', load, form, csrf, login, (ctx) => handOff(s, ctx, ctx.params.connection!));
  router.get('/status', (ctx) => linkStatus(s, ctx));
  router.post('/email', load, form, csrf, login, (ctx) => submitEmail(s, ctx));
  router.post('/code', load, form, csrf, login, (ctx) => submitCode(s, ctx));
  router.post('/resend', load, form, csrf, login, (ctx) => resendCode(s, ctx));
  router.post('/restart', load, form, csrf, login, (ctx) => useAnotherEmail(s, ctx));
  // The options are for the page's script: errors in JSON, not as a page.
  router.post(
    '/passkey/options',
    (ctx, next) => jsonErrors(ctx, next),
    load,
    json,
    csrf,
    login,
    (ctx) => passkeyOptions(s, ctx),
  );
  router.post('/passkey', load, form, csrf, login, (ctx) => submitPasskey(s, ctx));
  router.post('/consent', load, form, csrf, requirePrompt('consent'), (ctx) => submitConsent(s, ctx));
  router.post('/cancel', load, form, csrf, (ctx) => cancel(s, ctx));
  return router;
}
