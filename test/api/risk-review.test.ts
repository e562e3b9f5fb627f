// A risk REVIEW on the API paths, through the real @auth0/auth0-auth-js on both engines: the OTP and
// passkey grants answer access_denied saying the sign-in is held and to try again once approved; a
// retry by the same user, client and address answers the same decision (no new row, no second
// webhook); once approved (management API, updateAction, the CLI) the next retry gets tokens,
// exactly one even in parallel; denied or expired: access_denied, until actions.reviewTimeout has
// passed. Attempted: riding another user's approval, riding an approval from another address or
// past its time; ten decisions at once on one approval, or as first attempts (one held); the webhook
// stored with its decision (one for ten parallel decisions of a hosted sign-in, none and no decision
// when storing it fails).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { REVIEW_WEBHOOK, decideGrantSignIn, decideSignIn, hostedKey } from '../../src/passwordless/sign-in-risk.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { insertDecision } from '../../src/storage/action-decisions.js';
import { lastJson, sesame } from '../helpers/cli.js';
import { ENGINES } from '../helpers/databases.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway, verify, type FakeGateway } from '../delivery/sms-fixture.js';
import type { MfaApi } from './mfa-fixture.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { HOOK_SECRET, IP, OPS_SECRET, gatedEmailCode, gatedPasskeySignIn, gatedPasskeySignUp, gatedSignIn, gatedSmsCode, startRiskApi } from './risk-fixture.js';

const HELD = { status: 403, body: { error: 'access_denied', error_description: 'The sign-in is held for review: try again once it is approved.' } };
const DENIED = { status: 403, body: { error: 'access_denied', error_description: 'The sign-in was not allowed.' } };

