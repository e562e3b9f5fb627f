// The hand-written operations of the management API's OpenAPI document against real answers: each
// route (links, clients, service clients, a user's passkeys and factors, a decision's review) is
// called once on a running server, with its success and a refusal, and every answer must be one the
// document describes for that path, method and status, with a body its schema accepts (ajv).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { documentedApi, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

describe('the hand-written management operations answer as documented', () => {
  let t: TestSesame;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let admin: string;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', {
      ...usersFixture,
      connections: [
        { id: 'email', type: 'email' },
        { id: 'corp', type: 'external', name: 'Corp', authorizationUrl: 'https://login.corp.example/passwordless', accountId: 'acct1' },
      ],
    });
    api = await documentedApi(t);
    admin = await tokenOf(t, 'admin');
  });
  afterAll(() => t?.stop());

  it('links', async () => {
    const link = await api('POST', '/links', admin, { type: 'welcome', email: 'doc@example.com' });
    expect(link.status).toBe(201);
    expect((await api('POST', '/links', admin, { type: 'nope', email: 'doc@example.com' })).status).toBe(400);
    expect((await api('DELETE', `/links/${link.body.uuid}`, admin)).status).toBe(204);
    expect((await api('DELETE', `/links/${link.body.uuid}`, admin)).status).toBe(404);
    expect(await api('POST', '/links/revoke', admin, { email: 'doc@example.com' })).toEqual({ status: 200, body: { revoked: 0 } });
  });

  it('clients', async () => {
    const metadata = { client_id: 'doc-app', redirect_uris: ['https://doc.example/cb'], grant_types: ['authorization_code'] };
    expect((await api('POST', '/clients', admin, metadata)).status).toBe(201);
    expect((await api('GET', '/clients', admin)).status).toBe(200);
    expect((await api('GET', '/clients/doc-app', admin)).status).toBe(200);
    expect((await api('PATCH', '/clients/doc-app', admin, { client_name: 'Doc' })).status).toBe(200);
    expect((await api('POST', '/clients/doc-app/rotate-secret', admin)).status).toBe(200);
    expect((await api('PATCH', '/clients/ops', admin, { client_name: 'x' })).status).toBe(409);
    expect((await api('DELETE', '/clients/doc-app', admin)).status).toBe(204);
    expect((await api('GET', '/clients/doc-app', admin)).status).toBe(404);
  });

  it('service clients', async () => {
    const created = await api('POST', '/service-clients', admin, { connection: 'corp' });
    expect(created.status).toBe(201);
    expect((await api('GET', '/service-clients', admin)).status).toBe(200);
    const key = await api('POST', `/service-clients/${created.body.clientId}/keys`, admin);
    expect(key.status).toBe(201);
    expect((await api('DELETE', `/service-clients/${created.body.clientId}/keys/${key.body.keyId}`, admin)).status).toBe(204);
    expect((await api('DELETE', `/service-clients/${created.body.clientId}`, admin)).status).toBe(204);
    expect((await api('POST', '/service-clients', admin, { connection: 'email' })).status).toBe(400);
  });

  it("a user's passkeys and factors, and a decision's review", async () => {
    const { id } = await upsertVerifiedEmailUser(t.sesame.services.db, 'doc-user@example.com');
    expect(await api('GET', `/users/${id}/passkeys`, admin)).toEqual({ status: 200, body: { passkeys: [] } });
    expect(await api('DELETE', `/users/${id}/passkeys`, admin)).toEqual({ status: 200, body: { removed: [] } });
    expect((await api('DELETE', `/users/${id}/passkeys/nope`, admin)).status).toBe(404);
    expect(await api('GET', `/users/${id}/authenticators`, admin)).toEqual({ status: 200, body: { authenticators: [] } });
    expect(await api('DELETE', `/users/${id}/authenticators`, admin)).toEqual({ status: 200, body: { removed: [] } });
    expect((await api('DELETE', `/users/${id}/authenticators/${encodeURIComponent('totp|dev_x')}`, admin)).status).toBe(404);
    expect((await api('POST', '/actions/nope/review', admin, { decision: 'approve' })).status).toBe(404);
    expect((await api('POST', '/actions/nope/review', admin, { decision: 'maybe' })).status).toBe(400);
  });
});
