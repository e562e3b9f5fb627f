// A user's authenticators through the real @authsignal/node SDK on both engines: enrolling an SMS
// or email factor the tenant verified (recovery codes with the first, shown once), listing factors
// and passkeys in Authsignal's shape, deleting by ids holding `|`; a Sesame user's factors change
// only for a tenant it signed in to, and every change is audited and emailed to the user.
import { randomUUID } from 'node:crypto';
import { Authsignal, type AuthsignalError, type VerificationMethod } from '@authsignal/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { tenantUserId } from '../../src/passwordless/action-users.js';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { failureOf } from './authsignal-fixture.js';

const SMS = 'SMS' as VerificationMethod;
const EMAIL_OTP = 'EMAIL_OTP' as VerificationMethod;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe.each(ENGINES)('Authsignal authenticators API on %s', (engine) => {
  let t: TestSesame;
  let shop: Authsignal;
  let other: Authsignal;
  beforeAll(async () => {
    t = await startTestSesame(engine, { features: { authsignalApi: { enabled: true } } });
    const client = async (tenant: string) => new Authsignal({ apiSecretKey: await issueTenantSecret(t.sesame.services.db, tenant), apiUrl: `${t.url}/v1`, retries: 0 });
    shop = await client('shop');
    other = await client('other-shop');
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;

  async function sesameUserOf(clientId: string) {
    const user = await upsertVerifiedEmailUser(db(), `u-${randomUUID()}@example.test`);
    await db().prisma.oidcPayload.create({ data: { model: 'Grant', id: randomUUID(), accountId: user.id, payload: JSON.stringify({ accountId: user.id, clientId }) } });
    return user;
  }

  it('enrols a verified SMS factor with recovery codes the first time, lists it, and refuses a second one', async () => {
    const userId = `app-${randomUUID()}`;
    const enrolled = await shop.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: SMS, phoneNumber: '+14155550123' } });
    const smsId = enrolled.authenticator.userAuthenticatorId;
    expect(smsId).toMatch(/^sms\|dev_[A-Za-z0-9_-]{22}$/);
    const at = enrolled.authenticator.createdAt;
    expect(at).toMatch(ISO);
    expect(enrolled).toEqual({
      authenticator: { userId, userAuthenticatorId: smsId, verificationMethod: 'SMS', createdAt: at, verifiedAt: at, phoneNumber: '+14155550123' },
      recoveryCodes: expect.any(Array),
    });
    expect(enrolled.recoveryCodes).toHaveLength(10);
    for (const code of enrolled.recoveryCodes!) expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    // The codes are real: one works once as a second factor of the principal.
    const principal = tenantUserId('shop', userId);
    const deps = t.sesame.services;
    expect(await checkFactorCode(deps, principal, { type: 'recovery-code', code: enrolled.recoveryCodes![0]! }, { ip: '203.0.113.1' })).toMatchObject({ ok: true });

    const email = await shop.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: EMAIL_OTP, email: 'Ann@Example.test' } });
    expect(email.recoveryCodes).toBeUndefined();
    expect(email.authenticator).toMatchObject({ verificationMethod: 'EMAIL_OTP', email: 'ann@example.test' });

    const listed = await shop.getAuthenticators({ userId });
    expect(listed.map((a) => [a.verificationMethod, a.userAuthenticatorId, a.userId])).toEqual([
      ['SMS', smsId, userId],
      ['RECOVERY_CODE', expect.stringMatching(/^recovery-code\|dev_/), userId],
      ['EMAIL_OTP', email.authenticator.userAuthenticatorId, userId],
    ]);
    expect(await failureOf(shop.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: SMS, phoneNumber: '+14155550124' } }))).toEqual({
      status: 409,
      error: 'conflict',
      errorDescription: 'The user already has a SMS authenticator; delete it first.',
    });
    expect(await other.getAuthenticators({ userId })).toEqual([]);
  });

  it('refuses what cannot be enrolled as verified with a 400 naming the field', async () => {
    const userId = `app-${randomUUID()}`;
    const bad = (attributes: Record<string, unknown>) => failureOf(shop.enrollVerifiedAuthenticator({ userId, attributes: attributes as never }));
    const refused = (description: string) => ({ status: 400, error: 'invalid_request', errorDescription: description });
    expect(await bad({ verificationMethod: 'AUTHENTICATOR_APP' })).toEqual(refused('verificationMethod: only SMS and EMAIL_OTP can be enrolled as verified by the server'));
    expect(await bad({ verificationMethod: 'SMS', phoneNumber: '555-0123' })).toEqual(refused('phoneNumber: a valid phone number in E.164 (+ and digits) is required'));
    expect(await bad({ verificationMethod: 'SMS', phoneNumber: '+19005550123' })).toEqual(refused('phoneNumber: a valid phone number in E.164 (+ and digits) is required'));
    expect(await bad({ verificationMethod: 'EMAIL_OTP', email: 'nope' })).toEqual(refused('email: a valid email address is required'));
    expect(await bad({})).toEqual(refused('verificationMethod: required'));
    expect(await shop.getAuthenticators({ userId })).toEqual([]);
  });

  it('lists passkeys with their credential, and deletes factors by ids holding | only for their own user', async () => {
    const userId = `app-${randomUUID()}`;
    const sms = (await shop.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: SMS, phoneNumber: '+14155550125' } })).authenticator;
    const principal = tenantUserId('shop', userId);
    const credentialId = `cred-${randomUUID()}`;
    const aaguid = 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd';
    await db().prisma.passkey.create({ data: { id: credentialId, userId: principal, publicKey: 'pk', deviceType: 'multiDevice', backedUp: true, aaguid } });
    const passkey = (await shop.getAuthenticators({ userId })).find((a) => a.verificationMethod === 'PASSKEY');
    expect(passkey).toEqual({
      userId,
      userAuthenticatorId: credentialId,
      verificationMethod: 'PASSKEY',
      createdAt: expect.stringMatching(ISO),
      verifiedAt: expect.stringMatching(ISO),
      webauthnCredential: {
        credentialId,
        name: 'iCloud Keychain',
        aaguid,
        aaguidMapping: { name: 'iCloud Keychain' },
        credentialBackedUp: true,
        credentialDeviceType: 'multiDevice',
      },
    });
    // Another tenant, or another user of this tenant, cannot reach them.
    const notFound = { status: 404, error: 'not_found', errorDescription: 'This user has no authenticator with this id.' };
    expect(await failureOf(other.deleteAuthenticator({ userId, userAuthenticatorId: sms.userAuthenticatorId }))).toEqual(notFound);
    expect(await failureOf(shop.deleteAuthenticator({ userId: `app-${randomUUID()}`, userAuthenticatorId: sms.userAuthenticatorId }))).toEqual(notFound);
    expect(await failureOf(shop.deleteAuthenticator({ userId, userAuthenticatorId: 'sms|dev_nothing' }))).toEqual(notFound);
    await shop.deleteAuthenticator({ userId, userAuthenticatorId: sms.userAuthenticatorId });
    await shop.deleteAuthenticator({ userId, userAuthenticatorId: credentialId });
    expect((await shop.getAuthenticators({ userId })).map((a) => a.verificationMethod)).toEqual(['RECOVERY_CODE']);
    const audits = await db().prisma.auditEvent.findMany({ where: { userId: principal, clientId: 'shop' }, orderBy: { createdAt: 'asc' } });
    expect(audits.map((a) => [a.type, a.reason])).toEqual([
      ['mfa.enrolled', 'actions_api sms'],
      ['mfa.removed', 'sms'],
      ['passkey.removed', 'actions_api passkey'],
    ]);
  });

  it('adds a factor to a Sesame user only for a tenant it signed in to, audited and emailed to the user', async () => {
    const member = await sesameUserOf('shop');
    // A tenant the user never signed in to names its own user of that id: the account is untouched.
    await other.enrollVerifiedAuthenticator({ userId: member.id, attributes: { verificationMethod: SMS, phoneNumber: '+14155550126' } });
    expect(await db().prisma.authenticator.count({ where: { userId: member.id } })).toBe(0);
    expect(await db().prisma.authenticator.count({ where: { userId: tenantUserId('other-shop', member.id) } })).toBe(2);

    const added = await shop.enrollVerifiedAuthenticator({ userId: member.id, attributes: { verificationMethod: SMS, phoneNumber: '+14155550127' } });
    expect(await db().prisma.authenticator.count({ where: { userId: member.id, type: 'sms', confirmed: true } })).toBe(1);
    const notice = await t.mail.next(member.email!);
    expect(notice.subject).toBe('A second step was added to your Sesame account');
    const audit = await db().prisma.auditEvent.findFirst({ where: { type: 'mfa.enrolled', userId: member.id } });
    expect([audit?.clientId, audit?.reason, audit?.ip]).toEqual(['shop', 'actions_api sms', '127.0.0.1']);

    await shop.deleteAuthenticator({ userId: member.id, userAuthenticatorId: added.authenticator.userAuthenticatorId });
    expect((await t.mail.next(member.email!)).subject).toMatch(/removed/i);
    // The other tenant's own user got no email: it has no address.
    expect(t.mail.to(member.email!)).toHaveLength(2);
  });

  it('keeps one factor of a type, and one set of recovery codes, when enrolments race', async () => {
    const userId = `app-${randomUUID()}`;
    const enrol = (attributes: { verificationMethod: VerificationMethod; phoneNumber?: string; email?: string }) =>
      shop.enrollVerifiedAuthenticator({ userId, attributes }).then(
        (ok) => ({ status: 200, codes: ok.recoveryCodes?.length ?? 0 }),
        (e: AuthsignalError) => ({ status: e.statusCode, codes: 0 }),
      );
    const raced = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => enrol({ verificationMethod: SMS, phoneNumber: `+1415555014${i}` })),
      enrol({ verificationMethod: EMAIL_OTP, email: 'race@example.test' }),
    ]);
    const sms = raced.slice(0, 5).map((r) => r.status);
    expect(sms.filter((s) => s === 200)).toHaveLength(1);
    expect(sms.filter((s) => s === 409)).toHaveLength(4);
    expect(raced[5]!.status).toBe(200);
    // Exactly one answer carried the codes: the first factor's.
    expect(raced.map((r) => r.codes).sort()).toEqual([0, 0, 0, 0, 0, 10]);
    const principal = tenantUserId('shop', userId);
    const rows = await db().prisma.authenticator.findMany({ where: { userId: principal }, select: { type: true } });
    expect(rows.map((r) => r.type).sort()).toEqual(['email', 'recovery-code', 'sms']);
    expect(await db().prisma.recoveryCode.count({ where: { userId: principal } })).toBe(10);
  });
});
