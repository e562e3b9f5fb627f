// Issue 18 item 4: a token request reads its token, session, grant and user in one statement and
// keeps them for that request only (storage/oidc-adapter.ts). These check that nothing is kept
// longer: two `sesame serve` processes on one PostgreSQL schema, and whatever ends a token on A
// (revocation, rotation, logout) is refused by B on the very next request, B having just accepted it.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationRequest } from '../helpers/authorization.js';
import { POSTGRES_URL, createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { FormClient } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import { startServe, type ServeProcess } from '../helpers/processes.js';
import { codeFrom, startMailSink, type MailSink } from '../helpers/smtp.js';

const CALLBACK = 'http://127.0.0.1:9/cb';
const LOGGED_OUT = 'http://127.0.0.1:9/bye';
const APP = { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret' };
const INVALID_TOKEN = { error: 'invalid_token', error_description: 'invalid token provided' };

interface Tokens {
  access_token: string;
  refresh_token: string;
  id_token: string;
}

describe('a token ended on one instance, on the other', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let sink: MailSink;
  let A: ServeProcess;
  let B: ServeProcess;
  let issuer: string;

  beforeAll(async () => {
    database = await createTestDatabase('postgresql');
    sink = await startMailSink();
    const config = {
      smtpUrl: sink.url,
      emailFrom: 'Sesame Test <login@sesame.test>',
      clients: [
        {
          ...APP,
          client_name: 'App',
          redirect_uris: [CALLBACK],
          post_logout_redirect_uris: [LOGGED_OUT],
          grant_types: ['authorization_code', 'refresh_token'],
          first_party: true,
        },
      ],
    };
    const portA = await freePort();
    issuer = `http://127.0.0.1:${portA}`;
    A = await startServe({ databaseUrl: database.url, config, port: portA, issuer });
    B = await startServe({ databaseUrl: database.url, config, issuer });
  });

  afterAll(async () => {
    await Promise.all([A?.stop(), B?.stop()]);
    await sink?.close();
    await database?.drop();
  });

  const form = (url: string, body: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
  const json = async (res: Response) => [res.status, (await res.json()) as Record<string, unknown>] as const;
  const userinfo = async (on: ServeProcess, token: string) => json(await fetch(`${on.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } }));
  const introspect = async (on: ServeProcess, token: string) => json(await form(`${on.url}/oauth/introspect`, { token, ...APP }));
  const refresh = async (on: ServeProcess, token: string) => json(await form(`${on.url}/oauth/token`, { grant_type: 'refresh_token', refresh_token: token, ...APP }));

  /** A hosted sign-in on A (its browser session included) and the code exchanged there. */
  async function signIn(email: string): Promise<{ browser: FormClient; tokens: Tokens; sub: string }> {
    const browser = new FormClient();
    const { url, verifier } = await authorizationRequest(issuer, { client_id: APP.client_id, redirect_uri: CALLBACK, scope: 'openid email' });
    const emailPage = await browser.follow(url.href, A.url);
    const codePage = await browser.submit(emailPage, '/email', { email }, A.url);
    const done = await browser.submit(codePage, '/code', { code: codeFrom(await sink.next(email)) }, A.url);
    const code = new URL(done.location!).searchParams.get('code')!;
    const [status, tokens] = await json(await form(`${A.url}/oauth/token`, { grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier, ...APP }));
    expect(status).toBe(200);
    const [, info] = await userinfo(B, tokens.access_token as string);
    return { browser, tokens: tokens as unknown as Tokens, sub: info.sub as string };
  }

  it('refuses on B an access token revoked on A, on the very next request', async () => {
    const { tokens, sub } = await signIn('revoked@example.com');
    expect(await userinfo(B, tokens.access_token)).toEqual([200, { sub, email: 'revoked@example.com', email_verified: true }]);
    expect(await introspect(B, tokens.access_token)).toEqual([
      200,
      { active: true, client_id: APP.client_id, sub, scope: 'openid email', token_type: 'Bearer', iss: issuer, iat: expect.any(Number), exp: expect.any(Number) },
    ]);

    const revoked = await form(`${A.url}/oauth/revoke`, { token: tokens.access_token, token_type_hint: 'access_token', ...APP });
    expect([revoked.status, await revoked.text()]).toEqual([200, '']);

    expect(await userinfo(B, tokens.access_token)).toEqual([401, INVALID_TOKEN]);
    expect(await introspect(B, tokens.access_token)).toEqual([200, { active: false }]);
  });

  it('refuses on B a refresh token revoked on A, and the access tokens of its grant', async () => {
    const { tokens, sub } = await signIn('refresh@example.com');
    const [status, refreshed] = await refresh(B, tokens.refresh_token);
    expect([status, refreshed.token_type, refreshed.scope]).toEqual([200, 'Bearer', 'openid email']);
    expect(await userinfo(B, refreshed.access_token as string)).toEqual([200, { sub, email: 'refresh@example.com', email_verified: true }]);

    const revoked = await form(`${A.url}/oauth/revoke`, { token: refreshed.refresh_token as string, token_type_hint: 'refresh_token', ...APP });
    expect([revoked.status, await revoked.text()]).toEqual([200, '']);

    expect(await refresh(B, refreshed.refresh_token as string)).toEqual([400, { error: 'invalid_grant', error_description: 'grant request is invalid' }]);
    expect(await userinfo(B, refreshed.access_token as string)).toEqual([401, INVALID_TOKEN]);
  });

  it('refuses on B the tokens of a session that ended on A (logout)', async () => {
    const { browser, tokens, sub } = await signIn('logout@example.com');
    expect(await userinfo(B, tokens.access_token)).toEqual([200, { sub, email: 'logout@example.com', email_verified: true }]);

    const logout = new URL(`${issuer}/oidc/logout`);
    logout.search = new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: LOGGED_OUT, state: 'bye' }).toString();
    const confirm = await browser.follow(logout.href, A.url);
    const done = await browser.submit(confirm, '/oidc/logout/confirm', { logout: 'yes' }, A.url);
    expect(done.location).toBe(`${LOGGED_OUT}?state=bye`);

    expect(await userinfo(B, tokens.access_token)).toEqual([401, INVALID_TOKEN]);
    expect(await introspect(B, tokens.access_token)).toEqual([200, { active: false }]);
    expect(await refresh(B, tokens.refresh_token)).toEqual([400, { error: 'invalid_grant', error_description: 'grant request is invalid' }]);
  });

  it('refuses on B the tokens bound to a session that has expired, its grant still live', async () => {
    const { tokens, sub } = await signIn('expired@example.com');
    expect(await userinfo(B, tokens.access_token)).toEqual([200, { sub, email: 'expired@example.com', email_verified: true }]);

    // The session's lifetime ends (as its TTL would): only its row changes, the grant and tokens stay.
    const schema = new URL(database.url).searchParams.get('schema')!;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const ended = await client.query(`UPDATE "${schema}"."OidcPayload" SET "expiresAt" = now() - interval '1 second' WHERE "model" = 'Session' AND "accountId" = $1`, [sub]);
      expect(ended.rowCount).toBe(1);
      const { rows } = await client.query<{ model: string }>(`SELECT "model" FROM "${schema}"."OidcPayload" WHERE "model" = 'Grant' AND "accountId" = $1`, [sub]);
      expect(rows).toEqual([{ model: 'Grant' }]);
    } finally {
      await client.end();
    }

    expect(await userinfo(B, tokens.access_token)).toEqual([401, INVALID_TOKEN]);
    expect(await introspect(B, tokens.access_token)).toEqual([200, { active: false }]);
  });
});
