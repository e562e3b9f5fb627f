// The admin console without JavaScript, on both engines: an admin (granted with the CLI) signs in
// with a code and an authenticator app, sees a held sign-in explained, approves one (it goes on) and
// denies another (refused), each audited with the admin's id. And the attacks: a non-admin, an admin
// without a second factor (sent to enrol one), a revoked admin at the next click, a POST without the
// CSRF token or without a session, a callback this browser did not start, framing; on PostgreSQL two
// admins settling one review at once (one wins, the other is told).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient } from '../helpers/form-client.js';
import { codeFrom } from '../helpers/smtp.js';
import { totpCode } from '../helpers/mfa-factors.js';
import { failure } from '../helpers/cli.js';
import { setAdmin, upsertVerifiedEmailUser } from '../../src/storage/users.js';
import { insertDecision } from '../../src/storage/action-decisions.js';
import { ADMIN_FIXTURE, REVIEW_IP, adminByCli, heldSignIn, usersCli, userWithApp as appUser } from './admin-helpers.js';

describe.each(ENGINES)('admin console on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;
  const nextEmail = (who: string) => `${who}${++n}-${engine}@example.com`;

  const userWithApp = (email: string, admin = true) => appUser(t, email, admin);

  /** /admin in a new browser: the emailed code, then (with `secret`) the authenticator app's code. */
  async function signIn(email: string, secret?: string) {
    const browser = new FormClient();
    const first = await browser.follow(`${t.issuer}/admin/reviews`, t.issuer);
    expect(first.url).toMatch(/\/interaction\/[^/]+$/);
    const codePage = await browser.submit(first, '/email', { email }, t.issuer);
    const afterCode = await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.issuer);
    const page = secret ? await browser.submit(afterCode, '/mfa', { code: totpCode(secret) }, t.issuer) : afterCode;
    return { browser, page, csrf: /name="csrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '' };
  }

  const reviewItem = (html: string, email: string) => {
    const item = [...html.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]!).find((li) => li.includes(email));
    return item
      ?.replace(/\s+/g, ' ')
      .replace(/<[^>]+>/g, '|')
      .replace(/\|[\s|]*/g, '|')
      .trim();
  };

  it('lets an admin granted by the CLI approve one held sign-in and deny another, audited with their id', async () => {
    const email = nextEmail('admin');
    const { user, secret } = await userWithApp(email, false);
    expect(await adminByCli(t, email)).toEqual({ userId: user.id, admin: true });
    const approved = await heldSignIn(t, nextEmail('held'));
    const denied = await heldSignIn(t, nextEmail('held'));

    const admin = await signIn(email, secret);
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/reviews`]);
    expect(admin.page.html).toContain('<h1>Review queue</h1>');
    expect(admin.page.headers.get('cache-control')).toBe('no-store');
    expect(admin.page.html).toContain('<a href="/admin/reviews" aria-current="page">Review queue</a>');
    const heldEmail = (await db().prisma.user.findUniqueOrThrow({ where: { id: approved.row.userId } })).email!;
    expect(reviewItem(admin.page.html, heldEmail)).toMatch(
      new RegExp(
        `^\\|${heldEmail}: gate\\|Rules matched\\|Odd address\\|Address\\|${REVIEW_IP.replaceAll('.', '\\.')}\\|Country\\|Unknown\\|Place\\|Unknown\\|Device\\|[\\w-]+\\|Browser\\|Firefox on Linux\\|Mozilla/5\\.0 \\(X11; Linux x86_64\\) Firefox/140\\.0\\|Application\\|Gate App \\(gate-app\\)\\|Time\\|[A-Z][a-z]{2} \\d{1,2}, \\d{4}, \\d{1,2}:\\d{2}\\s[AP]M UTC\\|Approve\\|Deny\\|$`,
      ),
    );
    // Newest first.
    expect(admin.page.html.indexOf(denied.row.id)).toBeLessThan(admin.page.html.indexOf(approved.row.id));

    const yes = await admin.browser.request(`${t.issuer}/admin/reviews/approve`, { form: { csrf: admin.csrf, id: approved.row.id } });
    expect([yes.status, yes.headers.get('location')]).toEqual([303, '/admin/reviews?done=approved']);
    const no = await admin.browser.request(`${t.issuer}/admin/reviews/deny`, { form: { csrf: admin.csrf, id: denied.row.id } });
    expect([no.status, no.headers.get('location')]).toEqual([303, '/admin/reviews?done=denied']);
    const after = await admin.browser.follow(`${t.issuer}/admin/reviews?done=denied`, t.issuer);
    expect(after.html).toContain('<p class="message notice" role="status">Denied. The held sign-in is refused.</p>');
    expect(after.html).not.toContain(approved.row.id);
    expect(after.html).not.toContain(denied.row.id);

    expect((await approved.check()).location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const refused = await denied.check();
    expect([refused.status, refused.url]).toEqual([403, `${t.url}/interaction/${denied.uid}/blocked`]);
    const audits = await db().prisma.auditEvent.findMany({ where: { identifier: { in: [approved.row.id, denied.row.id] } }, orderBy: { createdAt: 'asc' } });
    expect(audits.map((a) => [a.type, a.identifier, a.reason])).toEqual([
      ['action.review.approved', approved.row.id, `via console by admin:${user.id}`],
      ['action.review.denied', denied.row.id, `via console by admin:${user.id}`],
    ]);
    const rows = await db().prisma.actionDecision.findMany({ where: { id: { in: [approved.row.id, denied.row.id] } }, orderBy: { createdAt: 'asc' } });
    expect(rows.map((r) => [r.state, r.reviewedBy])).toEqual([
      ['REVIEW_SUCCEEDED', `admin:${user.id}`],
      ['REVIEW_FAILED', `admin:${user.id}`],
    ]);
    const granted = await db().prisma.auditEvent.findFirstOrThrow({ where: { type: 'admin.granted', userId: user.id } });
    expect(granted.reason).toBe('via cli');
  });

  it('refuses a signed-in user who is not an admin with a 403 page', async () => {
    const email = nextEmail('user');
    const { secret } = await userWithApp(email, false);
    const { page } = await signIn(email, secret);
    expect([page.status, page.url]).toEqual([403, `${t.issuer}/admin/reviews`]);
    expect(page.html).toContain('Only admins may use the admin console. Ask an operator to grant you the role.');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
  });

  it('sends an admin without a second factor to enrol one first', async () => {
    const email = nextEmail('admin');
    const user = await upsertVerifiedEmailUser(db(), email);
    await setAdmin(db(), user.id, true);
    const { page } = await signIn(email);
    expect([page.status, page.url]).toEqual([200, expect.stringMatching(/\/interaction\/[^/]+\/mfa\/enrol$/)]);
    expect(page.html).not.toContain('Review queue');
  });

  it('stops a revoked admin at the next request, and refuses POSTs without a session or the CSRF token', async () => {
    const email = nextEmail('admin');
    const { user, secret } = await userWithApp(email);
    const held = await heldSignIn(t, nextEmail('held'));
    const admin = await signIn(email, secret);
    expect(admin.page.status).toBe(200);

    const forged = await admin.browser.request(`${t.issuer}/admin/reviews/approve`, { form: { csrf: 'forged', id: held.row.id } });
    expect(forged.status).toBe(403);
    expect(forged.html).toContain('This form has expired. Reload the page and try again.');
    const missing = await admin.browser.request(`${t.issuer}/admin/reviews/approve`, { form: { id: held.row.id } });
    expect(missing.status).toBe(403);
    const stranger = await new FormClient().request(`${t.issuer}/admin/reviews/approve`, { form: { csrf: admin.csrf, id: held.row.id } });
    expect(stranger.status).toBe(401);
    const unknown = await admin.browser.request(`${t.issuer}/admin/reviews/deny`, { form: { csrf: admin.csrf, id: 'no such decision' } });
    expect(unknown.status).toBe(404);
    expect((await db().prisma.actionDecision.findUniqueOrThrow({ where: { id: held.row.id } })).state).toBe('REVIEW_REQUIRED');

    expect(await adminByCli(t, email, false)).toEqual({ userId: user.id, admin: false });
    expect((await db().prisma.auditEvent.findFirstOrThrow({ where: { type: 'admin.revoked', userId: user.id } })).reason).toBe('via cli');
    expect((await admin.browser.request(`${t.issuer}/admin/reviews`)).status).toBe(403);
    const late = await admin.browser.request(`${t.issuer}/admin/reviews/approve`, { form: { csrf: admin.csrf, id: held.row.id } });
    expect(late.status).toBe(403);
    expect((await db().prisma.actionDecision.findUniqueOrThrow({ where: { id: held.row.id } })).state).toBe('REVIEW_REQUIRED');
  });

  it('asks /authorize for a fresh sign-in with the MFA acr as an essential claim, and keeps its cookie to /admin', async () => {
    const browser = new FormClient();
    const start = await browser.request(`${t.issuer}/admin/reviews?page=2`);
    expect(start.status).toBe(303);
    const to = new URL(start.headers.get('location')!);
    expect([
      to.origin + to.pathname,
      ...['client_id', 'redirect_uri', 'response_type', 'scope', 'code_challenge_method', 'max_age', 'claims'].map((k) => to.searchParams.get(k)),
    ]).toEqual([
      `${t.issuer}/authorize`,
      'sesame-admin-console',
      `${t.issuer}/admin/callback`,
      'code',
      'openid',
      'S256',
      '900',
      '{"id_token":{"acr":{"essential":true,"values":["http://schemas.openid.net/pape/policies/2007/06/multi-factor"]}}}',
    ]);
    expect(start.headers.get('set-cookie')).toMatch(
      /^sesame_admin_flow=[^;]+; path=\/admin; expires=[^;]+; samesite=lax; httponly, sesame_admin_flow\.sig=[^;]+; path=\/admin; expires=[^;]+; samesite=lax; httponly$/,
    );

    const email = nextEmail('admin');
    const { secret } = await userWithApp(email);
    const admin = { ...(await signIn(email, secret)), userId: (await db().prisma.user.findUniqueOrThrow({ where: { email } })).id };
    expect(admin.browser.cookie('sesame_admin')).toBeDefined();
    // An admin who signs out of Sesame is signed out of the console too.
    await db().prisma.oidcPayload.deleteMany({ where: { model: 'Session', accountId: admin.userId } });
    expect((await admin.browser.request(`${t.issuer}/admin/reviews`)).status).toBe(303);
  });

  it('refuses a callback this browser did not start', async () => {
    const page = await new FormClient().request(`${t.issuer}/admin/callback?code=abcdefghijklmnop&state=xyz`);
    expect(page.status).toBe(400);
    expect(page.headers.get('set-cookie') ?? '').not.toMatch(/sesame_admin=[^;]/);
  });

  it.runIf(engine === 'postgresql')('settles a review once when two admins approve and deny it at the same moment', async () => {
    const held = await heldSignIn(t, nextEmail('held'));
    const admins = await Promise.all(
      ['one', 'two'].map(async (who) => {
        const email = nextEmail(`admin-${who}`);
        const { secret } = await userWithApp(email);
        return signIn(email, secret);
      }),
    );
    const answers = await Promise.all(
      admins.map((a, i) => a.browser.request(`${t.issuer}/admin/reviews/${i === 0 ? 'approve' : 'deny'}`, { form: { csrf: a.csrf, id: held.row.id } })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([303, 409]);
    expect(answers.find((a) => a.status === 409)!.html).toContain('This action is no longer waiting for a review');
    const audits = await db().prisma.auditEvent.findMany({ where: { identifier: held.row.id, type: { startsWith: 'action.review.' } } });
    expect(audits).toHaveLength(1);
  });

  it('pages the queue 20 at a time, newest first, and explains an API action with its place', async () => {
    const email = nextEmail('admin');
    const { secret } = await userWithApp(email);
    const future = Date.now() + 86_400_000;
    const ids: string[] = [];
    for (let i = 0; i < 21; i++) {
      const { row } = await insertDecision(
        db(),
        {
          tenantId: 'app',
          userId: `app-user-${engine}-${i}`,
          actionCode: 'withdraw',
          idempotencyKey: `paging-${engine}-${i}`,
          outcome: 'REVIEW',
          state: 'REVIEW_REQUIRED',
          ruleIds: '[]',
          explanation: JSON.stringify({ facts: {}, decidedBy: null, matched: [] }),
          ip: '198.51.100.7',
          deviceId: null,
          principalId: null,
          verificationMethods: '[]',
          defaultVerificationMethod: null,
          redirectUrl: null,
          context: '{}',
          country: 'FR',
          latitude: 48.8566,
          longitude: 2.3522,
          interactionUid: null,
        },
        new Date(future + i * 1000),
      );
      ids.unshift(row.id);
    }
    const admin = await signIn(email, secret);
    const shown = (html: string) => [...html.matchAll(/name="id" value="([^"]+)"/g)].map((m) => m[1]).filter((_, i) => i % 2 === 0);
    expect(shown(admin.page.html)).toEqual(ids.slice(0, 20));
    expect(admin.page.html).toContain('<a href="/admin/reviews?page=2">Older</a>');
    expect(admin.page.html).not.toContain('Newer');
    const item = reviewItem(admin.page.html, `app-user-${engine}-20:`)!.split('|Time|');
    expect(item[0]).toBe(
      `|app-user-${engine}-20: withdraw|Rules matched|None (the default outcome)|Address|198.51.100.7|Country|FR|Place|48.86, 2.35|Device|Unknown|Browser|Unknown|Application|Test App (app)`,
    );
    expect(item[1]).toMatch(/^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M UTC\|Approve\|Deny\|$/);
    const second = await admin.browser.request(`${t.issuer}/admin/reviews?page=2`);
    expect(shown(second.html)[0]).toBe(ids[20]);
    expect(second.html).toContain('<a href="/admin/reviews?page=1">Newer</a>');
    for (const odd of ['abc', '-1', '1e9', '99999']) {
      const page = await admin.browser.request(`${t.issuer}/admin/reviews?page=${odd}`);
      expect([odd, page.status]).toEqual([odd, 200]);
    }
  });

  it.runIf(engine === 'sqlite')('documents grant-admin and revoke-admin in --help and refuses an unknown account in one line', async () => {
    const help = await usersCli(t, '--help');
    expect(help.stdout).toContain('grant-admin  <userId|email|phone>   may use the admin console at /admin');
    expect(help.stdout).toContain('revoke-admin <userId|email|phone>   no longer may');
    expect(failure(await usersCli(t, 'grant-admin', 'nobody@example.com'))).toBe('sesame: users grant-admin: no user "nobody@example.com"');
    expect(failure(await usersCli(t, 'revoke-admin'))).toBe('sesame: users revoke-admin: expected <userId|email|phone>');
  });
});
