// POST at /authorize and /oidc/logout (OIDC Core 3.1.2.1, RP-Initiated Logout 2), answered with 303
// to the same request as GET; and the response types that return an ID token from the authorization
// endpoint (id_token, code id_token): confidential clients only, with nonce, never in the query,
// never with an access token. (Implicit clients must register https redirect URIs, not localhost.)
import { unescapeHtml } from '../helpers/html.js';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { insertClient } from '../../src/storage/clients.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { signInWithEmail } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

const REDIRECT = 'https://127.0.0.1:9/cb';
const LOGGED_OUT = 'https://127.0.0.1:9/bye';

const fixture = {
  clients: [
    {
      client_id: 'web',
      client_secret: 'web-secret-web-secret-web-secret',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: [LOGGED_OUT],
      response_types: ['id_token', 'code id_token', 'code'],
      grant_types: ['implicit', 'authorization_code'],
      first_party: true,
    },
    { client_id: 'spa', redirect_uris: [REDIRECT], grant_types: ['authorization_code'], token_endpoint_auth_method: 'none', first_party: true },
  ],
};

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const codeRequest = { client_id: 'web', response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT, state: 'st', nonce: 'nn' };

describe('POST at the authorization and logout endpoints', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  /** The error page's message, or the JSON error. */
  // The error page's protocol-level words, folded under its technical details.
  const message = (html: string) => unescapeHtml(/<details[^>]*>[\s\S]*<p class="detail">([^<]*)<\/p>[\s\S]*<\/details>/.exec(html)?.[1] ?? '');

  it('answers a form POST to /authorize with 303 to the same request as GET, parameters in order', async () => {
    const response = await fetch(`${t.url}/authorize`, { method: 'POST', headers: FORM, body: new URLSearchParams(codeRequest), redirect: 'manual' });
    expect(response.status).toBe(303);
    const location = `authorize?${new URLSearchParams(codeRequest)}`;
    expect(response.headers.get('location')).toBe(location);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toBe(`Redirecting to ${location.replaceAll('&', '&amp;')}.`);
  });

  it('signs in through POST /authorize with an ID token by form_post, and logs out through POST /oidc/logout with the confirmation', async () => {
    const browser = new FormClient();
    const nonce = 'n-0S6_WzA2Mj';
    const page = await browser.follow(`${t.url}/authorize`, t.url, { form: { ...codeRequest, response_type: 'id_token', response_mode: 'form_post', nonce } });
    expect(page.status).toBe(200);
    expect(page.url).toMatch(/\/interaction\//);
    const { result } = await signInWithEmail(t, { browser, page, verifier: '', state: 'st', nonce }, 'grace@example.com');
    // The form_post page: the ID token and state only, no code and no access token.
    expect(result.status).toBe(200);
    const form = findForm(result.html, '/cb');
    expect(form.action).toBe(REDIRECT);
    expect(Object.keys(form.fields).sort()).toEqual(['id_token', 'state']);
    expect(form.fields.state).toBe('st');
    const jwks = createRemoteJWKSet(new URL(`${t.url}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(form.fields.id_token!, jwks, { issuer: t.issuer, audience: 'web' });
    expect(payload).toMatchObject({ nonce, email: 'grace@example.com', email_verified: true });

    // Signed in: a second POST /authorize (hybrid this time) comes straight back with code and ID token.
    const again = await browser.follow(`${t.url}/authorize`, t.url, { form: { ...codeRequest, response_type: 'code id_token', response_mode: 'form_post', nonce: 'n2' } });
    const hybrid = findForm(again.html, '/cb');
    expect(Object.keys(hybrid.fields).sort()).toEqual(['code', 'id_token', 'state']);

    // POST /oidc/logout: the same confirmation page as GET, then back to the registered URI.
    const logout = { id_token_hint: form.fields.id_token!, post_logout_redirect_uri: LOGGED_OUT, state: 'bye' };
    const confirm = await browser.follow(`${t.url}/oidc/logout`, t.url, { form: logout });
    expect(confirm.status).toBe(200);
    expect(confirm.url).toBe(`${t.url}/oidc/logout?${new URLSearchParams(logout)}`);
    expect(confirm.html).toContain('Do you want to sign out?');
    const done = await browser.submit(confirm, '/oidc/logout/confirm', { logout: 'yes' }, t.url);
    expect(done.location).toBe(`${LOGGED_OUT}?state=bye`);
    const signedOut = await browser.follow(`${t.url}/authorize`, t.url, { form: { ...codeRequest, response_type: 'id_token', nonce: 'n3' } });
    expect(signedOut.url).toMatch(/\/interaction\//);
  });

  it('a logout POST without the confirmation form signs no one out (the xsrf token is bound to the session)', async () => {
    const browser = new FormClient();
    const page = await browser.follow(`${t.url}/authorize`, t.url, { form: { ...codeRequest, response_type: 'id_token', response_mode: 'form_post', nonce: 'x' } });
    await signInWithEmail(t, { browser, page, verifier: '', state: 'st', nonce: 'x' }, 'victim@example.com');
    // Another site posts straight to the confirm endpoint with a made-up token.
    const forged = await browser.request(`${t.url}/oidc/logout/confirm`, { form: { logout: 'yes', xsrf: 'guess' } });
    expect(forged.status).toBe(400);
    expect(JSON.parse(forged.html)).toEqual({ error: 'invalid_request', error_description: 'could not find logout details' });
    const still = await browser.follow(`${t.url}/authorize`, t.url, { form: { ...codeRequest, response_type: 'id_token', response_mode: 'form_post', nonce: 'y' } });
    expect(findForm(still.html, '/cb').fields.id_token).toEqual(expect.any(String));
  });

  it('answers bad POST bodies with a readable error, never a 500', async () => {
    const post = async (path: string, body: string, headers: Record<string, string> = FORM) => {
      const response = await fetch(`${t.url}${path}`, { method: 'POST', headers, body, redirect: 'manual' });
      return { status: response.status, location: response.headers.get('location'), body: await response.text() };
    };
    const json = await post('/authorize', JSON.stringify(codeRequest), { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
    expect(message(json.body)).toBe('Send the parameters of this endpoint as a form (application/x-www-form-urlencoded) or in the query string of a GET.');
    expect(await post('/oidc/logout?state=a', 'state=b', { ...FORM, accept: 'application/json' })).toEqual({
      status: 400,
      location: null,
      body: JSON.stringify({ error: 'invalid_request', error_description: 'Send the parameters either in the form body or in the query string, not both.' }),
    });
    const large = await post('/authorize', new URLSearchParams({ ...codeRequest, pad: 'y'.repeat(9000) }).toString());
    expect(large.status).toBe(413);
    expect(message(large.body)).toBe('The request body was refused: request entity too large.');

    // Odd but readable bodies go through unchanged, and oidc-provider judges them as it does on GET.
    const dupes = await post('/authorize', 'client_id=web&client_id=spa&response_type=code');
    expect(dupes.location).toBe('authorize?client_id=web&client_id=spa&response_type=code');
    const followed = await fetch(`${t.url}/${dupes.location}`);
    expect(followed.status).toBe(400);
    expect(message(await followed.text())).toBe("'client_id' parameter must not be provided twice");
    // The redirect stays on the endpoint whatever the body says (no open redirect through it).
    expect((await post('/oidc/logout', '//evil.example/=1&\r\nSet-Cookie:%20x=1')).location).toBe('logout?%2F%2Fevil.example%2F=1&%0D%0ASet-Cookie%3A+x=1');
    const junk = await post('/authorize', 'a[b]=c&%ZZ=1&');
    expect(junk.location).toBe('authorize?a%5Bb%5D=c&%25ZZ=1');
    const missing = await fetch(`${t.url}/${junk.location}`);
    expect(missing.status).toBe(400);
    expect(message(await missing.text())).toBe("missing required parameter 'client_id'");
  });

  it('refuses id_token to a public client, without nonce, in the query, and any response type with an access token', async () => {
    const authorize = async (params: Record<string, string>) => {
      const response = await fetch(`${t.url}/authorize?${new URLSearchParams(params)}`, { redirect: 'manual' });
      expect(response.status).toBe(303);
      const url = new URL(response.headers.get('location')!);
      return { at: `${url.origin}${url.pathname}`, ...Object.fromEntries(new URLSearchParams(url.hash.slice(1) || url.search)) };
    };
    const refused = (error: string, error_description: string) => ({ at: REDIRECT, error, error_description, state: 'st', iss: t.issuer });
    expect(await authorize({ ...codeRequest, client_id: 'spa', response_type: 'id_token' })).toEqual(
      refused('invalid_request', 'requested response_type is not allowed for this client'),
    );
    expect(await authorize({ ...codeRequest, response_type: 'id_token', nonce: '' })).toEqual(refused('invalid_request', "missing required parameter 'nonce'"));
    expect(await authorize({ ...codeRequest, response_type: 'code id_token', nonce: '' })).toEqual(refused('invalid_request', "missing required parameter 'nonce'"));
    expect(await authorize({ ...codeRequest, response_type: 'id_token', response_mode: 'query' })).toEqual(
      refused('invalid_request', 'requested response_mode is not allowed for the requested response_type'),
    );
    for (const responseType of ['token', 'id_token token', 'code token', 'code id_token token']) {
      expect(await authorize({ ...codeRequest, response_type: responseType })).toEqual(refused('unsupported_response_type', 'unsupported response_type requested'));
    }
    const discovery = (await (await fetch(`${t.url}/.well-known/openid-configuration`)).json()) as { response_types_supported: string[]; response_modes_supported: string[] };
    expect(discovery.response_types_supported).toEqual(['code', 'id_token', 'code id_token']);
    expect(discovery.response_modes_supported).toEqual(['form_post', 'fragment', 'query']);
  });

  it('refuses to register a public client for id_token responses', () => {
    const spa = { client_id: 'spa', redirect_uris: ['https://app.example/cb'], response_types: ['code', 'id_token'], grant_types: ['authorization_code', 'implicit'] };
    expect(() => loadConfig({}, { clients: [spa] })).toThrowError(
      new ConfigError(
        'invalid configuration at clients.0.response_types: response_types id_token return an ID token through the browser and are for confidential clients only; a public client (token_endpoint_auth_method none) uses response_types ["code"] with PKCE',
      ),
    );
    expect(() => loadConfig({}, { clients: [{ ...spa, client_secret: 'x'.repeat(32) }] })).not.toThrow();
  });

  it('refuses a public client stored in the database that lists id_token (oidc-provider runs our validator)', async () => {
    await insertClient(t.sesame.services.db, 'stored-spa', {
      client_id: 'stored-spa',
      token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT],
      response_types: ['id_token'],
      grant_types: ['implicit'],
    });
    const response = await fetch(`${t.url}/authorize?${new URLSearchParams({ ...codeRequest, client_id: 'stored-spa', response_type: 'id_token' })}`, { redirect: 'manual' });
    expect(response.status).toBe(400);
    const html = await response.text();
    expect(message(html)).toBe(
      'response_types id_token return an ID token through the browser and are for confidential clients only; a public client (token_endpoint_auth_method none) uses response_types ["code"] with PKCE',
    );
    expect(html).toContain('Error code: invalid_client_metadata');
  });
});
