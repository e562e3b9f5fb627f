// `sesame users passkeys` as support runs it ("I lost my phone"): real child processes on a real
// database seeded through the real ceremonies. The account is named by id, email or phone; removal is
// audited as done "via cli"; another account's passkey is refused by name and stays.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { finishRegistration, startRegistration, type PasskeyDeps } from '../../src/passwordless/passkeys.js';
import type { Db } from '../../src/storage/db.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser, type User } from '../../src/storage/users.js';
import type { TestDatabase } from '../helpers/databases.js';
import { cliStore, type CliStore, failure, lastJson, sesame } from '../helpers/cli.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

const ORIGIN = 'http://localhost:3000';
const ICLOUD = 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd';
const asker = { boundTo: 'interaction:cli-test', clientId: 'app', ip: '127.0.0.1' };

// Each command is a fresh Node process (a few seconds on a loaded machine), run one at a time.
describe('sesame users passkeys', { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let db: Db;
  let store: CliStore;
  let config: string;
  let alice: User;
  let bob: User;
  const alicePasskeys: string[] = [];
  let bobPasskey: string;
  const run = (...args: string[]) => sesame(database.url, config, ['users', 'passkeys', ...args]);
  const removals = () => db.prisma.auditEvent.findMany({ where: { type: 'passkey.removed' }, orderBy: { createdAt: 'asc' } });
  const remaining = async (user: User) => (await db.prisma.passkey.findMany({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } })).map((p) => p.id);

  async function enrol(deps: PasskeyDeps, user: User, device: SoftAuthenticator, at: Date): Promise<string> {
    const { handle, options } = await startRegistration(deps, { user }, asker);
    const registered = await finishRegistration(deps, handle, device.register(options), asker);
    return (await insertPasskey(deps.db, { ...registered.credential, userId: user.id }, at)).id;
  }

  beforeAll(async () => {
    store = await cliStore();
    ({ database, db, config } = store);
    const deps: PasskeyDeps = { config: loadConfig({}, { issuer: ORIGIN }), db, log: createLogger('silent') };
    alice = await upsertVerifiedEmailUser(db, 'alice@example.com');
    bob = await upsertVerifiedPhoneUser(db, '+14155550123');
    alicePasskeys.push(await enrol(deps, alice, new SoftAuthenticator({ origin: ORIGIN }), new Date('2026-11-01T10:00:00Z')));
    const phone = new SoftAuthenticator({ origin: ORIGIN, backupEligible: true, backedUp: true, aaguid: ICLOUD });
    alicePasskeys.push(await enrol(deps, alice, phone, new Date('2026-11-20T10:00:00Z')));
    bobPasskey = await enrol(deps, bob, new SoftAuthenticator({ origin: ORIGIN }), new Date('2026-11-21T10:00:00Z'));
    await db.prisma.passkey.update({ where: { id: alicePasskeys[1] }, data: { lastUsedAt: new Date('2026-11-29T08:30:00Z') } });
  });
  afterAll(() => store?.close());

  it('lists an account named by email or phone, as JSON and as lines', async () => {
    expect(lastJson(await run('Alice@Example.com', '--json'))).toEqual({
      userId: alice.id,
      passkeys: [
        {
          id: alicePasskeys[1],
          name: 'iCloud Keychain',
          authenticator: 'iCloud Keychain',
          aaguid: ICLOUD,
          synced: true,
          transports: ['internal'],
          createdAt: '2026-11-20T10:00:00.000Z',
          lastUsedAt: '2026-11-29T08:30:00.000Z',
        },
        {
          id: alicePasskeys[0],
          name: null,
          authenticator: null,
          aaguid: '00000000-0000-0000-0000-000000000000',
          synced: false,
          transports: ['internal'],
          createdAt: '2026-11-01T10:00:00.000Z',
          lastUsedAt: null,
        },
      ],
    });
    const lines = await run(alice.id);
    expect([lines.code, lines.stderr, lines.stdout]).toEqual([
      0,
      '',
      `${alicePasskeys[1]}\tiCloud Keychain\tsynced\tcreated 2026-11-20T10:00:00.000Z\tlast used 2026-11-29T08:30:00.000Z\n` +
        `${alicePasskeys[0]}\tpasskey\tdevice-bound\tcreated 2026-11-01T10:00:00.000Z\tlast used never\n`,
    ]);
    expect(lastJson(await run('+1 415 555 0123', '--json'))).toEqual({ userId: bob.id, passkeys: [expect.objectContaining({ id: bobPasskey, synced: false })] });
  });

  it("refuses another account's passkey and bad input with one line, removing nothing", async () => {
    expect(failure(await run('alice@example.com', `--remove=${bobPasskey}`))).toBe(`sesame: users passkeys: ${alice.id} has no passkey "${bobPasskey}"`);
    expect(failure(await run('nobody@example.com'))).toBe('sesame: users passkeys: no user "nobody@example.com"');
    expect(failure(await run('alice@example.com', `--remove=${alicePasskeys[0]}`, '--remove-all'))).toBe('sesame: users passkeys: give --remove <id> or --remove-all, not both');
    // Credential ids are base64url: one in 64 starts with a dash, which parseArgs takes for an option.
    expect(failure(await run('alice@example.com', '--remove', '-x9'))).toBe(
      "sesame: Option '--remove' argument is ambiguous. To specify an option argument starting with a dash use '--remove=-XYZ'.",
    );
    expect(failure(await run())).toBe('sesame: users passkeys: expected <userId|email|phone>');
    expect([await remaining(alice), await remaining(bob), await removals()]).toEqual([alicePasskeys, [bobPasskey], []]);
  });

  it('removes one passkey, then all the rest, each audited via cli; other accounts keep theirs', async () => {
    expect(lastJson(await run('alice@example.com', `--remove=${alicePasskeys[1]}`, '--json'))).toEqual({ userId: alice.id, removed: [alicePasskeys[1]] });
    expect(await remaining(alice)).toEqual([alicePasskeys[0]]);
    const all = await run(alice.id, '--remove-all');
    expect([all.code, all.stderr, all.stdout]).toEqual([0, '', `removed 1 passkey of ${alice.id}\n`]);
    expect(lastJson(await run(alice.id, '--remove-all', '--json'))).toEqual({ userId: alice.id, removed: [] });
    expect((await removals()).map((e) => ({ userId: e.userId, clientId: e.clientId, ip: e.ip, reason: e.reason }))).toEqual([
      { userId: alice.id, clientId: null, ip: null, reason: `${alicePasskeys[1]} via cli` },
      { userId: alice.id, clientId: null, ip: null, reason: `${alicePasskeys[0]} via cli` },
    ]);
    expect([await remaining(alice), await remaining(bob)]).toEqual([[], [bobPasskey]]);
    const none = await run('alice@example.com');
    expect([none.code, none.stdout]).toEqual([0, `${alice.id} has no passkeys\n`]);
  });

  it('describes every form in --help', async () => {
    const help = await run('--help');
    expect([help.code, help.stderr]).toEqual([0, '']);
    expect(help.stdout).toContain('| passkeys <userId|email|phone> [--remove <id> | --remove-all] [--json]');
    for (const form of [
      "passkeys <userId|email|phone>   the account's passkeys",
      '--remove <id>                 removes that passkey',
      '--remove-all                  removes all of them',
    ]) {
      expect(help.stdout).toContain(form);
    }
  });
});
