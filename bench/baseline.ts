// The yardstick: a bare oidc-provider with what the bench's Sesame has at the protocol level (the
// same signing keys, algorithms, token formats, Auth0-style routes, client, JWT resource server,
// Koa + koa-mount mount), but its in-memory store and a tiny interaction that signs in a new user
// at once. Run as a child process by bench/targets.ts (BENCH_BASELINE names its JSON config).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider, { type Configuration, type JWK } from 'oidc-provider';
// oidc-provider's own memory adapter, but its default store keeps at most 1,000 entries (an LRU),
// which would evict the token pools under load: give it the same kind of store without that cap.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import { resourceIndicators } from '../src/oidc/resources.js';
import { userfrontTokenClaims } from '../src/oidc/userfront-tenants.js';

interface BaselineConfig {
  issuer: string;
  port: number;
  jwks: JWK[];
  client: Record<string, unknown> & { client_id: string };
  api: { identifier: string; scopes: string[]; accessTokenTtl?: number };
  routes: Record<string, string>;
}

const config = JSON.parse(readFileSync(process.env.BENCH_BASELINE!, 'utf8')) as BaselineConfig;
const store = new LRU({ maxSize: 100_000_000 });

const configuration: Configuration = {
  adapter: (model: string) => new MemoryAdapter(model, store),
  clients: [config.client as unknown as NonNullable<Configuration['clients']>[number]],
  async findAccount(_ctx, sub) {
    return { accountId: sub, claims: async () => ({ sub, email: `${sub}@bench.test`, email_verified: true }) };
  },
  // As Sesame's src/oidc/provider.ts.
  claims: { openid: ['sub'], email: ['email', 'email_verified'], phone: ['phone_number', 'phone_number_verified'], profile: ['name'] },
  scopes: ['openid', 'offline_access', 'email', 'phone', 'profile', ...config.api.scopes],
  cookies: {
    keys: [randomUUID()],
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  jwks: { keys: config.jwks },
  enabledJWA: { idTokenSigningAlgValues: ['RS256', 'ES256'], requestObjectSigningAlgValues: ['RS256', 'ES256'] },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: resourceIndicators([{ accessTokenTtl: 3600, ...config.api }], config.issuer),
  },
  extraParams: ['audience', 'login_ticket', 'connection'],
  responseTypes: ['code'],
  conformIdTokenClaims: false,
  extraTokenClaims: userfrontTokenClaims(config.issuer),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  routes: config.routes,
  // Sesame's defaults (config tokens.*).
  ttl: { AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 3600, IdToken: 3600, Interaction: 3600, Session: 14 * 86400, Grant: 14 * 86400, RefreshToken: 14 * 86400 },
};

const provider = new Provider(config.issuer, configuration);
const app = new Koa();
app.keys = configuration.cookies!.keys as string[];
app.silent = true;

// The interaction: a new user signs in at once; consent grants whatever is missing.
app.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  let result: Parameters<Provider['interactionFinished']>[2];
  if (details.prompt.name === 'login') {
    result = { login: { accountId: `user-${randomUUID()}`, amr: ['email', 'otp'], remember: true } };
  } else {
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    const grant = details.grantId
      ? (await provider.Grant.find(details.grantId))!
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    result = { consent: { grantId: await grant.save() } };
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  ctx.status = 303;
  ctx.redirect(returnTo);
});
app.use(mount(provider));

// Koa's callback answers its own errors (ctx.onerror); its promise only says when the response is done.
const callback = app.callback();
createServer((req, res) => void callback(req, res)).listen(config.port, '127.0.0.1');
// Exit normally on SIGTERM, so that --cpu-prof (bench --cpu-prof) writes its profile.
process.once('SIGTERM', () => process.exit(0));
