// What every Authsignal-compatible route under /v1 shares: the error body Authsignal's SDKs read
// (`{error, errorDescription}`; the client API adds `errorCode`, which @authsignal/browser reads,
// and always answers JSON because the SDK parses every reply), the tenant's HTTP Basic secret key
// for the server API, the track token as the client API's bearer, the pre-built page's URL, and a
// tenant's origins (CORS for the client API, frame-ancestors for the page in popup mode).
import type { Context, Next } from 'koa';
import { catchErrors } from '../http/errors.js';
import { SesameError } from '../errors.js';
import { webOrigins } from '../oidc/client-metadata.js';
import { readActionToken, type ActionTokenClaims, type ActionTokenKind } from '../passwordless/action-tokens.js';
import { tenantOfBasic, tenantOfBasicFor } from '../passwordless/action-tenants.js';
import { findDecision, type ActionDecisionRow } from '../storage/action-decisions.js';
import type { Services } from '../services.js';

/** Errors of the server API: `{error, errorDescription}` with the status. */
export const serverApiErrors = catchErrors(function renderAuthsignalError(ctx, err) {
  ctx.body = { error: err.code, errorDescription: err.description ?? describeServerError(err) };
});

/** Errors of the client API: also `errorCode`, the field @authsignal/browser reads. */
export const clientApiErrors = catchErrors(function renderClientError(ctx, err) {
  ctx.body = { error: err.code, errorCode: err.code, errorDescription: err.description ?? describeServerError(err) };
});

/** English words for the errors whose entries only name a page message (a 500, a 503), never the key itself. */
function describeServerError(err: SesameError): string {
  if (err.status === 503) return 'The service is temporarily unavailable. Try again shortly.';
  return err.status >= 500 ? 'An internal server error occurred.' : err.message;
}

/** Koa state of a server-API route: the tenant the secret key belongs to. */
export interface TenantState {
  tenantId: string;
  /** With `tenantAuth(s, actionCodeOf)`: the tenant's stored policy JSON for that action (null: none). */
  storedPolicy?: string | null;
}

/**
 * The server API's authentication: HTTP Basic `<secret>:`; the tenant goes to `ctx.state.tenantId`.
 * With `actionCodeOf` (track), the tenant's configuration of that action is read in the same
 * statement and goes to `ctx.state.storedPolicy`.
 */
export function tenantAuth(s: Pick<Services, 'db'>, actionCodeOf?: (ctx: Context) => string) {
  return async function requireTenant(ctx: Context, next: Next) {
    const state = ctx.state as TenantState;
    if (actionCodeOf) {
      const found = await tenantOfBasicFor(s.db, ctx.get('authorization'), actionCodeOf(ctx));
      if (!found) throw new SesameError('actionsUnauthorized');
      state.tenantId = found.tenantId;
      state.storedPolicy = found.policy;
    } else {
      const tenantId = await tenantOfBasic(s.db, ctx.get('authorization'));
      if (!tenantId) throw new SesameError('actionsUnauthorized');
      state.tenantId = tenantId;
    }
    await next();
  };
}

export interface BearerAction {
  claims: ActionTokenClaims;
  row: ActionDecisionRow;
}

/**
 * The action a client-API or page request is about, from its token (`Authorization: Bearer`, or the
 * page's `token`): a track token, or a result token where `kinds` allows it (the browser SDK keeps
 * the token a verify returned and sends it on later calls). Throws the client API's errors.
 */
export async function actionOfToken(
  s: Pick<Services, 'db' | 'cookieKeys' | 'config'>,
  token: string | undefined,
  kinds: readonly ActionTokenKind[] = ['track'],
): Promise<BearerAction> {
  if (!token) throw new SesameError('actionsTokenNotSet');
  const deps = { cookieKeys: s.cookieKeys, issuer: s.config.issuer };
  let expired = false;
  for (const kind of kinds) {
    const read = await readActionToken(deps, kind, token);
    if ('claims' in read) {
      const row = await findDecision(s.db, read.claims.tenantId, read.claims.idempotencyKey);
      if (!row) throw new SesameError('actionsInvalidToken');
      return { claims: read.claims, row };
    }
    expired ||= read.problem === 'expired';
  }
  throw new SesameError(expired ? 'actionsExpiredToken' : 'actionsInvalidToken');
}

/** The bearer token of a client-API request, if any. */
export function bearerOf(ctx: Context): string | undefined {
  return /^Bearer ([^\s]{1,4096})$/.exec(ctx.get('authorization'))?.[1];
}

/** The pre-built challenge page for a track token (with a query already: the SDKs append `&mode=popup`). */
export function challengePageUrl(issuer: string, token: string): string {
  return `${issuer.replace(/\/$/, '')}/v1/ui?token=${encodeURIComponent(token)}`;
}

/** The origins a tenant's browser code runs on: its `web_origins` and its redirect URIs' origins. */
export async function tenantOrigins(s: Pick<Services, 'provider'>, tenantId: string): Promise<string[]> {
  const client = await s.provider.Client.find(tenantId).catch(() => undefined);
  if (!client) return [];
  const metadata = client.metadata();
  const redirects = (client.redirectUris ?? []).flatMap((uri) => (URL.canParse(uri) ? [new URL(uri).origin] : []));
  return [...new Set([...webOrigins(metadata), ...redirects])];
}
