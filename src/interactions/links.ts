// The hosted sign-in's side of magic links: the link in the code email, the cookie that tells
// "same browser" on the link page, and the number the waiting page shows for cross-device approval.
import { createHmac } from 'node:crypto';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { createLoginLink, linkUrl } from '../passwordless/links.js';
import { findLiveFlowLink } from '../storage/magic-links.js';
import { describeBrowser } from '../http/user-agent.js';

/** Name of the cookie marking the browser of sign-in `flowKey`: one per sign-in, so two sign-ins
 * in one browser (tabs, apps) do not overwrite each other's. */
export function flowCookieName(s: Services, flowKey: string): string {
  return `sesame.flow.${flowProof(s, flowKey).slice(0, 12)}`;
}
/** Value of the flow cookie for a sign-in: only our server can make it. */
export function flowProof(s: Services, flowKey: string): string {
  return createHmac('sha256', s.csrfKey).update(`flow\u0000${flowKey}`).digest('base64url');
}

/** Marks this browser as the one that started sign-in `flowKey` (read only by /login/link). */
export function rememberFlow(ctx: Context, s: Services, flowKey: string): void {
  ctx.cookies.set(flowCookieName(s, flowKey), flowProof(s, flowKey), {
    httpOnly: true,
    sameSite: 'lax',
    path: '/login',
    secure: ctx.secure,
    signed: false,
    maxAge: s.config.links.loginTtl * 1000,
  });
}

/** Makes the login link of a hosted sign-in; returns its URL. */
export async function loginLinkUrl(ctx: Context, s: Services, flowKey: string, email: string, clientId: string): Promise<string> {
  const origin = { requestIp: ctx.ip, requestFrom: describeBrowser(ctx.get('user-agent')) };
  const link = await createLoginLink(s.db, s.keyring, { email, clientId, flowKey, ttl: s.config.links.loginTtl, ...origin });
  return linkUrl(s.config.issuer, link.uuid, link.token);
}

/** The number the waiting page shows, from the sign-in's live login link. */
export async function matchNumberOf(s: Services, flowKey: string): Promise<string | null> {
  return (await findLiveFlowLink(s.db, flowKey))?.matchNumber ?? null;
}
