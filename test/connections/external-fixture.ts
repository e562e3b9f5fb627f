// Shared steps of the external-connection attack tests (replay, asserted emails) on both engines:
// a Sesame with external connections, hand-offs read straight from the 303 (no operator page is
// needed to get a state), return URLs signed with jose, and the refusal page plus its audit row.
import { htmlText } from '../helpers/html.js';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type * as oidc from 'openid-client';
import { SignJWT } from 'jose';
import { expect } from 'vitest';
import type { Engine } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { rpConfig, signInWithEmail, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { oidcFixture } from '../oidc/fixture.js';

export const OPERATOR_LOGIN = 'http://127.0.0.1:9/operator-login';

export interface ExternalSesame {
  t: TestSesame;
  config: oidc.Configuration;
}

/** A Sesame with the email connection and `connections`; `config` adds settings (signUp, databaseUrl...). */
export async function startExternalSesame(engine: Engine, connections: Record<string, unknown>[], config: Record<string, unknown> = {}): Promise<ExternalSesame> {
  const t = await startTestSesame(engine, { ...oidcFixture, ...config, connections: [{ id: 'email', type: 'email' }, ...connections] });
  return { t, config: await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret) };
}

export interface HandOff {
  started: Started;
  /** The operator URL Sesame sent the browser to. */
  at: URL;
  state: string;
  redirectUri: string;
}

/** An authorization request with `connection=<id>`, up to Sesame's redirect to the operator at `operatorLogin`. */
export async function handOff({ t, config }: ExternalSesame, connection: string, operatorLogin = OPERATOR_LOGIN): Promise<HandOff> {
  // profile: asserted names reach the ID token (an external sign-in never stops at the name step).
  const started = await startLogin(t, config, { connection, scope: 'openid email profile' });
  return { started, ...operatorRedirect(started.page, operatorLogin) };
}

/** Sesame's 303 to the operator at `operatorLogin`: the URL, and the state and redirect_uri it carries. */
export function operatorRedirect(page: { status: number; location?: string }, operatorLogin = OPERATOR_LOGIN): Omit<HandOff, 'started'> {
  expect(page.status).toBe(303);
  expect(page.location).toBeDefined();
  const at = new URL(page.location!);
  expect(`${at.origin}${at.pathname}`).toBe(operatorLogin);
  return { at, state: at.searchParams.get('state')!, redirectUri: at.searchParams.get('redirect_uri')! };
}

/** The parts of an access key `clientId.keyId.accountId.base64(PKCS#8 Ed25519)`. */
function decodeAccessKey(accessKey: string): { clientId: string; keyId: string; accountId: string; key: KeyObject } {
  const [clientId, keyId, accountId, der] = accessKey.split('.');
  return { clientId: clientId!, keyId: keyId!, accountId: accountId!, key: createPrivateKey({ key: Buffer.from(der!, 'base64'), format: 'der', type: 'pkcs8' }) };
}

/**
 * A return URL signed with jose like the SDK's (PROTOCOLS.md section 2); `claims` overrides or, with
 * undefined, removes claims; `change` alters the JWT header, the query's iss or the signing key.
 */
export async function signedUrl(
  accessKey: string,
  h: { state: string; redirectUri: string },
  userId: string,
  claims: Record<string, unknown> = {},
  change: { header?: Record<string, unknown>; iss?: string; key?: KeyObject } = {},
): Promise<string> {
  const { clientId, keyId, accountId, key } = decodeAccessKey(accessKey);
  const url = new URL(h.redirectUri);
  const issuer = `${url.origin}/v1/clients/${encodeURIComponent(clientId)}`;
  const iat = Math.floor(Date.now() / 1000);
  const all: Record<string, unknown> = {
    aud: `${accountId}.accounts.authress.io`,
    iss: issuer,
    sub: userId,
    client_id: clientId,
    iat,
    exp: iat + 60,
    max_age: 60,
    scope: 'openid',
    ...claims,
  };
  for (const [name, value] of Object.entries(all)) if (value === undefined) delete all[name];
  const code = await new SignJWT(all).setProtectedHeader({ alg: 'EdDSA', kid: keyId, typ: 'oauth-authz-req+jwt', ...change.header } as { alg: string }).sign(change.key ?? key);
  url.searchParams.set('code', code);
  url.searchParams.set('iss', change.iss ?? issuer);
  url.searchParams.set('state', h.state);
  return url.href;
}

/** The same return URL with another state (what a second browser would bring). */
export function withState(returnUrl: string, state: string): string {
  const url = new URL(returnUrl);
  url.searchParams.set('state', state);
  return url.href;
}

/** Follows a return URL through Sesame to the RP and redeems the code: the ID token claims. */
export async function finishAtRp({ t, config }: ExternalSesame, h: HandOff, returnUrl: string) {
  const result = await h.started.browser.follow(returnUrl, `${t.url}/`);
  expect(result.location, `ended at ${result.url} (${result.status}): ${result.html.slice(0, 500)}`).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  const tokens = await exchangeCode(config, h.started, result.location);
  return tokens.claims()!;
}

/** A whole email-code sign-in at Sesame: the ID token claims. */
export async function signInByCode({ t, config }: ExternalSesame, email: string) {
  const started = await startLogin(t, config);
  const { result } = await signInWithEmail(t, started, email);
  const tokens = await exchangeCode(config, started, result.location);
  return tokens.claims()!;
}

/** The text of the page's `role="alert"` element, entities decoded. */
export function alertText(html: string): string {
  const match = /<[a-z]+\b[^>]*role="alert"[^>]*>([\s\S]*?)<\/[a-z]+>/.exec(html);
  if (!match) throw new Error(`no role="alert" in page:\n${html.slice(0, 2000)}`);
  return htmlText(match[1]!);
}

/**
 * Opens `url` in `browser`: a 400 page with exactly `message`, and one more `external.failed` event
 * for `reason` (a new row, or one more on the row of the same refusal within the minute).
 */
export async function refused({ t }: ExternalSesame, url: string, reason: string, message: string, serviceClientId: string | null, browser = new FormClient()) {
  const failures = () => t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'external.failed' } });
  const before = new Map((await failures()).map((row) => [row.id, row.count]));
  const page = await browser.request(url);
  expect({ status: page.status, type: page.headers.get('content-type'), alert: alertText(page.html) }).toEqual({
    status: 400,
    type: 'text/html; charset=utf-8',
    alert: message,
  });
  const added = (await failures()).filter((row) => row.count !== (before.get(row.id) ?? 0));
  expect(added.map((row) => row.count - (before.get(row.id) ?? 0))).toEqual([1]);
  expect(added[0]).toMatchObject({ type: 'external.failed', reason, clientId: serviceClientId });
  return page;
}
