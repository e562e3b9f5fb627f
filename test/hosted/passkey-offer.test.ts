// The passkey offer after a code sign-in, over HTTP with a software authenticator (issue 14 item 2):
// created from the interaction's own fresh login only (never another interaction's, never after it
// finished), the challenge single use and bound to the interaction, bad input answered with a page,
// and the sign-in going on with the code's amr whatever happens. The switches: per client, global,
// and passkeys that cannot work (an IP issuer). The browser side is test/browser/passkey-offer.test.ts.
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { SoftAuthenticator } from '../helpers/soft-authenticator.js';
import { oidcFixture } from '../oidc/fixture.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { waitFor } from '../helpers/wait.js';
import { MANDATORY_OFFER, mandatoryNext } from '../../src/interactions/passkey-offer.js';

const APP_SECRET = oidcFixture.clients[0]!.client_secret;
const NO_OFFER_CLIENT = { ...oidcFixture.clients[0]!, client_id: 'no-offer', client_name: 'No Offer', offer_passkeys: false };
// A one-second resend cooldown: one address signs in from several browsers in a row here.
const fixture = { ...oidcFixture, clients: [...oidcFixture.clients, NO_OFFER_CLIENT], codes: { resendCooldown: 1 } };
const alertOf = (html: string) => /role="alert" id="form-error"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();
// As passkey-enrol.js asks: errors of the options route then come as JSON.
const ACCEPT_JSON = { accept: 'application/json' };
const OFFER_HEADING = '<h1>Sign in faster next time with a passkey</h1>';

