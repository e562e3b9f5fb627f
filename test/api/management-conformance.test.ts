// Issue 17: the management API against its OpenAPI 3.1 document (/api/v1/openapi.json, generated from
// the schemas that validate requests). The router mounts exactly the documented operations; every
// operation answers a valid and an invalid call, a call without a token and one with another area's
// scope, each with a documented status and a body its schema accepts (test/helpers/openapi.ts); and
// the document is OpenAPI 3.1 in shape: every $ref resolves, every operation has security and answers.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managementRouter } from '../../src/api/management.js';
import { trackAction } from '../../src/passwordless/actions.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { outboxRow } from '../../src/storage/outbox.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { expectConforms, openApiDocument, type OpenApiDocument } from '../helpers/openapi.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { walk, type Planted } from './management-conformance-walk.js';
import { documentedApi, hostedSignIn, otpSignIn, tokenOf, usersFixture, type Answer } from './management-users-fixture.js';

const fixture = {
  ...usersFixture,
  connections: [
    { id: 'email', type: 'email' },
    { id: 'corp', type: 'external', name: 'Corp', authorizationUrl: 'https://login.corp.example/passwordless', accountId: 'acct1' },
  ],
  actions: { policies: { held: { defaultOutcome: 'REVIEW', rules: [] } } },
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** "POST /links" for each documented operation. */
const operationsOf = (document: OpenApiDocument) =>
  Object.entries(document.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();

describe('the management API conforms to its OpenAPI document', () => {
  let t: TestSesame;
  let document: OpenApiDocument;
  let api: (method: string, path: string, bearer: string | null, body?: unknown) => Promise<Answer>;
  let admin: string;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
    document = await openApiDocument(t.url);
    api = await documentedApi(t);
    admin = await tokenOf(t, 'admin');
  });
  afterAll(() => t?.stop());

  it('mounts exactly the documented operations, with the same methods and paths', () => {
    const mounted = managementRouter(t.sesame.services)
      .stack.flatMap((layer) =>
        layer.methods
          .filter((m) => m !== 'HEAD')
          .map(
            (m) =>
              `${m} ${String(layer.path)
                .replace(/^\/api\/v1/, '')
                .replace(/:(\w+)/g, '{$1}')}`,
          ),
      )
      .filter((operation) => operation !== 'GET /openapi.json')
      .sort();
    expect(mounted).toEqual(operationsOf(document));
    expect(mounted.length).toBeGreaterThan(30);
  });

  it('is an OpenAPI 3.1 document: every $ref resolves, every operation has security, path parameters and described answers', () => {
    expect([typeof document.openapi === 'string' && /^3\.1\.\d+$/.test(document.openapi), typeof (document.info as { title?: unknown }).title]).toEqual([true, 'string']);
    const refs: string[] = [];
    (function collect(node: unknown) {
      if (Array.isArray(node)) node.forEach(collect);
      else if (node && typeof node === 'object')
        for (const [key, value] of Object.entries(node)) {
          if (key === '$ref') refs.push(value as string);
          else collect(value);
        }
    })(document);
    const resolve = (ref: string) =>
      ref.startsWith('#/') ? ref.slice(2).split('/').reduce<any>((node, part) => node?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document) : undefined; // prettier-ignore
    expect(refs.filter((ref) => resolve(ref) === undefined)).toEqual([]);

    const schemes = document.components as { securitySchemes: Record<string, { flows: { clientCredentials: { scopes: Record<string, string> } } }> };
    const scopes = Object.keys(schemes.securitySchemes.clientCredentials!.flows.clientCredentials.scopes);
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema(document as object, 'document');
    const at = (...parts: string[]) => `document#${parts.map((p) => `/${p.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('')}`;
    for (const [path, ops] of Object.entries(document.paths)) {
      expect(path, 'templates start with /').toMatch(/^\//);
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        expect(METHODS, name).toContain(method);
        const security = op.security as Array<Record<string, string[]>>;
        expect(security.length, `${name} has security`).toBeGreaterThan(0);
        for (const requirement of security)
          for (const [scheme, needed] of Object.entries(requirement)) expect([scheme, needed.filter((s) => !scopes.includes(s))], name).toEqual(['clientCredentials', []]);
        const declared = ((op.parameters ?? []) as Array<{ name: string; in: string; required?: boolean }>).filter((p) => p.in === 'path');
        const inTemplate = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        expect([declared.map((p) => p.name), declared.every((p) => p.required === true)], `${name} declares its path parameters`).toEqual([inTemplate, true]);
        expect(Object.keys(op.responses).length, `${name} has answers`).toBeGreaterThan(0);
        for (const [status, response] of Object.entries(op.responses)) {
          expect([status, typeof (response as { description?: unknown }).description], name).toEqual([expect.stringMatching(/^[1-5]\d\d$/), 'string']);
          // Compiling proves each schema is valid JSON Schema 2020-12 with its references in reach.
          if (response.content) ajv.compile({ $ref: at('paths', path, method, 'responses', status, 'content', 'application/json', 'schema') });
        }
        if (op.requestBody) ajv.compile({ $ref: at('paths', path, method, 'requestBody', 'content', 'application/json', 'schema') });
      }
    }
  });

  it('the checker refuses an undocumented status and a body that breaks its schema', async () => {
    await expect(expectConforms(t.url, 'GET', '/users/u1', { status: 418, body: null })).rejects.toThrow(/is a documented answer/);
    await expect(expectConforms(t.url, 'GET', '/users/u1', { status: 404, body: { error: 404 } })).rejects.toThrow(/matches its schema/);
    await expect(expectConforms(t.url, 'DELETE', '/users/u1', { status: 204, body: { extra: true } })).rejects.toThrow(/has no body/);
    await expect(expectConforms(t.url, 'PUT', '/users/u1', { status: 200, body: null })).rejects.toThrow(/is a documented operation/);
  });

  it('answers every operation as documented: valid input, invalid input, no token, another area’s scope', async () => {
    const planted = await plant();
    const steps = walk(planted);
    expect(steps.map((s) => s.operation).sort(), 'every documented operation has a walk entry (management-conformance-walk.ts)').toEqual(operationsOf(document));
    const call = (method: string, path: string, body?: unknown) => api(method, path, admin, body);
    for (const step of steps) {
      const valid = await step.valid(call);
      expect([step.operation, valid.status >= 200 && valid.status < 300], JSON.stringify(valid.body)).toEqual([step.operation, true]);
      if (step.invalid) {
        const invalid = await step.invalid(call);
        expect([step.operation, invalid.status >= 400 && invalid.status < 500], JSON.stringify(invalid.body)).toEqual([step.operation, true]);
      }
    }
    // Tokens of two areas: each operation meets one whose scope it does not accept.
    const others = { links: await tokenOf(t, 'links:write'), keys: await tokenOf(t, 'keys:read') };
    for (const operation of operationsOf(document)) {
      const [method, template] = operation.split(' ') as [string, string];
      const path = template.replace(/\{\w+\}/g, 'x');
      expect([operation, (await api(method, path, null)).status]).toEqual([operation, 401]);
      const other = template.startsWith('/links') ? others.keys : others.links;
      expect([operation, (await api(method, path, other)).status]).toEqual([operation, 403]);
    }
  });

  /** A user with a session, a grant, a passkey and a factor; a user to erase; a decision held for review; a given-up message. */
  async function plant(): Promise<Planted> {
    const email = 'walk-user@example.com';
    expect((await hostedSignIn(t, email)).status).toBe(303);
    const { userId } = await otpSignIn(t, email);
    const sessions = (await api('GET', `/users/${userId}/sessions`, admin)).body.sessions as Array<{ id: string; grantIds: string[] }>;
    const grants = (await api('GET', `/users/${userId}/grants`, admin)).body.grants as Array<{ id: string }>;
    const grantId = grants.find((g) => !sessions[0]!.grantIds.includes(g.id))!.id;
    const db = t.sesame.services.db;
    const passkey = await insertPasskey(db, { id: 'd2Fsay1wYXNza2V5', userId, publicKey: 'cHVibGlj', counter: 0, transports: ['internal'], deviceType: 'singleDevice', backedUp: false, aaguid: '00000000-0000-0000-0000-000000000000', name: null }); // prettier-ignore
    const totp = await enrolTotp(t.sesame.services, userId);
    const { row } = await trackAction(t.sesame.services, { tenantId: 'ops', userId, principalId: userId, actionCode: 'held', ip: '198.51.100.1' });
    const erase = await upsertVerifiedEmailUser(db, 'walk-erase@example.com');
    // A message the worker gave up on, as an SMTP outage leaves it: the one a retry sends again.
    const message = outboxRow({ channel: 'email', recipient: 'walk-outbox@example.com', subject: 'Walk', text: 'Walk' });
    await db.prisma.outboxMessage.create({ data: { ...message, status: 'failed', attempts: 8, lastError: '421 4.3.2 Service not available' } });
    return { userId, eraseId: erase.id, passkeyId: passkey.id, totpId: totp.authenticatorId, sessionId: sessions[0]!.id, grantId, decisionId: row.id, outboxId: message.id };
  }
});
