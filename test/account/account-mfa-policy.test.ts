// Two-step verification on the account page under the global `always` policy, on both engines:
// the user's last second factor cannot be removed (recovery codes and other factors can), and
// removals racing past the check still keep one (the attack the storage step's row locks answer).
// The account page is signed in to with a passkey, which satisfies MFA by itself.
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkFactorCode } from '../../src/passwordless/mfa/factors.js';
import { enrolOob } from '../../src/passwordless/mfa/oob.js';
import { generateRecoveryCodes } from '../../src/passwordless/mfa/recovery-codes.js';
import { enrolTotp } from '../../src/passwordless/mfa/totp.js';
import { finishRegistration, startRegistration } from '../../src/passwordless/passkeys.js';
import { confirmAuthenticator } from '../../src/storage/mfa.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { ENGINES } from '../helpers/databases.js';
import { FormClient, findForm } from '../helpers/form-client.js';
import type { TestSesame } from '../helpers/sesame.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { APP, CHROME_ON_LINUX, csrfOf, mainOf, startAccountSesame, type SignedIn } from './account-helpers.js';

const WHO = { ip: '127.0.0.1' };
const codeNow = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret) }).generate();

describe.each(ENGINES)('two-step verification on the account page under the global always policy on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startAccountSesame(engine, { clients: [APP], mfa: { policy: 'always' } });
  });
  afterAll(() => t?.stop());
  const s = () => t.sesame.services;

  /** A user with a passkey, an authenticator app, recovery codes and confirmed `extra` factors, signed in to /account with the passkey. */
  async function signedInWithPasskey(email: string, extra: Array<{ type: 'email'; email: string } | { type: 'sms'; phoneNumber: string }>) {
    // A passkey signs in with MFA satisfied by itself: the way into the account page here.
    const device = new SoftAuthenticator({ origin: t.issuer });
    const user = await upsertVerifiedEmailUser(s().db, email);
    const { handle, options } = await startRegistration(s(), { user }, { boundTo: 'test' });
    await insertPasskey(s().db, { ...(await finishRegistration(s(), handle, device.register(options), { boundTo: 'test' })).credential, userId: user.id });
    const app = await enrolTotp(s(), user.id);
    expect(await checkFactorCode(s(), user.id, { type: 'otp', code: codeNow(app.secret), confirming: app.authenticatorId }, WHO)).toMatchObject({ ok: true });
    const recovery = await generateRecoveryCodes(s(), user.id);
    const others: string[] = [];
    for (const to of extra) {
      const row = await enrolOob(s(), user.id, to);
      expect(await confirmAuthenticator(s().db, user.id, row.id)).toBe(true);
      others.push(row.id);
    }
    const browser = new FormClient({ 'user-agent': CHROME_ON_LINUX });
    const first = await browser.follow(`${t.issuer}/account`, t.issuer);
    const passkeyForm = findForm(first.html, '/passkey');
    const started = await browser.request(new URL(`${passkeyForm.action}/options`, t.issuer).toString(), { method: 'POST', json: { csrf: passkeyForm.fields.csrf } });
    const challenge = JSON.parse(started.html) as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
    const page = await browser.submit(first, '/passkey', { handle: challenge.handle, response: JSON.stringify(device.authenticate(challenge.options)) }, t.issuer);
    expect(page.url).toBe(`${t.issuer}/account`);
    const me: SignedIn = { browser, page, csrf: csrfOf(page.html) };
    const remove = (id: string) => me.browser.request(`${t.issuer}/account/mfa/remove`, { form: { csrf: me.csrf, id } });
    return { user, app, recovery, others, page, remove };
  }

  it('refuses to remove the last second factor, allows removing one of two and the recovery codes', async () => {
    const { user, app, recovery, others, page, remove } = await signedInWithPasskey('always@example.com', [{ type: 'email', email: 'always.backup@example.com' }]);
    expect(mainOf(page.html)).toContain('<p class="item-title">Codes by email to always.backup@example.com</p>');
    expect((await remove(others[0]!)).status).toBe(303);
    const refused = await remove(app.authenticatorId);
    expect(refused.status).toBe(400);
    expect(mainOf(refused.html)).toContain(
      '<p class="message error" role="alert" id="form-error">This is your last second step, and this service requires one. Add another before you remove it.</p>',
    );
    expect((await remove(recovery.authenticatorId)).status).toBe(303);
    const left = await s().db.prisma.authenticator.findMany({ where: { userId: user.id } });
    expect(left.map((a) => a.id)).toEqual([app.authenticatorId]);
    const next = new TOTP({ secret: Secret.fromBase32(app.secret) }).generate({ timestamp: Date.now() + 30_000 });
    expect(await checkFactorCode(s(), user.id, { type: 'otp', code: next }, WHO, new Date(Date.now() + 30_000))).toMatchObject({ ok: true });
    const removals = await s().db.prisma.auditEvent.findMany({ where: { userId: user.id, type: 'mfa.removed' }, orderBy: { createdAt: 'asc' } });
    expect(removals.map((a) => a.reason)).toEqual(['email', 'recovery-code']);
  });

  it('keeps one factor when removals of all of them race (the attack: parallel requests past the check)', async () => {
    const { user, app, others, remove } = await signedInWithPasskey('always.race@example.com', [
      { type: 'email', email: 'race.backup@example.com' },
      { type: 'sms', phoneNumber: '+14155550199' },
    ]);
    const answers = await Promise.all([app.authenticatorId, ...others].map((id) => remove(id)));
    expect(answers.map((a) => a.status).sort()).toEqual([303, 303, 400]);
    const left = await s().db.prisma.authenticator.count({ where: { userId: user.id, confirmed: true, type: { not: 'recovery-code' } } });
    expect(left).toBe(1);
    expect(await s().db.prisma.auditEvent.count({ where: { userId: user.id, type: 'mfa.removed' } })).toBe(2);
  });
});
