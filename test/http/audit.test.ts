// Anonymous traffic must not grow the audit table without bound: identical refusals within a
// minute count on one row, and rows older than the retention are swept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { sweepExpired } from '../../src/storage/sweep.js';
import { recordAudit } from '../../src/storage/audit.js';

const CORP = { id: 'corp', type: 'external', name: 'Corp', authorizationUrl: 'https://login.corp.example/sesame', accountId: 'acct1' };
const REFUSED = [
  400,
  { error: 'external_missing_parameters', error_description: 'The sign-in service sent the user back without code, iss and state. Its redirect must carry all three.' },
];
const HOUR = 3600_000;

describe.each(ENGINES)('audit log on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, { connections: [{ id: 'email', type: 'email' }, CORP], audit: { retention: 86400 } });
  });
  afterAll(() => t?.stop());

  const refusedCallback = async () => {
    const res = await fetch(`${t.url}/connections/corp/callback`, { headers: { accept: 'application/json' } });
    return [res.status, await res.json()];
  };

  it('counts 200 identical refused callbacks on one row or a few', async () => {
    const answers = [await refusedCallback()];
    // Then in parallel batches, as a flood would come.
    while (answers.length < 200) answers.push(...(await Promise.all(Array.from({ length: Math.min(20, 200 - answers.length) }, refusedCallback))));
    expect(answers).toEqual(Array.from({ length: 200 }, () => REFUSED));
    const rows = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'external.failed' } });
    // One row per minute of flood at most (the window is a minute); the count is exact.
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.length).toBeLessThanOrEqual(3);
    expect(rows.reduce((sum, row) => sum + row.count, 0)).toBe(200);
    expect(rows.map(({ type, ip, reason, identifier, clientId }) => ({ type, ip, reason, identifier, clientId }))).toEqual(
      rows.map(() => ({ type: 'external.failed', ip: '127.0.0.1', reason: 'missing_parameters', identifier: 'corp:?', clientId: null })),
    );
    expect(rows.every((row) => row.lastAt !== null && row.lastAt >= row.createdAt)).toBe(true);
  });

  it('keeps distinct refusals apart, and successes each on their row', async () => {
    const db = t.sesame.services.db;
    const at = new Date(Date.now() - 10 * HOUR);
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.1']) await recordAudit(db, { type: 'code.send_limited', ip, reason: 'ip' }, at);
    // Successes are never counted together.
    for (let i = 0; i < 2; i++) await recordAudit(db, { type: 'login', userId: 'u1', ip: '203.0.113.1' }, at);
    expect(await db.prisma.auditEvent.count({ where: { type: 'login', userId: 'u1' } })).toBe(2);
    const rows = await db.prisma.auditEvent.findMany({ where: { type: 'code.send_limited' }, orderBy: { ip: 'asc' } });
    expect(rows.map(({ ip, count }) => ({ ip, count }))).toEqual([
      { ip: '203.0.113.1', count: 2 },
      { ip: '203.0.113.2', count: 1 },
    ]);
  });

  it('sweeps events whose latest occurrence is older than the retention', async () => {
    const db = t.sesame.services.db;
    const retention = t.sesame.services.config.audit.retention * 1000;
    const now = Date.now();
    // One event that stopped repeating long ago, one first seen long ago but repeated recently.
    const old = new Date(now - retention - HOUR);
    await recordAudit(db, { type: 'sweep.failed', ip: '198.51.100.1' }, old);
    await recordAudit(db, { type: 'sweep.refused', ip: '198.51.100.2' }, new Date(now - retention - 30_000));
    await recordAudit(db, { type: 'sweep.refused', ip: '198.51.100.2' }, new Date(now - retention + 20_000));
    const types = async () => (await db.prisma.auditEvent.findMany({ where: { type: { startsWith: 'sweep.' } }, orderBy: { type: 'asc' } })).map((r) => [r.type, r.count]);
    expect(await types()).toEqual([
      ['sweep.failed', 1],
      ['sweep.refused', 2],
    ]);

    const swept = await sweepExpired(db, { auditRetention: t.sesame.services.config.audit.retention }, new Date(now));
    expect(swept.audit).toBe(1);
    expect(await types()).toEqual([['sweep.refused', 2]]);
    // The flood of the first test is recent: kept until the retention has passed for it too.
    expect(await db.prisma.auditEvent.count({ where: { type: 'external.failed' } })).toBeGreaterThan(0);
    await sweepExpired(db, { auditRetention: t.sesame.services.config.audit.retention }, new Date(now + retention + 120_000));
    expect(await db.prisma.auditEvent.count()).toBe(0);
  });
});
