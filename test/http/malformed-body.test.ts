// A stray comma in a JSON body used to answer 500 and put the whole body, client_secret
// included, in the error log. Each API surface now answers 400 in its own error shape, and no
// log line carries anything from the body.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { capturingLogger } from '../helpers/logs.js';
import { requestFrom } from '../helpers/from-address.js';
import { apiFixture } from '../api/fixture.js';

const NATIVE = apiFixture.clients[0]!;
const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
// Something only the request bodies hold, to look for in the logs.
const MARKER = 'marker-7f3a9c-only-in-bodies';
const fixture = {
  ...apiFixture,
  clients: [
    ...apiFixture.clients,
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    {
      client_id: 'demo1234',
      userfront: true,
      token_endpoint_auth_method: 'none',
      response_types: [],
      grant_types: ['urn:sesame:params:oauth:grant-type:login-ticket', 'refresh_token'],
      redirect_uris: ['http://127.0.0.1:9/dashboard'],
    },
  ],
};

/** The body with a trailing comma: valid JSON but for one character. */
const strayComma = (fields: Record<string, string>) => `${JSON.stringify({ ...fields, note: MARKER }).slice(0, -1)},}`;

const BAD_JSON_OAUTH = { error: 'invalid_request', error_description: 'The request body is not valid JSON.' };
const BAD_JSON_USERFRONT = { statusCode: 400, error: 'Bad Request', message: 'The request body is not valid JSON.' };

describe('malformed JSON bodies', () => {
  const { logger, lines } = capturingLogger('debug');
  let t: TestSesame;
  let adminToken: string;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture, { logger });
    const ops = await oidc.discovery(new URL(t.issuer), 'ops', undefined, oidc.ClientSecretPost(OPS_SECRET), { execute: [oidc.allowInsecureRequests] });
    adminToken = (await oidc.clientCredentialsGrant(ops, { audience: `${t.issuer}/api/v1/`, scope: 'admin' })).access_token;
  });
  afterAll(() => t?.stop());

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    requestFrom(`${t.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const whole = (answer: { status: number; text: string }) => [answer.status, JSON.parse(answer.text) as unknown];

  it("answers 400 in each surface's error shape and logs nothing of the body", async () => {
    const credentials = { client_id: NATIVE.client_id, client_secret: NATIVE.client_secret! };
    const answers = {
      start: await post('/passwordless/start', strayComma({ ...credentials, connection: 'email', email: 'a@example.com', send: 'code' })),
      verify: await post('/passwordless/verify', strayComma({ ...credentials, connection: 'email', email: 'a@example.com', verification_code: '123456' })),
      userfront: await post('/v0/tenants/demo1234/auth/code', strayComma({ channel: 'email', email: 'a@example.com' })),
      management: await post('/api/v1/links', strayComma({ type: 'welcome', email: 'a@example.com' }), { authorization: `Bearer ${adminToken}` }),
    };
    expect(Object.fromEntries(Object.entries(answers).map(([name, answer]) => [name, whole(answer)]))).toEqual({
      start: [400, BAD_JSON_OAUTH],
      verify: [400, BAD_JSON_OAUTH],
      userfront: [400, BAD_JSON_USERFRONT],
      management: [400, BAD_JSON_OAUTH],
    });
    const leaks = lines.filter((line) => line.includes(MARKER) || line.includes(NATIVE.client_secret!));
    expect(leaks).toEqual([]);
    // The requests were logged (so the check above looked at something).
    expect(lines.filter((line) => line.includes('"path":"/passwordless/start"'))).toHaveLength(1);
  });

  it('refuses an oversized body with 413, not 500', async () => {
    const huge = JSON.stringify({ client_id: NATIVE.client_id, note: MARKER.repeat(1000) });
    expect(whole(await post('/passwordless/start', huge))).toEqual([
      413,
      { error: 'invalid_request', error_description: 'The request body was refused: request entity too large.' },
    ]);
    expect(lines.filter((line) => line.includes(MARKER))).toEqual([]);
  });
});
