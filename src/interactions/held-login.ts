// The steps that follow a verified sign-in inside its interaction (the name step, the passkey offer)
// read the login the interaction holds, not a session: this browser's interaction, by uid.
import type { Context } from 'koa';
import { errors } from 'oidc-provider';
import type { Services } from '../services.js';
import { negotiateLocale } from '../i18n/i18n.js';

export type Details = Awaited<ReturnType<Services['provider']['interactionDetails']>>;

export interface HeldLogin {
  details: Details;
  accountId: string;
  amr: string[];
}

/**
 * This browser's interaction (its locale set on `ctx.state.locale`) and the login it holds: the
 * login, `{ details }` alone when it holds none, 'gone' when this browser has no such interaction
 * (finished, expired, another browser's or another uid).
 */
export async function heldLogin(s: Services, ctx: Context & { state: { locale: string } }): Promise<HeldLogin | { details: Details } | 'gone'> {
  let details: Details;
  try {
    details = await s.provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) return 'gone';
    throw err;
  }
  if (details.uid !== ctx.params.uid) return 'gone';
  const uiLocales = typeof details.params.ui_locales === 'string' ? details.params.ui_locales : undefined;
  ctx.state.locale = negotiateLocale(uiLocales, ctx.get('accept-language'), s.config.ui.defaultLocale);
  const login = details.result?.login;
  return typeof login?.accountId === 'string' ? { details, accountId: login.accountId, amr: login.amr ?? [] } : { details };
}
