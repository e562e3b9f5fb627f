// Passkey ceremonies on both engines, with a software authenticator making real WebAuthn responses:
// enrolment and sign-in, and each way a sign-in is refused (a used, foreign or expired challenge, an
// unknown credential, a phishing origin, a user handle of someone else, a clone whose counter went
// back), all with the one error that tells nothing about the account.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { relyingParty } from '../../src/config/passkeys.js';
import { createLogger } from '../../src/log.js';
import { finishAuthentication, finishRegistration, startAuthentication, startRegistration, type PasskeyDeps } from '../../src/passwordless/passkeys.js';
import type { Db } from '../../src/storage/db.js';
import { insertPasskey, listPasskeys } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';

const ORIGIN = 'http://localhost:3000';
const config = loadConfig({}, { issuer: ORIGIN });
const asker = (boundTo = 'interaction:one') => ({ boundTo, ip: '127.0.0.1', clientId: 'app' });

async function enrol(deps: PasskeyDeps, device: SoftAuthenticator, email = `${randomUUID()}@example.test`) {
  const user = await upsertVerifiedEmailUser(deps.db, email);
  const { handle, options } = await startRegistration(deps, { user }, asker());
  const registered = await finishRegistration(deps, handle, device.register(options), asker());
  const passkey = await insertPasskey(deps.db, { ...registered.credential, userId: registered.userId! });
  return { user, passkey, options };
}

async function signIn(deps: PasskeyDeps, device: SoftAuthenticator, change: (r: ReturnType<SoftAuthenticator['authenticate']>) => void = () => {}) {
  const { handle, options } = await startAuthentication(deps, asker());
  const response = device.authenticate(options);
  change(response);
  return finishAuthentication(deps, handle, response, asker());
}

async function failureReasons(db: Db): Promise<string[]> {
  return (await db.prisma.auditEvent.findMany({ where: { type: 'passkey.failed' }, orderBy: { createdAt: 'asc' } })).map((e) => e.reason ?? '');
}

describe('relying party', () => {
  it('is the issuer host, a parent domain when configured, and none on an IP issuer', () => {
    expect(relyingParty(config)).toEqual({ id: 'localhost', name: 'Sesame', origins: [ORIGIN] });
    const parent = loadConfig({}, { issuer: 'https://login.example.com', passkeys: { rpId: 'example.com', origins: ['https://app.example.com'] } });
    expect(relyingParty(parent)).toEqual({ id: 'example.com', name: 'Sesame', origins: ['https://login.example.com', 'https://app.example.com'] });
    expect(relyingParty(loadConfig({}, { issuer: 'http://127.0.0.1:3000' }))).toBeNull();
    expect(relyingParty(loadConfig({}, { issuer: ORIGIN, passkeys: { enabled: false } }))).toBeNull();
  });

  it('refuses at start an id WebAuthn would refuse', () => {
    expect(() => loadConfig({}, { issuer: 'https://login.example.com', passkeys: { rpId: 'other.com' } })).toThrow(
      'invalid configuration at passkeys.rpId: https://login.example.com is not under the relying party id other.com',
    );
    expect(() => loadConfig({}, { issuer: 'http://127.0.0.1:3000', passkeys: { rpId: '127.0.0.1' } })).toThrow(
      'invalid configuration at passkeys.rpId: a passkey relying party id cannot be an IP address (127.0.0.1); use a host name',
    );
  });
});

