// The composition root of the web app: the only module that imports every surface (hosted pages,
// APIs, connections, the provider). Our middleware and routes first, oidc-provider mounted last.
// Which APIs are mounted follows the config's `features` switches.
import Koa from 'koa';
import mount from 'koa-mount';
import type Router from '@koa/router';
import type { Services } from './services.js';
import { assets } from './http/assets.js';
import { brandStylesheets } from './http/brand.js';
import { devOutboxRouter } from './http/dev-outbox.js';
import { routablePaths } from './http/router-paths.js';
import { healthRouter } from './http/health.js';
import { measureRequests, metricsRouter } from './http/metrics.js';
import { errorsByFamily, pinOriginToIssuer, requestLogger, securityHeaders } from './http/middleware.js';
import { oauthJsonErrors } from './http/errors.js';
import { pageErrors } from './http/error-pages.js';
import { trustProxies } from './passwordless/requester-network.js';
import { interactionRouter } from './interactions/routes.js';
import { passwordlessRouter } from './api/passwordless.js';
import { magicLinkRouter } from './interactions/magic-link-routes.js';
import { nameStepRouter } from './interactions/name-step.js';
import { passkeyOfferRouter } from './interactions/passkey-offer-routes.js';
import { mfaEnrolRouter } from './interactions/mfa-enrol-routes.js';
import { mfaChallengeRouter } from './interactions/mfa-routes.js';
import { riskRouter } from './interactions/risk-routes.js';
import { accountRouter } from './interactions/account-routes.js';
import { adminRouter } from './interactions/admin-routes.js';
import { connectionsRouter } from './connections/routes.js';
import { managementRouter } from './api/management.js';
import { userfrontRouter } from './api/userfront.js';
import { auth0ApiErrors, auth0TokenErrors } from './api/auth0-errors.js';
import { ROUTES } from './oidc/provider.js';
import { postAsGet } from './http/post-as-get.js';
import { passkeyRouter } from './api/passkeys.js';
import { tokenJsonBody } from './http/token-json-body.js';
import { relyingParty } from './config/passkeys.js';
import { grantTypes as WEBAUTHN_GRANTS } from './oidc/grants/webauthn.js';
import { grantTypes as MFA_GRANTS } from './oidc/grants/mfa.js';
import { mfaRouter } from './api/mfa.js';
import { actionPasskeyRouter } from './api/authsignal-client-passkeys.js';
import { authsignalRouter } from './api/authsignal.js';
import { authsignalUsersRouter } from './api/authsignal-users.js';
import { authsignalRulesRouter } from './api/authsignal-rules.js';
import { actionPageRouter } from './api/authsignal-page.js';
import { actionClientRouter } from './api/authsignal-client.js';
import { SIGN_IN_WRITES, withDeferredTokenWrites } from './storage/oidc-adapter.js';

/** The hosted pages always; each compatibility surface only while its feature is on (config `features`). */
function enabledRouters(s: Services): Router[] {
  const { features, devOutbox } = s.config;
  const when = (on: boolean, router: () => Router) => (on ? [router()] : []);
  return [
    healthRouter(s.db),
    interactionRouter(s),
    nameStepRouter(s),
    passkeyOfferRouter(s),
    mfaEnrolRouter(s),
    mfaChallengeRouter(s),
    riskRouter(s),
    magicLinkRouter(s),
    accountRouter(s),
    adminRouter(s),
    ...when(features.externalConnections.enabled, () => connectionsRouter(s)),
    ...when(features.auth0Api.enabled, () => passwordlessRouter(s)),
    ...when(features.auth0Api.enabled && relyingParty(s.config) !== null, () => passkeyRouter(s)),
    ...when(features.auth0Api.enabled, () => mfaRouter(s)),
    ...when(features.authsignalApi.enabled && relyingParty(s.config) !== null, () => actionPasskeyRouter(s)),
    ...when(features.userfront.enabled, () => userfrontRouter(s)),
    ...when(features.management.enabled, () => managementRouter(s)),
    ...when(features.authsignalApi.enabled, () => authsignalRouter(s)),
    ...when(features.authsignalApi.enabled, () => authsignalUsersRouter(s)),
    ...when(features.authsignalApi.enabled, () => authsignalRulesRouter(s)),
    ...when(features.authsignalApi.enabled, () => actionPageRouter(s)),
    ...when(features.authsignalApi.enabled, () => actionClientRouter(s)),
    ...when(devOutbox, () => devOutboxRouter(s)),
    ...when(s.config.metrics.enabled, () => metricsRouter(s.config.metrics)),
  ];
}

