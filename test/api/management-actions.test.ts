// Reviews of held risk decisions through the management API, on both engines: approve and deny
// answer the settled decision, once; a second answer, a decision that waits for no review, an
// unknown or odd id, a bad body are refused (409, 404, 400), never a 500; approve against deny at
// the same moment settles it once (raced on both engines); nobody but an admin token gets in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trackAction } from '../../src/passwordless/actions.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { documentedCall } from '../helpers/openapi.js';
import { clientCredentialsToken } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';

const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const BACKEND_SECRET = 'backend-secret-backend-secret-xx';
const fixture = {
  clients: [
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
    { client_id: 'backend', client_secret: BACKEND_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
  ],
  actions: {
    policies: {
      held: { defaultOutcome: 'REVIEW', rules: [] },
      open: { defaultOutcome: 'ALLOW', rules: [] },
    },
  },
};

describe.each(ENGINES)('reviews in the management API on %s', (engine) => {
  let t: TestSesame;
  let token: string;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
    token = await clientCredentialsToken(t, 'ops', OPS_SECRET, { audience: `${t.issuer}/api/v1/`, scope: 'admin' });
  });
  afterAll(() => t?.stop());

  const review = (id: string, body: unknown, bearer: string | null = token) => documentedCall(t.url, 'POST', `/actions/${encodeURIComponent(id)}/review`, bearer, body);

  /** A decision of `actionCode` for a new user of the `ops` client. */
  async function decision(actionCode: string) {
    const user = await upsertVerifiedEmailUser(t.sesame.services.db, `review${++n}-${engine}@example.test`);
    const { row } = await trackAction(t.sesame.services, { tenantId: 'ops', userId: user.id, principalId: user.id, actionCode, ip: '198.51.100.1' });
    return row;
  }

  it('approves and denies a held decision once each', async () => {
    const approved = await decision('held');
    expect(await review(approved.id, { decision: 'approve' })).toEqual({ status: 200, body: { id: approved.id, state: 'REVIEW_SUCCEEDED', reviewedBy: 'management_api:ops' } });
    expect(await review(approved.id, { decision: 'deny' })).toEqual({
      status: 409,
      body: { error: 'conflict', error_description: 'This decision is not waiting for review (settled already, or never held).' },
    });
    const audit = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { identifier: approved.id } });
    expect(audit.map((a) => [a.type, a.clientId, a.userId, a.reason])).toEqual([['action.review.approved', 'ops', approved.principalId, 'via management_api']]);
    const denied = await decision('held');
    expect(await review(denied.id, { decision: 'deny' })).toEqual({ status: 200, body: { id: denied.id, state: 'REVIEW_FAILED', reviewedBy: 'management_api:ops' } });
    const allowed = await decision('open');
    expect((await review(allowed.id, { decision: 'approve' })).status).toBe(409);
    const row = await t.sesame.services.db.prisma.actionDecision.findUniqueOrThrow({ where: { id: allowed.id } });
    expect([row.state, row.reviewedBy]).toEqual(['ALLOW', null]);
  });

  it('refuses bad bodies, unknown and odd ids, and callers without an admin token', async () => {
    const held = await decision('held');
    expect(await review(held.id, { decision: 'maybe' })).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'decision: must be "approve" or "deny".' } });
    expect(await review(held.id, ['approve'])).toMatchObject({ status: 400 });
    expect(await review('00000000-0000-4000-8000-000000000000', { decision: 'approve' })).toEqual({
      status: 404,
      body: { error: 'not_found', error_description: 'No decision with this id.' },
    });
    expect((await review('x'.repeat(5000), { decision: 'approve' })).status).toBe(404);
    expect((await review(held.id, { decision: 'approve' }, null)).status).toBe(401);
    const backend = await clientCredentialsToken(t, 'backend', BACKEND_SECRET);
    expect((await review(held.id, { decision: 'approve' }, backend)).status).toBe(401);
    const row = await t.sesame.services.db.prisma.actionDecision.findUniqueOrThrow({ where: { id: held.id } });
    expect(row.state).toBe('REVIEW_REQUIRED');
  });

  it('settles approve against deny at the same moment once', async () => {
    const held = await decision('held');
    const answers = await Promise.all([review(held.id, { decision: 'approve' }), review(held.id, { decision: 'deny' }), review(held.id, { decision: 'approve' })]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    const winner = answers.find((a) => a.status === 200)!.body as { state: string };
    const row = await t.sesame.services.db.prisma.actionDecision.findUniqueOrThrow({ where: { id: held.id } });
    expect(row.state).toBe(winner.state);
  });
});
