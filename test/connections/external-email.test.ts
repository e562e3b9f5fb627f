// Emails asserted by external connections (issue 11 item 11), on both engines: an assertion naming
// someone else's address must not create an account that the address's owner later signs in to by
// code; only the operator joins them (`sesame users link`, run here as the real CLI), or trusts a
// connection to prove its emails (`trustEmails`). Asserted emails are normalised; a non-email is dropped.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateUserLoginUrl, type Profile } from 'sesame/connect';
import { ENGINES } from '../helpers/databases.js';
import { createServiceClient, type IssuedKey } from '../../src/connections/external.js';
import { finishAtRp, handOff, OPERATOR_LOGIN, signInByCode, startExternalSesame, type ExternalSesame } from './external-fixture.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

describe.each(ENGINES)('asserted emails on %s', { timeout: 180_000 }, (engine) => {
  let s: ExternalSesame;
  let dir: string;
  let configFile: string;
  /** Keys made with --allow-profile, per connection. */
  const keys: Record<string, IssuedKey> = {};
  const connections = [
    { id: 'corp', type: 'external' as const, name: 'Corp login', authorizationUrl: OPERATOR_LOGIN, accountId: 'acct1' },
    { id: 'trusted', type: 'external' as const, name: 'Trusted login', authorizationUrl: OPERATOR_LOGIN, accountId: 'acct2', trustEmails: true },
  ];

  beforeAll(async () => {
    s = await startExternalSesame(engine, connections);
    dir = mkdtempSync(join(tmpdir(), 'sesame-external-email-'));
    configFile = join(dir, 'sesame.json');
    writeFileSync(configFile, JSON.stringify({ connections: [{ id: 'email', type: 'email' }, ...connections] }));
    for (const connection of connections) keys[connection.id] = await createServiceClient(s.t.sesame.services.db, connection, { allowProfile: true });
  });
  afterAll(async () => {
    await s?.t.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A sign-in through `connection` as `userId`, asserting `profile` with Sesame's helper. */
  async function externalSignIn(connection: string, userId: string, profile: Profile) {
    const h = await handOff(s, connection);
    const key = keys[connection]!;
    return finishAtRp(s, h, await generateUserLoginUrl(key.accessKey, h.redirectUri, h.state, key.clientId, userId, profile));
  }

  const userRow = (id: string) => s.t.sesame.services.db.prisma.user.findUnique({ where: { id }, select: { email: true, emailVerified: true, name: true } });

  function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const env = { ...process.env, DATABASE_URL: s.t.database.url, LOG_LEVEL: 'silent', SESAME_CONFIG: configFile, NODE_ENV: 'test' };
    return new Promise((done) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  it('stores no email for an assertion of `not-an-email`, even from a trusted connection; the sign-in goes on', async () => {
    for (const connection of ['corp', 'trusted']) {
      const claims = await externalSignIn(connection, `odd-${connection}`, { email: 'not-an-email', name: 'Odd' });
      expect(claims).not.toHaveProperty('email');
      expect(claims).not.toHaveProperty('email_verified');
      expect(await userRow(claims.sub)).toEqual({ email: null, emailVerified: false, name: 'Odd' });
    }
  });

  it("does not let an asserted ` victim@example.com ` (or a plain one) absorb the victim's own code sign-in", async () => {
    const spaced = await externalSignIn('corp', 'mallory', { email: ' Victim@Example.com ', name: 'Mallory' });
    const plain = await externalSignIn('corp', 'mallory-2', { email: 'victim2@example.com' });
    for (const claims of [spaced, plain]) {
      expect(claims).not.toHaveProperty('email');
      expect((await userRow(claims.sub))!.email).toBeNull();
    }
    const victim = await signInByCode(s, 'victim@example.com');
    const victim2 = await signInByCode(s, 'victim2@example.com');
    expect(victim).toMatchObject({ email: 'victim@example.com', email_verified: true });
    expect(victim.sub).not.toBe(spaced.sub);
    expect(victim2).toMatchObject({ email: 'victim2@example.com', email_verified: true });
    expect(victim2.sub).not.toBe(plain.sub);
    // And the external identity still signs in to its own account, not the victim's.
    expect((await externalSignIn('corp', 'mallory', { email: 'victim@example.com' })).sub).toBe(spaced.sub);
  });

  it('joins the accounts once the operator links them with `sesame users link`', async () => {
    const external = await externalSignIn('corp', 'pat', { email: 'pat@example.com', name: 'Pat' });
    const owner = await signInByCode(s, 'pat@example.com');
    expect(owner.sub).not.toBe(external.sub);

    const linked = await cli('users', 'link', owner.sub, '--connection', 'corp', '--subject', 'pat', '--json');
    expect({ code: linked.code, stderr: linked.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(linked.stdout.trimEnd().split('\n').at(-1)!)).toEqual({ connection: 'corp', subject: 'pat', userId: owner.sub, previousUserId: external.sub });

    // The identity now signs in to the account of the code sign-in above.
    const viaCorp = await externalSignIn('corp', 'pat', { email: 'pat@example.com' });
    expect(viaCorp).toMatchObject({ sub: owner.sub, email: 'pat@example.com', email_verified: true });

    // Bad input: one line and a non-zero exit.
    const unknown = await cli('users', 'link', owner.sub, '--connection', 'corp', '--subject', 'nobody');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr.trim()).toBe('sesame: users link: no identity "nobody" of connection "corp" has signed in');
    const noUser = await cli('users', 'link', 'no-such-user', '--connection', 'corp', '--subject', 'pat');
    expect(noUser.code).not.toBe(0);
    expect(noUser.stderr.trim()).toBe('sesame: users link: no user "no-such-user"');
    const help = await cli('users', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('link    <userId> --connection <id> --subject <sub>');
  });

  it('keeps a normalised, verified email from a connection with trustEmails, which code sign-in then reaches', async () => {
    const external = await externalSignIn('trusted', 'quinn', { email: ' Quinn@Example.COM ', name: 'Quinn' });
    expect(external).toMatchObject({ email: 'quinn@example.com', email_verified: true, name: 'Quinn' });
    expect(await userRow(external.sub)).toEqual({ email: 'quinn@example.com', emailVerified: true, name: 'Quinn' });
    expect((await signInByCode(s, 'quinn@example.com')).sub).toBe(external.sub);
  });
});