export function createApp(s: Services): Koa {
  const app = new Koa();
  trustProxies(app, s.config.proxyHops);
  pinOriginToIssuer(app, s.config.issuer);
  // oidc-provider runs on this app's context when mounted, so its signed cookies use these keys.
  app.keys = s.cookieKeys;
  app.silent = true;
  // First, so the time measured is the whole request's (and only when metrics are served).
  if (s.config.metrics.enabled) app.use(measureRequests());
  app.use(requestLogger(s.log));
  app.use(securityHeaders(s.config.issuer));
  app.use(routeErrors(s));
  app.use(assets());
  app.use(brandStylesheets());
  const routers = enabledRouters(s);
  // oidc-provider's endpoints carry most of the traffic (tokens, userinfo, introspection) and none
  // of our routes match them, so they skip our routers' matching (a measurable share of a request).
  const providerOnly = new Set(
    [...Object.values(ROUTES), '/.well-known/openid-configuration'].filter((path) =>
      routers.every((r) => r.match(path, 'POST').path.length === 0 && r.match(path, 'GET').path.length === 0),
    ),
  );
  // Other paths skip the routers without a route for them; the first router always runs, so a
  // request's matched routes are set (ctx.matched) for allowedMethods' 405 and 501 as before.
  const routable = routablePaths(routers);
  const routerSteps = routers.flatMap((router, i) =>
    ([router.routes(), router.allowedMethods()] as Koa.Middleware[]).map(
      (middleware): Koa.Middleware =>
        (ctx, next) =>
          i > 0 && !routable(ctx.path)[i] ? next() : middleware(ctx, next),
    ),
  );
  // One step for the provider's paths, not two per router (each a promise of its own, with the
  // async context oidc-provider keeps carried over to it: a measurable share of a userinfo call).
  const throughRouters = chain(routerSteps);
  app.use((ctx, next) => (providerOnly.has(ctx.path) ? next() : throughRouters(ctx, next)));
  // The provider is rebuilt when signing keys rotate (see server.ts), so mount whichever is current.
  const mounted = new WeakMap<object, Koa.Middleware>();
  // An authorization request and its resume (oidc-provider's /authorize/<uid>, where a sign-in's
  // interaction comes back) write a session, a grant and a code, written together too.
  const authorizes = (path: string) => path === ROUTES.authorization || path.startsWith(`${ROUTES.authorization}/`);
  app.use(auth0TokenErrors);
  // Auth0's SDKs post these grants as JSON, which oidc-provider refuses (the MFA grants join the list).
  app.use(tokenJsonBody(ROUTES.token, [...WEBAUTHN_GRANTS, ...MFA_GRANTS]));
  app.use(postAsGet([ROUTES.authorization, ROUTES.end_session]));
  app.use(function oidcProvider(ctx, next) {
    let handler = mounted.get(s.provider);
    if (!handler) mounted.set(s.provider, (handler = mount(s.provider)));
    // The tokens a request issues are written together before its response (storage/oidc-adapter.ts).
    return withDeferredTokenWrites(s.db, ctx, () => handler(ctx, next), authorizes(ctx.path) ? SIGN_IN_WRITES : undefined);
  });
  return app;
}

/** Runs `steps` in order as one middleware, as Koa runs its own (each step's `next` the following one). */
function chain(steps: readonly Koa.Middleware[]): Koa.Middleware {
  return (ctx, next) => {
    const step = (i: number): Promise<unknown> => {
      if (i === steps.length) return next();
      try {
        return Promise.resolve(steps[i]!(ctx, () => step(i + 1)));
      } catch (err) {
        return Promise.reject(err as Error);
      }
    };
    return step(0);
  };
}

/**
 * Each route family's error format, picked here where the routers are mounted: the management API
 * answers OAuth JSON, the Auth0-style API Auth0's JSON (its link landing page is a page), Userfront
 * its own shape (userfrontErrors, on each of its routes); everything else the error page.
 */
function routeErrors(s: Services): Koa.Middleware {
  const locale = s.config.ui.defaultLocale;
  return errorsByFamily(
    [
      { matches: (path) => path.startsWith('/api/'), handler: oauthJsonErrors(s.renderer, locale) },
      { matches: (path) => path === '/metrics', handler: oauthJsonErrors(s.renderer, locale) },
      { matches: (path) => path.startsWith('/passwordless/') && path !== '/passwordless/verify_redirect', handler: auth0ApiErrors(s.renderer, locale) },
      { matches: (path) => path.startsWith('/passkey/'), handler: auth0ApiErrors(s.renderer, locale) },
      { matches: (path) => path.startsWith('/mfa/'), handler: auth0ApiErrors(s.renderer, locale) },
    ],
    pageErrors(s.renderer, locale),
  );
}
