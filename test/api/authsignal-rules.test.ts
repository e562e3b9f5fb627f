// The rules API (Authsignal's management API shape, the tenant's secret key) on a running Sesame on
// both engines: configurations and rules created, read, changed and deleted with whole bodies; bad
// JSONLogic or unknown variables refused with their path; a rule created here decides the tenant's
// next tracked action and never another tenant's; parallel rule creations all survive.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { trackAction } from '../../src/passwordless/actions.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { readmeBlock } from '../readme/readme.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const BIG = { '>': [{ var: 'custom.amount' }, 100] };

describe.each(ENGINES)('Authsignal rules API on %s', (engine) => {
  let t: TestSesame;
  const basic: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  beforeAll(async () => {
    t = await startTestSesame(engine, { features: { authsignalApi: { enabled: true } } });
    for (const tenant of ['shop', 'other-shop']) {
      secrets[tenant] = await issueTenantSecret(t.sesame.services.db, tenant);
      basic[tenant] = `Basic ${Buffer.from(`${secrets[tenant]}:`).toString('base64')}`;
    }
  });
  afterAll(() => t?.stop());

  async function api(method: string, path: string, body?: unknown, tenant = 'shop') {
    const res = await fetch(`${t.url}/v1/management/action-configurations${path}`, {
      method,
      headers: { authorization: basic[tenant] ?? tenant, ...(body !== undefined && { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  }
  const refused = (status: number, error: string, errorDescription: string) => ({ status, body: { error, errorDescription } });

  it('creates, reads, lists, changes and deletes an action configuration', async () => {
    const code = `pay-${randomUUID().slice(0, 8)}`;
    const created = await api('POST', '/', {
      actionCode: code,
      defaultUserActionResult: 'CHALLENGE',
      verificationMethods: ['PASSKEY', 'EMAIL_OTP'],
      defaultVerificationMethod: 'EMAIL_OTP',
    });
    const view = {
      tenantId: 'shop',
      actionCode: code,
      defaultUserActionResult: 'CHALLENGE',
      verificationMethods: ['EMAIL_OTP', 'PASSKEY'],
      defaultVerificationMethod: 'EMAIL_OTP',
    };
    expect(created).toEqual({ status: 201, body: view });
    expect(await api('GET', `/${code}`)).toEqual({ status: 200, body: view });
    const headers = (await fetch(`${t.url}/v1/management/action-configurations/${code}`, { headers: { authorization: basic.shop! } })).headers;
    expect(headers.get('cache-control')).toBe('no-store');
    expect((await api('GET', '/')).body).toContainEqual(view);
    expect(await api('POST', '/', { actionCode: code })).toEqual(refused(409, 'conflict', `An action configuration for ${code} exists.`));
    const patched = await api('PATCH', `/${code}`, { defaultUserActionResult: 'BLOCK' });
    expect(patched).toEqual({ status: 200, body: { ...view, defaultUserActionResult: 'BLOCK' } });
    // Another tenant sees none of it.
    expect(await api('GET', `/${code}`, undefined, 'other-shop')).toEqual(refused(404, 'not_found', `No action configuration for ${code}.`));
    expect((await api('GET', '/', undefined, 'other-shop')).body).not.toContainEqual(expect.objectContaining({ actionCode: code }));
    expect(await api('DELETE', `/${code}`, undefined, 'other-shop')).toEqual(refused(404, 'not_found', `No action configuration for ${code}.`));
    expect(await api('DELETE', `/${code}`)).toEqual({ status: 200, body: { tenantId: 'shop', actionCode: code, deleted: true } });
    expect(await api('GET', `/${code}`)).toEqual(refused(404, 'not_found', `No action configuration for ${code}.`));
    const audits = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { clientId: 'shop', reason: code }, orderBy: { createdAt: 'asc' } });
    expect(audits.map((a) => a.type)).toEqual(['actions.configuration.created', 'actions.configuration.updated', 'actions.configuration.deleted']);
  });

  it("creates a rule that decides the tenant's next tracked action, and only that tenant's", async () => {
    const code = `wire-${randomUUID().slice(0, 8)}`;
    await api('POST', '/', { actionCode: code, defaultUserActionResult: 'ALLOW' });
    const track = (tenantId: string) => trackAction(t.sesame.services, { tenantId, userId: `app-${randomUUID()}`, actionCode: code, ip: '203.0.113.5', custom: { amount: 500 } });
    expect((await track('shop')).decision.outcome).toBe('ALLOW');
    const rule = { name: 'Big transfers', description: 'Over 100', isActive: true, priority: 0, type: 'BLOCK', conditions: BIG };
    const created = await api('POST', `/${code}/rules`, rule);
    expect(created).toEqual({ status: 201, body: { ...rule, ruleId: expect.stringMatching(UUID), tenantId: 'shop', actionCode: code } });
    const { ruleId } = created.body;
    const blocked = await track('shop');
    expect([blocked.decision.outcome, blocked.row.state, JSON.parse(blocked.row.ruleIds)]).toEqual(['BLOCK', 'BLOCK', [ruleId]]);
    expect((await track('other-shop')).decision.outcome).toBe('ALLOW');

    expect(await api('GET', `/${code}/rules`)).toEqual({ status: 200, body: [created.body] });
    expect(await api('GET', `/${code}/rules/${ruleId}`)).toEqual({ status: 200, body: created.body });
    const challenge = { type: 'CHALLENGE', verificationMethods: ['SMS', 'EMAIL_OTP'], defaultVerificationMethod: 'SMS', description: null };
    const patched = await api('PATCH', `/${code}/rules/${ruleId}`, challenge);
    const { description: _gone, ...kept } = created.body;
    expect(patched).toEqual({ status: 200, body: { ...kept, type: 'CHALLENGE', verificationMethods: ['SMS', 'EMAIL_OTP'], defaultVerificationMethod: 'SMS' } });
    const challenged = await track('shop');
    expect([challenged.row.state, challenged.decision.defaultVerificationMethod]).toEqual(['CHALLENGE_REQUIRED', 'SMS']);
    // Inactive: no longer decides.
    await api('PATCH', `/${code}/rules/${ruleId}`, { isActive: false });
    expect((await track('shop')).decision.outcome).toBe('ALLOW');
    expect(await api('DELETE', `/${code}/rules/${ruleId}`, undefined, 'other-shop')).toEqual(refused(404, 'not_found', `No action configuration for ${code}.`));
    expect(await api('DELETE', `/${code}/rules/${ruleId}`)).toEqual({ status: 200, body: { tenantId: 'shop', actionCode: code, ruleId, deleted: true } });
    expect(await api('GET', `/${code}/rules/${ruleId}`)).toEqual(refused(404, 'not_found', `No rule ${ruleId} in this action configuration.`));
  });

  it('refuses unknown variables, malformed JSONLogic and unknown fields with the path, storing nothing', async () => {
    const code = `login-${randomUUID().slice(0, 8)}`;
    await api('POST', '/', { actionCode: code });
    const bad = (body: unknown) => api('POST', `/${code}/rules`, body);
    const base = { name: 'r', type: 'BLOCK' };
    expect(await bad({ ...base, conditions: { '==': [{ var: 'user.isRich' }, true] } })).toEqual(
      refused(400, 'invalid_request', expect.stringMatching(/^rules\[0\]\.conditions\.==\[0\]: unknown variable "user\.isRich" \(known: .*custom\.<name>\)$/)),
    );
    expect(await bad({ ...base, conditions: { '==': [1, 1], '!=': [1, 2] } })).toEqual(
      refused(400, 'invalid_request', 'rules[0].conditions: an operation is an object with exactly one operator, got ==, !='),
    );
    expect(await bad({ ...base, conditions: { eval: ['x'] } })).toEqual(refused(400, 'invalid_request', 'rules[0].conditions: unknown operator "eval"'));
    expect(await bad({ ...base, conditions: true, script: 'x' })).toEqual(refused(400, 'invalid_request', 'body: Unrecognized key: "script"'));
    expect(await bad({ ...base, type: 'MAYBE', conditions: true })).toMatchObject({ status: 400, body: { errorDescription: expect.stringMatching(/^type: /) } });
    expect(await bad({ name: 'r', conditions: true })).toEqual(refused(400, 'invalid_request', 'type: required'));
    expect(await bad({ ...base, conditions: true, verificationMethods: ['SMS'], defaultVerificationMethod: 'PASSKEY' })).toEqual(
      refused(400, 'invalid_request', 'rules[0].defaultVerificationMethod: PASSKEY is not one of its verificationMethods'),
    );
    expect(await bad('{"name":')).toEqual(refused(400, 'invalid_request', 'The request body is not valid JSON.'));
    expect(await api('POST', '/', { actionCode: 'bad code!' })).toMatchObject({ status: 400, body: { errorDescription: expect.stringMatching(/^actionCode: /) } });
    expect(await api('PATCH', `/${code}`, { defaultVerificationMethod: 'SMS', verificationMethods: ['PASSKEY'] })).toEqual(
      refused(400, 'invalid_request', 'defaultVerificationMethod: SMS is not one of verificationMethods'),
    );
    expect(await api('POST', `/${code}x/rules`, { ...base, conditions: true })).toEqual(refused(404, 'not_found', `No action configuration for ${code}x.`));
    expect(await api('GET', `/${code}/rules`)).toEqual({ status: 200, body: [] });
    const wrongKey = `Basic ${Buffer.from(`sk_${'B'.repeat(43)}:`).toString('base64')}`;
    expect((await api('GET', '/', undefined, wrongKey)).status).toBe(401);
  });

  it('keeps every rule of parallel creations (compare-and-swap, no lost update)', async () => {
    const code = `race-${randomUUID().slice(0, 8)}`;
    await api('POST', '/', { actionCode: code });
    const made = await Promise.all(
      Array.from({ length: 8 }, (_, i) => api('POST', `/${code}/rules`, { name: `r${i}`, priority: i, type: 'REVIEW', conditions: { '==': [1, 1] } })),
    );
    expect(made.map((m) => m.status)).toEqual(Array(8).fill(201));
    const listed = (await api('GET', `/${code}/rules`)).body as { ruleId: string; name: string }[];
    expect(listed.map((r) => r.ruleId).sort()).toEqual(made.map((m) => m.body.ruleId).sort());
    // Parallel creations of one configuration: exactly one wins.
    const again = `twin-${randomUUID().slice(0, 8)}`;
    const twins = await Promise.all(Array.from({ length: 4 }, () => api('POST', '/', { actionCode: again })));
    expect(twins.map((r) => r.status).sort()).toEqual([201, 409, 409, 409]);
  });

  it("runs the README's curl example as written: the rule it creates blocks a big transfer", async () => {
    const script = readmeBlock('### Users, authenticators and rules API', 'sh', 'action-configurations')
      .replace(/^SECRET=sk_\.\.\..*$/m, `SECRET=${secrets.shop}`)
      .replaceAll('https://login.example.com', t.url);
    const { stdout } = await promisify(execFile)('bash', ['-euc', script]);
    expect(stdout).toMatch(/"defaultUserActionResult":"ALLOW"/);
    const track = (amount: number) => trackAction(t.sesame.services, { tenantId: 'shop', userId: 'app-1', actionCode: 'transfer', ip: '203.0.113.5', custom: { amount } });
    expect([(await track(500)).decision.outcome, (await track(50)).decision.outcome]).toEqual(['BLOCK', 'ALLOW']);
  });
});
