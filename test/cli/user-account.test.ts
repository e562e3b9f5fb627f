// `sesame users block|unblock|export|delete` as support runs them: real child processes on a real database.
// Blocking ends the account's sessions and grants (an oidc-provider session and grant stored as the
// server stores them) and is audited via cli; export prints one JSON object of the account's data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/storage/db.js';
import { upsertVerifiedEmailUser, type User } from '../../src/storage/users.js';
import type { TestDatabase } from '../helpers/databases.js';
import { cliStore, type CliStore, failure, lastJson, sesame } from '../helpers/cli.js';

describe('sesame users block, unblock and export', { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let db: Db;
  let store: CliStore;
  let config: string;
  let alice: User;
  const run = (...args: string[]) => sesame(database.url, config, ['users', ...args]);

  beforeAll(async () => {
    store = await cliStore();
    ({ database, db, config } = store);
    alice = await upsertVerifiedEmailUser(db, 'alice@example.com');
    const expiresAt = new Date(Date.now() + 3600_000);
    const grant = { clientId: 'app', accountId: alice.id, openid: { scope: 'openid email' }, iat: Math.floor(Date.now() / 1000) };
    const session = { accountId: alice.id, loginTs: grant.iat, authorizations: { app: { grantId: 'g1' } } };
    await db.prisma.oidcPayload.createMany({
      data: [
        { model: 'Grant', id: 'g1', payload: JSON.stringify(grant), accountId: alice.id, expiresAt },
        { model: 'Session', id: 's1', uid: 'u1', payload: JSON.stringify(session), accountId: alice.id, expiresAt },
        { model: 'RefreshToken', id: 'r1', payload: '{}', grantId: 'g1', expiresAt },
      ],
    });
  });
  afterAll(() => store?.close());

  it('documents the commands in --help', async () => {
    const help = await sesame(database.url, config, ['users', '--help']);
    expect(help.code).toBe(0);
    for (const line of ['block <userId|email|phone>', 'unblock <userId|email|phone>', 'export <userId|email|phone>', 'block|unblock|export <userId|email|phone> [--json]']) {
      expect(help.stdout).toContain(line);
    }
  });

  it('exports the account as one JSON object, with its session and grant', async () => {
    const exported = lastJson(await run('export', 'alice@example.com', '--json'));
    expect(exported).toMatchObject({
      profile: { id: alice.id, email: 'alice@example.com', blocked: false },
      factors: [],
      passkeys: [],
      sessions: [{ id: 'u1', grantIds: ['g1'] }],
      grants: [{ id: 'g1', clientId: 'app', scope: 'openid email' }],
    });
  });

  it('blocks (ending sessions, grants and tokens) and unblocks, audited via cli', async () => {
    const blocked = lastJson(await run('block', alice.id, '--json'));
    expect(blocked).toMatchObject({ id: alice.id, blocked: true, blockedAt: expect.any(String) });
    expect(await db.prisma.oidcPayload.count({ where: { OR: [{ accountId: alice.id }, { grantId: 'g1' }] } })).toBe(0);
    const unblocked = await run('unblock', 'alice@example.com');
    expect([unblocked.code, unblocked.stderr, unblocked.stdout]).toEqual([0, '', `${alice.id} is not blocked\n`]);
    const audit = await db.prisma.auditEvent.findMany({ where: { userId: alice.id }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((e) => [e.type, e.clientId, e.reason])).toEqual([
      ['user.blocked', null, '2 sessions and grants ended via cli'],
      ['user.unblocked', null, 'via cli'],
    ]);
  });

  it('erases only with --yes, audited via cli', async () => {
    expect(failure(await run('delete', alice.id))).toBe('sesame: users delete: erasure cannot be undone; add --yes');
    expect(await db.prisma.user.count({ where: { id: alice.id } })).toBe(1);
    expect(lastJson(await run('delete', 'alice@example.com', '--yes', '--json'))).toEqual({ userId: alice.id, deleted: true });
    expect(await db.prisma.user.count({ where: { id: alice.id } })).toBe(0);
    const audit = await db.prisma.auditEvent.findMany({ where: { userId: alice.id, type: 'user.deleted' } });
    expect(audit.map((e) => [e.clientId, e.ip, e.reason])).toEqual([[null, null, 'via cli']]);
  });

  it('refuses bad input with one line', async () => {
    expect(failure(await run('block', 'nobody@example.com'))).toBe('sesame: users block: no user "nobody@example.com"');
    expect(failure(await run('export'))).toBe('sesame: users export: expected <userId|email|phone>');
  });
});
