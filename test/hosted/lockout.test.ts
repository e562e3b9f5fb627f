// Attacks on a victim's code sign-in from other networks (issue 11, items 6 and 9): sends that used to
// retire the victim's code and use up the address's hourly sends, wrong codes that used to delay the
// victim's right code for 15 minutes, the daily ceiling of wrong codes, and parallel guesses racing a
// delay. Requesters are told apart by the loopback address their socket is bound to.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { FormClient, findForm, type Page } from '../helpers/form-client.js';
import { fetchFrom } from '../helpers/from-address.js';
import { codeFrom } from '../helpers/smtp.js';
import { oidcFixture } from '../oidc/fixture.js';

const fixture = {
  ...oidcFixture,
  codes: { resendCooldown: 1, sendsPerHour: 3, sendsPerIdentifierPerHour: 20, failuresPerIdentifierPerDay: 12, freeFailures: 10, maxFailureDelay: 900 },
  rateLimits: { sendsPerIpPerHour: 1000, verifiesPerIpPerMinute: 1000 },
};
const SIGNED_IN = /^http:\/\/127\.0\.0\.1:9\/cb\?code=/;

/** Wrong codes audited for `email` (repeated refusals count on one row). */
async function wrongCodesOf(t: TestSesame, email: string): Promise<number> {
  const { _sum } = await t.sesame.services.db.prisma.auditEvent.aggregate({ _sum: { count: true }, where: { type: 'code.failed', identifier: email, reason: 'wrong' } });
  return _sum.count ?? 0;
}

