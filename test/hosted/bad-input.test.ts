// Bad input never gets a 500: unknown clients, wrong redirect URIs, stale or forged pages, malformed
// token requests. Each answers a 4xx with an OAuth error or a readable page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';

const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe.each(ENGINES)('bad input on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
  });
  afterAll(() => t?.stop());

  const authorize = (params: Record<string, string>) =>
    fetch(`${t.url}/authorize?${new URLSearchParams({ response_type: 'code', scope: 'openid', ...params })}`, { redirect: 'manual' });

  it('renders an error page for an unknown client', async () => {
    const res = await authorize({ client_id: 'nobody', redirect_uri: REDIRECT });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    // The user reads what to do; the protocol's words are folded under the technical details.
    expect(alertOf(html)).toBe('The sign-in request from the application does not match how it is registered here, so it cannot go on.');
    expect(/<details[^>]*>[\s\S]*Error code: invalid_client[\s\S]*<p class="detail">client is invalid<\/p>[\s\S]*<\/details>/.test(html)).toBe(true);
    expect(html).not.toMatch(/at .*\.js:\d+/);
  });

  it('never redirects to an unregistered redirect_uri', async () => {
    const res = await authorize({ client_id: 'app', redirect_uri: 'https://evil.example/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Error code: invalid_redirect_uri');
  });

  it('answers OAuth JSON errors at the token endpoint for malformed requests', async () => {
    const basic = `Basic ${Buffer.from('app:app-secret-app-secret-app-secret').toString('base64')}`;
    const post = (body: string, type = 'application/x-www-form-urlencoded', auth: string | null = basic) =>
      fetch(`${t.url}/oauth/token`, {
        method: 'POST',
        headers: {
          'content-type': type,
          ...(auth ? { authorization: auth } : {}),
        },
        body,
      });
    const cases: Array<[Response, number, string]> = [
      [await post('grant_type=password&username=a&password=b'), 400, 'unsupported_grant_type'],
      [await post('grant_type=authorization_code&code=forged&redirect_uri=' + encodeURIComponent(REDIRECT) + '&code_verifier=' + 'a'.repeat(43)), 400, 'invalid_grant'],
      [await post('grant_type=refresh_token&refresh_token=forged'), 400, 'invalid_grant'],
      [await post('{not json', 'application/json'), 400, 'invalid_request'],
      [await post('%%%=&&&', 'application/x-www-form-urlencoded'), 400, 'invalid_request'],
      [await post('grant_type=client_credentials', 'application/x-www-form-urlencoded', null), 400, 'invalid_request'],
      [await post('grant_type=client_credentials', 'application/x-www-form-urlencoded', `Basic ${Buffer.from('app:wrong').toString('base64')}`), 401, 'invalid_client'],
    ];
    for (const [res, status, error] of cases) {
      expect({ status: res.status, body: (await res.json()) as { error: string } }).toMatchObject({ status, body: { error } });
    }
  });

  it('answers a readable page for an unknown or expired interaction', async () => {
    const res = await fetch(`${t.url}/interaction/doesnotexist`);
    expect(res.status).toBe(400);
    expect(alertOf(await res.text())).toBe('This sign-in page has expired or was opened in another browser.');
    const post = await fetch(`${t.url}/interaction/doesnotexist/code`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'code=123456',
    });
    expect(post.status).toBe(400);
  });

  it('refuses forms without the CSRF token, malformed emails and oversized bodies', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const form = findForm(started.page.html, '/email');
    const url = new URL(form.action, started.page.url).toString();
    const forged = await started.browser.request(url, { form: { email: 'a@example.com' } });
    expect(forged.status).toBe(403);
    expect(alertOf(forged.html)).toBe('This form has expired. Reload the page and try again.');
    const invalid = await started.browser.request(url, { form: { ...form.fields, email: 'not-an-email' } });
    expect(invalid.status).toBe(400);
    expect(alertOf(invalid.html)).toBe('Enter a valid email address, like name@example.com.');
    expect(invalid.html).toContain('value="not-an-email"');
    const huge = await started.browser.request(url, { form: { ...form.fields, email: 'a'.repeat(40_000) } });
    expect(huge.status).toBe(413);
    const noCode = await started.browser.request(url.replace('/email', '/code'), { form: { ...form.fields, code: 'abc' } });
    expect(noCode.status).toBe(400);
    expect(alertOf(noCode.html)).toBe('That code is no longer valid. Enter your email to get a new one.');
  });

  it("does not let another browser continue someone else's sign-in page", async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const other = new FormClient();
    const page = await other.request(started.page.url);
    expect(page.status).toBe(400);
    expect(alertOf(page.html)).toBe('This sign-in page has expired or was opened in another browser.');
  });
});
