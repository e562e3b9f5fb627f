// Auth0-compatible passwordless API: POST /passwordless/start (code or link), POST
// /passwordless/verify (auth0-js's check), and the link landing /passwordless/verify_redirect.
// Codes, limits and users are the hosted flow's; this file only speaks Auth0's wire format.
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError, smsRefusal, type ErrorName } from '../errors.js';
import { tooManyRequests } from '../http/errors.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { normalizeEmail, parsePhone } from '../passwordless/identifiers.js';
import type { SmsConnection } from '../config/schema.js';
import { connectionById } from '../config/connections.js';
import { metadataOf, trustsForwardedFor, type Client } from '../oidc/client-metadata.js';
import { apiFlowKey, sealNetwork } from '../passwordless/flows.js';
import { requesterIp, requesterNetwork } from '../passwordless/requester-network.js';
import { peekCode, sendCode, type CodeSendDeps } from '../passwordless/one-time-codes.js';
import { grantTypes as OTP_GRANTS } from '../oidc/grants/passwordless-otp.js';
import { authenticateClient } from './client-auth.js';
import { corsFor } from './cors.js';
import { verifyRedirectRoutes, AUTHORIZE_PARAMS } from './verify-redirect.js';

/** What these routes use: code sends and checks, the provider (clients), and the link page's renderer. */
export type PasswordlessDeps = CodeSendDeps & Pick<Services, 'provider' | 'renderer'>;

type Body = Record<string, unknown>;
/** The client a request authenticated as, and whether it proved a secret (public clients did not). */
interface Caller {
  rp: Client;
  confidential: boolean;
}

/** Auth0's `_id` of a start: 24 hex digits naming nothing; from randomUUID's pooled entropy (cheaper than randomBytes per call). */
const responseId = () => randomUUID().replaceAll('-', '').slice(8);

const bad = (kind: ErrorName, detail?: string) => new SesameError(kind, { detail });

function asObject(value: unknown): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  if (typeof value === 'string') {
    try {
      return asObject(JSON.parse(value));
    } catch {
      throw bad('invalidRequest', 'authParams must be an object.');
    }
  }
  return {};
}

function connectionOf(s: PasswordlessDeps, body: Body) {
  const id = body.connection;
  const connection = connectionById(s.config, id);
  if (!connection) throw bad('auth0BadConnection', `Connection "${String(id ?? '')}" does not exist or is not enabled.`);
  return connection;
}

function emailConnection(s: PasswordlessDeps, body: Body) {
  const connection = connectionOf(s, body);
  if (connection.type !== 'email') throw bad('auth0BadConnection', `Connection "${connection.id}" does not accept email addresses.`);
  return connection;
}

/** `connection: sms` (Auth0's shape): a code to `phone_number`; links go by email only. */
async function startSms(s: PasswordlessDeps, ctx: Context, body: Body, { rp, confidential }: Caller, connection: SmsConnection) {
  if ((body.send ?? 'code') !== 'code') throw bad('auth0BadSend', 'Links are sent by email only; use send "code" with sms.');
  const phone = parsePhone(body.phone_number, connection.defaultCountry);
  if (!phone) throw bad('auth0BadPhone');
  if (!OTP_GRANTS.some((g) => rp.grantTypeAllowed(g))) throw new SesameError('unauthorizedClient', { detail: `Grant type '${OTP_GRANTS[0]}' not allowed for the client.` });
  const who = {
    ip: requesterIp(ctx, confidential && trustsForwardedFor(metadataOf(rp))),
    clientId: rp.clientId,
    locale: negotiateLocale(undefined, ctx.get('x-request-language') || ctx.get('accept-language'), s.config.ui.defaultLocale),
  };
  const sent = await sendCode(s, apiFlowKey(rp.clientId, phone.e164, requesterNetwork(who.ip)), { phone: phone.e164, country: phone.country }, who, {
    connectionId: connection.id,
  });
  if (!sent.ok) {
    const refused = smsRefusal(sent.reason);
    if (refused) throw new SesameError(refused);
    throw tooManyRequests(sent.retryAfter, `Too many requests; wait ${sent.retryAfter} s before asking for another code.`);
  }
  ctx.body = { _id: responseId(), phone_number: phone.e164, phone_verified: false };
}

/** `send: link`: the verify_redirect URL the email carries, with the code and the authorization parameters. */
function linkMaker(s: PasswordlessDeps, body: Body, { rp, confidential }: Caller, email: string, network: string, authParams: Body) {
  const redirectUri = typeof authParams.redirect_uri === 'string' ? authParams.redirect_uri : rp.redirectUris?.[0];
  if (!redirectUri || !rp.redirectUriAllowed(redirectUri)) throw bad('invalidRequest', 'redirect_uri is not registered for this client.');
  if (!confidential && typeof authParams.code_challenge !== 'string') {
    throw bad('invalidRequest', 'Public clients must send authParams.code_challenge (PKCE) for links.');
  }
  // `network` names the flow the code belongs to (sealed), so the link works from any device.
  const sealed = sealNetwork(s.keyring, rp.clientId, email, network);
  const query: Record<string, string> = { client_id: rp.clientId, connection: String(body.connection), email, network: sealed, response_type: 'code', redirect_uri: redirectUri };
  for (const name of AUTHORIZE_PARAMS) {
    const value = authParams[name];
    if (typeof value === 'string' && !(name in query)) query[name] = value;
  }
  const issuerBase = s.config.issuer.replace(/\/$/, '');
  return (code: string) => `${issuerBase}/passwordless/verify_redirect?${new URLSearchParams({ ...query, verification_code: code })}`;
}

