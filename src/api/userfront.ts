// Userfront-compatible API (PROTOCOLS.md section 3) for `@userfront/core` with `baseUrl` set to
// <issuer>/v0/: login links and email codes per tenant, refresh and logout. Links, codes, limits
// and users are the hosted flow's; tokens are oidc-provider's (see userfront-tokens.ts). This file
// only speaks Userfront's wire format.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError, smsRefusal } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { recordAudit } from '../storage/audit.js';
import { resolveUser } from '../passwordless/sign-up.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import { smsConnection } from '../config/connections.js';
import type { Client } from '../oidc/client-metadata.js';
import { apiFlowKey } from '../passwordless/flows.js';
import { requesterNetwork } from '../passwordless/requester-network.js';
import { checkCode, sendCode as sendOneTimeCode, type SendOptions } from '../passwordless/one-time-codes.js';
import { checkLink, createOperatorLink, useLink } from '../passwordless/links.js';
import { bad, findTenant, loginPage, unauthorized, userfrontCors, userfrontErrors } from './userfront-tenant.js';
import { userfrontSessions } from './userfront-tokens.js';
import { AMR, codeAmr } from '../oidc/acr.js';

const LINK_ERRORS = {
  invalid: 'Invalid login link.',
  expired: 'This login link has expired. Ask for a new one.',
  used: 'This login link was already used. Ask for a new one.',
} as const;

const bodyOf = (ctx: Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

type CodeTarget = { channel: 'email'; value: string } | { channel: 'sms'; value: string; country: string | undefined };

/** Where a code request sends: an email address, or a phone number when an SMS connection exists. */
function targetOf(config: Services['config'], body: Record<string, unknown>): CodeTarget {
  if (body.channel === 'sms') {
    const connection = smsConnection(config);
    if (!connection) throw new SesameError('smsDisabled');
    const phone = parsePhone(body.phoneNumber, connection.defaultCountry);
    if (!phone) throw bad('Please provide a valid phone number, like +14155550100.');
    return { channel: 'sms', value: phone.e164, country: phone.country };
  }
  if (body.channel !== 'email') throw bad('channel must be "email" or "sms".');
  const email = normalizeEmail(body.email);
  if (!email) throw bad('Please provide a valid email address.');
  return { channel: 'email', value: email };
}

/** PKCE mode answers with an authorization code the app redeems later; Sesame only answers with tokens. */
function refusePkce(ctx: Context) {
  if (ctx.query.code_challenge !== undefined) throw bad('PKCE mode (code_challenge) is not supported.');
}

/** A request whose route named parameters (the tenant id). */
type PathContext = Context & { params: Record<string, string> };

/** What the handlers share, built once per router. */
interface UserfrontApi {
  s: Services;
  cors: ReturnType<typeof userfrontCors>;
  sessions: ReturnType<typeof userfrontSessions>;
}

const localeOf = (s: Services, ctx: Context) => negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);

/** The tenant named in the path, its origin checked. */
async function tenant({ s, cors }: UserfrontApi, ctx: PathContext): Promise<Client> {
  const found = await findTenant(s, ctx.params.tenantId!);
  if (!found) throw new SesameError('notFound', { detail: 'Tenant not found.' });
  await cors.checkActualOrigin(ctx, found);
  return found;
}

/** Sends a code (and, with `link`, a link) under the public-client limits; the same for known and unknown addresses. */
async function send(s: Services, ctx: Context, rp: Client, email: string, options: SendOptions) {
  const who = { ip: ctx.ip, clientId: rp.clientId, locale: localeOf(s, ctx) };
  const sent = await sendOneTimeCode(s, apiFlowKey(rp.clientId, email, requesterNetwork(who.ip)), { email }, who, {
    ...options,
    sendsPerIpPerHour: s.config.rateLimits.publicSendsPerIpPerHour,
    sendsPerClientPerHour: s.config.rateLimits.sendsPerClientPerHour,
  });
  if (!sent.ok && sent.reason === 'client') throw tooManyRequests(sent.retryAfter, 'This application has sent too many messages; try again later.');
  if (!sent.ok) throw tooManyRequests(sent.retryAfter, `Too many requests; wait ${sent.retryAfter} seconds before asking again.`);
}

/** POST auth/link: mails a link to the app's login page (and a code with it). */
async function sendLoginLink(api: UserfrontApi, ctx: PathContext) {
  const { s } = api;
  const rp = await tenant(api, ctx);
  const email = normalizeEmail(bodyOf(ctx).email);
  if (!email) throw bad('Please provide a valid email address.');
  const page = loginPage(rp);
  if (!page) throw new SesameError('misconfigured', { detail: `Tenant ${rp.clientId} has no initiate_login_uri or redirect_uris for login links.` });
  // Userfront's link: the app's login page with ?token=&uuid=, where the app calls loginWithLink.
  const link = async () => {
    const made = await createOperatorLink(s.db, s.keyring, { type: 'login', email, clientId: rp.clientId, ttl: s.config.links.loginTtl });
    const url = new URL(page);
    url.searchParams.set('token', made.token);
    url.searchParams.set('uuid', made.uuid);
    return url.toString();
  };
  await send(s, ctx, rp, email, { link, template: 'link' });
  ctx.body = { message: 'OK', result: { email } };
}

