// The email step during the resend wait (issue 12). A second "Email me a code" within 30 s (a
// double click, or Back and submit again) used to answer only "You can ask for another code in
// 29 s." with the email form: a dead end while the code sat in the inbox. Now, when this sign-in
// already sent a code to that address, the page offers "I already have a code". It offers it to
// that sign-in only: another browser, or another address, still gets the plain wait, and known and
// unknown addresses get the same page. SQLite only: nothing here depends on the engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import type { Page } from '../helpers/form-client.js';
import { codeFrom } from '../helpers/smtp.js';
import { oidcFixture } from '../oidc/fixture.js';

const SIGNED_IN = /^http:\/\/127\.0\.0\.1:9\/cb\?code=/;
const noticeOf = (page: Page) => /role="status"[^>]*>([^<]*)</.exec(page.html)?.[1]?.trim();
const alertOf = (page: Page) => /role="alert"[^>]*>([^<]*)</.exec(page.html)?.[1]?.trim();
const offersCode = (page: Page) => /action="\/interaction\/[^"]+\/code"/.test(page.html);

describe('the email step while a code is on its way', () => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', { ...oidcFixture, signUp: 'existing-only' });
    await t.sesame.services.db.prisma.user.createMany({
      data: [
        { id: 'known1', email: 'known1@example.com', emailVerified: true },
        { id: 'known2', email: 'known2@example.com', emailVerified: true },
      ],
    });
  });
  afterAll(() => t?.stop());

  const start = async () => startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));

  it('a second submit of the same address offers the code already sent, which signs in', async () => {
    const started = await start();
    const email = 'known1@example.com';
    expect((await started.browser.submit(started.page, '/email', { email }, t.url)).status).toBe(200);
    const again = await started.browser.submit(started.page, '/email', { email }, t.url);
    expect(again.status).toBe(429);
    const wait = Number(again.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(30);
    expect(noticeOf(again)).toBe(`We sent a code to this address a moment ago. Enter it below, or ask for another one in ${wait} s.`);
    expect(alertOf(again)).toBeUndefined();
    expect(again.html).toContain('<h2 id="have-code">I already have a code</h2>');
    expect(offersCode(again)).toBe(true);
    // The code field takes the focus; the address stays editable below it.
    expect(again.html).toMatch(/id="code"[^>]*autofocus/);
    expect(again.html).not.toMatch(/id="email"[^>]*autofocus/);
    expect(again.html).toContain(`value="${email}"`);

    const code = codeFrom(await t.mail.next(email));
    expect(t.mail.to(email)).toHaveLength(1);
    const done = await started.browser.submit(again, '/code', { code }, t.url);
    expect(done.location).toMatch(SIGNED_IN);
  });

  it('known and unknown addresses get the same page', async () => {
    const pages: string[] = [];
    for (const address of ['known2@example.com', `nobody${++n}@example.com`]) {
      const started = await start();
      await started.browser.submit(started.page, '/email', { email: address }, t.url);
      const again = await started.browser.submit(started.page, '/email', { email: address }, t.url);
      await t.mail.next(address);
      pages.push(
        `${again.status} ${again.html
          .replaceAll(address, 'EMAIL')
          .replace(/[\w-]{20,}/g, 'ID')
          .replace(/in \d+ s\./, 'in N s.')}`,
      );
    }
    expect(pages[0]).toContain('I already have a code');
    expect(pages[1]).toBe(pages[0]);
  });

  it('another browser, or another address of this sign-in, gets only the wait', async () => {
    const email = `shared${++n}@example.com`;
    const first = await start();
    expect((await first.browser.submit(first.page, '/email', { email }, t.url)).status).toBe(200);
    await t.mail.next(email);

    // An attacker's browser asking for the same address learns nothing and can type no code here.
    const other = await start();
    const refused = await other.browser.submit(other.page, '/email', { email }, t.url);
    expect(refused.status).toBe(429);
    expect(alertOf(refused)).toMatch(/^You can ask for another code in \d+ s\.$/);
    expect(offersCode(refused)).toBe(false);
    expect(refused.html).not.toContain('I already have a code');

    // A sign-in whose code went to another address is not offered that code under this one.
    const mine = `mine${n}@example.com`;
    expect((await other.browser.submit(other.page, '/email', { email: mine }, t.url)).status).toBe(200);
    await t.mail.next(mine);
    const switched = await other.browser.submit(other.page, '/email', { email }, t.url);
    expect(switched.status).toBe(429);
    expect(alertOf(switched)).toMatch(/^You can ask for another code in \d+ s\.$/);
    expect(offersCode(switched)).toBe(false);
  });
});
