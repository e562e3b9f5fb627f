// The hosted code step under abuse and mistakes: wrong, expired, exhausted and reused codes, growing
// delays across resends, the resend cooldown, and 20 parallel submissions of one code.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin, type Started } from '../helpers/login.js';
import { findForm, type Page } from '../helpers/form-client.js';
import { codeFrom } from '../helpers/smtp.js';
import { oidcFixture } from '../oidc/fixture.js';
import { waitFor } from '../helpers/wait.js';

// Long enough that the resend right after the email arrived is still early on a loaded machine
// (delivery alone can take over a second there); the tests poll for its end, never sleep.
const COOLDOWN = 5;
const fixture = { ...oidcFixture, codes: { resendCooldown: COOLDOWN } };

describe.each(ENGINES)('hosted code step on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
  });
  afterAll(() => t?.stop());

  /** A fresh login up to the code step for a fresh address. */
  async function atCodeStep(): Promise<{ started: Started; codePage: Page; email: string; code: string }> {
    const email = `user${++n}-${engine}@example.com`;
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret));
    const codePage = await started.browser.submit(started.page, '/email', { email }, t.url);
    return { started, codePage, email, code: codeFrom(await t.mail.next(email)) };
  }

  const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

  /**
   * Submits `values` to `suffix` until the answer is no longer 429 (a cooldown or delay running
   * out), and returns that answer. Coarse interval: every try counts against the per-IP limits.
   */
  function afterWait(started: Started, page: Page, suffix: string, values: Record<string, string>): Promise<Page & { location?: string }> {
    return waitFor(
      async () => {
        const answer = await started.browser.submit(page, suffix, values, t.url);
        return answer.status === 429 ? undefined : answer;
      },
      { interval: 250, timeout: 30_000, what: `${suffix} to stop answering 429` },
    );
  }
  const messageOf = (page: Page) => /role="alert"[^>]*>([^<]*)</.exec(page.html)?.[1]?.trim();

  it('refuses the right code after five wrong ones, and says to ask for a new one', async () => {
    const { started, codePage, code } = await atCodeStep();
    for (let i = 1; i <= 5; i++) {
      const page = await started.browser.submit(codePage, '/code', { code: wrong(code) }, t.url);
      expect(page.status).toBe(400);
      expect(messageOf(page)).toBe(`That code is not right. Check the newest email and try again. Tries left: ${5 - i}.`);
    }
    const refused = await started.browser.submit(codePage, '/code', { code }, t.url);
    expect(refused.status).toBe(400);
    expect(refused.location).toBeUndefined();
    expect(messageOf(refused)).toBe('Too many wrong tries for this code. Send a new code to try again.');
  });

  it('delays further tries after more failures across resends (no hard lockout)', async () => {
    const { started, codePage, email, code } = await atCodeStep();
    for (let i = 0; i < 5; i++) await started.browser.submit(codePage, '/code', { code: wrong(code) }, t.url);
    const resent = await afterWait(started, codePage, '/resend', {});
    expect(resent.status).toBe(200);
    expect(resent.html).toContain('We sent you a new code. Only the newest code works.');
    const second = codeFrom(await t.mail.next(email));
    const sixth = await started.browser.submit(resent, '/code', { code: wrong(second) }, t.url);
    expect(sixth.status).toBe(400);
    const delayed = await started.browser.submit(resent, '/code', { code: second }, t.url);
    expect(delayed.status).toBe(429);
    expect(Number(delayed.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(messageOf(delayed)).toMatch(/^Too many wrong codes\. Try again in [12] s\.$/);
    // A try while delayed is refused before the code is compared, so it costs no attempt.
    const done = await afterWait(started, resent, '/code', { code: second });
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it('refuses an expired code', async () => {
    const { started, codePage, email, code } = await atCodeStep();
    await t.sesame.services.db.prisma.oneTimeCode.updateMany({ where: { identifier: email }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const page = await started.browser.submit(codePage, '/code', { code }, t.url);
    expect(page.status).toBe(400);
    expect(messageOf(page)).toBe('That code has expired. Send a new code and use it within the time shown.');
  });

  it('accepts only the newest code, enforces the resend cooldown, and never reuses a code', async () => {
    const { started, codePage, email, code } = await atCodeStep();
    const early = await started.browser.submit(codePage, '/resend', {}, t.url);
    expect(early.status).toBe(429);
    const left = Number(early.headers.get('retry-after'));
    expect(left).toBeGreaterThanOrEqual(1);
    expect(left).toBeLessThanOrEqual(COOLDOWN);
    expect(messageOf(early)).toBe(`You can ask for another code in ${left} s.`);
    const resent = await afterWait(started, codePage, '/resend', {});
    expect(resent.status).toBe(200);
    const newest = codeFrom(await t.mail.next(email));
    if (newest !== code) {
      const old = await started.browser.submit(resent, '/code', { code }, t.url);
      expect(messageOf(old)).toBe('That code is not right. Check the newest email and try again. Tries left: 4.');
    }
    const done = await started.browser.submit(resent, '/code', { code: newest }, t.url);
    expect(done.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    // Replaying the used code on the same page signs nothing in: the finished page says so.
    const again = await started.browser.submit(resent, '/code', { code: newest }, t.url);
    expect([again.status, again.location, /<h1>([^<]*)<\/h1>/.exec(again.html)?.[1]]).toEqual([200, undefined, 'You are signed in']);
  });

  it('lets exactly one of 20 parallel submissions of the right code sign in', async () => {
    const { started, codePage, code } = await atCodeStep();
    const form = findForm(codePage.html, '/code');
    const url = new URL(form.action, codePage.url).toString();
    const pages = await Promise.all(Array.from({ length: 20 }, () => started.browser.request(url, { form: { ...form.fields, code } })));
    const signedIn = pages.filter((p) => p.status === 303 && p.headers.get('location')!.includes('/authorize/'));
    expect(signedIn).toHaveLength(1);
    // The rest are refused: as used codes, or (attempts reserved past the free failures) as delayed.
    expect(pages.filter((p) => p.status === 400 || p.status === 429)).toHaveLength(19);
    expect(pages.every((p) => p.status !== 500)).toBe(true);
  });

  it('offers "use another email", which goes back to the email step', async () => {
    const { started, codePage } = await atCodeStep();
    const back = await started.browser.submit(codePage, '/restart', {}, t.url);
    expect(back.status).toBe(200);
    expect(back.html).toContain('id="email" name="email" type="email" autocomplete="email"');
  });
});
