// An operator's own login service for external connections (PROTOCOLS.md section 2): Sesame hands
// the user to GET /login with `state` and `redirect_uri`; the operator "verifies" the user (here: a
// form asking for a user id), builds the return URL with a service-client access key — through the
// real @authress/sdk ServiceClientTokenProvider, or through Sesame's own helper (`sesame/connect`),
// which can also assert profile claims — and redirects the browser (302) there.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { ServiceClientTokenProvider } from '@authress/sdk';
import { generateUserLoginUrl, type Profile } from 'sesame/connect';
import { waitFor } from './wait.js';

export type OperatorMode = 'authress' | 'sesame';

export interface OperatorSettings {
  /** The service-client access key (`clientId.keyId.accountId.base64(PKCS#8)`); required before POST /login. */
  accessKey?: string;
  /** Which library signs the return URL: the real Authress SDK (default) or Sesame's helper. */
  mode: OperatorMode;
  /** Profile claims to assert (Sesame's helper only). */
  profile?: Profile;
}

export interface OperatorLogin {
  /** Origin of the service, like http://127.0.0.1:41234. */
  url: string;
  /** The login page, GET /login. */
  loginUrl: string;
  /** What the next POST /login signs with; change it between tests. */
  settings: OperatorSettings;
  /** Query of each GET /login, oldest first. */
  visits: URLSearchParams[];
  stop(): Promise<void>;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => ENTITIES[c]!);

function loginPage(query: URLSearchParams, error?: string): string {
  const hidden = ['state', 'redirect_uri'].map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(query.get(name) ?? '')}">`).join('\n      ');
  return `<!doctype html>
<html lang="en">
  <head><meta charset="utf-8"><title>Operator login</title></head>
  <body>
    <h1>Operator login</h1>
    ${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
    <form method="post" action="/login">
      ${hidden}
      <label for="user_id">User id</label>
      <input id="user_id" name="user_id" value="${escapeHtml(query.get('login_hint') ?? '')}" required>
      <button type="submit">Sign in</button>
    </form>
  </body>
</html>`;
}

// The SDK's assertion is a function of (key, user id, second): it has no jti. Sesame accepts each
// assertion once, so a second sign-in of one user through one key within the same second is refused,
// as it would be in production. Tests sign the same user in back to back: wait for the next second.
const lastSigned = new Map<string, number>();

/** The real SDK's return URL, never the same assertion twice in this test process. */
export async function sdkLoginUrl(accessKey: string, redirectUri: string, state: string, userId: string): Promise<string> {
  const key = `${accessKey}\u0000${userId}`;
  // The SDK's iat is Math.round(Date.now() / 1000).
  await waitFor(() => Math.round(Date.now() / 1000) > (lastSigned.get(key) ?? 0), { interval: 25, what: 'the next second' });
  const url = await new ServiceClientTokenProvider(accessKey).generateUserLoginUrl(redirectUri, state, accessKey.split('.')[0]!, userId);
  const code = new URL(url).searchParams.get('code')!;
  lastSigned.set(key, (JSON.parse(Buffer.from(code.split('.')[1]!, 'base64url').toString()) as { iat: number }).iat);
  return url;
}

/** Starts the operator's login service on 127.0.0.1 (own free port). */
export async function startOperatorLogin(settings: Partial<OperatorSettings> = {}): Promise<OperatorLogin> {
  const app = new Koa();
  const router = new Router();
  const visits: URLSearchParams[] = [];
  const current: OperatorSettings = { mode: 'authress', ...settings };

  router.get('/login', (ctx) => {
    const query = new URLSearchParams(ctx.querystring);
    visits.push(query);
    ctx.type = 'html';
    ctx.body = loginPage(query);
  });

  router.post('/login', bodyParser({ enableTypes: ['form'] }), async (ctx) => {
    const body = ctx.request.body as Record<string, string | undefined>;
    const { state, redirect_uri: redirectUri, user_id: userId } = body;
    const query = new URLSearchParams({ state: state ?? '', redirect_uri: redirectUri ?? '' });
    if (!state || !redirectUri || !userId) {
      ctx.status = 400;
      ctx.type = 'html';
      ctx.body = loginPage(query, 'state, redirect_uri and a user id are required');
      return;
    }
    const { accessKey, mode, profile } = current;
    if (!accessKey) throw new Error('operator login: no access key configured');
    // The operator knows its service client id; it is the first part of the access key.
    const clientId = accessKey.split('.')[0]!;
    const url =
      mode === 'authress' ? await sdkLoginUrl(accessKey, redirectUri, state, userId) : await generateUserLoginUrl(accessKey, redirectUri, state, clientId, userId, profile);
    ctx.status = 302;
    ctx.redirect(url);
  });

  app.use(router.routes());
  app.use(router.allowedMethods());

  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    loginUrl: `${url}/login`,
    settings: current,
    visits,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
