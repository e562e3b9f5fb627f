// CORS for the passwordless API: browsers may call it from the web origins registered on a client
// (`web_origins`, Auth0's "Allowed Web Origins"). Preflights carry no client id, so they pass for
// an origin some client registered; the real request must come from one of its own client's.
import type { Context } from 'koa';
import type { Services } from '../services.js';
import { listClients } from '../storage/clients.js';
import { SesameError } from '../errors.js';
import { webOrigins, type Client } from '../oidc/client-metadata.js';

function allowOrigin(ctx: Context, origin: string) {
  ctx.set('Access-Control-Allow-Origin', origin);
  ctx.set('Access-Control-Allow-Credentials', 'true');
  ctx.vary('Origin');
}

/** `methods`: what preflights allow (the MFA API adds GET and DELETE). */
export function corsFor(s: Pick<Services, 'config' | 'db'>, methods = 'POST, OPTIONS') {
  async function registeredAnywhere(origin: string): Promise<boolean> {
    if (s.config.clients.some((c) => webOrigins(c).includes(origin))) return true;
    return (await listClients(s.db)).some((c) => webOrigins(c.metadata).includes(origin));
  }

  return {
    async preflight(ctx: Context) {
      const origin = ctx.get('origin');
      ctx.status = 204;
      if (!origin || !(await registeredAnywhere(origin))) return;
      allowOrigin(ctx, origin);
      ctx.set('Access-Control-Allow-Methods', methods);
      ctx.set('Access-Control-Allow-Headers', 'content-type, auth0-client, x-request-language, authorization');
      ctx.set('Access-Control-Max-Age', '600');
    },
    /** Allows the response to be read by the caller's origin, or refuses a foreign origin. */
    async checkActualOrigin(ctx: Context, client: Client) {
      const origin = ctx.get('origin');
      if (!origin) return;
      if (!webOrigins(client.metadata()).includes(origin)) {
        throw new SesameError('originNotAllowed', { detail: `Origin ${origin} is not allowed for this client; add it to its web_origins.` });
      }
      allowOrigin(ctx, origin);
    },
  };
}
