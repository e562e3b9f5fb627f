// The magic-link landing, /login/link?uuid=&token= (Userfront's shape). GET and HEAD only show a
// page. In the browser that started the sign-in, one click finishes it; anywhere else the page asks
// for the number the waiting device shows, and a match approves that device's sign-in (or, for a
// client with an initiate_login_uri, signs in here instead). A wrong number ends the link.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { SesameError } from '../errors.js';
import { cookieTokenValid, issueCookieToken } from '../http/csrf.js';
import { negotiateLocale } from '../i18n/i18n.js';
import { recordAudit } from '../storage/audit.js';
import { checkLink, pickNumber, useLink } from '../passwordless/links.js';
import { decodeFlowKey } from '../passwordless/flows.js';
import { resolveUser } from '../passwordless/sign-up.js';
import type { LinkRow } from '../storage/magic-links.js';
import { flowCookieName, flowProof } from './links.js';
import { setTicketCookie } from '../http/ticket-cookie.js';
import { AT_CLIENT_START, issueLoginTicket } from '../passwordless/login-tickets.js';
import { AMR } from '../oidc/acr.js';
import { pageBrand } from '../http/brand.js';

const CSRF_COOKIE = 'sesame.magic';

/** Set by `liveLink`, which every route calls first. */
interface LinkState {
  locale: string;
}
type LinkContext = Context & { state: LinkState };

async function liveLink(s: Services, ctx: LinkContext, source: Record<string, unknown>): Promise<LinkRow> {
  ctx.state.locale = negotiateLocale(undefined, ctx.get('accept-language'), s.config.ui.defaultLocale);
  const checked = await checkLink(s.db, s.keyring, source.uuid, source.token);
  if (!checked.ok) throw new SesameError('linkRefused', { reason: checked.reason });
  return checked.link;
}

async function page(s: Services, ctx: LinkContext, link: LinkRow, template: string, locals: Record<string, unknown> = {}, status = 200) {
  const client = link.clientId ? await s.provider.Client.find(link.clientId).catch(() => undefined) : undefined;
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = await s.renderer.page(template, ctx.state.locale, {
    title: 'magic.title',
    clientName: s.renderer.clientName(ctx.state.locale, client),
    brand: pageBrand(ctx, client),
    email: link.email,
    origin: { ip: link.requestIp, from: link.requestFrom, minutes: Math.max(0, Math.round((Date.now() - link.createdAt.getTime()) / 60_000)) },
    error: null,
    notice: null,
    ...locals,
  });
}

/** The user the link's address belongs to; new only when the sign-up policy allows. */
async function userOf(s: Services, link: LinkRow) {
  const user = await resolveUser(s.db, link.email, s.config.signUp);
  if (!user) throw new SesameError('linkRefused', { reason: 'invalid' });
  return user;
}

const tokens = (ctx: LinkContext, link: LinkRow, token: string) => ({ csrf: issueCookieToken(ctx, CSRF_COOKIE, '/login'), uuid: link.id, token });
const requireCsrf = (ctx: LinkContext) => {
  if (!cookieTokenValid(ctx, CSRF_COOKIE, (ctx.request.body as Record<string, unknown>).csrf)) throw new SesameError('csrf');
};

/** The client's third-party-initiated login URI, when the link names a client that has one. */
async function initiateUri(s: Services, link: LinkRow): Promise<{ clientId: string; uri: string } | null> {
  const client = link.clientId ? await s.provider.Client.find(link.clientId).catch(() => undefined) : undefined;
  const uri = client?.metadata().initiate_login_uri;
  return client && typeof uri === 'string' ? { clientId: client.clientId, uri } : null;
}

/**
 * Signs in on this device through an OIDC third-party-initiated login: the client starts a normal
 * authorization request, which redeems a one-minute ticket cookie instead of asking again.
 */
async function signInHere(s: Services, ctx: LinkContext, link: LinkRow, userId: string, target: { clientId: string; uri: string }) {
  const ticket = await issueLoginTicket(s.db, s.keyring, userId, target.clientId, AMR.emailLink, AT_CLIENT_START);
  setTicketCookie(ctx, ticket);
  const url = new URL(target.uri);
  url.searchParams.set('iss', s.config.issuer);
  url.searchParams.set('login_hint', link.email);
  ctx.status = 303;
  ctx.redirect(url.toString());
}