describe.each(ENGINES)('code sign-in under attack from other networks on %s', (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, fixture);
  });
  afterAll(() => t?.stop());

  const wrong = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');
  const messageOf = (page: Page) => /role="alert"[^>]*>([^<]*)</.exec(page.html)?.[1]?.trim();
  const victimAddress = () => `victim${++n}-${engine}@example.com`;

  /** A browser on the network of `address` at the email step of a fresh sign-in. */
  async function browserAt(address: string, browser = new FormClient({}, fetchFrom(address))) {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret), { prompt: 'login' }, browser);
    expect(started.page.status).toBe(200);
    return started;
  }

  /** Submits `email` at the email step; with `expectCode`, reads the code that was mailed. */
  async function sendTo(started: Awaited<ReturnType<typeof browserAt>>, email: string) {
    return started.browser.submit(started.page, '/email', { email }, t.url);
  }

  /** Waits (for the condition, not a fixed time) until every send cooldown of `email` has passed. */
  async function cooldownOver(email: string) {
    await vi.waitFor(
      async () => {
        const rows = await t.sesame.services.db.prisma.counter.findMany({ where: { key: { startsWith: `send-cool:${email}:` } } });
        for (const row of rows) expect(Date.now()).toBeGreaterThan(row.lastAt!.getTime() + 1000);
      },
      { timeout: 10_000, interval: 100 },
    );
  }

  it("sends from other networks neither retire the victim's code nor stop the victim getting a new one", async () => {
    const email = victimAddress();
    const tab1 = await browserAt('127.2.0.1');
    const first = await sendTo(tab1, email);
    expect(first.status).toBe(200);
    const code1 = codeFrom(await t.mail.next(email));
    // Twelve unauthenticated sends from elsewhere (more than the old 10 an hour per address).
    for (let i = 1; i <= 12; i++) {
      const page = await sendTo(await browserAt(`127.1.${i}.1`), email);
      expect(page.status).toBe(200);
      await t.mail.next(email);
    }
    // The victim's browser (another tab, same network) gets a code once its own cooldown passed.
    await cooldownOver(email);
    const tab2 = await browserAt('127.2.0.1', tab1.browser);
    const second = await sendTo(tab2, email);
    expect([second.status, messageOf(second)]).toEqual([200, undefined]);
    const code2 = codeFrom(await t.mail.next(email));
    // Both of the victim's codes still work, each in its own sign-in.
    const done1 = await tab1.browser.submit(first, '/code', { code: code1 }, t.url);
    expect(done1.location).toMatch(SIGNED_IN);
    const done2 = await tab2.browser.submit(second, '/code', { code: code2 }, t.url);
    expect(done2.location).toMatch(SIGNED_IN);
  });

  it("wrong codes from another network do not delay the victim's right code; the day ceiling still stops the guesser", async () => {
    const email = victimAddress();
    const victim = await browserAt('127.2.1.1');
    const codePage = await sendTo(victim, email);
    const code = codeFrom(await t.mail.next(email));
    // The attacker fails 11 codes from one network (three of its own codes): past the 10 free
    // failures its network is delayed; the ceiling of 12 a day is not reached yet.
    const attacker = new FormClient({}, fetchFrom('127.3.1.1'));
    for (let round = 0; round < 2; round++) {
      if (round) await cooldownOver(email);
      const started = await browserAt('127.3.1.1', attacker);
      const page = await sendTo(started, email);
      expect(page.status).toBe(200);
      const theirs = codeFrom(await t.mail.next(email));
      for (let i = 0; i < 5; i++) expect((await attacker.submit(page, '/code', { code: wrong(theirs) }, t.url)).status).toBe(400);
    }
    const started = await browserAt('127.3.1.1', attacker);
    await cooldownOver(email);
    const third = await sendTo(started, email);
    const theirs = codeFrom(await t.mail.next(email));
    expect((await attacker.submit(third, '/code', { code: wrong(theirs) }, t.url)).status).toBe(400);
    const delayed = await attacker.submit(third, '/code', { code: theirs }, t.url);
    expect(delayed.status).toBe(429);
    expect(messageOf(delayed)).toMatch(/^Too many wrong codes\. Try again in \d+ s\.$/);
    // The victim's right code works at once: the delay is the attacker network's, not the address's.
    const done = await victim.browser.submit(codePage, '/code', { code }, t.url);
    expect(done.location).toMatch(SIGNED_IN);

    // A wrong code from a second network makes 12 for the address today, the ceiling: that network
    // is then refused before any compare, even its right code.
    const second = new FormClient({}, fetchFrom('127.3.2.1'));
    const secondPage = await sendTo(await browserAt('127.3.2.1', second), email);
    const secondCode = codeFrom(await t.mail.next(email));
    expect((await second.submit(secondPage, '/code', { code: wrong(secondCode) }, t.url)).status).toBe(400);
    const ceiling = await second.submit(secondPage, '/code', { code: secondCode }, t.url);
    expect(ceiling.status).toBe(429);
    expect(messageOf(ceiling)).toMatch(/^Too many wrong codes\. Try again in \d+ s\.$/);
    const wrongCodes = () => wrongCodesOf(t, email);
    expect(await wrongCodes()).toBe(12);

    // A network with a clean record gets one try past the ceiling, so the owner on a fresh network
    // still signs in; a first wrong code there ends that too.
    const owner = await browserAt('127.2.2.1');
    const ownerPage = await sendTo(owner, email);
    const ownerCode = codeFrom(await t.mail.next(email));
    expect((await owner.browser.submit(ownerPage, '/code', { code: ownerCode }, t.url)).location).toMatch(SIGNED_IN);
    const guesser = await browserAt('127.3.3.1');
    const guesserPage = await sendTo(guesser, email);
    const guesserCode = codeFrom(await t.mail.next(email));
    expect((await guesser.browser.submit(guesserPage, '/code', { code: wrong(guesserCode) }, t.url)).status).toBe(400);
    expect((await guesser.browser.submit(guesserPage, '/code', { code: guesserCode }, t.url)).status).toBe(429);
    expect(await wrongCodes()).toBe(13);
  });

  it('a browser that signed in as the address keeps working past the ceilings others raised', async () => {
    const email = victimAddress();
    const home = await browserAt('127.4.0.1');
    const firstPage = await sendTo(home, email);
    expect((await home.browser.submit(firstPage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.url)).location).toMatch(SIGNED_IN);
    expect(home.browser.cookieNames()).toContain('sesame.browser');
    // Attackers on 21 networks pass the address's ceiling of 20 sends an hour, and fail codes past
    // its ceiling of 12 a day.
    for (let i = 1; i <= 21; i++) {
      const started = await browserAt(`127.5.${i}.1`);
      const page = await sendTo(started, email);
      expect(page.status).toBe(200);
      const theirs = codeFrom(await t.mail.next(email));
      if (i <= 3) for (let k = 0; k < 5; k++) await started.browser.submit(page, '/code', { code: wrong(theirs) }, t.url);
    }
    // Someone sharing the victim's network (NAT) is now refused: that network already sent once.
    await cooldownOver(email);
    const refused = await sendTo(await browserAt('127.4.0.2'), email);
    expect([refused.status, messageOf(refused)]).toEqual([429, 'You can ask for another code in 3600 s.']);
    // The victim's own browser on that network: gets a code and signs in.
    const again = await browserAt('127.4.0.1', home.browser);
    const page = await sendTo(again, email);
    expect([page.status, messageOf(page)]).toEqual([200, undefined]);
    const code = codeFrom(await t.mail.next(email));
    expect((await again.browser.submit(page, '/code', { code }, t.url)).location).toMatch(SIGNED_IN);
  });

  it('parallel guesses during a delay are not evaluated (the attempt is reserved before the compare)', async () => {
    const email = victimAddress();
    const attacker = await browserAt('127.6.0.1');
    let page = await sendTo(attacker, email);
    // Nine wrong codes (two codes) leave this network one free failure.
    for (const tries of [5, 4]) {
      const theirs = codeFrom(await t.mail.next(email));
      for (let i = 0; i < tries; i++) expect((await attacker.browser.submit(page, '/code', { code: wrong(theirs) }, t.url)).status).toBe(400);
      await cooldownOver(email);
      page = await attacker.browser.submit(page, '/resend', {}, t.url);
      expect(page.status).toBe(200);
    }
    const fresh = codeFrom(await t.mail.next(email));
    const form = findForm(page.html, '/code');
    const url = new URL(form.action, page.url).toString();
    // Ten parallel guesses: the free one and the one that earns the delay are evaluated, no more.
    const guesses = await Promise.all(Array.from({ length: 10 }, () => attacker.browser.request(url, { form: { ...form.fields, code: wrong(fresh) } })));
    expect(guesses.map((g) => g.status).sort()).toEqual([400, 400, 429, 429, 429, 429, 429, 429, 429, 429]);
    expect(await wrongCodesOf(t, email)).toBe(11);
  });
});
