// `sesame actions` as an operator runs it: real child processes on a real database. A secret key only
// for a client that exists, shown once and replacing the old one; decisions listed with filters;
// one explained (facts, matched rules, who decided); a held action approved once, audited via cli.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { tenantOfSecret } from '../../src/passwordless/action-tenants.js';
import { trackAction } from '../../src/passwordless/actions.js';
import type { ActionDecisionRow } from '../../src/storage/action-decisions.js';
import { openDb, type Db } from '../../src/storage/db.js';
import { migrate } from '../../src/storage/migrate.js';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import { failure, lastJson, sesame } from '../helpers/cli.js';

const SHOP = { client_id: 'shop', client_secret: 'shop-secret-shop-secret-shop-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] };
const POLICIES = {
  wire: {
    rules: [{ ruleId: 'big', name: 'Big transfer', priority: 0, type: 'REVIEW', conditions: { '>': [{ var: 'custom.amount' }, 100] } }],
  },
};

describe('sesame actions', { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let db: Db;
  let dir: string;
  let config: string;
  let held: ActionDecisionRow;
  let allowed: ActionDecisionRow;
  const run = (...args: string[]) => sesame(database.url, config, ['actions', ...args]);

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    dir = mkdtempSync(join(tmpdir(), 'sesame-cli-actions-'));
    config = join(dir, 'sesame.json');
    writeFileSync(config, JSON.stringify({ clients: [SHOP], actions: { policies: POLICIES } }));
    await migrate(database.url);
    db = openDb(database.url);
    const deps = { config: loadConfig({}, { actions: { policies: POLICIES } }), db };
    const base = { tenantId: 'shop', actionCode: 'wire', ip: '203.0.113.5' };
    held = (await trackAction(deps, { ...base, userId: 'ann', custom: { amount: 500 }, idempotencyKey: 'k-held' })).row;
    allowed = (await trackAction(deps, { ...base, userId: 'bob', custom: { amount: 5 }, idempotencyKey: 'k-allowed' })).row;
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issues a secret key only for an existing client, shown once, replacing the earlier one', async () => {
    expect(failure(await run('secret', 'nobody', '--json'))).toBe('sesame: actions secret: no client "nobody"');
    expect(failure(await run('secret'))).toBe('sesame: actions secret: expected <client_id>');
    const first = lastJson(await run('secret', 'shop', '--json'));
    expect(first).toEqual({ secretKey: expect.stringMatching(/^sk_[A-Za-z0-9_-]{43}$/) });
    expect(await tenantOfSecret(db, first.secretKey)).toBe('shop');
    const second = await run('secret', 'shop');
    expect(second.stdout).toMatch(/^secret key of shop \(shown once; any earlier key no longer works\):\nsk_[A-Za-z0-9_-]{43}\n$/);
    expect(await tenantOfSecret(db, first.secretKey)).toBeNull();
    expect(await tenantOfSecret(db, second.stdout.trim().split('\n')[1]!)).toBe('shop');
    expect(await db.prisma.auditEvent.count({ where: { type: 'action.secret.issued', clientId: 'shop', reason: 'cli' } })).toBe(2);
  });

  it('lists decisions newest first with filters, and explains one', async () => {
    const entry = (row: ActionDecisionRow, state: string, ruleIds: string[]) => ({
      id: row.id,
      tenantId: 'shop',
      userId: row.userId,
      actionCode: 'wire',
      idempotencyKey: row.idempotencyKey,
      outcome: row.outcome,
      state,
      ruleIds,
      createdAt: row.createdAt.toISOString(),
      stateUpdatedAt: expect.any(String),
    });
    expect(lastJson(await run('list', '--tenant', 'shop', '--json'))).toEqual({ decisions: [entry(allowed, 'ALLOW', []), entry(held, 'REVIEW_REQUIRED', ['big'])] });
    expect(lastJson(await run('list', '--user', 'ann', '--state', 'REVIEW_REQUIRED', '--json')).decisions.map((d: { id: string }) => d.id)).toEqual([held.id]);
    expect(lastJson(await run('list', '--tenant', 'elsewhere', '--json'))).toEqual({ decisions: [] });
    expect(failure(await run('list', '--state', 'DONE'))).toMatch(/^sesame: actions list: --state must be one of ALLOW, BLOCK, /);
    expect(lastJson(await run('explain', held.id, '--json'))).toMatchObject({
      id: held.id,
      outcome: 'REVIEW',
      decidedBy: { ruleId: 'big', name: 'Big transfer' },
      matched: [{ ruleId: 'big', name: 'Big transfer' }],
      facts: { custom: { amount: 500 } },
      ip: '203.0.113.5',
      reviewedBy: null,
    });
    const lines = (await run('explain', allowed.id)).stdout.split('\n');
    expect(lines.slice(1, 4)).toEqual(['outcome ALLOW, decided by the default outcome (no rule matched)', 'matched: none', 'facts: {"custom":{"amount":5}}']);
    expect(failure(await run('explain', 'no-such-id'))).toBe('sesame: no decision "no-such-id"');
  });

  it('settles a held action once, audited via cli, and refuses what is not held', async () => {
    expect(failure(await run('review', held.id, 'maybe'))).toBe('sesame: actions review: expected approve or deny');
    expect(lastJson(await run('review', held.id, 'approve', '--json'))).toMatchObject({ id: held.id, state: 'REVIEW_SUCCEEDED' });
    expect(failure(await run('review', held.id, 'deny'))).toBe(`sesame: actions review: decision ${held.id} is REVIEW_SUCCEEDED, not REVIEW_REQUIRED`);
    expect(failure(await run('review', allowed.id, 'approve'))).toBe(`sesame: actions review: decision ${allowed.id} is ALLOW, not REVIEW_REQUIRED`);
    const audit = await db.prisma.auditEvent.findMany({ where: { type: { startsWith: 'action.review' } }, select: { type: true, clientId: true, identifier: true, reason: true } });
    expect(audit).toEqual([{ type: 'action.review.approved', clientId: 'shop', identifier: held.id, reason: 'via cli' }]);
    expect((await run('--help')).stdout).toContain('review <decision id> approve|deny');
  });
});
