// The users API (getUser / updateUser / deleteUser) through the real @authsignal/node SDK on a
// running Sesame, on both engines: a tenant's attributes are its own (never a Sesame account's
// email or phone, never another tenant's), bad input is a 400 naming the field, and deleting a
// user removes a tenant user's factors and decisions but only the tenant's view of a Sesame user.
import { randomUUID } from 'node:crypto';
import { Authsignal } from '@authsignal/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueTenantSecret } from '../../src/passwordless/action-tenants.js';
import { tenantUserId } from '../../src/passwordless/action-users.js';
import { trackAction } from '../../src/passwordless/actions.js';
import { insertAuthenticator } from '../../src/storage/mfa.js';
import { findUserByEmail, findUserById, upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { failureOf } from './authsignal-fixture.js';

const ALL_METHODS = ['PASSKEY', 'AUTHENTICATOR_APP', 'EMAIL_OTP', 'EMAIL_MAGIC_LINK', 'SMS', 'RECOVERY_CODE'];
const NOBODY = { isEnrolled: false, emailVerified: false, phoneNumberVerified: false, enrolledVerificationMethods: [], allowedVerificationMethods: ALL_METHODS };

describe.each(ENGINES)('Authsignal users API on %s', (engine) => {
  let t: TestSesame;
  let shop: Authsignal;
  let other: Authsignal;
  let shopSecret = '';
  const shopBasic = () => `Basic ${Buffer.from(`${shopSecret}:`).toString('base64')}`;
  beforeAll(async () => {
    t = await startTestSesame(engine, { features: { authsignalApi: { enabled: true } } });
    const client = (secret: string) => new Authsignal({ apiSecretKey: secret, apiUrl: `${t.url}/v1`, retries: 0 });
    shopSecret = await issueTenantSecret(t.sesame.services.db, 'shop');
    shop = client(shopSecret);
    other = client(await issueTenantSecret(t.sesame.services.db, 'other-shop'));
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;

  /** A Sesame user who signed in to `clientId` (a live grant), so that tenant's user id is this very account. */
  async function sesameUserOf(clientId: string) {
    const user = await upsertVerifiedEmailUser(db(), `u-${randomUUID()}@example.test`);
    await db().prisma.oidcPayload.create({ data: { model: 'Grant', id: randomUUID(), accountId: user.id, payload: JSON.stringify({ accountId: user.id, clientId }) } });
    return user;
  }

  it('answers an unknown user as not enrolled, and stores, merges and removes attributes per tenant', async () => {
    const userId = `app-${randomUUID()}`;
    expect(await shop.getUser({ userId })).toEqual(NOBODY);
    const attributes = { email: 'Ann@Example.test', emailVerified: true, phoneNumber: '+14155550123', username: 'ann', displayName: 'Ann A.', custom: { tier: 'gold', score: 3 } };
    const stored = { ...attributes, email: 'ann@example.test' };
    expect(await shop.updateUser({ userId, attributes })).toEqual(stored);
    expect(await shop.getUser({ userId })).toEqual({ ...NOBODY, ...stored, emailVerified: true });
    // Another tenant's user of the same id is someone else.
    expect(await other.getUser({ userId })).toEqual(NOBODY);
    // A new address is no longer the verified one; null removes an attribute.
    expect(await shop.updateUser({ userId, attributes: { email: 'ann2@example.test', displayName: null as unknown as string } })).toEqual({
      email: 'ann2@example.test',
      phoneNumber: '+14155550123',
      username: 'ann',
      custom: { tier: 'gold', score: 3 },
    });
    const audited = await db().prisma.auditEvent.findMany({ where: { type: 'actions.user.updated', clientId: 'shop' } });
    expect(audited.map((a) => a.reason)).toEqual(expect.arrayContaining(['email,emailVerified,phoneNumber,username,displayName,custom', 'email,displayName']));
  });

  it('keeps every attribute of parallel updates (compare-and-swap, no lost update)', async () => {
    const userId = `app-${randomUUID()}`;
    const each = { username: 'ann', displayName: 'Ann', locale: 'fr', phoneNumber: '+14155550123', email: 'ann@example.test', custom: { n: 1 } };
    await Promise.all(Object.entries(each).map(([key, value]) => shop.updateUser({ userId, attributes: { [key]: value } })));
    expect(await shop.getUser({ userId })).toEqual({ ...NOBODY, ...each });
  });

  it('refuses malformed attributes with a 400 naming the field, never a 500', async () => {
    const userId = `app-${randomUUID()}`;
    const bad = (attributes: Record<string, unknown>) => failureOf(shop.updateUser({ userId, attributes }));
    expect(await bad({ email: 'not-an-email' })).toEqual({ status: 400, error: 'invalid_request', errorDescription: 'email: not a valid email address' });
    expect(await bad({ phoneNumber: '0612345678' })).toEqual({
      status: 400,
      error: 'invalid_request',
      errorDescription: 'phoneNumber: not a valid phone number in E.164 (+ and digits)',
    });
    expect(await bad({ custom: { blob: 'x'.repeat(5000) } })).toEqual({ status: 400, error: 'invalid_request', errorDescription: 'custom: larger than 4096 bytes as JSON' });
    expect(await bad({ isAdmin: true })).toEqual({ status: 400, error: 'invalid_request', errorDescription: 'body: Unrecognized key: "isAdmin"' });
    expect(await bad({ emailVerified: 'yes' })).toMatchObject({ status: 400, errorDescription: expect.stringMatching(/^emailVerified: /) });
    expect(await shop.getUser({ userId })).toEqual(NOBODY);
    expect(await failureOf(shop.getUser({ userId: 'x'.repeat(256) }))).toEqual({ status: 400, error: 'invalid_request', errorDescription: 'userId: 1 to 255 characters' });
    const raw = await fetch(`${t.url}/v1/users/${userId}`, { method: 'PATCH', headers: { authorization: shopBasic(), 'content-type': 'application/json' }, body: '{"email":' });
    expect([raw.status, await raw.json()]).toEqual([400, { error: 'invalid_request', errorDescription: 'The request body is not valid JSON.' }]);
  });

  it("never lets a tenant change a Sesame account's email or phone, nor be found by a victim's address", async () => {
    const member = await sesameUserOf('shop');
    const victim = await upsertVerifiedEmailUser(db(), `v-${randomUUID()}@example.test`);
    // The Sesame user itself (signed in to shop): the tenant's attributes stay the tenant's.
    await shop.updateUser({ userId: member.id, attributes: { email: 'attacker@evil.test', emailVerified: true, phoneNumber: '+14155550199' } });
    expect(await findUserById(db(), member.id)).toMatchObject({ email: member.email, emailVerified: true, phoneNumber: null });
    expect(await findUserByEmail(db(), 'attacker@evil.test')).toBeNull();
    // A tenant user named with a victim's address: sign-in by that address still finds the victim.
    await shop.updateUser({ userId: 'mallory', attributes: { email: victim.email!, emailVerified: true } });
    expect((await findUserByEmail(db(), victim.email!))?.id).toBe(victim.id);
    expect(await findUserById(db(), tenantUserId('shop', 'mallory'))).toBeNull();
  });

  it("deletes a tenant user's factors, passkeys, decisions and attributes", async () => {
    const userId = `app-${randomUUID()}`;
    await shop.updateUser({ userId, attributes: { username: 'bob' } });
    await trackAction(t.sesame.services, { tenantId: 'shop', userId, actionCode: 'pay', ip: '203.0.113.7' });
    await shop.enrollVerifiedAuthenticator({ userId, attributes: { verificationMethod: 'SMS' as never, phoneNumber: '+14155550142' } });
    const principal = tenantUserId('shop', userId);
    await db().prisma.passkey.create({
      data: { id: `cred-${randomUUID()}`, userId: principal, publicKey: 'pk', deviceType: 'multiDevice', aaguid: '00000000-0000-0000-0000-000000000000' },
    });
    expect((await shop.getUser({ userId })).enrolledVerificationMethods).toEqual(['PASSKEY', 'SMS', 'RECOVERY_CODE']);
    // Another tenant deleting "the same" id deletes its own (nobody), not shop's.
    await other.deleteUser({ userId });
    expect((await shop.getUser({ userId })).isEnrolled).toBe(true);
    await shop.deleteUser({ userId });
    expect(await shop.getUser({ userId })).toEqual(NOBODY);
    expect(await db().prisma.authenticator.count({ where: { userId: principal } })).toBe(0);
    expect(await db().prisma.recoveryCode.count({ where: { userId: principal } })).toBe(0);
    expect(await db().prisma.passkey.count({ where: { userId: principal } })).toBe(0);
    expect(await db().prisma.actionDecision.count({ where: { tenantId: 'shop', userId } })).toBe(0);
    expect(await shop.getAuthenticators({ userId })).toEqual([]);
    const audit = await db().prisma.auditEvent.findFirst({ where: { type: 'actions.user.deleted', clientId: 'shop', userId: principal } });
    expect(audit?.reason).toBe('tenant_user');
  });

  it("deletes only the tenant's view of a Sesame user: the account and its factors stay", async () => {
    const member = await sesameUserOf('shop');
    await insertAuthenticator(db(), { id: `totp|dev_${randomUUID()}`, userId: member.id, type: 'totp', confirmed: true });
    await shop.updateUser({ userId: member.id, attributes: { displayName: 'Member' } });
    await trackAction(t.sesame.services, { tenantId: 'shop', userId: member.id, actionCode: 'pay', ip: '203.0.113.7' });
    await shop.deleteUser({ userId: member.id });
    expect(await findUserById(db(), member.id)).toMatchObject({ id: member.id, email: member.email });
    expect(await db().prisma.authenticator.count({ where: { userId: member.id } })).toBe(1);
    expect(await db().prisma.actionDecision.count({ where: { tenantId: 'shop', userId: member.id } })).toBe(0);
    expect(await shop.getUser({ userId: member.id })).toEqual({ ...NOBODY, isEnrolled: true, enrolledVerificationMethods: ['AUTHENTICATOR_APP'] });
    const audit = await db().prisma.auditEvent.findFirst({ where: { type: 'actions.user.deleted', clientId: 'shop', userId: member.id } });
    expect(audit?.reason).toBe('tenant_view');
  });

  it("refuses a wrong secret in Authsignal's words, and another tenant's secret reaches only its own users", async () => {
    const intruder = new Authsignal({ apiSecretKey: `sk_${'A'.repeat(43)}`, apiUrl: `${t.url}/v1`, retries: 0 });
    const description = 'The request is unauthorized. Check that your API key and region base URL are correctly configured.';
    expect(await failureOf(intruder.getUser({ userId: 'x' }))).toEqual({ status: 401, error: 'unauthorized', errorDescription: description });
    expect(await failureOf(intruder.updateUser({ userId: 'x', attributes: { username: 'x' } }))).toEqual({ status: 401, error: 'unauthorized', errorDescription: description });
    expect(await failureOf(intruder.deleteUser({ userId: 'x' }))).toEqual({ status: 401, error: 'unauthorized', errorDescription: description });
    expect(await failureOf(intruder.getAuthenticators({ userId: 'x' }))).toEqual({ status: 401, error: 'unauthorized', errorDescription: description });
    const member = await sesameUserOf('shop');
    await insertAuthenticator(db(), { id: `totp|dev_${randomUUID()}`, userId: member.id, type: 'totp', confirmed: true });
    // Knowing the Sesame id is not enough for a tenant the user never signed in to.
    expect(await other.getAuthenticators({ userId: member.id })).toEqual([]);
    expect(await other.getUser({ userId: member.id })).toEqual(NOBODY);
  });
});
