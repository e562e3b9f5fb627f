// Races on the two write paths issue 18 moved to prepared SQL, on both engines (PostgreSQL runs the
// requests truly in parallel): tracks with one idempotency key store one decision; first tracks of
// a new user make one user; parallel sends respect the resend cooldown and the client's cap, and
// every send that was answered 200 stored its code, its message and its audit event together.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { tenantUserId } from '../../src/passwordless/action-users.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { apiFixture } from './fixture.js';

const NATIVE = apiFixture.clients[0]!;
/** A second client for the cap test, so that the other sends never spend its budget. */
const CAPPED = { ...NATIVE, client_id: 'capped', client_secret: 'capped-secret-capped-secret-capped' };
const CLIENT_CAP = 3;
const POLICY = { rules: [{ ruleId: 'big', name: 'Big', priority: 0, type: 'REVIEW', conditions: { '>': [{ var: 'custom.amount' }, 100] } }] };

describe.each(ENGINES)('hot-path races on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, {
      ...apiFixture,
      clients: [...apiFixture.clients, CAPPED],
      actions: { tracksPerMinute: 1000, policies: { wire: POLICY } },
      rateLimits: { sendsPerClientPerHour: CLIENT_CAP },
    });
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;

  async function tenant() {
    const id = `shop-${randomUUID()}`;
    const secret = await issueTenantSecret(db(), id);
    const track = (userId: string, body: Record<string, unknown>) =>
      fetch(`${t.url}/v1/users/${userId}/actions/wire`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${secret}:`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    return { id, track };
  }

  it('stores one decision for parallel tracks with one idempotency key, and answers it to all', async () => {
    const { id, track } = await tenant();
    const responses = await Promise.all(Array.from({ length: 12 }, () => track('ivy', { idempotencyKey: 'same-key', custom: { amount: 500 } })));
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as { state: string; idempotencyKey: string; ruleIds: string[] }[];
    expect(new Set(bodies.map((b) => `${b.idempotencyKey} ${b.state} ${b.ruleIds.join()}`))).toEqual(new Set(['same-key REVIEW_REQUIRED big']));
    expect(await db().prisma.actionDecision.count({ where: { tenantId: id } })).toBe(1);
    const row = await db().prisma.actionDecision.findFirstOrThrow({ where: { tenantId: id } });
    expect(row).toMatchObject({ userId: 'ivy', actionCode: 'wire', idempotencyKey: 'same-key', state: 'REVIEW_REQUIRED', principalId: tenantUserId(id, 'ivy') });
  });

  it("makes one user for a new user's parallel first tracks, each with its own decision", async () => {
    const { id, track } = await tenant();
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => track('newcomer', { idempotencyKey: `k-${i}`, custom: { amount: 5 } })));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    const principal = tenantUserId(id, 'newcomer');
    expect(await db().prisma.user.findMany({ where: { tenantId: id }, select: { id: true, email: true, tenantId: true } })).toEqual([{ id: principal, email: null, tenantId: id }]);
    const decisions = await db().prisma.actionDecision.findMany({ where: { tenantId: id }, select: { principalId: true, state: true } });
    expect(decisions).toHaveLength(10);
    expect(decisions.every((d) => d.principalId === principal && d.state === 'ALLOW')).toBe(true);
  });

  const start = (email: string, client: { client_id: string; client_secret?: string } = NATIVE) =>
    fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, connection: 'email', email, send: 'code' }),
    });

  /** Codes, messages and code.sent events stored for `email`. */
  async function storedFor(email: string) {
    const p = db().prisma;
    return {
      codes: await p.oneTimeCode.count({ where: { identifier: email } }),
      live: await p.oneTimeCode.count({ where: { identifier: email, replacedAt: null, consumedAt: null } }),
      messages: await p.outboxMessage.count({ where: { recipient: email } }),
      sent: await p.auditEvent.count({ where: { identifier: email, type: 'code.sent' } }),
    };
  }

  it('sends one code for parallel starts to one address (the resend cooldown), with its message and audit event', async () => {
    const email = `race-${randomUUID()}@example.com`;
    const statuses = (await Promise.all(Array.from({ length: 8 }, () => start(email)))).map((r) => r.status).sort();
    // NATIVE's cap (3 an hour) is spent by this one send only: refused sends never count against the client.
    expect(statuses).toEqual([200, 429, 429, 429, 429, 429, 429, 429]);
    expect(await storedFor(email)).toEqual({ codes: 1, live: 1, messages: 1, sent: 1 });
  });

  it("keeps the client's hourly cap under parallel starts to many addresses", async () => {
    const emails = Array.from({ length: 10 }, (_, i) => `cap-${i}-${randomUUID()}@example.com`);
    const responses = await Promise.all(emails.map((email) => start(email, CAPPED)));
    const sent = emails.filter((_, i) => responses[i]!.status === 200);
    expect(responses.map((r) => r.status).sort()).toEqual([...Array(CLIENT_CAP).fill(200), ...Array(10 - CLIENT_CAP).fill(429)]);
    for (const email of emails) {
      const stored = await storedFor(email);
      expect(stored).toEqual(sent.includes(email) ? { codes: 1, live: 1, messages: 1, sent: 1 } : { codes: 0, live: 0, messages: 0, sent: 0 });
    }
  });
});

// The send limits are one chain (risk/code-limits.ts checkSend; one statement on PostgreSQL): each
// counts only once the ones before it let the send through. Parallel sends from one IP past its cap:
// exactly the cap goes out, every attempt counts at the IP, and a refused send leaves no cooldown,
// no hourly send and no client send behind.
describe.each(ENGINES)('parallel sends past the IP cap on %s', (engine) => {
  const IP_CAP = 4;
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, { ...apiFixture, rateLimits: { sendsPerIpPerHour: IP_CAP, sendsPerClientPerHour: 100 } });
  });
  afterAll(() => t?.stop());

  it('sends exactly the cap, and counts nothing further for the refused sends', async () => {
    const ip = '198.51.100.7';
    const emails = Array.from({ length: 10 }, (_, i) => `ip-${i}-${randomUUID()}@example.com`);
    const responses = await Promise.all(
      emails.map((email) =>
        fetch(`${t.url}/passwordless/start`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'auth0-forwarded-for': ip },
          body: JSON.stringify({ client_id: NATIVE.client_id, client_secret: NATIVE.client_secret, connection: 'email', email, send: 'code' }),
        }),
      ),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([...Array(IP_CAP).fill(200), ...Array(10 - IP_CAP).fill(429)]);
    const counters = await t.sesame.services.db.prisma.counter.findMany({ select: { key: true, count: true } });
    const countOf = (key: string) => counters.find((c) => c.key === key)?.count;
    expect(countOf(`send-ip:${ip}`)).toBe(10);
    expect(countOf(`send-client:${NATIVE.client_id}`)).toBe(IP_CAP);
    for (const [i, email] of emails.entries()) {
      const mine = counters.filter((c) => c.key.startsWith(`send-cool:${email}:`) || c.key.startsWith(`send-hour:${email}`)).map((c) => [c.key.split(':')[0], c.count]);
      // Sent: the cooldown claimed (count 0), one send of the scope, one of the address.
      expect(mine.sort()).toEqual(
        responses[i]!.status === 200
          ? [
              ['send-cool', 0],
              ['send-hour', 1],
              ['send-hour', 1],
            ]
          : [],
      );
    }
  });
});
