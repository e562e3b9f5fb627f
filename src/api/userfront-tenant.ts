// What the Userfront routes share: the tenant (a client flagged `userfront: true`, its client_id
// the tenant id), the app pages Userfront's answers point to, CORS and Userfront's error shape.
import { STATUS_CODES } from 'node:http';
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { ERRORS, SesameError } from '../errors.js';
import { catchErrors } from '../http/errors.js';
import { isUserfrontTenant, type Client } from '../oidc/client-metadata.js';
import { corsFor } from './cors.js';

export const unauthorized = (detail: string) => new SesameError('unauthorized', { detail });
export const bad = (detail: string) => new SesameError('badRequest', { detail });

/**
 * The tenant `id`, or undefined when no client is a Userfront tenant by that id. A client whose
 * metadata is invalid (oidc-provider checks it on first use) throws: a server error, logged.
 */
export async function findTenant(s: Services, id: string): Promise<Client | undefined> {
  const client = await s.provider.Client.find(id).catch((err: unknown) => {
    // oidc-provider reports bad metadata as a 400 (right for its own endpoints); here it is the
    // operator's mistake that the SDK's user cannot fix.
    const e = err as { error?: string; error_description?: string };
    if (e.error === 'invalid_client_metadata') throw new Error(`client ${id} is misconfigured: ${e.error_description}`);
    throw err;
  });
  return client && isUserfrontTenant(client.metadata()) ? client : undefined;
}

const uri = (value: unknown) => (typeof value === 'string' ? value : undefined);
const first = (value: unknown) => (Array.isArray(value) ? uri(value[0]) : undefined);

/** Where emailed links lead (Userfront's login page): the app page that calls the SDK's loginWithLink. */
export function loginPage(tenant: Client): string | undefined {
  const metadata = tenant.metadata();
  return uri(metadata.initiate_login_uri) ?? first(metadata.redirect_uris);
}

/** Userfront's "after-login path"; the SDK keeps only its path and stays on the app's origin. */
export function afterLogin(tenant: Client): string {
  return first(tenant.metadata().redirect_uris) ?? '/';
}

export function afterLogout(tenant: Client): string {
  const metadata = tenant.metadata();
  return first(metadata.post_logout_redirect_uris) ?? uri(metadata.initiate_login_uri) ?? '/';
}

/** CORS with the methods and headers @userfront/core sends (axios: JSON bodies, x-userfront-source). */
export function userfrontCors(s: Services) {
  const cors = corsFor(s);
  return {
    checkActualOrigin: cors.checkActualOrigin,
    async preflight(ctx: Context) {
      await cors.preflight(ctx);
      if (!ctx.response.get('Access-Control-Allow-Origin')) return;
      ctx.set('Access-Control-Allow-Methods', 'GET, POST, PUT, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'authorization, content-type, x-userfront-source, x-application-id, x-origin');
    },
  };
}

// Userfront's own wording for server errors (its API says this much and no more).
const USERFRONT_SERVER = 'An internal server error occurred.';
const USERFRONT_UNAVAILABLE = 'Service temporarily unavailable. Try again in a minute.';

/**
 * Errors in Userfront's shape (Boom's: statusCode, error, message), which the SDK turns into
 * `new Error(message)`. Server errors say nothing more than their kind.
 */
export const userfrontErrors = catchErrors(function renderUserfrontError(ctx, err) {
  const { status } = err;
  const message = status < 500 ? (err.description ?? err.message) : status === ERRORS.unavailable.status ? USERFRONT_UNAVAILABLE : USERFRONT_SERVER;
  ctx.body = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
});
