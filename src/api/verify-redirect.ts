// The emailed sign-in link, Auth0's /passwordless/verify_redirect. Opening it (GET or HEAD) changes
// nothing: it shows a confirm page, so mail scanners cannot use it up. The explicit POST checks the
// code, then continues the authorization request through /authorize with a one-minute login ticket
// in a cookie of this browser, bound to that request by `ticket_ref`: the URL alone signs no one in,
// so an attacker cannot confirm their own link and hand the resulting URL to a victim.
import type Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { cookieTokenValid, issueCookieToken } from '../http/csrf.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { normalizeEmail } from '../passwordless/identifiers.js';
import { apiFlowKey, openNetwork } from '../passwordless/flows.js';
import { requesterNetwork } from '../passwordless/requester-network.js';
import { checkCode, type CodeCheckDeps } from '../passwordless/one-time-codes.js';
import { atRequest, issueLoginTicket, newTicketRef } from '../passwordless/login-tickets.js';
import { codeAmr } from '../oidc/acr.js';
import { setTicketCookie } from '../http/ticket-cookie.js';
import { pageBrand } from '../http/brand.js';

/** Authorization parameters carried from /passwordless/start's authParams through the link to /authorize. */
export const AUTHORIZE_PARAMS = [
  'response_type',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'audience',
  'resource',
  'ui_locales',
  'response_mode',
  'login_hint',
] as const;
const LINK_PARAMS = ['client_id', 'connection', 'email', 'network', 'verification_code', ...AUTHORIZE_PARAMS] as const;
const CSRF_COOKIE = 'sesame.link';

/** What the link pages use: code checks, the provider (clients), pages. */
export type VerifyRedirectDeps = CodeCheckDeps & Pick<Services, 'provider' | 'renderer'>;

function pick(source: Record<string, unknown>): Map<string, string> {
  const fields = new Map<string, string>();
  for (const name of LINK_PARAMS) {
    const value = source[name];
    if (typeof value === 'string' && value.length <= 2048) fields.set(name, value);
  }
  return fields;
}

export function verifyRedirectRoutes(router: Router, s: VerifyRedirectDeps): void {
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const locale = (ctx: Context, fields: Map<string, string>) => negotiateLocale(fields.get('ui_locales'), ctx.get('accept-language'), s.config.ui.defaultLocale);

  /** The client of a link, and its redirect_uri checked against the registered ones. */
  async function linkClient(ctx: Context, fields: Map<string, string>) {
    ctx.state.locale = locale(ctx, fields);
    const clientId = fields.get('client_id');
    const client = clientId ? await s.provider.Client.find(clientId).catch(() => undefined) : undefined;
    const email = normalizeEmail(fields.get('email'));
    const redirectUri = fields.get('redirect_uri');
    if (!client || !email || !fields.get('verification_code') || !redirectUri || !client.redirectUriAllowed(redirectUri)) {
      throw new SesameError('linkBadRequest');
    }
    // /authorize would refuse a public client without PKCE; say so before the code is used up.
    if (client.clientAuthMethod === 'none' && !fields.get('code_challenge')) throw new SesameError('linkPkceRequired');
    // The network of the flow the code was sent for: sealed in an emailed link (see
    // passwordless/flows.ts); absent when auth0-js sends here the code its user typed in the app,
    // on the device that asked for it.
    const sealed = fields.get('network');
    const network = sealed === undefined ? requesterNetwork(ctx.ip) : openNetwork(s.keyring, client.clientId, email, sealed);
    if (!network) throw new SesameError('linkBadRequest');
    return { client, email, network };
  }

  router.get('/verify_redirect', async function confirmLinkPage(ctx) {
    const fields = pick(ctx.query as Record<string, unknown>);
    const { client, email } = await linkClient(ctx, fields);
    // So another site cannot post a link of its choosing into this browser (login CSRF).
    const csrf = issueCookieToken(ctx, CSRF_COOKIE, '/passwordless');
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = await s.renderer.page('verify-link', locale(ctx, fields), {
      title: 'link.title',
      clientName: s.renderer.clientName(locale(ctx, fields), client),
      brand: pageBrand(ctx, client),
      email,
      csrf,
      fields: [...fields.entries()],
    });
  });

  router.post('/verify_redirect', form, async function useLink(ctx) {
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    if (!cookieTokenValid(ctx, CSRF_COOKIE, body.csrf)) throw new SesameError('csrf');
    const fields = pick(body);
    const { client, email, network } = await linkClient(ctx, fields);
    const who = { ip: ctx.ip, clientId: client.clientId, locale: locale(ctx, fields) };
    const flowKey = apiFlowKey(client.clientId, email, network);
    const result = await checkCode(s, flowKey, fields.get('verification_code')!, who);
    if (!result.ok) {
      if (result.reason === 'delayed') throw new SesameError('linkDelayed', { retryAfter: result.retryAfter ?? 1 });
      throw new SesameError('linkFailed');
    }
    ctx.cookies.set(CSRF_COOKIE, null, { path: '/passwordless' });
    const ref = newTicketRef();
    setTicketCookie(ctx, await issueLoginTicket(s.db, s.keyring, result.user.id, client.clientId, codeAmr(false), atRequest(ref)));
    const query = new URLSearchParams({ client_id: client.clientId, ticket_ref: ref });
    for (const name of AUTHORIZE_PARAMS) {
      const value = fields.get(name);
      if (value !== undefined) query.set(name, value);
    }
    if (!query.has('response_type')) query.set('response_type', 'code');
    if (!query.has('scope')) query.set('scope', 'openid');
    // Whoever may already be signed in here, the link's user is the one to sign in.
    query.set('prompt', 'login');
    ctx.status = 303;
    ctx.redirect(`/authorize?${query}`);
  });
}