describe.each(ENGINES)('passkey offer over HTTP on %s', (engine) => {
  let t: TestSesame;
  let app: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost(engine, fixture);
    app = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(() => t?.stop());

  const nextEmail = () => `offer${++n}-${engine}@example.com`;
  const db = () => t.sesame.services.db.prisma;
  const passkeysOf = async (...emails: string[]) => {
    const users = await db().user.findMany({ where: { email: { in: emails } }, select: { id: true } });
    return db().passkey.count({ where: { userId: { in: users.map((u) => u.id) } } });
  };
  const uidOf = (page: Page) => /\/interaction\/([^/]+)\//.exec(page.url)![1]!;

  /** A code sign-in of a new user in a fresh browser, up to the offer. */
  async function atOffer(email = nextEmail(), browser = new FormClient()) {
    // prompt=login: a browser that signed in before has a session, which would skip the sign-in.
    const started = await startLogin(t, app, { prompt: 'login' }, browser);
    const { result } = await signInWithEmail(t, started, email);
    expect([result.status, result.url]).toEqual([200, expect.stringMatching(/\/interaction\/[^/]+\/passkey-offer$/)]);
    return { started, page: result as Page, email, uid: uidOf(result as Page) };
  }

  const csrfOf = (page: Page) => /name="csrf" value="([^"]+)"/.exec(page.html)![1]!;
  const options = (started: Started, uid: string, csrf: string) =>
    started.browser.request(`${t.url}/interaction/${uid}/passkey-offer/options`, { method: 'POST', json: { csrf }, headers: ACCEPT_JSON });

  async function claimsAt(started: Started, location: string | undefined) {
    expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const tokens = await exchangeCode(app, started, location);
    return tokens.claims()!;
  }

  /** Options, the authenticator's answer, and the form post that carries it. */
  async function create(at: Awaited<ReturnType<typeof atOffer>>, device: SoftAuthenticator) {
    const answer = await options(at.started, at.uid, csrfOf(at.page));
    expect(answer.status).toBe(200);
    const { handle, options: creation } = JSON.parse(answer.html) as { handle: string; options: Parameters<SoftAuthenticator['register']>[0] };
    const response = JSON.stringify(device.register(creation));
    return { handle, response, creation };
  }

  const post = (at: Awaited<ReturnType<typeof atOffer>>, fields: Record<string, string>) => at.started.browser.submit(at.page, '/passkey-offer', fields, t.url);

  it('offers a new user a passkey, stores it, and the RP gets the code amr', async () => {
    const at = await atOffer();
    expect(at.page.html).toContain(OFFER_HEADING);
    expect(at.page.html).toContain('<button type="button" class="primary" data-passkey-create hidden>Create a passkey</button>');
    expect(at.page.html).toContain('value="later" class="secondary-button" data-passkey-supported hidden>Not now</button>');
    expect(at.page.html).toContain('value="continue" class="primary" data-passkey-unsupported>Continue</button>');
    expect(at.page.html).not.toMatch(/<script(?![^>]*src=)/);
    const device = new SoftAuthenticator({ origin: t.issuer });
    const { handle, response, creation } = await create(at, device);
    const user = await db().user.findUniqueOrThrow({ where: { email: at.email } });
    expect([creation.rp, creation.user.name, creation.excludeCredentials]).toEqual([{ id: 'localhost', name: 'Sesame' }, at.email, []]);
    const done = await post(at, { handle, response, decision: 'create' });
    const claims = await claimsAt(at.started, done.location);
    expect([claims.sub, claims.amr, claims.acr]).toEqual([user.id, ['email', 'otp'], 'urn:sesame:acr:email']);
    const passkeys = await db().passkey.findMany({ where: { userId: user.id } });
    expect(passkeys.map((p) => [p.id, p.counter, p.name])).toEqual([[JSON.parse(response).id, 1n, null]]);
    const audit = await db().auditEvent.findMany({ where: { type: 'passkey.added', userId: user.id } });
    expect(audit.map((a) => [a.clientId, a.reason])).toEqual([['app', passkeys[0]!.id]]);
    // The next code sign-in of this user (prompt=login) goes straight on: they have a passkey.
    const again = await startLogin(t, app, { prompt: 'login' }, at.started.browser);
    expect((await signInWithEmail(t, again, at.email)).result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it('walks a user without a passkey through an RP demanding one: code, the mandatory offer, then the passkey', async () => {
    const email = nextEmail();
    const started = await startLogin(t, app, { prompt: 'login', acr_values: 'urn:sesame:acr:passkey' });
    const { result } = await signInWithEmail(t, started, email);
    const at = { started, page: result as Page, email, uid: uidOf(result as Page) };
    expect([result.status, result.url]).toEqual([200, `${t.url}/interaction/${at.uid}/passkey-offer`]);
    expect(at.page.html).toContain(OFFER_HEADING);
    expect(at.page.html).not.toContain('>Not now</button>');

    const device = new SoftAuthenticator({ origin: t.issuer });
    const { handle, response } = await create(at, device);
    const back = await post(at, { handle, response, decision: 'create' });
    expect([back.status, back.url]).toEqual([200, `${t.url}/interaction/${at.uid}?passkey=first`]);
    const answer = await started.browser.request(`${t.url}/interaction/${at.uid}/passkey/options`, { method: 'POST', json: { csrf: csrfOf(back) } });
    const ceremony = JSON.parse(answer.html) as { handle: string; options: Parameters<SoftAuthenticator['authenticate']>[0] };
    const done = await started.browser.submit(back, '/passkey', { handle: ceremony.handle, response: JSON.stringify(device.authenticate(ceremony.options)) }, t.url);
    const claims = await claimsAt(started, done.location);
    const user = await db().user.findUniqueOrThrow({ where: { email } });
    expect([claims.sub, claims.acr, claims.amr]).toEqual([user.id, 'urn:sesame:acr:passkey', ['hwk', 'user']]);
  });

  it('lets no code sign-in through to an RP demanding a passkey, even resumed by hand at the offer', async () => {
    const started = await startLogin(t, app, { prompt: 'login', acr_values: 'urn:sesame:acr:passkey' });
    const { result } = await signInWithEmail(t, started, nextEmail());
    const uid = uidOf(result as Page);
    expect(result.url).toBe(`${t.url}/interaction/${uid}/passkey-offer`);
    // The interaction holds no login, only the offer's: oidc-provider starts a new sign-in.
    const resumed = await started.browser.follow(`${t.url}/authorize/${uid}`, t.url);
    expect([resumed.location, resumed.status, resumed.url]).toEqual([undefined, 200, expect.stringMatching(new RegExp(`^${t.url}/interaction/(?!${uid})[^/?]+$`))]);
  });

  it('answers bad input with the offer page again (no 500), and Continue still signs in with the code', async () => {
    const at = await atOffer();
    const failed = (page: Page) => [page.status, alertOf(page.html), page.html.includes(OFFER_HEADING)];
    const notVerified = [400, 'Your passkey could not be verified. Try again, or sign in with a code.', true];
    expect(failed(await post(at, { decision: 'create' }))).toEqual(notVerified);
    expect(failed(await post(at, { decision: 'create', handle: 'x', response: '{not json' }))).toEqual(notVerified);
    expect(failed(await post(at, { decision: 'create', handle: '../../etc', response: '{}' }))).toEqual(notVerified);
    expect(failed(await post(at, { decision: 'create', handle: 'unknown-handle', response: '{}' }))).toEqual([
      400,
      'This passkey request has expired or was already used. Start again.',
      true,
    ]);
    const odd = await post(at, { decision: 'upgrade' });
    expect([odd.status, odd.html]).toEqual([400, expect.stringContaining('decision must be create, later or continue')]);
    const forged = await at.started.browser.request(`${t.url}/interaction/${at.uid}/passkey-offer`, { form: { csrf: 'forged', decision: 'later' } });
    expect([forged.status, forged.html]).toEqual([403, expect.stringContaining('This form has expired. Reload the page and try again.')]);
    const noCsrf = await at.started.browser.request(`${t.url}/interaction/${at.uid}/passkey-offer/options`, { method: 'POST', json: {}, headers: ACCEPT_JSON });
    expect([noCsrf.status, JSON.parse(noCsrf.html)]).toEqual([403, { error: 'csrf', error_description: 'This form has expired. Reload the page and try again.' }]);
    const claims = await claimsAt(at.started, (await post(at, { decision: 'continue' })).location);
    expect(claims.amr).toEqual(['email', 'otp']);
    expect(await passkeysOf(at.email)).toBe(0);
  });

  it('uses a challenge once, and only in the interaction it was made for', async () => {
    const device = new SoftAuthenticator({ origin: t.issuer });
    const at = await atOffer();
    const { handle, response } = await create(at, device);
    // A response that fails verification spends the challenge: the good one after it is refused.
    const tampered = JSON.stringify({ ...JSON.parse(response), response: { ...JSON.parse(response).response, clientDataJSON: 'e30' } });
    expect([(await post(at, { handle, response: tampered, decision: 'create' })).status]).toEqual([400]);
    const replay = await post(at, { handle, response, decision: 'create' });
    expect([replay.status, alertOf(replay.html)]).toEqual([400, 'This passkey request has expired or was already used. Start again.']);
    // Another user's sign-in (another browser) cannot use this interaction's challenge.
    const mine = await create(at, new SoftAuthenticator({ origin: t.issuer }));
    const other = await atOffer();
    const stolen = await post(other, { handle: mine.handle, response: mine.response, decision: 'create' });
    expect([stolen.status, alertOf(stolen.html)]).toEqual([400, 'This passkey request has expired or was already used. Start again.']);
    expect(await passkeysOf(at.email, other.email)).toBe(0);
    const failures = await db().auditEvent.findMany({ where: { type: 'passkey.failed', clientId: 'app', reason: { startsWith: 'registration:' } } });
    expect(failures.length).toBeGreaterThanOrEqual(1);
  });

  it("refuses another interaction's offer, an offer before the sign-in, and one after it finished", async () => {
    const victim = await atOffer();
    const attacker = await atOffer();
    const theirs = `${t.url}/interaction/${victim.uid}/passkey-offer`;
    const seen = await attacker.started.browser.request(theirs);
    expect([seen.status, seen.html]).toEqual([400, expect.stringContaining('This sign-in page has expired or was opened in another browser.')]);
    const asked = await attacker.started.browser.request(`${theirs}/options`, { method: 'POST', json: { csrf: csrfOf(attacker.page) }, headers: ACCEPT_JSON });
    expect([asked.status, JSON.parse(asked.html)]).toEqual([
      400,
      { error: 'interaction_expired', error_description: 'This sign-in page has expired or was opened in another browser.' },
    ]);
    const posted = await attacker.started.browser.request(theirs, { form: { csrf: csrfOf(victim.page), decision: 'continue' } });
    expect([posted.status, posted.html]).toEqual([400, expect.stringContaining('This sign-in page has expired or was opened in another browser.')]);

    // Before any sign-in, the interaction holds no login: the page sends back to the sign-in, and no options.
    const fresh = await startLogin(t, app);
    const freshUid = uidOf({ ...fresh.page, url: `${fresh.page.url}/` });
    const early = await fresh.browser.request(`${t.url}/interaction/${freshUid}/passkey-offer`);
    expect([early.status, new URL(early.headers.get('location')!, t.url).href]).toEqual([303, `${t.issuer}/interaction/${freshUid}`]);
    const earlyOptions = await options(fresh, freshUid, csrfOf(fresh.page));
    expect([earlyOptions.status, JSON.parse(earlyOptions.html)]).toEqual([
      400,
      { error: 'invalid_grant', error_description: 'This passkey request expired or was already used. Start again.' },
    ]);

    // Once the sign-in went on, Back to the offer says "signed in", and its options are refused.
    const csrf = csrfOf(victim.page);
    await claimsAt(victim.started, (await post(victim, { decision: 'continue' })).location);
    const back = await victim.started.browser.request(`${t.url}/interaction/${victim.uid}/passkey-offer`);
    expect([back.status, back.html]).toEqual([200, expect.stringContaining('You are signed in')]);
    const late = await options(victim.started, victim.uid, csrf);
    expect([late.status, JSON.parse(late.html)]).toEqual([
      400,
      { error: 'interaction_expired', error_description: 'This sign-in page has expired or was opened in another browser.' },
    ]);
  });

  it('remembers "not now" per user in this browser only', async () => {
    const at = await atOffer();
    const later = await post(at, { decision: 'later' });
    expect((await claimsAt(at.started, later.location)).amr).toEqual(['email', 'otp']);
    const again = await startLogin(t, app, { prompt: 'login' }, at.started.browser);
    expect((await signInWithEmail(t, again, at.email)).result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    // Another user in the same browser, and the same user in another browser, are still offered one.
    await atOffer(nextEmail(), at.started.browser);
    // The same address again: its one-second resend cooldown may still run from the sign-in before.
    const elsewhere = new FormClient();
    const codePage = await waitFor(async () => {
      const started = await startLogin(t, app, { prompt: 'login' }, elsewhere);
      const page = await elsewhere.submit(started.page, '/email', { email: at.email }, t.url);
      return page.status === 200 && page;
    });
    const offered = await elsewhere.submit(codePage, '/code', { code: codeFrom(await t.mail.next(at.email)) }, t.url);
    expect([offered.status, offered.html.includes(OFFER_HEADING)]).toEqual([200, true]);
  });

  it('offers it after a sign-in link opened in the same browser, keeping the link amr', async () => {
    const started = await startLogin(t, app, { prompt: 'login' });
    const email = nextEmail();
    await started.browser.submit(started.page, '/email', { email }, t.url);
    const landing = await started.browser.request(linkFrom(await t.mail.next(email), '/login/link'));
    const offer = await started.browser.submit(landing, '/login/link', {}, t.url);
    expect([offer.status, offer.url, offer.html.includes(OFFER_HEADING)]).toEqual([200, expect.stringMatching(/\/passkey-offer$/), true]);
    const done = await started.browser.submit(offer, '/passkey-offer', { decision: 'continue' }, t.url);
    expect((await claimsAt(started, done.location)).amr).toEqual(['email']);
  });

  it('asks for the name first, then offers the passkey', async () => {
    const started = await startLogin(t, app, { scope: 'openid email profile' });
    const { result } = await signInWithEmail(t, started, nextEmail());
    expect(result.url).toMatch(/\/name$/);
    const offer = await started.browser.submit(result, '/name', { name: 'Ada', decision: 'save' }, t.url);
    expect([offer.status, offer.url, offer.html.includes(OFFER_HEADING)]).toEqual([200, expect.stringMatching(/\/passkey-offer$/), true]);
  });

  it('is not offered to the users of a client with offer_passkeys false', async () => {
    const noOffer = await rpConfig(t, 'no-offer', APP_SECRET);
    const started = await startLogin(t, noOffer);
    expect((await signInWithEmail(t, started, nextEmail())).result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });
});

describe('passkey offer switched off', () => {
  const cases = [
    ['globally (passkeys.offerEnrolment false)', { passkeys: { offerEnrolment: false } }, true],
    ['with passkeys disabled', { passkeys: { enabled: false } }, true],
    ['on an IP-address issuer, where WebAuthn cannot work', {}, false],
  ] as const;
  it.each(cases)('is not offered %s', async (_name, config, localhost) => {
    const t = localhost ? await startTestSesameOnLocalhost('sqlite', { ...oidcFixture, ...config }) : await startTestSesame('sqlite', oidcFixture);
    try {
      const app = await rpConfig(t, 'app', APP_SECRET);
      const started = await startLogin(t, app);
      expect((await signInWithEmail(t, started, 'switch@example.com')).result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    } finally {
      await t.stop();
    }
  });
});

describe('mandatory offer marker (the hook for flows that need a passkey made first)', () => {
  it('names a next step of the same interaction only', () => {
    const marked = (next: unknown) => ({ login: { accountId: 'u' }, [MANDATORY_OFFER]: { next } });
    expect(mandatoryNext('abc', marked('/interaction/abc/passkey'))).toBe('/interaction/abc/passkey');
    expect(mandatoryNext('abc', marked('/interaction/abc?passkey=first'))).toBe('/interaction/abc?passkey=first');
    expect(mandatoryNext('abc', marked('/interaction/abcd/x'))).toBeNull();
    expect(mandatoryNext('abc', marked('/interaction/other/passkey'))).toBeNull();
    expect(mandatoryNext('abc', marked('https://evil.example/interaction/abc/'))).toBeNull();
    expect(mandatoryNext('abc', marked('/interaction/abc/../other/x'))).toBeNull();
    expect(mandatoryNext('abc', { login: { accountId: 'u' } })).toBeNull();
    expect(mandatoryNext('abc', undefined)).toBeNull();
  });
});
