// The console's users pages without JavaScript, on both engines: an admin finds accounts by part of
// an email, a phone number typed with spaces or an id; reads one account with its session, grant,
// factors, passkey, sign-ins and held risk decision; ends a session and revokes a grant (the RP's
// refresh token then fails), removes and resets factors and passkeys, ends every session, blocks (the
// hosted sign-in shows the blocked page) and unblocks, exports and erases after typing the email;
// each action audited with the admin's id; the search pages 50 at a time; a phone-only account is
// erased once its number is typed. The attacks: another user's session or grant id, a POST
// without the CSRF token or a session, a signed-in non-admin, an admin locking themself out.
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { htmlText } from '../helpers/html.js';
import { confirmedTotp } from '../helpers/mfa-factors.js';
import { insertDecision } from '../../src/storage/action-decisions.js';
import { insertPasskey } from '../../src/storage/passkeys.js';
import { listGrants, listSessions } from '../../src/storage/oidc-sessions.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser } from '../../src/storage/users.js';
import { USERS_FIXTURE, consoleSignIn, csrfOf, hostedSignIn, refusal, rpSignIn, userWithApp } from './admin-users-helpers.js';

const WHEN = '[A-Z][a-z]{2} \\d{1,2}, \\d{4}, \\d{1,2}:\\d{2}\\s[AP]M UTC';

