// `sesame users mfa` as support runs it ("I lost my phone and my recovery codes"): real child
// processes on a real database, factors made through the real enrolments (a TOTP code computed from
// the enrolment's secret). The account is named by id, email or phone; the reset removes every
// factor and recovery code of that account only, audited `mfa.reset` via cli.
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { keyring } from '../../src/passwordless/keyring.js';
import type { MfaDeps } from '../../src/passwordless/mfa/keys.js';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import { enrolOob } from '../../src/passwordless/mfa/oob.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import type { Db } from '../../src/storage/db.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser, type User } from '../../src/storage/users.js';
import type { TestDatabase } from '../helpers/databases.js';
import { cliStore, type CliStore, failure, lastJson, sesame } from '../helpers/cli.js';

const CREATED = new Date('2026-11-20T10:00:00Z');

describe('sesame users mfa', { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let db: Db;
  let store: CliStore;
  let config: string;
  let alice: User;
  let bob: User;
  let totpId: string;
  let recoveryId: string;
  let emailId: string;
  let bobTotp: string;
  const run = (...args: string[]) => sesame(database.url, config, ['users', 'mfa', ...args]);
  const remaining = async (user: User) => (await db.prisma.authenticator.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } })).map((a) => a.id);

  async function enrolApp(deps: MfaDeps, user: User): Promise<string> {
    const { authenticatorId, secret } = await enrolTotp(deps, user.id, CREATED);
    const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate({ timestamp: CREATED.getTime() });
    expect(await checkFactorCode(deps, user.id, { type: 'otp', code, confirming: authenticatorId }, { ip: '127.0.0.1' }, CREATED)).toEqual({ ok: true, authenticatorId });
    return authenticatorId;
  }

  beforeAll(async () => {
    store = await cliStore();
    ({ database, db, config } = store);
    const deps: MfaDeps = { config: loadConfig({}, { issuer: 'http://localhost:3000' }), db, mfaKeyring: keyring(['cli-test-mfa-key-0123456789abcdefghij']) };
    alice = await upsertVerifiedEmailUser(db, 'alice@example.com');
    bob = await upsertVerifiedPhoneUser(db, '+14155550123');
    totpId = await enrolApp(deps, alice);
    recoveryId = (await generateRecoveryCodes(deps, alice.id, new Date('2026-11-20T10:01:00Z'))).authenticatorId;
    emailId = (await enrolOob(deps, alice.id, { type: 'email', email: 'alice.backup@example.com' }, new Date('2026-11-21T10:00:00Z'))).id;
    bobTotp = await enrolApp(deps, bob);
  });
  afterAll(() => store?.close());

  it('lists an account named by email, id or phone, as JSON and as lines', async () => {
    expect(lastJson(await run('Alice@Example.com', '--json'))).toEqual({
      userId: alice.id,
      factors: [
        {
          id: totpId,
          type: 'totp',
          confirmed: true,
          name: null,
          phoneNumber: null,
          email: null,
          createdAt: '2026-11-20T10:00:00.000Z',
          lastUsedAt: '2026-11-20T10:00:00.000Z',
          remaining: null,
        },
        {
          id: recoveryId,
          type: 'recovery-code',
          confirmed: true,
          name: null,
          phoneNumber: null,
          email: null,
          createdAt: '2026-11-20T10:01:00.000Z',
          lastUsedAt: null,
          remaining: 10,
        },
        {
          id: emailId,
          type: 'email',
          confirmed: false,
          name: null,
          phoneNumber: null,
          email: 'alice.backup@example.com',
          createdAt: '2026-11-21T10:00:00.000Z',
          lastUsedAt: null,
          remaining: null,
        },
      ],
    });
    const lines = await run(alice.id);
    expect([lines.code, lines.stderr, lines.stdout]).toEqual([
      0,
      '',
      `${totpId}\ttotp\t-\tcreated 2026-11-20T10:00:00.000Z\tlast used 2026-11-20T10:00:00.000Z\n` +
        `${recoveryId}\trecovery-code\t10 left\tcreated 2026-11-20T10:01:00.000Z\tlast used never\n` +
        `${emailId}\temail\talice.backup@example.com (enrolment unfinished)\tcreated 2026-11-21T10:00:00.000Z\tlast used never\n`,
    ]);
    expect(lastJson(await run('+1 415 555 0123', '--json'))).toEqual({ userId: bob.id, factors: [expect.objectContaining({ id: bobTotp, type: 'totp', confirmed: true })] });
    // Nothing secret leaves: no sealed secret, no code hash.
    expect(lines.stdout).not.toMatch(/secret|hash/i);
  });

  it('refuses bad input with one line, removing nothing', async () => {
    expect(failure(await run('nobody@example.com'))).toBe('sesame: users mfa: no user "nobody@example.com"');
    expect(failure(await run())).toBe('sesame: users mfa: expected <userId|email|phone>');
    expect(failure(await run(alice.id, bob.id))).toBe('sesame: users mfa: expected <userId|email|phone>');
    expect(failure(await run(alice.id, '--remove', totpId))).toBe('sesame: users mfa: --remove is for passkeys; use --reset');
    expect([await remaining(alice), await remaining(bob)]).toEqual([[totpId, recoveryId, emailId], [bobTotp]]);
    expect(await db.prisma.auditEvent.count({ where: { type: { in: ['mfa.reset', 'mfa.removed'] } } })).toBe(0);
  });

  it('resets every factor and recovery code of one account, audited via cli; other accounts keep theirs', async () => {
    const reset = await run('alice@example.com', '--reset');
    expect([reset.code, reset.stderr, reset.stdout]).toEqual([0, '', `removed 3 factors of ${alice.id}\n`]);
    expect([await remaining(alice), await remaining(bob)]).toEqual([[], [bobTotp]]);
    expect(await db.prisma.recoveryCode.count({ where: { userId: alice.id } })).toBe(0);
    expect(lastJson(await run(alice.id, '--reset', '--json'))).toEqual({ userId: alice.id, removed: [] });
    const audit = await db.prisma.auditEvent.findMany({ where: { type: 'mfa.reset' }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((e) => ({ userId: e.userId, clientId: e.clientId, ip: e.ip, reason: e.reason }))).toEqual([
      { userId: alice.id, clientId: null, ip: null, reason: '3 via cli' },
      { userId: alice.id, clientId: null, ip: null, reason: '0 via cli' },
    ]);
    const none = await run('alice@example.com');
    expect([none.code, none.stdout]).toEqual([0, `${alice.id} has no second factors\n`]);
  });

  it('describes every form in --help', async () => {
    const help = await run('--help');
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toContain('| mfa <userId|email|phone> [--reset] [--json]');
    for (const form of ["mfa <userId|email|phone>        the account's second factors", '--reset                       removes every factor and recovery code']) {
      expect(help.stdout).toContain(form);
    }
  });
});
