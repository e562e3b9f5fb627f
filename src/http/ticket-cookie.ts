// The cookie that carries a login ticket from the route that earned it (a magic link, the verify
// redirect, an external connection's callback) to the hosted interaction that redeems it. It lives
// below the routers so that each of them can set it without importing another router's module.
import type { Context } from 'koa';

/** Carries a login ticket in the browser that earned it to the interaction that redeems it. */
export const TICKET_COOKIE = 'sesame.ticket';

/** Hands a login ticket to this browser only: HttpOnly, one minute, sent to hosted interactions. */
export function setTicketCookie(ctx: Context, ticket: string): void {
  ctx.cookies.set(TICKET_COOKIE, ticket, { httpOnly: true, sameSite: 'lax', path: '/interaction', secure: ctx.secure, signed: false, maxAge: 60_000 });
}
