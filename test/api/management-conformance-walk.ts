// The conformance walk of the management API (management-conformance.test.ts): for every documented
// operation, one call with valid input (a 2xx) and, where the operation takes input, one with invalid
// input (a 4xx). Entries run in order, so the valid removals come after the reads that need their rows.
// A new operation needs an entry here: the test names the operations without one.
import type { Answer } from '../helpers/openapi.js';

export type Call = (method: string, path: string, body?: unknown) => Promise<Answer>;

/** What the walk works on, planted by the test before it starts. */
export interface Planted {
  userId: string;
  eraseId: string;
  passkeyId: string;
  totpId: string;
  sessionId: string;
  grantId: string;
  decisionId: string;
  outboxId: string;
}

export interface Step {
  operation: string;
  valid: (api: Call) => Promise<Answer>;
  invalid?: (api: Call) => Promise<Answer>;
}

export function walk(p: Planted): Step[] {
  const state: { uuid?: string; serviceClient?: string; keyId?: string } = {};
  const user = `/users/${p.userId}`;
  return [
    { operation: 'POST /links', valid: async (api) => { const a = await api('POST', '/links', { type: 'welcome', email: 'walk@example.com' }); state.uuid = a.body?.uuid; return a; }, invalid: (api) => api('POST', '/links', { type: 'nope', email: 'walk@example.com' }) }, // prettier-ignore
    { operation: 'DELETE /links/{uuid}', valid: (api) => api('DELETE', `/links/${state.uuid}`), invalid: (api) => api('DELETE', '/links/no-such-link') },
    {
      operation: 'POST /links/revoke',
      valid: (api) => api('POST', '/links/revoke', { email: 'walk@example.com' }),
      invalid: (api) => api('POST', '/links/revoke', { email: 'not an address' }),
    },

    { operation: 'POST /service-clients', valid: async (api) => { const a = await api('POST', '/service-clients', { connection: 'corp', name: 'Walk' }); state.serviceClient = a.body?.clientId; return a; }, invalid: (api) => api('POST', '/service-clients', { connection: 'email' }) }, // prettier-ignore
    {
      operation: 'GET /service-clients',
      valid: (api) => api('GET', '/service-clients?connection=corp'),
      invalid: (api) => api('GET', '/service-clients?connection=a&connection=b'),
    },
    { operation: 'POST /service-clients/{id}/keys', valid: async (api) => { const a = await api('POST', `/service-clients/${state.serviceClient}/keys`, { allow_profile: true }); state.keyId = a.body?.keyId; return a; }, invalid: (api) => api('POST', `/service-clients/${state.serviceClient}/keys`, { allow_profile: 'yes' }) }, // prettier-ignore
    { operation: 'DELETE /service-clients/{id}/keys/{kid}', valid: (api) => api('DELETE', `/service-clients/${state.serviceClient}/keys/${state.keyId}`), invalid: (api) => api('DELETE', `/service-clients/${state.serviceClient}/keys/no-such-key`) }, // prettier-ignore
    {
      operation: 'DELETE /service-clients/{id}',
      valid: (api) => api('DELETE', `/service-clients/${state.serviceClient}`),
      invalid: (api) => api('DELETE', '/service-clients/no-such-client'),
    },

    { operation: 'POST /clients', valid: (api) => api('POST', '/clients', { client_id: 'walk-app', redirect_uris: ['https://walk.example/cb'], grant_types: ['authorization_code'] }), invalid: (api) => api('POST', '/clients', { client_id: 'walk-bad', redirect_uris: 'not a list' }) }, // prettier-ignore
    { operation: 'GET /clients', valid: (api) => api('GET', '/clients') },
    { operation: 'GET /clients/{id}', valid: (api) => api('GET', '/clients/walk-app'), invalid: (api) => api('GET', '/clients/no-such-app') },
    { operation: 'PATCH /clients/{id}', valid: (api) => api('PATCH', '/clients/walk-app', { client_name: 'Walk' }), invalid: (api) => api('PATCH', '/clients/ops', { client_name: 'config-file client' }) }, // prettier-ignore
    {
      operation: 'POST /clients/{id}/rotate-secret',
      valid: (api) => api('POST', '/clients/walk-app/rotate-secret'),
      invalid: (api) => api('POST', '/clients/no-such-app/rotate-secret'),
    },
    { operation: 'POST /clients/{id}/secret', valid: (api) => api('POST', '/clients/walk-app/secret'), invalid: (api) => api('POST', '/clients/no-such-app/secret') }, // prettier-ignore
    { operation: 'DELETE /clients/{id}', valid: (api) => api('DELETE', '/clients/walk-app'), invalid: (api) => api('DELETE', '/clients/ops') },

    { operation: 'POST /actions/{decisionId}/review', valid: (api) => api('POST', `/actions/${p.decisionId}/review`, { decision: 'approve' }), invalid: (api) => api('POST', `/actions/${p.decisionId}/review`, { decision: 'maybe' }) }, // prettier-ignore

    { operation: 'GET /users', valid: (api) => api('GET', '/users?q=walk&limit=5'), invalid: (api) => api('GET', '/users?limit=0') },
    { operation: 'GET /users/{id}', valid: (api) => api('GET', user), invalid: (api) => api('GET', '/users/no-such-user') },
    { operation: 'PATCH /users/{id}', valid: (api) => api('PATCH', user, { name: 'Walk Er' }), invalid: (api) => api('PATCH', user, { name: 5 }) },
    { operation: 'GET /users/{id}/export', valid: (api) => api('GET', `${user}/export`), invalid: (api) => api('GET', '/users/no-such-user/export') },
    { operation: 'GET /users/{id}/passkeys', valid: (api) => api('GET', `${user}/passkeys`), invalid: (api) => api('GET', '/users/no-such-user/passkeys') },
    { operation: 'DELETE /users/{id}/passkeys/{passkeyId}', valid: (api) => api('DELETE', `${user}/passkeys/${p.passkeyId}`), invalid: (api) => api('DELETE', `${user}/passkeys/not+base64url`) }, // prettier-ignore
    { operation: 'DELETE /users/{id}/passkeys', valid: (api) => api('DELETE', `${user}/passkeys`), invalid: (api) => api('DELETE', '/users/no-such-user/passkeys') },
    { operation: 'GET /users/{id}/authenticators', valid: (api) => api('GET', `${user}/authenticators`), invalid: (api) => api('GET', '/users/no-such-user/authenticators') },
    { operation: 'DELETE /users/{id}/authenticators/{authenticatorId}', valid: (api) => api('DELETE', `${user}/authenticators/${encodeURIComponent(p.totpId)}`), invalid: (api) => api('DELETE', `${user}/authenticators/${encodeURIComponent('totp|dev_none')}`) }, // prettier-ignore
    {
      operation: 'DELETE /users/{id}/authenticators',
      valid: (api) => api('DELETE', `${user}/authenticators`),
      invalid: (api) => api('DELETE', '/users/no-such-user/authenticators'),
    },
    { operation: 'GET /users/{id}/sessions', valid: (api) => api('GET', `${user}/sessions`), invalid: (api) => api('GET', '/users/no-such-user/sessions') },
    { operation: 'GET /users/{id}/grants', valid: (api) => api('GET', `${user}/grants`), invalid: (api) => api('GET', '/users/no-such-user/grants') },
    {
      operation: 'DELETE /users/{id}/grants/{grantId}',
      valid: (api) => api('DELETE', `${user}/grants/${p.grantId}`),
      invalid: (api) => api('DELETE', `${user}/grants/no-such-grant`),
    },
    { operation: 'DELETE /users/{id}/sessions/{sessionId}', valid: (api) => api('DELETE', `${user}/sessions/${p.sessionId}`), invalid: (api) => api('DELETE', `${user}/sessions/no-such-session`) }, // prettier-ignore
    { operation: 'POST /users/{id}/block', valid: (api) => api('POST', `${user}/block`), invalid: (api) => api('POST', '/users/no-such-user/block') },
    { operation: 'POST /users/{id}/unblock', valid: (api) => api('POST', `${user}/unblock`), invalid: (api) => api('POST', '/users/no-such-user/unblock') },
    { operation: 'DELETE /users/{id}', valid: (api) => api('DELETE', `/users/${p.eraseId}`), invalid: (api) => api('DELETE', '/users/no-such-user') },

    { operation: 'GET /audit', valid: (api) => api('GET', `/audit?user_id=${p.userId}&limit=5`), invalid: (api) => api('GET', '/audit?from=30-02-2026') },

    { operation: 'GET /outbox', valid: (api) => api('GET', '/outbox?state=failed&limit=5'), invalid: (api) => api('GET', '/outbox?state=sent') },
    { operation: 'POST /outbox/{id}/retry', valid: (api) => api('POST', `/outbox/${p.outboxId}/retry`), invalid: (api) => api('POST', `/outbox/${p.outboxId}/retry`) },
    { operation: 'GET /keys', valid: (api) => api('GET', '/keys') },
    { operation: 'POST /keys/rotate', valid: (api) => api('POST', '/keys/rotate') },
  ];
}