describe.each(ENGINES)('passkeys on %s', (engine) => {
  const deps = { config, log: createLogger('silent') } as PasskeyDeps;
  withMigratedDb(engine, (db) => (deps.db = db));

  it('enrol a user, then sign them in with no name typed (discoverable), moving the counter', async () => {
    const device = new SoftAuthenticator({ origin: ORIGIN });
    const { user, passkey, options } = await enrol(deps, device);
    expect(options.authenticatorSelection).toEqual({ residentKey: 'required', userVerification: 'required', requireResidentKey: true });
    expect(passkey).toMatchObject({ userId: user.id, counter: 1, deviceType: 'singleDevice', backedUp: false, aaguid: '00000000-0000-0000-0000-000000000000', name: null });
    const signedIn = await signIn(deps, device);
    expect([signedIn.userId, signedIn.synced, signedIn.passkey.id]).toEqual([user.id, false, passkey.id]);
    expect((await listPasskeys(deps.db, user.id))[0]).toMatchObject({ counter: 2, lastUsedAt: expect.any(Date) });
  });

  it('excludes the passkeys a user has when they add another', async () => {
    const device = new SoftAuthenticator({ origin: ORIGIN });
    const { user, passkey } = await enrol(deps, device);
    const { options } = await startRegistration(deps, { user }, asker());
    expect(options.excludeCredentials).toEqual([{ id: passkey.id, type: 'public-key', transports: ['internal'] }]);
  });

  it('answers a challenge once: a replayed, foreign-bound or expired one is refused', async () => {
    const device = new SoftAuthenticator({ origin: ORIGIN });
    await enrol(deps, device);
    const { handle, options } = await startAuthentication(deps, asker());
    const response = device.authenticate(options);
    await expect(finishAuthentication(deps, handle, response, asker('interaction:other'))).rejects.toMatchObject({ kind: 'passkeyExpired' });
    await finishAuthentication(deps, handle, response, asker());
    await expect(finishAuthentication(deps, handle, response, asker())).rejects.toMatchObject({ kind: 'passkeyExpired' });
    const late = await startAuthentication(deps, asker());
    const later = new Date(Date.now() + (config.passkeys.challengeTtl + 1) * 1000);
    await expect(finishAuthentication(deps, late.handle, device.authenticate(late.options), asker(), later)).rejects.toMatchObject({ kind: 'passkeyExpired' });
  });

  it('lets exactly one of two parallel redemptions of a challenge through', async () => {
    const device = new SoftAuthenticator({ origin: ORIGIN });
    await enrol(deps, device);
    const { handle, options } = await startAuthentication(deps, asker());
    const response = device.authenticate(options);
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => finishAuthentication(deps, handle, response, asker())));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses with one error an unknown credential, a phishing origin, a foreign user handle and a clone', async () => {
    const device = new SoftAuthenticator({ origin: ORIGIN });
    const { passkey } = await enrol(deps, device);
    const stranger = new SoftAuthenticator({ origin: ORIGIN });
    await startRegistration(deps, { user: await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`) }, asker()).then((c) => stranger.register(c.options));
    await expect(signIn(deps, stranger)).rejects.toMatchObject({ kind: 'passkeyFailed' });

    const phished = await startAuthentication(deps, asker());
    const fromPhisher = device.authenticate(phished.options, { clientDataOrigin: 'https://evil.example' });
    await expect(finishAuthentication(deps, phished.handle, fromPhisher, asker())).rejects.toMatchObject({ kind: 'passkeyFailed' });

    const other = await enrol(deps, new SoftAuthenticator({ origin: ORIGIN }));
    const otherHandle = (await deps.db.prisma.user.findUnique({ where: { id: other.user.id } }))!.passkeyHandle!;
    await expect(signIn(deps, device, (r) => (r.response.userHandle = otherHandle))).rejects.toMatchObject({ kind: 'passkeyFailed' });

    const clone = new SoftAuthenticator({ origin: ORIGIN });
    clone.importCredential(device.exportCredential(passkey.id));
    await signIn(deps, device);
    await signIn(deps, device);
    await expect(signIn(deps, clone)).rejects.toMatchObject({ kind: 'passkeyFailed' });
    // The cloned credential is gone, so neither copy can retry its way past the stored counter (their
    // refusals count on the first 'unknown credential' row).
    expect(await listPasskeys(deps.db, passkey.userId)).toEqual([]);
    await expect(signIn(deps, clone)).rejects.toMatchObject({ kind: 'passkeyFailed' });
    await expect(signIn(deps, device)).rejects.toMatchObject({ kind: 'passkeyFailed' });
    const reasons = await failureReasons(deps.db);
    expect(reasons.slice(-4)).toEqual([
      'unknown credential',
      'Unexpected authentication response origin "https://evil.example", expected one of: http://localhost:3000',
      'user handle does not match the credential',
      // The device signed 2 (phished), 3 (wrong handle), 4 and 5; the clone, copied at 3, says 4.
      'counter went back (5 -> 4): possible clone',
    ]);
  });

  it('refuses a registration without user verification', async () => {
    const user = await upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
    const { handle, options } = await startRegistration(deps, { user }, asker());
    const device = new SoftAuthenticator({ origin: ORIGIN, uv: false });
    const response = device.register({ ...options, authenticatorSelection: { ...options.authenticatorSelection, userVerification: 'preferred' } });
    await expect(finishRegistration(deps, handle, response, asker())).rejects.toMatchObject({ kind: 'passkeyFailed' });
    expect((await failureReasons(deps.db)).at(-1)).toBe('registration: User verification was required, but user could not be verified');
  });
});