describe.each(ENGINES)('admin console users on %s', { timeout: 240_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  const mark = randomUUID().slice(0, 8);
  beforeAll(async () => {
    t = await startTestSesame(engine, USERS_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;
  const nextEmail = (who: string) => `${who}${++n}-${mark}@example.com`;
  /** The text of each item of the list labelled by `heading` (an id). */
  const items = (html: string, heading: string) => {
    const list = new RegExp(`<ul class="items" aria-labelledby="${heading}">([\\s\\S]*?)</ul>`).exec(html)?.[1] ?? '';
    return [...list.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => htmlText(m[1]!));
  };
  const profileText = (html: string) => htmlText(/<dl class="profile">([\s\S]*?)<\/dl>/.exec(html)![1]!.replace(/<\/d[td]>/g, ' '));
  const mainText = (html: string) => htmlText(html.slice(html.indexOf('<h1>'), html.indexOf('</main>')));
  const fakePasskey = (userId: string, id: string) =>
    insertPasskey(db(), {
      id,
      userId,
      publicKey: 'x',
      counter: 0,
      transports: [],
      deviceType: 'singleDevice',
      backedUp: false,
      aaguid: '00000000-0000-0000-0000-000000000000',
      name: 'Phone',
    });

  it('finds users by part of an email, a phone number typed with spaces, or an id; refuses a bad search and an unknown id readably', async () => {
    const found = await Promise.all(['a', 'b'].map((x) => upsertVerifiedEmailUser(db(), `find-${x}-${mark}@example.com`)));
    const digits = String(100 + Math.floor(Math.random() * 900));
    const phone = await upsertVerifiedPhoneUser(db(), `+14155550${digits}`);
    const { user: adminUser, secret } = await userWithApp(t, nextEmail('admin'));
    const admin = await consoleSignIn(t, adminUser.email!, secret);
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/users`]);
    expect(admin.page.headers.get('cache-control')).toBe('no-store');
    expect(admin.page.html).toContain('<a href="/admin/users" aria-current="page">Users</a>');
    expect(admin.page.html).toContain('<form method="get" action="/admin/users" role="search">');

    const byPart = await admin.browser.request(`${t.issuer}/admin/users?q=${encodeURIComponent(`FIND-`)}`);
    expect(byPart.status).toBe(200);
    const sorted = [...found].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(items(byPart.html, 'results-heading').filter((i) => i.includes(mark))).toEqual(
      sorted.map((u) => expect.stringMatching(new RegExp(`^${u.email!.replace(/[.]/g, '\\.')} Created ${WHEN}$`))),
    );
    expect(byPart.html).toContain(`<a href="/admin/users/${sorted[0]!.id}">${sorted[0]!.email}</a>`);
    const byPhone = await admin.browser.request(`${t.issuer}/admin/users?q=${encodeURIComponent(`+1 415 555 0${digits}`)}`);
    expect(items(byPhone.html, 'results-heading')).toEqual([expect.stringMatching(new RegExp(`^\\+14155550${digits} Created ${WHEN}$`))]);
    expect(byPhone.html).toContain(`value="+1 415 555 0${digits}"`);
    const byId = await admin.browser.request(`${t.issuer}/admin/users?q=${found[1]!.id}`);
    expect(items(byId.html, 'results-heading')).toEqual([expect.stringContaining(`find-b-${mark}@example.com`)]);
    const none = await admin.browser.request(`${t.issuer}/admin/users?q=nobody-${mark}`);
    expect(mainText(none.html)).toBe('Users Find an account by its email address, phone number, name or id. Email, phone number, name or user id Search Results No user matches.');

    const long = await admin.browser.request(`${t.issuer}/admin/users?q=${'x'.repeat(201)}`);
    expect(long.status).toBe(400);
    expect(long.html).toContain('<p class="message error" role="alert" id="form-error">Enter at most 200 characters to search for.</p>');
    expect(long.html).toContain('aria-invalid="true"');
    const nul = await admin.browser.request(`${t.issuer}/admin/users?q=%00`);
    expect(nul.status).toBe(400);

    for (const path of [`/admin/users/${randomUUID()}`, '/admin/users/%00', `/admin/users/${'x'.repeat(201)}`, `/admin/users/${randomUUID()}/export`]) {
      const page = await admin.browser.request(`${t.issuer}${path}`);
      expect([path, page.status, htmlText(page.html).includes('Page not found There is nothing at this address.')]).toEqual([path, 404, true]);
    }
    const csrf = csrfOf((await admin.browser.request(`${t.issuer}/admin/users/${found[0]!.id}`)).html);
    const unknownPost = await admin.browser.request(`${t.issuer}/admin/users/${randomUUID()}/block`, { form: { csrf } });
    expect(unknownPost.status).toBe(404);
    expect(phone.phoneNumber).toBe(`+14155550${digits}`);
  });

  it('shows an account whole and acts on it: sessions, grants, factors, passkeys, block, export, delete; each audited with the admin', async () => {
    const email = nextEmail('user');
    const signedIn = await rpSignIn(t, email);
    const userId = (await db().prisma.user.findUniqueOrThrow({ where: { email } })).id;
    const totp = await confirmedTotp(t.sesame.services, userId);
    const passkeyId = `pk-${mark}`;
    await fakePasskey(userId, passkeyId);
    await insertDecision(db(), {
      tenantId: 'app',
      userId,
      actionCode: 'withdraw',
      idempotencyKey: `held-${mark}`,
      outcome: 'REVIEW',
      state: 'REVIEW_REQUIRED',
      ruleIds: '[]',
      explanation: '{}',
      ip: '198.51.100.7',
      deviceId: null,
      principalId: userId,
      verificationMethods: '[]',
      defaultVerificationMethod: null,
      redirectUrl: null,
      context: '{}',
      country: null,
      latitude: null,
      longitude: null,
      interactionUid: null,
    });
    const otherEmail = nextEmail('other');
    const other = await rpSignIn(t, otherEmail);
    const otherId = (await db().prisma.user.findUniqueOrThrow({ where: { email: otherEmail } })).id;
    const { user: adminUser, secret } = await userWithApp(t, nextEmail('admin'));
    const admin = await consoleSignIn(t, adminUser.email!, secret, `/admin/users/${userId}`);
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/users/${userId}`]);

    const page = admin.page.html;
    expect(profileText(page)).toMatch(new RegExp(`^User id ${userId} Email ${email.replace(/[.]/g, '\\.')} \\(verified\\) Phone None Name None Created ${WHEN} Status Active$`));
    expect(items(page, 'sessions-heading')).toEqual([expect.stringMatching(new RegExp(`^Signed in ${WHEN} Applications in this session: 1 End this session$`))]);
    expect(items(page, 'grants-heading')).toEqual([expect.stringMatching(new RegExp(`^Test App \\(app\\) openid email\\. Granted ${WHEN} Revoke$`))]);
    expect(items(page, 'factors-heading')).toEqual([
      expect.stringMatching(new RegExp(`^Authenticator app Added ${WHEN}\\. Last used ${WHEN} Remove$`)),
      expect.stringMatching(new RegExp(`^Passkey: Phone On one device only\\. Added ${WHEN}\\. Not used yet Remove$`)),
    ]);
    expect(items(page, 'signins-heading')).toEqual([expect.stringMatching(new RegExp(`^${WHEN}: code by email, from [\\d.:f]+$`))]);
    expect(items(page, 'decisions-heading')).toEqual([
      expect.stringMatching(new RegExp(`^withdraw: REVIEW_REQUIRED Test App \\(app\\)\\. ${WHEN}, from 198\\.51\\.100\\.7 Decide it in the review queue$`)),
    ]);
    expect(page).toContain('<a href="/admin/reviews">Decide it in the review queue</a>');

    const post = (path: string, form: Record<string, string> = {}) => admin.browser.request(`${t.issuer}/admin/users/${userId}${path}`, { form: { csrf: admin.csrf, ...form } });
    const expectDone = (answer: { status: number; headers: Headers }, done: string) =>
      expect([answer.status, answer.headers.get('location')]).toEqual([303, `/admin/users/${userId}?done=${done}`]);

    // Another user's session, grant, factor and passkey ids on this user's page touch nothing.
    const [otherSession] = await listSessions(db(), otherId);
    const [otherGrant] = await listGrants(db(), otherId);
    expect((await post('/sessions/end', { session: otherSession!.uid })).status).toBe(404);
    expect((await post('/grants/revoke', { grant: otherGrant!.id })).status).toBe(404);
    expect((await post('/sessions/end', { session: '' })).status).toBe(404);
    const otherFactor = await confirmedTotp(t.sesame.services, otherId);
    await fakePasskey(otherId, `other-pk-${mark}`);
    expect((await post('/factors/remove', { factor: otherFactor.authenticatorId })).status).toBe(404);
    expect((await post('/passkeys/remove', { passkey: `other-pk-${mark}` })).status).toBe(404);
    expect([await db().prisma.authenticator.count({ where: { userId: otherId } }), await db().prisma.passkey.count({ where: { userId: otherId } })]).toEqual([1, 1]);
    expect((await oidc.refreshTokenGrant(other.rp, other.tokens.refresh_token!)).access_token).toEqual(expect.any(String));

    const [session] = await listSessions(db(), userId);
    expectDone(await post('/sessions/end', { session: session!.uid }), 'session_ended');
    expect(await refusal(oidc.refreshTokenGrant(signedIn.rp, signedIn.tokens.refresh_token!))).toEqual({ error: 'invalid_grant', status: 400 });
    const notice = await admin.browser.request(`${t.issuer}/admin/users/${userId}?done=session_ended`);
    expect(notice.html).toContain('<p class="message notice" role="status">The session has ended, with its tokens.</p>');
    expect(items(notice.html, 'sessions-heading')).toEqual([]);

    const again = await rpSignIn(t, email);
    const [grant] = await listGrants(db(), userId);
    expectDone(await post('/grants/revoke', { grant: grant!.id }), 'grant_revoked');
    expect(await refusal(oidc.refreshTokenGrant(again.rp, again.tokens.refresh_token!))).toEqual({ error: 'invalid_grant', status: 400 });

    expectDone(await post('/factors/remove', { factor: totp.authenticatorId }), 'factor_removed');
    expectDone(await post('/passkeys/remove', { passkey: passkeyId }), 'passkey_removed');
    expect((await post('/passkeys/remove', { passkey: passkeyId })).status).toBe(404);
    // "I lost my phone": a new app and passkey, then everything reset at once.
    await confirmedTotp(t.sesame.services, userId);
    await fakePasskey(userId, `pk2-${mark}`);
    expectDone(await post('/factors/reset'), 'factors_reset');
    expect([await db().prisma.authenticator.count({ where: { userId } }), await db().prisma.passkey.count({ where: { userId } })]).toEqual([0, 0]);

    const third = await rpSignIn(t, email);
    expectDone(await post('/sessions/end-all'), 'sessions_ended');
    expect(await refusal(oidc.refreshTokenGrant(third.rp, third.tokens.refresh_token!))).toEqual({ error: 'invalid_grant', status: 400 });

    expectDone(await post('/block'), 'blocked');
    const blockedPage = await admin.browser.request(`${t.issuer}/admin/users/${userId}?done=blocked`);
    expect(blockedPage.html).toContain('The user is blocked. Their sessions and tokens have ended.');
    expect(profileText(blockedPage.html)).toMatch(new RegExp(`Status Blocked since ${WHEN}$`));
    expect(blockedPage.html).toContain(`<form method="post" action="/admin/users/${userId}/unblock">`);
    const hosted = await hostedSignIn(t, email);
    expect(hosted.result.status).toBe(403);
    expect(htmlText(hosted.result.html)).toContain('This account is blocked The service has blocked this account, so it cannot sign in.');
    expectDone(await post('/unblock'), 'unblocked');
    expect((await db().prisma.user.findUniqueOrThrow({ where: { id: userId } })).blockedAt).toBeNull();

    const exported = await admin.browser.request(`${t.issuer}/admin/users/${userId}/export`);
    expect([exported.status, exported.headers.get('content-type'), exported.headers.get('content-disposition')]).toEqual([
      200,
      'application/json; charset=utf-8',
      `attachment; filename="sesame-user-${userId}.json"`,
    ]);
    const data = JSON.parse(exported.html) as { profile: { id: string; email: string }; factors: unknown[]; passkeys: unknown[]; sessions: unknown[] };
    expect([data.profile.id, data.profile.email, data.factors, data.passkeys, data.sessions]).toEqual([userId, email, [], [], []]);

    const confirm = await admin.browser.request(`${t.issuer}/admin/users/${userId}/delete`);
    expect(mainText(confirm.html)).toBe(
      `Delete this user? Everything Sesame holds of ${email} is erased: the account, its factors, passkeys, sessions and grants. This cannot be undone. Type the email address ${email} to confirm Delete for good Keep this user and go back`,
    );
    const wrong = await post('/delete', { confirm: `not-${email}` });
    expect(wrong.status).toBe(400);
    expect(wrong.html).toContain('<p class="message error" role="alert" id="form-error">That does not match. Type it exactly as shown to delete the user.</p>');
    expect(await db().prisma.user.count({ where: { id: userId } })).toBe(1);
    const erased = await post('/delete', { confirm: ` ${email.toUpperCase()} ` });
    expect([erased.status, erased.headers.get('location')]).toEqual([303, '/admin/users?done=deleted']);
    expect(await db().prisma.user.count({ where: { id: userId } })).toBe(0);
    expect((await admin.browser.request(`${t.issuer}/admin/users?done=deleted`)).html).toContain('<p class="message notice" role="status">The user was deleted.</p>');
    expect((await admin.browser.request(`${t.issuer}/admin/users/${userId}`)).status).toBe(404);

    const by = `via console by admin:${adminUser.id}`;
    const audit = await db().prisma.auditEvent.findMany({ where: { userId, reason: { contains: 'via console' } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.clientId, a.reason])).toEqual([
      ['session.ended', null, by],
      ['grant.revoked', null, by],
      ['mfa.removed', null, `${totp.authenticatorId} ${by}`],
      ['passkey.removed', null, `${passkeyId} ${by}`],
      ['mfa.reset', null, expect.stringMatching(new RegExp(`^\\d+ ${by}$`))],
      ['passkey.removed', null, `pk2-${mark} ${by}`],
      ['session.ended', null, expect.stringMatching(new RegExp(`^all \\d+ ${by}$`))],
      ['user.blocked', null, `0 sessions and grants ended ${by}`],
      ['user.unblocked', null, by],
      ['user.exported', null, by],
      ['user.deleted', null, by],
    ]);
  });

  it('pages the search 50 at a time, and erases a phone-only account once its number is typed', async () => {
    const many = await Promise.all(Array.from({ length: 51 }, (_, i) => upsertVerifiedEmailUser(db(), `page-${i}-${mark}@example.com`)));
    const ids = many.map((u) => u.id).sort();
    const { user: adminUser, secret } = await userWithApp(t, nextEmail('admin'));
    const admin = await consoleSignIn(t, adminUser.email!, secret);
    const shown = (html: string) => [...html.matchAll(/<a href="\/admin\/users\/([^"]+)">page-/g)].map((m) => m[1]);
    const first = await admin.browser.request(`${t.issuer}/admin/users?q=page-`);
    expect(shown(first.html)).toEqual(ids.slice(0, 50));
    const more = new URLSearchParams({ q: 'page-', after: ids[49]! }).toString();
    expect(first.html).toContain(`<a href="/admin/users?${more.replace(/&/g, '&amp;')}">More results</a>`);
    const second = await admin.browser.request(`${t.issuer}/admin/users?${more}`);
    expect([shown(second.html), second.html.includes('More results')]).toEqual([ids.slice(50), false]);

    const digits = String(100 + Math.floor(Math.random() * 900));
    const phoneUser = await upsertVerifiedPhoneUser(db(), `+14155551${digits}`);
    const confirm = await admin.browser.request(`${t.issuer}/admin/users/${phoneUser.id}/delete`);
    expect(htmlText(confirm.html)).toContain(`Type the phone number +14155551${digits} to confirm`);
    const csrf = csrfOf(confirm.html);
    const wrong = await admin.browser.request(`${t.issuer}/admin/users/${phoneUser.id}/delete`, { form: { csrf, confirm: `+14155551${digits}0` } });
    expect(wrong.status).toBe(400);
    const erased = await admin.browser.request(`${t.issuer}/admin/users/${phoneUser.id}/delete`, { form: { csrf, confirm: `+1 415 555 1${digits}` } });
    expect([erased.status, erased.headers.get('location')]).toEqual([303, '/admin/users?done=deleted']);
    expect(await db().prisma.user.count({ where: { id: phoneUser.id } })).toBe(0);
    const audit = await db().prisma.auditEvent.findFirstOrThrow({ where: { userId: phoneUser.id, type: 'user.deleted' } });
    expect(audit.reason).toBe(`via console by admin:${adminUser.id}`);
  });

  it('refuses a forged or missing CSRF token, a browser without a session, and a signed-in user who is not an admin', async () => {
    const target = await upsertVerifiedEmailUser(db(), nextEmail('target'));
    const { user, secret } = await userWithApp(t, nextEmail('admin'));
    const admin = await consoleSignIn(t, user.email!, secret, `/admin/users/${target.id}`);
    const url = `${t.issuer}/admin/users/${target.id}/block`;
    const forged = await admin.browser.request(url, { form: { csrf: 'forged' } });
    expect([forged.status, htmlText(forged.html).includes('This form has expired. Reload the page and try again.')]).toEqual([403, true]);
    expect((await admin.browser.request(url, { form: { confirm: 'x' } })).status).toBe(403);
    expect((await new FormClient().request(url, { form: { csrf: admin.csrf } })).status).toBe(401);
    const outsider = await new FormClient().request(`${t.issuer}/admin/users/${target.id}`);
    expect([outsider.status, new URL(outsider.headers.get('location')!).pathname]).toEqual([303, '/authorize']);

    const { user: plain, secret: plainSecret } = await userWithApp(t, nextEmail('user'), false);
    const notAdmin = await consoleSignIn(t, plain.email!, plainSecret, `/admin/users/${target.id}`);
    expect([notAdmin.page.status, htmlText(notAdmin.page.html).includes('Only admins may use the admin console.')]).toEqual([403, true]);
    expect((await notAdmin.browser.request(`${t.issuer}/admin/users?q=${encodeURIComponent(target.email!)}`)).status).toBe(403);
    expect((await db().prisma.user.findUniqueOrThrow({ where: { id: target.id } })).blockedAt).toBeNull();
    expect(await db().prisma.auditEvent.count({ where: { userId: target.id } })).toBe(0);
  });

  it('refuses an admin blocking, deleting or stripping the factors of their own account, with a clear page', async () => {
    const { user, secret, authenticatorId } = await userWithApp(t, nextEmail('admin'));
    const admin = await consoleSignIn(t, user.email!, secret, `/admin/users/${user.id}`);
    expect(admin.page.html).toContain('This is your own account.');
    for (const action of ['/block', '/delete', '/factors/reset', '/factors/remove', '/passkeys/remove']) {
      expect(admin.page.html).not.toContain(`action="/admin/users/${user.id}${action}"`);
    }
    const self = 'You cannot block, delete or remove the second factors of your own account from the console: it would lock you out.';
    const post = (path: string, form: Record<string, string> = {}) => admin.browser.request(`${t.issuer}/admin/users/${user.id}${path}`, { form: { csrf: admin.csrf, ...form } });
    for (const [path, form] of [
      ['/block', {}],
      ['/delete', { confirm: user.email! }],
      ['/factors/reset', {}],
      ['/factors/remove', { factor: authenticatorId }],
      ['/passkeys/remove', { passkey: 'any' }],
    ] as const) {
      const answer = await post(path, form);
      expect([path, answer.status, htmlText(answer.html).includes(self)]).toEqual([path, 403, true]);
      expect(answer.html).toContain('<h1>Not on your own account</h1>');
    }
    const confirm = await admin.browser.request(`${t.issuer}/admin/users/${user.id}/delete`);
    expect([confirm.status, htmlText(confirm.html).includes(self)]).toEqual([403, true]);
    const still = await db().prisma.user.findUniqueOrThrow({ where: { id: user.id } });
    expect([still.blockedAt, await db().prisma.authenticator.count({ where: { userId: user.id } })]).toEqual([null, 1]);
    expect((await admin.browser.request(`${t.issuer}/admin/users/${user.id}`)).status).toBe(200);
  });
});