/** PUT auth/link with {token, uuid}: the link used once, the user signed in. */
async function loginWithLink(api: UserfrontApi, ctx: PathContext) {
  const { s } = api;
  const rp = await tenant(api, ctx);
  refusePkce(ctx);
  const body = bodyOf(ctx);
  const checked = await checkLink(s.db, s.keyring, body.uuid, body.token);
  if (!checked.ok) throw unauthorized(LINK_ERRORS[checked.reason]);
  const { link } = checked;
  // Links of a hosted sign-in belong to that sign-in; links for another client, to that client.
  if (link.clientId !== rp.clientId || link.flowKey) throw unauthorized(LINK_ERRORS.invalid);
  const user = await resolveUser(s.db, link.email, s.config.signUp);
  if (!user) throw unauthorized(LINK_ERRORS.invalid);
  if (!(await useLink(s.db, link, user.id))) throw unauthorized(LINK_ERRORS.used);
  await recordAudit(s.db, { type: 'link.used', clientId: rp.clientId, userId: user.id, identifier: link.email, ip: ctx.ip, reason: 'userfront' });
  ctx.body = await api.sessions.signIn(ctx, rp, user.id, AMR.emailLink);
}

/** POST auth/code: a code by email, or by SMS when an SMS connection exists. */
async function sendCode(api: UserfrontApi, ctx: PathContext) {
  const { s } = api;
  const rp = await tenant(api, ctx);
  const target = targetOf(s.config, bodyOf(ctx));
  if (target.channel === 'email') {
    await send(s, ctx, rp, target.value, { template: 'code' });
    ctx.body = { message: 'OK', result: { channel: 'email', email: target.value } };
    return;
  }
  const who = { ip: ctx.ip, clientId: rp.clientId, locale: localeOf(s, ctx) };
  const sent = await sendOneTimeCode(s, apiFlowKey(rp.clientId, target.value, requesterNetwork(who.ip)), { phone: target.value, country: target.country }, who);
  if (!sent.ok) {
    const refused = smsRefusal(sent.reason);
    if (refused) throw new SesameError(refused);
    throw tooManyRequests(sent.retryAfter, `Too many requests; wait ${sent.retryAfter} seconds before asking again.`);
  }
  ctx.body = { message: 'OK', result: { channel: 'sms', phoneNumber: target.value } };
}

/** PUT auth/code with the verification code: the code checked, the user signed in. */
async function loginWithCode(api: UserfrontApi, ctx: PathContext) {
  const { s } = api;
  const rp = await tenant(api, ctx);
  refusePkce(ctx);
  const body = bodyOf(ctx);
  const target = targetOf(s.config, body);
  const code = typeof body.verificationCode === 'number' ? String(body.verificationCode) : body.verificationCode;
  if (typeof code !== 'string' || !code) throw bad('verificationCode is required.');
  const result = await checkCode(s, apiFlowKey(rp.clientId, target.value, requesterNetwork(ctx.ip)), code, { ip: ctx.ip, clientId: rp.clientId, locale: localeOf(s, ctx) });
  if (!result.ok) {
    if (result.reason === 'delayed') throw tooManyRequests(result.retryAfter ?? 1, 'Too many failed attempts. Wait before trying again.');
    throw unauthorized('Invalid or expired verification code.');
  }
  ctx.body = await api.sessions.signIn(ctx, rp, result.user.id, codeAmr(target.channel === 'sms'));
}

export function userfrontRouter(s: Services): Router {
  const router = new Router({ prefix: '/v0' });
  const parse = bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '16kb', formLimit: '16kb' });
  const api: UserfrontApi = { s, cors: userfrontCors(s), sessions: userfrontSessions(s) };

  for (const path of ['/tenants/:tenantId/auth/link', '/tenants/:tenantId/auth/code', '/auth/refresh', '/auth/logout']) {
    router.options(path, api.cors.preflight);
  }
  router.post('/tenants/:tenantId/auth/link', userfrontErrors, parse, sendLoginLink.bind(undefined, api));
  router.put('/tenants/:tenantId/auth/link', userfrontErrors, parse, loginWithLink.bind(undefined, api));
  router.post('/tenants/:tenantId/auth/code', userfrontErrors, parse, sendCode.bind(undefined, api));
  router.put('/tenants/:tenantId/auth/code', userfrontErrors, parse, loginWithCode.bind(undefined, api));
  router.get('/auth/refresh', userfrontErrors, api.sessions.refresh);
  router.get('/auth/logout', userfrontErrors, api.sessions.logout);
  return router;
}