describe.each(ENGINES)('risk REVIEW on the API paths on %s', { timeout: 180_000 }, (engine) => {
  let api: MfaApi;
  let hook: FakeGateway;
  let tenantSecret: string;
  let phones = 0;
  beforeAll(async () => {
    hook = await startGateway(HOOK_SECRET);
    api = await startRiskApi(engine, hook.url);
    tenantSecret = await issueTenantSecret(api.t.sesame.services.db, 'gated');
  }, 120_000);
  afterAll(async () => {
    await api?.stop();
    await hook?.close();
  });

  const db = () => api.t.sesame.services.db.prisma;
  const decisionsOf = (userId: string) => db().actionDecision.findMany({ where: { tenantId: 'gated', userId }, orderBy: { createdAt: 'asc' } });
  const webhooks = () => db().outboxMessage.count({ where: { connectionId: REVIEW_WEBHOOK } });

  /** A new user's sign-in held for review from `ip`: the user, the held decision. */
  async function held(ip: string = IP.review) {
    const email = api.nextEmail();
    expect(await gatedSignIn(api, email, ip)).toEqual(HELD);
    const sub = await api.userId(email);
    const [row, ...more] = await decisionsOf(sub);
    expect([row!.state, row!.ip, row!.idempotencyKey, more]).toEqual(['REVIEW_REQUIRED', ip, expect.stringMatching(/^grant:/), []]);
    return { email, sub, row: row! };
  }

  async function approveByManagementApi(id: string, decision: 'approve' | 'deny') {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: 'ops', client_secret: OPS_SECRET, audience: `${api.t.issuer}api/v1/`, scope: 'admin' });
    const token = ((await (await fetch(`${api.t.url}/oauth/token`, { method: 'POST', body: form })).json()) as { access_token: string }).access_token;
    const res = await fetch(`${api.t.url}/api/v1/actions/${id}/review`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ decision }),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  }

  /** Authsignal's updateAction, as the gated client's backend sends it. */
  async function updateAction(row: { userId: string; idempotencyKey: string }, state: string) {
    const res = await fetch(`${api.t.url}/v1/users/${encodeURIComponent(row.userId)}/actions/gate/${encodeURIComponent(row.idempotencyKey)}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${tenantSecret}:`).toString('base64')}` },
      body: JSON.stringify({ state }),
    });
    return { status: res.status, body: (await res.json()) as { state?: string } };
  }

  it('holds retries on one decision with one webhook, and lets exactly the next retry through once approved', async () => {
    const before = await webhooks();
    const { email, sub, row } = await held();
    const seen = await waitFor(() => hook.delivered.find((r) => r.raw.includes(row.id)), { timeout: 10_000, what: 'the review webhook' });
    expect(verify(HOOK_SECRET, seen.headers['x-sesame-signature'] as string, seen.raw)).toBe(true);
    expect(JSON.parse(seen.raw)).toEqual({ type: 'action.review_required', decisionId: row.id, clientId: 'gated', userId: sub, actionCode: 'gate', ruleIds: ['odd-ip'], ip: IP.review, createdAt: row.createdAt.toISOString() }); // prettier-ignore

    expect(await gatedSignIn(api, email, IP.review)).toEqual(HELD);
    expect((await decisionsOf(sub)).map((r) => r.id)).toEqual([row.id]);
    expect(await webhooks()).toBe(before + 1);

    expect(await approveByManagementApi(row.id, 'approve')).toEqual({ status: 200, body: { id: row.id, state: 'REVIEW_SUCCEEDED', reviewedBy: 'management_api:ops' } });
    expect(await gatedSignIn(api, email, IP.review)).toEqual({ sub });
    const used = await db().actionDecision.findUniqueOrThrow({ where: { id: row.id } });
    expect([used.state, used.validatedAt]).toEqual(['REVIEW_SUCCEEDED', expect.any(Date)]);

    // The approval was for one sign-in: the next is decided afresh, held again, and told again.
    expect(await gatedSignIn(api, email, IP.review)).toEqual(HELD);
    const rows = await decisionsOf(sub);
    expect(rows.map((r) => r.state)).toEqual(['REVIEW_SUCCEEDED', 'REVIEW_REQUIRED']);
    expect(await webhooks()).toBe(before + 2);
  });

  it('holds a passkey sign-in the same way, and lets exactly its next retry through once approved', async () => {
    const device = new SoftAuthenticator({ origin: `https://${api.domain}` });
    const email = api.nextEmail();
    expect(await gatedPasskeySignUp(api, device, email, IP.review)).toEqual(HELD);
    const sub = await api.userId(email);
    const [row] = await decisionsOf(sub);
    expect(await gatedPasskeySignIn(api, device, IP.review)).toEqual(HELD);
    expect((await decisionsOf(sub)).map((r) => r.id)).toEqual([row!.id]);
    expect(await approveByManagementApi(row!.id, 'approve')).toMatchObject({ status: 200 });
    expect(await gatedPasskeySignIn(api, device, IP.review)).toEqual({ sub });
    expect(await gatedPasskeySignIn(api, device, IP.review)).toEqual(HELD);
  });

  it('lets the next retry through once the operator approved with `sesame actions review <id> approve`', async () => {
    const { email, sub, row } = await held();
    const dir = mkdtempSync(join(tmpdir(), 'sesame-risk-review-'));
    try {
      const config = join(dir, 'sesame.json');
      writeFileSync(config, JSON.stringify({ clients: [] }));
      expect(lastJson(await sesame(api.t.database.url, config, ['actions', 'review', row.id, 'approve', '--json']))).toMatchObject({ id: row.id, state: 'REVIEW_SUCCEEDED' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await gatedSignIn(api, email, IP.review)).toEqual({ sub });
  });

  it("lets an approval in only for its own user, from its own address (updateAction's approval)", async () => {
    const alice = await held();
    const bob = await held();
    expect(await updateAction(bob.row, 'REVIEW_SUCCEEDED')).toMatchObject({ status: 200, body: { state: 'REVIEW_SUCCEEDED' } });

    // Alice, from the same address and client: still her own held decision.
    expect(await gatedSignIn(api, alice.email, IP.review)).toEqual(HELD);
    expect((await decisionsOf(alice.sub)).map((r) => r.id)).toEqual([alice.row.id]);
    // Bob from another address: a sign-in of its own, held on a new decision; the approval is left.
    expect(await gatedSignIn(api, bob.email, IP.review2)).toEqual(HELD);
    expect((await decisionsOf(bob.sub)).map((r) => [r.ip, r.state, r.validatedAt])).toEqual([
      [IP.review, 'REVIEW_SUCCEEDED', null],
      [IP.review2, 'REVIEW_REQUIRED', null],
    ]);
    expect(await gatedSignIn(api, bob.email, IP.review)).toEqual({ sub: bob.sub });

    // An approval older than actions.reviewTimeout lets nothing through: the retry is held anew.
    const late = await held();
    expect(await updateAction(late.row, 'REVIEW_SUCCEEDED')).toMatchObject({ status: 200, body: { state: 'REVIEW_SUCCEEDED' } });
    await db().actionDecision.update({ where: { id: late.row.id }, data: { stateUpdatedAt: new Date(Date.now() - 3601_000) } });
    expect(await gatedSignIn(api, late.email, IP.review)).toEqual(HELD);
    expect((await decisionsOf(late.sub)).map((r) => [r.state, r.validatedAt])).toEqual([
      ['REVIEW_SUCCEEDED', null],
      ['REVIEW_REQUIRED', null],
    ]);
  });

  it('answers access_denied once denied or expired, and decides afresh after actions.reviewTimeout', async () => {
    const denied = await held();
    expect(await updateAction(denied.row, 'REVIEW_FAILED')).toMatchObject({ status: 200, body: { state: 'REVIEW_FAILED' } });
    expect(await gatedSignIn(api, denied.email, IP.review)).toEqual(DENIED);
    expect((await decisionsOf(denied.sub)).length).toBe(1);

    const expired = await held();
    await db().actionDecision.update({ where: { id: expired.row.id }, data: { stateUpdatedAt: new Date(Date.now() - 3601_000) } });
    expect(await gatedSignIn(api, expired.email, IP.review)).toEqual(DENIED);
    const settled = await db().actionDecision.findUniqueOrThrow({ where: { id: expired.row.id } });
    expect([settled.state, settled.reviewedBy]).toEqual(['REVIEW_FAILED', 'timeout']);
    expect(await gatedSignIn(api, expired.email, IP.review)).toEqual(DENIED);

    // A denial speaks for actions.reviewTimeout (1 hour); after it the sign-in is decided again.
    await db().actionDecision.update({ where: { id: denied.row.id }, data: { stateUpdatedAt: new Date(Date.now() - 3601_000) } });
    expect(await gatedSignIn(api, denied.email, IP.review)).toEqual(HELD);
    expect((await decisionsOf(denied.sub)).map((r) => r.state)).toEqual(['REVIEW_FAILED', 'REVIEW_REQUIRED']);
  });

  it('lets one of two parallel retries through an approval', async () => {
    const user = await held();
    const phone = `+1650255${String(1000 + phones++).slice(-4)}`;
    await db().user.update({ where: { id: user.sub }, data: { phoneNumber: phone } });
    expect(await approveByManagementApi(user.row.id, 'approve')).toMatchObject({ status: 200 });
    // Two codes live at once (one per identifier), redeemed together.
    const byEmail = await gatedEmailCode(api, user.email, IP.review);
    const bySms = await gatedSmsCode(api, phone, IP.review);
    const outcomes = await Promise.all([byEmail(), bySms()]);
    expect(outcomes).toEqual(expect.arrayContaining([{ sub: user.sub }, HELD]));
    const rows = await decisionsOf(user.sub);
    expect(rows.map((r) => [r.state, r.validatedAt !== null])).toEqual([
      ['REVIEW_SUCCEEDED', true],
      ['REVIEW_REQUIRED', false],
    ]);

    // Closer together than two HTTP sign-ins can be: ten of the grants' decisions at once, one approval.
    const again = (await decisionsOf(user.sub)).at(-1)!;
    expect(await approveByManagementApi(again.id, 'approve')).toMatchObject({ status: 200 });
    const q = { clientId: 'gated', actionCode: 'gate', userId: user.sub, amr: ['email', 'otp'], ip: IP.review };
    const decided = await Promise.all(Array.from({ length: 10 }, () => decideGrantSignIn(api.t.sesame.services, q)));
    expect(decided.filter((d) => d?.approved)).toHaveLength(1);
  });

  it('holds parallel first attempts on one decision with one webhook', async () => {
    const before = await webhooks();
    const user = await upsertVerifiedEmailUser(api.t.sesame.services.db, api.nextEmail());
    const q = { clientId: 'gated', actionCode: 'gate', userId: user.id, amr: ['email', 'otp'], ip: IP.review };
    // Ten of the grants' decisions at once: closer together than HTTP sign-ins (one code per identifier) can be.
    const decided = await Promise.all(Array.from({ length: 10 }, () => decideGrantSignIn(api.t.sesame.services, q)));
    expect([new Set(decided.map((d) => d!.row.id)).size, decided.filter((d) => d!.created).length]).toEqual([1, 1]);
    expect((await decisionsOf(user.id)).map((r) => r.state)).toEqual(['REVIEW_REQUIRED']);
    expect(await webhooks()).toBe(before + 1);
  });

  it('stores one webhook with one held decision, even when a hosted sign-in is decided ten times at once', async () => {
    const before = await webhooks();
    const user = await upsertVerifiedEmailUser(api.t.sesame.services.db, api.nextEmail());
    const q = { clientId: 'gated', actionCode: 'gate', userId: user.id, amr: ['email', 'otp'], ip: IP.review, interactionUid: `uid-${engine}` };
    const decided = await Promise.all(Array.from({ length: 10 }, () => decideSignIn(api.t.sesame.services, q, hostedKey(q.interactionUid, user.id))));
    expect([new Set(decided.map((d) => d!.row.id)).size, decided.filter((d) => d!.created).length, decided[0]!.row.state]).toEqual([1, 1, 'REVIEW_REQUIRED']);
    expect(await webhooks()).toBe(before + 1);
  });

  it('stores neither the decision nor its webhook when storing one of them fails', async () => {
    const key = `grant:rollback-${engine}`;
    const row = {
      tenantId: 'gated', userId: 'u', actionCode: 'gate', idempotencyKey: key, outcome: 'REVIEW', state: 'REVIEW_REQUIRED', ruleIds: '[]', explanation: '{}', ip: IP.review,
      deviceId: null, principalId: null, verificationMethods: '[]', defaultVerificationMethod: null, redirectUrl: null, context: '{}', country: null, latitude: null,
      longitude: null, interactionUid: null,
    }; // prettier-ignore
    const before = await webhooks();
    // A message the outbox refuses (no text): the decision it reports must not stay without it.
    const broken = () => ({ channel: 'webhook', connectionId: REVIEW_WEBHOOK, recipient: 'gated', subject: 's', text: null as unknown as string }) as const;
    await expect(insertDecision(api.t.sesame.services.db, row, new Date(), { notice: broken })).rejects.toThrow();
    expect([await db().actionDecision.count({ where: { idempotencyKey: key } }), await webhooks()]).toEqual([0, before]);
  });
});
