// Methods no route takes. Our routers' allowedMethods() answer them: 405 with Allow where the path
// has routes under other methods, 501 for a method @koa/router does not implement at all, 404 where
// nothing has the path. src/app.ts runs only the routers with a route for a request's path
// (http/router-paths.ts) but always the first: its routes() is what sets ctx.matched, without which
// allowedMethods() stays silent and a path no router has would answer PROPFIND with 404, not 501.
// oidc-provider's endpoints skip our routers altogether (app.ts, providerOnly), so there any
// method they do not take is oidc-provider's 404. None of these is a 500 or logs an error.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { capturingLogger } from '../helpers/logs.js';

/** Koa's own answer for a status set without a body: the status text as text/plain (none for HEAD). */
const plain = (status: number, allow: string | null, body: string) => ({ status, allow, type: 'text/plain; charset=utf-8', body });
const NOT_FOUND = plain(404, null, 'Not Found');
const notAllowed = (allow: string) => plain(405, allow, 'Method Not Allowed');
const notImplemented = (allow: string) => plain(501, allow, 'Not Implemented');

// [method, path, answer]
const CASES: Array<[string, string, ReturnType<typeof plain>]> = [
  // A path no router has: 501 for an unknown method (with an empty Allow: no method is allowed), else 404.
  ['PROPFIND', '/nowhere', notImplemented('')],
  ['PURGE', '/nowhere', notImplemented('')],
  ['PUT', '/nowhere', NOT_FOUND],
  ['DELETE', '/nowhere', NOT_FOUND],
  ['OPTIONS', '/nowhere', NOT_FOUND],
  // Under a router's prefix, but no route of it: the same as anywhere else.
  ['PROPFIND', '/passwordless/nope', notImplemented('')],
  ['DELETE', '/passwordless/nope', NOT_FOUND],
  ['PATCH', '/api/v1/nope', NOT_FOUND],
  // The first router's own paths.
  ['PUT', '/healthz', notAllowed('HEAD, GET')],
  ['PROPFIND', '/healthz', notImplemented('HEAD, GET')],
  ['OPTIONS', '/healthz', plain(200, 'HEAD, GET', '')],
  // Paths of one later router, which runs because it has a route there.
  ['PUT', '/passwordless/start', notAllowed('OPTIONS, POST')],
  ['DELETE', '/passwordless/start', notAllowed('OPTIONS, POST')],
  ['PROPFIND', '/passwordless/start', notImplemented('OPTIONS, POST')],
  ['DELETE', '/interaction/abc/email', notAllowed('POST')],
  ['PROPFIND', '/interaction/abc/email', notImplemented('POST')],
  ['PUT', '/account', notAllowed('HEAD, GET')],
  // Refused before the management API's token check (requireAdmin runs only for a route's method).
  ['PATCH', '/api/v1/users', notAllowed('HEAD, GET')],
  ['PROPFIND', '/api/v1/users', notImplemented('HEAD, GET')],
  // The last router (metrics, mounted when enabled).
  ['POST', '/metrics', notAllowed('HEAD, GET')],
  // oidc-provider's endpoints: no router of ours runs, so even PROPFIND is a 404.
  ['PROPFIND', '/oauth/token', NOT_FOUND],
  ['PUT', '/oauth/token', NOT_FOUND],
  ['OPTIONS', '/oauth/token', NOT_FOUND],
  ['DELETE', '/authorize', NOT_FOUND],
  ['PATCH', '/userinfo', NOT_FOUND],
  ['PUT', '/.well-known/openid-configuration', NOT_FOUND],
  ['DELETE', '/.well-known/jwks.json', NOT_FOUND],
  ['PROPFIND', '/oidc/logout', NOT_FOUND],
];

describe('methods no route takes', () => {
  const { logger, lines } = capturingLogger('info');
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', { metrics: { enabled: true, bearerToken: 'metrics-token-metrics-token-metrics' } }, { logger });
  });
  afterAll(() => t?.stop());

  const answer = async (method: string, path: string) => {
    const res = await fetch(t.url + path, { method });
    return { status: res.status, allow: res.headers.get('allow'), type: res.headers.get('content-type'), body: await res.text() };
  };

  it.each(CASES)('%s %s', async (method, path, expected) => {
    expect(await answer(method, path)).toEqual(expected);
  });

  it('answers HEAD the same, without a body', async () => {
    expect(await answer('HEAD', '/passwordless/start')).toEqual({ status: 405, allow: 'OPTIONS, POST', type: null, body: '' });
    expect(await answer('HEAD', '/nowhere')).toEqual({ status: 404, allow: null, type: null, body: '' });
  });

  it('sends the security headers on these answers too', async () => {
    const res = await fetch(`${t.url}/nowhere`, { method: 'PROPFIND' });
    expect([res.status, res.headers.get('x-content-type-options'), res.headers.get('x-frame-options'), res.headers.get('referrer-policy')]).toEqual([
      501,
      'nosniff',
      'DENY',
      'no-referrer',
    ]);
  });

  it('logs them as requests, none as an error (a 501 is the client asking for a method nothing implements)', async () => {
    lines.length = 0;
    for (const [method, path] of CASES) await answer(method, path);
    // Request lines and anything at warn or above; the server's own background lines (if any) are not these requests'.
    const logged = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string; method: string; path: string; status: number })
      .filter((l) => l.msg === 'request' || l.level >= 40);
    expect(logged.map(({ level, msg, method, path, status }) => [level, msg, method, path, status])).toEqual(
      CASES.map(([method, path, { status }]) => [30, 'request', method, path, status]),
    );
  });
});
