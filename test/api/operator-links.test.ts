// Welcome and custom links sent by an operator through the management API: lifetimes at their
// edges (with the clock moved), confirming the address, signing in on this device through the
// client's initiate_login_uri, revocation, and the API's bearer authentication.
import * as oidc from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { startLogin } from '../helpers/login.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'plain', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    {
      client_id: 'portal',
      client_secret: 'portal-secret-portal-secret-portal',
      client_name: 'Portal',
      redirect_uris: ['http://127.0.0.1:9/cb'],
      initiate_login_uri: 'https://portal.example/login',
      grant_types: ['authorization_code'],
      first_party: true,
    },
  ],
};
const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe('operator links and the management API', () => {
  let t: TestSesame;
  let token: string;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
    const ops = await oidc.discovery(new URL(t.issuer), 'ops', undefined, oidc.ClientSecretPost(OPS_SECRET), { execute: [oidc.allowInsecureRequests] });
    token = (await oidc.clientCredentialsGrant(ops, { audience: `${t.issuer}/api/v1/`, scope: 'admin' })).access_token;
  });
  afterAll(() => t?.stop());
  afterEach(() => vi.useRealTimers());

  const api = (path: string, body?: unknown, method = 'POST', bearer = token) =>
    fetch(`${t.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('creates a 3-day welcome link that confirms the address, valid until its last second', async () => {
    const res = await api('/links', { type: 'welcome', email: 'New@Example.com' });
    const created = (await res.json()) as { uuid: string; url: string; expiresAt: string };
    expect([res.status, created]).toEqual([201, { uuid: expect.any(String), url: expect.stringMatching(/\/login\/link\?uuid=.+&token=.+$/), expiresAt: expect.any(String) }]);
    const expiresAt = Date.parse(created.expiresAt);
    expect(Math.abs(expiresAt - Date.now() - 3 * 86400_000)).toBeLessThan(5000);

    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(expiresAt + 1000);
    const late = await fetch(created.url);
    expect([late.status, alertOf(await late.text())]).toEqual([400, 'This sign-in link has expired. Start signing in again to get a new one.']);
    vi.setSystemTime(expiresAt - 5000);
    const browser = new FormClient();
    const page = await browser.request(created.url);
    expect(page.status).toBe(200);
    const done = await browser.submit(page, '/login/link', {}, t.url);
    vi.useRealTimers();
    expect([done.status, done.html.includes('new@example.com is confirmed.')]).toEqual([200, true]);
    const user = await t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email: 'new@example.com' } });
    expect(user.emailVerified).toBe(true);
  });

  it('keeps custom lifetimes between 10 seconds and 30 days', async () => {
    for (const ttl of [9, 30 * 86400 + 1]) {
      const res = await api('/links', { type: 'custom', email: 'c@example.com', ttl });
      expect([res.status, await res.json()]).toEqual([400, { error: 'invalid_request', error_description: 'ttl must be between 10 seconds and 2592000 seconds.' }]);
    }
    const res = await api('/links', { type: 'custom', email: 'c@example.com', ttl: 10 });
    const { url, expiresAt } = (await res.json()) as { url: string; expiresAt: string };
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.parse(expiresAt) - 1000);
    expect((await fetch(url)).status).toBe(200);
    vi.setSystemTime(Date.parse(expiresAt) + 1);
    expect((await fetch(url)).status).toBe(400);
  });

  it("signs in on this device through the client's initiate_login_uri", async () => {
    const res = await api('/links', { type: 'welcome', email: 'portal@example.com', client_id: 'portal' });
    const { url } = (await res.json()) as { url: string };
    const browser = new FormClient();
    const done = await browser.submit(await browser.request(url), '/login/link', {}, t.url);
    expect(done.location).toBe(`https://portal.example/login?iss=${encodeURIComponent(t.issuer)}&login_hint=portal%40example.com`);
    // The portal starts a normal authorization request; the ticket cookie signs the user in.
    const portal = await oidc.discovery(new URL(t.issuer), 'portal', undefined, oidc.ClientSecretPost('portal-secret-portal-secret-portal'), {
      execute: [oidc.allowInsecureRequests],
    });
    const started = await startLogin(t, portal, { login_hint: 'portal@example.com' }, browser);
    expect(started.page.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it('revokes one link, or all of an address', async () => {
    const one = (await (await api('/links', { type: 'welcome', email: 'r@example.com' })).json()) as { uuid: string; url: string };
    const two = (await (await api('/links', { type: 'welcome', email: 'r@example.com' })).json()) as { uuid: string; url: string };
    expect((await api(`/links/${one.uuid}`, undefined, 'DELETE')).status).toBe(204);
    expect((await api(`/links/${one.uuid}`, undefined, 'DELETE')).status).toBe(404);
    expect((await fetch(one.url)).status).toBe(400);
    const all = await api('/links/revoke', { email: 'r@example.com' });
    expect([all.status, await all.json()]).toEqual([200, { revoked: 1 }]);
    expect((await fetch(two.url)).status).toBe(400);
  });

  it('refuses a bad body with a 400 naming the field, never a 500', async () => {
    const refused = async (path: string, body: unknown) => {
      const res = await api(path, body);
      return [res.status, await res.json()];
    };
    const bad = (error_description: string) => [400, { error: 'invalid_request', error_description }];
    expect(await refused('/links', { type: 'nope', email: 'b@example.com' })).toEqual(bad('type: must be "welcome" or "custom".'));
    expect(await refused('/links', { type: 'welcome', email: 'not an address' })).toEqual(bad('email: must be a valid email address.'));
    expect(await refused('/links', { type: 'custom', email: 'b@example.com', ttl: '60' })).toEqual(bad('ttl: must be a number of seconds.'));
    expect(await refused('/links', { type: 'welcome', email: 'b@example.com', ttl: 60 })).toEqual(bad('welcome links have a fixed lifetime; use type custom to choose one.'));
    expect(await refused('/links', { type: 'welcome', email: 'b@example.com', client_id: 'nobody' })).toEqual(bad('client_id nobody does not exist.'));
    expect(await refused('/links', [1])).toEqual(bad('body: Invalid input: expected object, received array.'));
    expect(await refused('/links/revoke', {})).toEqual(bad('email: must be a valid email address.'));
  });

  it('requires an admin token of a management client', async () => {
    const none = await fetch(`${t.url}/api/v1/links`, { method: 'POST' });
    expect([none.status, await none.json()]).toEqual([401, { error: 'invalid_token', error_description: 'A bearer token for the management API is required.' }]);
    expect((await api('/links', { type: 'welcome', email: 'x@example.com' }, 'POST', `${token}x`)).status).toBe(401);
    const plain = await oidc.discovery(new URL(t.issuer), 'plain', undefined, oidc.ClientSecretPost(OPS_SECRET), { execute: [oidc.allowInsecureRequests] });
    await expect(oidc.clientCredentialsGrant(plain, { audience: `${t.issuer}/api/v1/`, scope: 'admin' })).rejects.toMatchObject({ error: 'invalid_target' });
  });
});