/** A welcome or custom link: it confirms the address, and signs in here when the client can start it. */
async function useOperatorLink(s: Services, ctx: LinkContext, link: LinkRow) {
  const user = await userOf(s, link);
  if (!(await useLink(s.db, link, user.id))) throw new SesameError('linkRefused', { reason: 'used' });
  await recordAudit(s.db, {
    type: 'link.used',
    clientId: link.clientId,
    userId: user.id,
    identifier: link.email,
    ip: ctx.ip,
    reason: link.type,
    userAgent: ctx.get('user-agent').slice(0, 300),
  });
  const target = await initiateUri(s, link);
  return target ? signInHere(s, ctx, link, user.id, target) : page(s, ctx, link, 'magic-link-verified');
}

async function showLink(s: Services, ctx: LinkContext) {
  const link = await liveLink(s, ctx, ctx.query as Record<string, unknown>);
  await page(s, ctx, link, 'magic-link', tokens(ctx, link, String(ctx.query.token)));
}

async function useLinkHere(s: Services, ctx: LinkContext) {
  requireCsrf(ctx);
  const body = ctx.request.body as Record<string, unknown>;
  const link = await liveLink(s, ctx, body);
  if (!link.flowKey) return useOperatorLink(s, ctx, link);
  const sameBrowser = ctx.cookies.get(flowCookieName(s, link.flowKey), { signed: false }) === flowProof(s, link.flowKey);
  if (!sameBrowser) {
    const here = (await initiateUri(s, link)) !== null;
    return page(s, ctx, link, 'magic-link-match', { ...tokens(ctx, link, String(body.token)), here });
  }
  // Login links are made by the hosted sign-in only, so their flow is an interaction.
  const flow = decodeFlowKey(link.flowKey);
  if (flow?.kind !== 'interaction') throw new SesameError('linkRefused', { reason: 'invalid' });
  const user = await userOf(s, link);
  if (!(await useLink(s.db, link, user.id))) throw new SesameError('linkRefused', { reason: 'used' });
  await recordAudit(s.db, { type: 'link.used', clientId: link.clientId, userId: user.id, identifier: link.email, ip: ctx.ip, userAgent: ctx.get('user-agent').slice(0, 300) });
  ctx.status = 303;
  ctx.redirect(`/interaction/${flow.uid}`);
}

/**
 * The number step of a link opened away from its sign-in, for both choices: `approve` lets the
 * waiting device continue; `here` signs in on this device instead (through the client), and the
 * waiting sign-in never continues. Either needs the number the waiting device shows, so a
 * forwarded or stolen link signs in nowhere. Input that is not two digits only asks again; a
 * wrong number ends the link.
 */
async function matchNumber(s: Services, ctx: LinkContext, use: 'approve' | 'here') {
  requireCsrf(ctx);
  const body = ctx.request.body as Record<string, unknown>;
  const link = await liveLink(s, ctx, body);
  const target = await initiateUri(s, link);
  if (!link.flowKey || (use === 'here' && !target)) throw new SesameError('linkRefused', { reason: 'invalid' });
  const number = typeof body.number === 'string' ? body.number.trim() : '';
  if (!/^[0-9]{2}$/.test(number)) {
    return page(s, ctx, link, 'magic-link-match', { ...tokens(ctx, link, String(body.token)), here: target !== null, error: 'magic.match_format' }, 400);
  }
  const picked = await pickNumber(s.db, link, number, async () => (await userOf(s, link)).id, use === 'here' ? 'elsewhere' : 'approve');
  const audit = { clientId: link.clientId, identifier: link.email, ip: ctx.ip };
  if (!picked.ok) {
    await recordAudit(s.db, { type: 'link.failed', ...audit, reason: `number_${picked.reason}` });
    if (picked.reason === 'wrong') throw new SesameError('linkNumberWrong');
    throw new SesameError('linkRefused', { reason: 'used' });
  }
  if (use === 'here') {
    await recordAudit(s.db, { type: 'link.used', ...audit, userId: picked.userId, reason: 'this_device', userAgent: ctx.get('user-agent').slice(0, 300) });
    return signInHere(s, ctx, link, picked.userId, target!);
  }
  await recordAudit(s.db, { type: 'link.approved', ...audit, userId: picked.userId, reason: 'number_match' });
  return page(s, ctx, link, 'magic-link-done');
}

export function magicLinkRouter(s: Services): Router<LinkState> {
  const router = new Router<LinkState>({ prefix: '/login/link' });
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' });
  router.get('/', (ctx) => showLink(s, ctx));
  router.post('/', form, (ctx) => useLinkHere(s, ctx));
  router.post('/here', form, (ctx) => matchNumber(s, ctx, 'here'));
  router.post('/approve', form, (ctx) => matchNumber(s, ctx, 'approve'));
  return router;
}
