// The console's outbox and signing-key pages without JavaScript, on both engines: an admin (code and
// authenticator app) sees given-up messages first with their recipient and last error but never their
// content, retries one (back in the queue, delivered, audited with the admin's id; a second retry is
// told it is not waiting any more), and rotates the keys only after ticking the confirmation (audited
// with the admin's id). The attacks: a POST without or with a forged CSRF token, without a session, a
// signed-in user who is not an admin, an unknown message id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outboxRow } from '../../src/storage/outbox.js';
import { ENGINES } from '../helpers/databases.js';
import { FormClient } from '../helpers/form-client.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { ADMIN_FIXTURE, consoleSignIn, userWithApp } from './admin-helpers.js';

const SECRET_CODE = '640128';

describe.each(ENGINES)('console outbox and keys on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;
  const nextEmail = (who: string) => `${who}${++n}-${engine}@example.com`;

  /** /admin in a new browser for a new user with an authenticator app (an admin unless `admin` is false). */
  async function signIn(admin = true) {
    const email = nextEmail(admin ? 'admin' : 'user');
    const { user, secret } = await userWithApp(t, email, admin);
    return { userId: user.id, ...(await consoleSignIn(t, email, secret, '/admin/outbox')) };
  }

  async function failed(recipient: string, more: Record<string, unknown> = {}) {
    const row = outboxRow({ channel: 'email', recipient, subject: `${SECRET_CODE} is your code`, text: `Your code is ${SECRET_CODE}` });
    await db().prisma.outboxMessage.create({ data: { ...row, status: 'failed', attempts: 8, lastError: '421 4.3.2 Service not available', ...more } });
    return row.id;
  }

  /** The text of the list item holding `needle`, tags as `|`. */
  const itemOf = (html: string, needle: string) =>
    [...html.matchAll(/<li>([\s\S]*?)<\/li>/g)]
      .map((m) => m[1]!)
      .find((li) => li.includes(needle))
      ?.replace(/\s+/g, ' ')
      .replace(/<[^>]+>/g, '|')
      .replace(/\|[\s|]*/g, '|')
      .trim();

  it('shows given-up messages first without their content, and retries one once, audited with the admin’s id', async () => {
    const retryable = await failed(nextEmail('stuck'));
    const erasedTo = nextEmail('erased');
    await failed(erasedTo, { subject: null, text: '' });
    const waitingTo = nextEmail('waiting');
    await db().prisma.outboxMessage.create({
      data: { ...outboxRow({ channel: 'email', recipient: waitingTo, subject: 's', text: SECRET_CODE }), nextAttemptAt: new Date(Date.now() + 3600_000) },
    });

    const admin = await signIn();
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/outbox`]);
    const html = admin.page.html;
    expect(html).toContain('<h1>Outbox</h1>');
    expect(html).toContain('<a href="/admin/outbox" aria-current="page">Outbox</a>');
    expect(html).not.toContain(SECRET_CODE);
    expect(html.indexOf('<h2>Failed deliveries</h2>')).toBeLessThan(html.indexOf('<h2>Waiting to be sent</h2>'));
    const recipient = (await db().prisma.outboxMessage.findUniqueOrThrow({ where: { id: retryable } })).recipient;
    expect(itemOf(html, recipient)).toMatch(
      new RegExp(`^\\|Email to ${recipient}\\|Last error\\|421 4\\.3\\.2 Service not available\\|Attempts\\|8\\|Queued\\|[A-Z][a-z]{2} \\d{1,2}, \\d{4}, [^|]+ UTC\\|Retry\\|$`),
    );
    expect(itemOf(html, erasedTo)).toMatch(/\|Its content was erased 24 hours after it was queued: ask the user to request a new code or link\.\|$/);
    expect(itemOf(html, waitingTo)).toMatch(/\|Attempts\|0\|Next attempt\|[^|]+ UTC\|Queued\|[^|]+ UTC\|$/);

    const retried = await admin.browser.request(`${t.issuer}/admin/outbox/retry`, { form: { csrf: admin.csrf, id: retryable } });
    expect([retried.status, retried.headers.get('location')]).toEqual([303, '/admin/outbox?done=retried']);
    // The worker sends it now (the sink works): the code in it reaches the inbox once.
    expect(codeFrom(await t.mail.next(recipient))).toBe(SECRET_CODE);
    await waitFor(async () => (await db().prisma.outboxMessage.findUniqueOrThrow({ where: { id: retryable } })).status === 'sent', { what: 'the retry to be sent' });
    const after = await admin.browser.follow(`${t.issuer}/admin/outbox?done=retried`, t.issuer);
    expect(after.html).toContain('<p class="message notice" role="status">Back in the queue: it goes out now.</p>');
    expect(after.html).not.toContain(recipient);

    const again = await admin.browser.request(`${t.issuer}/admin/outbox/retry`, { form: { csrf: admin.csrf, id: retryable } });
    expect([again.status, again.headers.get('location')]).toEqual([303, '/admin/outbox?done=stale']);
    const told = await admin.browser.follow(`${t.issuer}/admin/outbox?done=stale`, t.issuer);
    expect(told.html).toContain(
      '<p class="message error" role="alert" id="form-error">This message is no longer waiting for a retry: another admin retried it already, or it was sent.</p>',
    );
    const audits = await db().prisma.auditEvent.findMany({ where: { type: 'outbox.retried', identifier: retryable } });
    expect(audits.map((a) => [a.userId, a.clientId, a.reason])).toEqual([[admin.userId, null, `via console by admin:${admin.userId}`]]);
    expect(t.mail.to(recipient)).toHaveLength(1);
  });

  it('pages through given-up messages 20 at a time with an older link; a bad cursor shows the first page', async () => {
    await db().prisma.outboxMessage.deleteMany({ where: { status: 'failed' } });
    const base = Date.now() - 3600_000;
    const recipients = Array.from({ length: 21 }, (_, i) => `paged${String(i).padStart(2, '0')}-${engine}@example.com`);
    for (const [i, to] of recipients.entries()) await failed(to, { createdAt: new Date(base + i * 1000) });
    const admin = await signIn();
    const first = admin.page.html;
    // Newest first: the first page holds 20..1, the oldest is on the next.
    expect(recipients.filter((to) => first.includes(to))).toEqual(recipients.slice(1));
    const older = /<a href="(\/admin\/outbox\?older=[\w-]+)">Older<\/a>/.exec(first)?.[1];
    expect(older).toBeDefined();
    const second = await admin.browser.follow(`${t.issuer}${older}`, t.issuer);
    expect(second.status).toBe(200);
    expect(recipients.filter((to) => second.html.includes(to))).toEqual(recipients.slice(0, 1));
    expect(second.html).toContain('<a href="/admin/outbox">Newest</a>');
    expect(second.html).not.toContain('Waiting to be sent');
    expect(second.html).not.toContain('>Older<');
    for (const bad of ['not-a-cursor', '%00', 'a'.repeat(500)]) {
      const page = await admin.browser.follow(`${t.issuer}/admin/outbox?older=${bad}`, t.issuer);
      expect([page.status, recipients.filter((to) => page.html.includes(to)).length], bad).toEqual([200, 20]);
    }
    await db().prisma.outboxMessage.deleteMany({ where: { recipient: { in: recipients } } });
  });

  it('refuses a retry without the CSRF token, with a forged one, without a session, of an unknown id, and by a non-admin', async () => {
    const target = await failed(nextEmail('target'));
    const admin = await signIn();
    const post = (browser: FormClient, form: Record<string, string>) => browser.request(`${t.issuer}/admin/outbox/retry`, { form });
    const forged = await post(admin.browser, { csrf: 'forged', id: target });
    expect([forged.status, forged.html.includes('This form has expired. Reload the page and try again.')]).toEqual([403, true]);
    expect((await post(admin.browser, { id: target })).status).toBe(403);
    expect((await post(new FormClient(), { csrf: admin.csrf, id: target })).status).toBe(401);
    for (const id of ['no-such-message', '', '<script>']) expect((await post(admin.browser, { csrf: admin.csrf, id })).status, id).toBe(404);
    const user = await signIn(false);
    expect([user.page.status, user.page.html.includes('Only admins may use the admin console.')]).toEqual([403, true]);
    expect((await user.browser.request(`${t.issuer}/admin/keys`)).status).toBe(403);
    expect((await post(user.browser, { csrf: admin.csrf, id: target })).status).toBe(403);
    expect((await db().prisma.outboxMessage.findUniqueOrThrow({ where: { id: target } })).status).toBe('failed');
    expect(await db().prisma.auditEvent.count({ where: { type: 'outbox.retried', identifier: target } })).toBe(0);
  });

  it('rotates the keys only once the admin confirms, audited with the admin’s id; refuses a forged or missing CSRF token', async () => {
    const admin = await signIn();
    const page = await admin.browser.follow(`${t.issuer}/admin/keys`, t.issuer);
    expect(page.html).toContain('<h1>Signing keys</h1>');
    const kids = async () => (await db().prisma.signingKey.findMany({ where: { retiredAt: null }, orderBy: { alg: 'asc' } })).map((k) => k.kid);
    const before = await kids();
    for (const kid of before) expect(itemOf(page.html, kid)).toMatch(new RegExp(`^\\|(RS256|ES256) key\\|Key ID\\|${kid}\\|State\\|Active: signs\\|Created\\|[^|]+ UTC\\|$`));
    expect(page.html).toContain('within 30 seconds');
    const rotate = (form: Record<string, string>) => admin.browser.request(`${t.issuer}/admin/keys/rotate`, { form });

    expect((await rotate({ csrf: 'forged', confirm: 'yes' })).status).toBe(403);
    expect((await rotate({ confirm: 'yes' })).status).toBe(403);
    expect((await new FormClient().request(`${t.issuer}/admin/keys/rotate`, { form: { csrf: admin.csrf, confirm: 'yes' } })).status).toBe(401);
    const unconfirmed = await rotate({ csrf: admin.csrf });
    expect([unconfirmed.status, unconfirmed.headers.get('location')]).toEqual([303, '/admin/keys?done=unconfirmed']);
    expect((await admin.browser.follow(`${t.issuer}/admin/keys?done=unconfirmed`, t.issuer)).html).toContain('Tick the box to confirm the rotation.');
    expect(await kids()).toEqual(before);

    const done = await rotate({ csrf: admin.csrf, confirm: 'yes' });
    expect([done.status, done.headers.get('location')]).toEqual([303, '/admin/keys?done=rotated']);
    const fresh = await kids();
    expect(fresh.filter((k) => before.includes(k))).toEqual([]);
    const after = await admin.browser.follow(`${t.issuer}/admin/keys?done=rotated`, t.issuer);
    expect(after.html).toContain('<p class="message notice" role="status">Rotated. The new keys sign from now on; the old ones stay published until their tokens expire.</p>');
    for (const kid of before) expect(itemOf(after.html, kid)).toMatch(/\|State\|Retired: verifies only\|Created\|[^|]+ UTC\|Published until\|[^|]+ UTC\|$/);
    const audits = await db().prisma.auditEvent.findMany({ where: { type: 'keys.rotated' } });
    expect(audits.map((a) => [a.userId, a.reason, a.identifier?.split(' ').sort()])).toEqual([[admin.userId, `via console by admin:${admin.userId}`, [...fresh].sort()]]);
  });
});
