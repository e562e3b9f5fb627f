// The MFA policy on both engines: whether a sign-in needs a second factor and which, for every
// policy (global and per client), an acr request, a remembered browser and an adaptive decision;
// and the rule that a second factor is of another kind than the first (an email code then an
// email factor proves one inbox twice). Also Auth0's mfa_tokens: client-bound, expiring, spent once.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { AMR, passkeyAmr } from '../../src/oidc/acr.js';
import { keyring } from '../../src/passwordless/keyring.js';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import type { MfaDeps } from '../../src/passwordless/mfa/keys.js';
import { enrolOob } from '../../src/passwordless/mfa/oob.js';
import { mfaNeed, type MfaPolicyConfig } from '../../src/passwordless/mfa/policy.js';
import { generateRecoveryCodes, useRecoveryCode } from '../../src/passwordless/mfa/recovery-codes.js';
import { issueMfaToken, readMfaToken, spendMfa } from '../../src/passwordless/mfa/tokens.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { confirmAuthenticator } from '../../src/storage/mfa.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { Secret, TOTP } from 'otpauth';
import { ENGINES, withMigratedDb } from '../helpers/databases.js';

const SMS = { id: 'sms', type: 'sms', provider: { type: 'capture' }, allowedCountries: ['FR'] };
const configured = (mfa: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  loadConfig({}, { issuer: 'http://localhost:3000', mfa, connections: [{ id: 'email', type: 'email' }, SMS], ...extra }) as MfaPolicyConfig & ReturnType<typeof loadConfig>;

describe.each(ENGINES)('the MFA policy on %s', (engine) => {
  const deps = { config: configured(), mfaKeyring: keyring(['mfa-key-0123456789abcdefghijklmnopqrs']) } as MfaDeps;
  withMigratedDb(engine, (db) => (deps.db = db));
  const newUser = () => upsertVerifiedEmailUser(deps.db, `${randomUUID()}@example.test`);
  const email = [...AMR.emailCode];
  const sms = [...AMR.smsCode];

  async function withTotp() {
    const user = await newUser();
    const { authenticatorId, secret } = await enrolTotp(deps, user.id);
    const code = new TOTP({ secret: Secret.fromBase32(secret) }).generate();
    expect(await checkFactorCode(deps, user.id, { type: 'otp', code, confirming: authenticatorId }, { ip: '10.9.8.7' })).toEqual({ ok: true, authenticatorId });
    return { user, authenticatorId };
  }

  it('asks nothing under `never`, and nothing of users without a factor under `enrolled`', async () => {
    const { user } = await withTotp();
    expect(await mfaNeed(configured({ policy: 'never' }), deps.db, { userId: user.id, amr: email })).toEqual({ kind: 'none' });
    const bare = await newUser();
    expect(await mfaNeed(configured({ policy: 'enrolled' }), deps.db, { userId: bare.id, amr: email })).toEqual({ kind: 'none' });
  });

  it('challenges an enrolled user with their factors, the default first and recovery codes last', async () => {
    const { user, authenticatorId } = await withTotp();
    const recovery = await generateRecoveryCodes(deps, user.id);
    const need = await mfaNeed(configured({ policy: 'enrolled' }), deps.db, { userId: user.id, amr: email });
    expect(need.kind === 'challenge' && need.factors.map((f) => [f.id, f.type])).toEqual([
      [authenticatorId, 'totp'],
      [recovery.authenticatorId, 'recovery-code'],
    ]);
    // Spent recovery codes are no way back.
    for (const code of recovery.codes) expect(await useRecoveryCode(deps, user.id, code)).toBe(true);
    const after = await mfaNeed(configured({ policy: 'enrolled' }), deps.db, { userId: user.id, amr: email });
    expect(after.kind === 'challenge' && after.factors.map((f) => f.type)).toEqual(['totp']);
  });

  it('never follows a first factor with one of the same kind: email after email, SMS after SMS', async () => {
    const user = await newUser();
    const byEmail = await enrolOob(deps, user.id, { type: 'email', email: `other-${randomUUID()}@example.test` });
    expect(await confirmAuthenticator(deps.db, user.id, byEmail.id)).toBe(true);
    const policy = configured({ policy: 'always' });
    // After an email code the user's only factor does not count: they must enrol another kind.
    expect(await mfaNeed(policy, deps.db, { userId: user.id, amr: email })).toEqual({ kind: 'enroll', types: ['totp', 'sms', 'passkey'] });
    const afterSms = await mfaNeed(policy, deps.db, { userId: user.id, amr: sms });
    expect(afterSms.kind === 'challenge' && afterSms.factors.map((f) => f.id)).toEqual([byEmail.id]);
    expect(await mfaNeed(policy, deps.db, { userId: user.id, amr: ['ext'] })).toMatchObject({ kind: 'challenge' });
    const bare = await newUser();
    expect(await mfaNeed(policy, deps.db, { userId: bare.id, amr: sms })).toEqual({ kind: 'enroll', types: ['totp', 'email', 'passkey'] });
  });

  it('offers only the factors this configuration has: no SMS without a connection, no passkey on an IP issuer', async () => {
    const user = await newUser();
    const bare = loadConfig({}, { issuer: 'http://127.0.0.1:3000', mfa: { policy: 'always' } });
    expect(await mfaNeed(bare, deps.db, { userId: user.id, amr: email })).toEqual({ kind: 'enroll', types: ['totp'] });
    const chosen = configured({ policy: 'always', factors: ['sms', 'recovery-code'] });
    expect(await mfaNeed(chosen, deps.db, { userId: user.id, amr: email })).toEqual({ kind: 'enroll', types: ['sms'] });
  });

  it('takes a passkey sign-in as MFA, unless passkeys were taken out of mfa.factors', async () => {
    const { user } = await withTotp();
    for (const synced of [false, true]) {
      expect(await mfaNeed(configured({ policy: 'always' }), deps.db, { userId: user.id, amr: passkeyAmr(synced) })).toEqual({ kind: 'none' });
    }
    const withoutPasskeys = configured({ policy: 'always', factors: ['totp'] });
    expect(await mfaNeed(withoutPasskeys, deps.db, { userId: user.id, amr: passkeyAmr(false) })).toMatchObject({ kind: 'challenge' });
    expect(await mfaNeed(configured({ policy: 'always' }), deps.db, { userId: user.id, amr: [...email, 'otp', 'mfa'] })).toEqual({ kind: 'none' });
  });

  it('lists a passkey as a factor to challenge with after a code sign-in', async () => {
    const user = await newUser();
    const id = randomUUID();
    await insertPasskey(deps.db, {
      id,
      userId: user.id,
      publicKey: 'AAAA',
      counter: 0,
      transports: ['internal'],
      deviceType: 'singleDevice',
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: null,
    });
    const need = await mfaNeed(configured({ policy: 'enrolled' }), deps.db, { userId: user.id, amr: email });
    expect(need).toEqual({ kind: 'challenge', factors: [{ id: 'passkey', type: 'passkey' }] });
  });

  it("lets a client's mfa_policy win over the global one, and an acr request over both", async () => {
    const { user } = await withTotp();
    const bare = await newUser();
    const never = configured({ policy: 'never' });
    expect(await mfaNeed(never, deps.db, { userId: user.id, amr: email, clientPolicy: 'enrolled' })).toMatchObject({ kind: 'challenge' });
    expect(await mfaNeed(never, deps.db, { userId: bare.id, amr: email, clientPolicy: 'always' })).toMatchObject({ kind: 'enroll' });
    expect(await mfaNeed(configured({ policy: 'always' }), deps.db, { userId: bare.id, amr: email, clientPolicy: 'never' })).toEqual({ kind: 'none' });
    expect(await mfaNeed(never, deps.db, { userId: user.id, amr: email, clientPolicy: 'never', requested: true })).toMatchObject({ kind: 'challenge' });
    expect(await mfaNeed(never, deps.db, { userId: bare.id, amr: email, requested: true })).toMatchObject({ kind: 'enroll' });
  });

  it('lets a remembered browser skip the policy but not a request for MFA', async () => {
    const { user } = await withTotp();
    const always = configured({ policy: 'always' });
    expect(await mfaNeed(always, deps.db, { userId: user.id, amr: email, remembered: true })).toEqual({ kind: 'none' });
    expect(await mfaNeed(always, deps.db, { userId: user.id, amr: email, remembered: true, requested: true })).toMatchObject({ kind: 'challenge' });
  });

  it('follows the risk decision under `adaptive`, and acts as `enrolled` without one', async () => {
    const { user } = await withTotp();
    const bare = await newUser();
    const adaptive = configured({ policy: 'adaptive' });
    expect(await mfaNeed(adaptive, deps.db, { userId: user.id, amr: email })).toMatchObject({ kind: 'challenge' });
    expect(await mfaNeed(adaptive, deps.db, { userId: bare.id, amr: email })).toEqual({ kind: 'none' });
    expect(await mfaNeed(adaptive, deps.db, { userId: user.id, amr: email, adaptive: 'allow' })).toEqual({ kind: 'none' });
    expect(await mfaNeed(adaptive, deps.db, { userId: bare.id, amr: email, adaptive: 'challenge' })).toMatchObject({ kind: 'enroll' });
  });

  it('takes recovery codes alone (an abandoned enrolment) as no factor: nothing under `enrolled`, enrolment under `always`', async () => {
    const user = await newUser();
    await generateRecoveryCodes(deps, user.id);
    expect(await mfaNeed(configured({ policy: 'enrolled' }), deps.db, { userId: user.id, amr: email })).toEqual({ kind: 'none' });
    expect(await mfaNeed(configured({ policy: 'always' }), deps.db, { userId: user.id, amr: email })).toMatchObject({ kind: 'enroll' });
  });

  it('keeps an mfa_token to its client and lifetime, and lets one grant spend it, also when raced', async () => {
    const user = await newUser();
    const signIn = { clientId: 'app', userId: user.id, amr: email, scope: 'openid offline_access', resource: 'https://api.example.test' };
    const now = new Date();
    const token = await issueMfaToken(deps, signIn, now);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(await deps.db.prisma.mfaToken.findMany({ where: { userId: user.id } }))).not.toContain(token);
    expect(await readMfaToken(deps, token, 'app', now)).toEqual({ ok: true, signIn, expiresAt: new Date(now.getTime() + 600_000) });
    expect(await readMfaToken(deps, token, 'other-app', now)).toEqual({ ok: false, reason: 'invalid' });
    expect(await readMfaToken(deps, `${token}x`, 'app', now)).toEqual({ ok: false, reason: 'invalid' });
    expect(await readMfaToken(deps, 42, 'app', now)).toEqual({ ok: false, reason: 'invalid' });
    expect(await readMfaToken(deps, token, 'app', new Date(now.getTime() + 600_000))).toEqual({ ok: false, reason: 'expired' });
    expect(await spendMfa(deps, token, new Date(now.getTime() + 600_000))).toBe(false);

    const spent = await Promise.all(Array.from({ length: 8 }, () => spendMfa(deps, token, now)));
    expect(spent.filter(Boolean)).toHaveLength(1);
    expect(await readMfaToken(deps, token, 'app', now)).toEqual({ ok: false, reason: 'invalid' });
  });
});
