// The magic-link landing, /login/link?uuid=&token= (Userfront's shape). GET and HEAD only show a
// page. In the browser that started the sign-in, one click finishes it; anywhere else the page asks
// for the number the waiting device shows, and a match approves that device's sign-in.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../http/errors.js';
import { cookieTokenValid, issueCookieToken } from '../http/csrf.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { recordAudit } from '../storage/audit.js';
import { findUserByEmail, upsertVerifiedEmailUser } from '../storage/users.js';
import { MAX_NUMBER_PICKS, approveWithNumber, checkLink, useLink, useLinkElsewhere } from '../passwordless/links.js';
import type { LinkRow } from '../storage/magic-links.js';
import { TICKET_COOKIE, flowCookieName, flowProof } from './links.js';
import { issueLoginTicket } from '../passwordless/login-tickets.js';

const CSRF_COOKIE = 'sesame.magic';
const REASONS = { invalid: 'magic.invalid', used: 'magic.used', expired: 'magic.expired' } as const;

export function magicLinkRouter(s: Services): Router {
  const router = new Router({ prefix: '/login/link' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' });

  async function liveLink(ctx: Context, source: Record<string, unknown>): Promise<LinkRow> {
    ctx.state.locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
    const checked = await checkLink(s.db, s.codeKeys, source.uuid, source.token);
    if (!checked.ok) throw new SesameError(400, `link_${checked.reason}`, REASONS[checked.reason]);
    return checked.link;
  }

  async function page(ctx: Context, link: LinkRow, template: string, locals: Record<string, unknown> = {}, status = 200) {
    const client = link.clientId ? await s.provider.Client.find(link.clientId).catch(() => undefined) : undefined;
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await s.renderer.page(template, ctx.state.locale as string, {
      title: 'magic.title',
      clientName: client?.clientName ?? client?.clientId ?? '',
      email: link.email,
      origin: { ip: link.requestIp, from: link.requestFrom, minutes: Math.max(0, Math.round((Date.now() - link.createdAt.getTime()) / 60_000)) },
      error: null,
      notice: null,
      ...locals,
    });
  }

  /** The user the link's address belongs to; new only under an open sign-up policy. */
  async function userOf(link: LinkRow) {
    if (s.config.signUp === 'open') return upsertVerifiedEmailUser(s.db, link.email);
    const user = await findUserByEmail(s.db, link.email);
    if (!user) throw new SesameError(400, 'link_invalid', 'magic.invalid');
    return upsertVerifiedEmailUser(s.db, link.email);
  }

  const tokens = (ctx: Context, link: LinkRow, token: string) => ({ csrf: issueCookieToken(ctx, CSRF_COOKIE, '/login'), uuid: link.id, token });
  const requireCsrf = (ctx: Context) => {
    if (!cookieTokenValid(ctx, CSRF_COOKIE, (ctx.request.body as Record<string, unknown>).csrf)) throw new SesameError(403, 'csrf', 'error.csrf');
  };

  /** The client's third-party-initiated login URI, when the link names a client that has one. */
  async function initiateUri(link: LinkRow): Promise<{ clientId: string; uri: string } | null> {
    const client = link.clientId ? await s.provider.Client.find(link.clientId).catch(() => undefined) : undefined;
    const uri = client?.metadata().initiate_login_uri;
    return client && typeof uri === 'string' ? { clientId: client.clientId, uri } : null;
  }

  /**
   * Signs in on this device through an OIDC third-party-initiated login: the client starts a normal
   * authorization request, which redeems a one-minute ticket cookie instead of asking again.
   */
  async function signInHere(ctx: Context, link: LinkRow, userId: string, target: { clientId: string; uri: string }) {
    const ticket = await issueLoginTicket(s.db, s.codeKeys[0]!, userId, target.clientId, ['email']);
    ctx.cookies.set(TICKET_COOKIE, ticket, { httpOnly: true, sameSite: 'lax', path: '/interaction', secure: ctx.secure, signed: false, maxAge: 60_000 });
    const url = new URL(target.uri);
    url.searchParams.set('iss', s.config.issuer);
    url.searchParams.set('login_hint', link.email);
    ctx.status = 303;
    ctx.redirect(url.toString());
  }

  /** A welcome or custom link: it confirms the address, and signs in here when the client can start it. */
  async function useOperatorLink(ctx: Context, link: LinkRow) {
    const user = await userOf(link);
    if (!(await useLink(s.db, link, user.id))) throw new SesameError(400, 'link_used', 'magic.used');
    await recordAudit(s.db, { type: 'link.used', clientId: link.clientId, userId: user.id, identifier: link.email, ip: ctx.ip, reason: link.type });
    const target = await initiateUri(link);
    return target ? signInHere(ctx, link, user.id, target) : page(ctx, link, 'magic-link-verified');
  }

  router.get('/', async function showLink(ctx) {
    const link = await liveLink(ctx, ctx.query as Record<string, unknown>);
    await page(ctx, link, 'magic-link', tokens(ctx, link, String(ctx.query.token)));
  });

  router.post('/', form, async function useLinkHere(ctx) {
    requireCsrf(ctx);
    const body = ctx.request.body as Record<string, unknown>;
    const link = await liveLink(ctx, body);
    if (!link.flowKey) return useOperatorLink(ctx, link);
    const sameBrowser = ctx.cookies.get(flowCookieName(s, link.flowKey), { signed: false }) === flowProof(s, link.flowKey);
    if (!sameBrowser) {
      const here = (await initiateUri(link)) !== null;
      return page(ctx, link, 'magic-link-match', { ...tokens(ctx, link, String(body.token)), here });
    }
    const user = await userOf(link);
    if (!(await useLink(s.db, link, user.id))) throw new SesameError(400, 'link_used', 'magic.used');
    await recordAudit(s.db, { type: 'link.used', clientId: link.clientId, userId: user.id, identifier: link.email, ip: ctx.ip });
    ctx.status = 303;
    ctx.redirect(`/interaction/${link.flowKey!.slice(2)}`);
  });

  // On another device, instead of approving the waiting sign-in: a new session here, started by
  // the client. The waiting sign-in then never continues (its link is used and not approvable).
  router.post('/here', form, async function signInOnThisDevice(ctx) {
    requireCsrf(ctx);
    const link = await liveLink(ctx, ctx.request.body as Record<string, unknown>);
    const target = await initiateUri(link);
    if (!target) throw new SesameError(400, 'link_invalid', 'magic.invalid');
    const user = await userOf(link);
    if (!(await useLinkElsewhere(s.db, link, user.id))) throw new SesameError(400, 'link_used', 'magic.used');
    await recordAudit(s.db, { type: 'link.used', clientId: link.clientId, userId: user.id, identifier: link.email, ip: ctx.ip, reason: 'this_device' });
    return signInHere(ctx, link, user.id, target);
  });

  router.post('/approve', form, async function approveOtherDevice(ctx) {
    requireCsrf(ctx);
    const body = ctx.request.body as Record<string, unknown>;
    const link = await liveLink(ctx, body);
    const number = typeof body.number === 'string' ? body.number : '';
    const user = await userOf(link);
    const result = await approveWithNumber(s.db, link, number, user.id);
    const audit = { clientId: link.clientId, identifier: link.email, ip: ctx.ip };
    if (result === 'approved') {
      await recordAudit(s.db, { type: 'link.approved', ...audit, userId: user.id, reason: 'number_match' });
      return page(ctx, link, 'magic-link-done');
    }
    await recordAudit(s.db, { type: 'link.failed', ...audit, reason: `number_${result}` });
    if (result === 'wrong') {
      const attemptsLeft = MAX_NUMBER_PICKS - link.attempts - 1;
      const here = (await initiateUri(link)) !== null;
      return page(ctx, link, 'magic-link-match', { ...tokens(ctx, link, String(body.token)), here, error: 'magic.match_wrong', attemptsLeft }, 400);
    }
    throw new SesameError(400, `link_${result}`, result === 'exhausted' ? 'magic.match_exhausted' : 'magic.used');
  });

  return router;
}