/** `connection` of type email: a code, or a link carrying one (the default, as Auth0's). */
async function startEmail(s: PasswordlessDeps, ctx: Context, body: Body, caller: Caller) {
  const { rp, confidential } = caller;
  const send = body.send ?? 'link';
  if (send !== 'link' && send !== 'code') throw bad('auth0BadSend');
  const email = normalizeEmail(body.email);
  if (!email) throw bad('auth0BadEmail');
  const authParams = asObject(body.authParams);

  const allowed = send === 'code' ? OTP_GRANTS.some((g) => rp.grantTypeAllowed(g)) : rp.grantTypeAllowed('authorization_code');
  if (!allowed) {
    throw new SesameError('unauthorizedClient', { detail: `Grant type '${send === 'code' ? OTP_GRANTS[0] : 'authorization_code'}' not allowed for the client.` });
  }
  const uiLocales = typeof authParams.ui_locales === 'string' ? authParams.ui_locales : undefined;
  const locale = negotiateLocale(uiLocales, ctx.get('x-request-language') || ctx.get('accept-language'), s.config.ui.defaultLocale);
  const who = { ip: requesterIp(ctx, confidential && trustsForwardedFor(metadataOf(rp))), clientId: rp.clientId, locale };
  const network = requesterNetwork(who.ip);
  const linkFor = send === 'link' ? linkMaker(s, body, caller, email, network, authParams) : undefined;

  const sent = await sendCode(s, apiFlowKey(rp.clientId, email, network), { email }, who, {
    link: linkFor,
    template: linkFor ? 'link' : 'code',
    connectionId: String(body.connection),
    sendsPerIpPerHour: confidential ? undefined : s.config.rateLimits.publicSendsPerIpPerHour,
    sendsPerClientPerHour: s.config.rateLimits.sendsPerClientPerHour,
  });
  if (!sent.ok && sent.reason === 'client') throw tooManyRequests(sent.retryAfter, 'This application has sent too many codes; try again later.');
  if (!sent.ok) throw tooManyRequests(sent.retryAfter, `Too many requests; wait ${sent.retryAfter} s before asking for another code.`);
  // Auth0's shape; the same for every address, known or not.
  ctx.body = { _id: responseId(), email, email_verified: false };
}

/** auth0-js's verify step: tells whether the code is right without using it up. */
async function verifyEmailCode(s: PasswordlessDeps, ctx: Context, body: Body, { rp, confidential }: Caller) {
  emailConnection(s, body);
  const email = normalizeEmail(body.email);
  const code = body.verification_code;
  if (!email || typeof code !== 'string') throw bad('invalidRequest', 'email and verification_code are required.');
  const who = { ip: requesterIp(ctx, confidential && trustsForwardedFor(metadataOf(rp))), clientId: rp.clientId, locale: 'en' };
  const result = await peekCode(s, apiFlowKey(rp.clientId, email, requesterNetwork(who.ip)), code, who);
  if (!result.ok) {
    if (result.reason === 'delayed') throw tooManyRequests(result.retryAfter ?? 1, 'Too many failed attempts. Wait before trying again.');
    throw new SesameError('auth0WrongCode');
  }
  ctx.body = {};
}

export function passwordlessRouter(s: PasswordlessDeps): Router {
  const router = new Router({ prefix: '/passwordless' });
  const parse = bodyParser({ enableTypes: ['json', 'form'], jsonLimit: '16kb', formLimit: '16kb' });
  const issuerBase = s.config.issuer.replace(/\/$/, '');
  const audiences = [s.config.issuer, `${issuerBase}/`, `${issuerBase}/passwordless/start`, `${issuerBase}/oauth/token`];
  const cors = corsFor(s);

  async function caller(ctx: Context, body: Body): Promise<Caller> {
    const authenticated = await authenticateClient(s.provider, s.db, ctx, body, audiences);
    await cors.checkActualOrigin(ctx, authenticated.client);
    return { rp: authenticated.client, confidential: authenticated.confidential };
  }

  router.options('/start', cors.preflight);
  router.options('/verify', cors.preflight);

  router.post('/start', parse, async function startPasswordless(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    const who = await caller(ctx, body);
    const connection = connectionOf(s, body);
    if (connection.type === 'sms') return startSms(s, ctx, body, who, connection);
    return startEmail(s, ctx, body, who);
  });

  router.post('/verify', parse, async function verifyPasswordless(ctx) {
    const body = (ctx.request.body ?? {}) as Body;
    return verifyEmailCode(s, ctx, body, await caller(ctx, body));
  });

  verifyRedirectRoutes(router, s);
  return router;
}
