// The optional "What should we call you?" step (issue 12 item 5): once, for a new account whose
// client asked for profile; skippable, validated, localized, CSRF-protected, bound to the
// interaction's own account, escaped where shown, and dead once the sign-in went on.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin, type Started, exchangeCode } from '../helpers/login.js';
import { FormClient, findForm, type Page } from '../helpers/form-client.js';
import { oidcFixture } from '../oidc/fixture.js';

const APP_SECRET = oidcFixture.clients[0]!.client_secret;
const PROFILE = { scope: 'openid email profile' };
const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1]?.trim();

describe.each(ENGINES)('name step on %s', (engine) => {
  let t: TestSesame;
  let app: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
    app = await rpConfig(t, 'app', APP_SECRET);
  });
  afterAll(() => t?.stop());

  const nextEmail = () => `name${++n}-${engine}@example.com`;
  const userOf = (email: string) => t.sesame.services.db.prisma.user.findUniqueOrThrow({ where: { email } });

  /** A new account's sign-in up to the name step. */
  async function atNameStep(params: Record<string, string> = PROFILE, email = nextEmail()) {
    const started = await startLogin(t, app, params);
    const { result } = await signInWithEmail(t, started, email);
    expect(result.status).toBe(200);
    expect(result.url).toMatch(/\/interaction\/[^/]+\/name$/);
    return { started, page: result as Page, email };
  }

  async function claimsAt(started: Started, location: string | undefined) {
    expect(location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const tokens = await exchangeCode(app, started, location);
    return { claims: tokens.claims()!, userinfo: await oidc.fetchUserInfo(app, tokens.access_token, tokens.claims()!.sub) };
  }

  it('asks a new account, stores the trimmed name, and the name reaches the ID token and userinfo', async () => {
    const { started, page, email } = await atNameStep();
    expect(page.html).toContain('<h1>What should we call you?</h1>');
    expect(page.html).toContain('<label for="name">Your name</label>');
    expect(page.html).toContain('autocomplete="name" maxlength="100"');
    expect(page.html).not.toMatch(/<script(?![^>]*src=)/);
    const done = await started.browser.submit(page, '/name', { name: '  Ada Lovelace ', decision: 'save' }, t.url);
    const { claims, userinfo } = await claimsAt(started, done.location);
    expect(claims.name).toBe('Ada Lovelace');
    expect(userinfo).toEqual({ sub: claims.sub, email, email_verified: true, name: 'Ada Lovelace' });
  });

  it('can be skipped', async () => {
    const { started, page, email } = await atNameStep();
    const done = await started.browser.submit(page, '/name', { name: 'typed then skipped', decision: 'skip' }, t.url);
    const { claims } = await claimsAt(started, done.location);
    expect(claims).not.toHaveProperty('name');
    expect((await userOf(email)).name).toBeNull();
  });

  it('is not asked of an account that existed before this sign-in (asked once, at sign-up)', async () => {
    const email = nextEmail();
    await t.sesame.services.db.prisma.user.create({ data: { id: `pre-${email}`, email, emailVerified: true, createdAt: new Date(Date.now() - 60_000) } });
    const started = await startLogin(t, app, PROFILE);
    const { result } = await signInWithEmail(t, started, email);
    const { claims } = await claimsAt(started, result.location);
    expect(claims.sub).toBe(`pre-${email}`);
    expect(claims).not.toHaveProperty('name');
  });

  it('is not asked when the client did not ask for profile', async () => {
    const started = await startLogin(t, app, { scope: 'openid email' });
    expect((await signInWithEmail(t, started, nextEmail())).result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
  });

  it('refuses empty, too long and control-character names with a message, keeping the step', async () => {
    const { started, page, email } = await atNameStep();
    const message = 'Enter a name of 1 to 100 characters, without line breaks or control characters, or skip this step.';
    for (const name of ['   ', 'x'.repeat(101), 'Ada\u0007', 'Ada\nLovelace', 'Ada\u202Eecalevol']) {
      const refused = await started.browser.submit(page, '/name', { name, decision: 'save' }, t.url);
      expect([refused.status, alertOf(refused.html)]).toEqual([400, message]);
      expect(refused.html).toContain('aria-invalid="true"');
    }
    expect((await userOf(email)).name).toBeNull();
    // 100 characters (counted as characters, not UTF-16 units) is fine.
    const name = '名'.repeat(99) + '😀';
    const done = await started.browser.submit(page, '/name', { name, decision: 'save' }, t.url);
    expect((await claimsAt(started, done.location)).claims.name).toBe(name);
  });

  it('escapes a name with markup where it is shown again, and stores it as typed', async () => {
    const { started, page } = await atNameStep();
    const markup = '<script>alert(1)</script><b>Ada</b>';
    const tooLong = await started.browser.submit(page, '/name', { name: markup + 'x'.repeat(100), decision: 'save' }, t.url);
    expect(tooLong.status).toBe(400);
    expect(tooLong.html).not.toContain('<script>alert(1)');
    expect(tooLong.html).toContain('value="&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;Ada&lt;/b&gt;xxx');
    const done = await started.browser.submit(page, '/name', { name: markup, decision: 'save' }, t.url);
    expect((await claimsAt(started, done.location)).claims.name).toBe(markup);
  });

  it('is in French for ui_locales=fr', async () => {
    const { page } = await atNameStep({ ...PROFILE, ui_locales: 'fr' });
    expect(page.html).toContain('<h1>Comment devons\u2011nous vous appeler\u00a0?</h1>');
    expect(page.html).toContain('>Passer</button>');
  });

  it('refuses a post without the CSRF token, and one from another browser (no interaction there)', async () => {
    const { started, page, email } = await atNameStep();
    const form = findForm(page.html, '/name');
    const url = new URL(form.action, page.url).toString();
    const noCsrf = await started.browser.request(url, { form: { name: 'Mallory', decision: 'save' } });
    expect(noCsrf.status).toBe(403);
    // The attacker has the victim's form (token included) but not the victim's interaction cookie.
    const attacker = await new FormClient().request(url, { form: { ...form.fields, name: 'Mallory', decision: 'save' } });
    expect(attacker.status).toBe(400);
    expect(alertOf(attacker.html)).toBe('This sign-in page has expired or was opened in another browser.');
    expect((await userOf(email)).name).toBeNull();
  });

  it('names only the account this interaction signed in, whatever the form says', async () => {
    const victim = await atNameStep();
    const victimId = (await userOf(victim.email)).id;
    const attacker = await atNameStep();
    const form = findForm(attacker.page.html, '/name');
    const done = await attacker.started.browser.request(new URL(form.action, attacker.page.url).toString(), {
      form: { ...form.fields, name: 'Mallory', decision: 'save', accountId: victimId, sub: victimId, uid: victim.page.url.split('/').at(-2)! },
    });
    expect(done.status).toBe(303);
    expect((await userOf(attacker.email)).name).toBe('Mallory');
    expect((await userOf(victim.email)).name).toBeNull();
  });

  it('is dead once the sign-in went on: a replayed post changes nothing, and the page says signed in', async () => {
    const { started, page, email } = await atNameStep();
    const form = findForm(page.html, '/name');
    const url = new URL(form.action, page.url).toString();
    const done = await started.browser.submit(page, '/name', { name: 'Ada', decision: 'save' }, t.url);
    await claimsAt(started, done.location);
    // Back from the app (a GET) or a late post from another tab: this browser finished, so it is told so.
    const interaction = url.replace(/\/name$/, '');
    const replay = await started.browser.request(url, { form: { ...form.fields, name: 'Eve', decision: 'save' } });
    expect([replay.status, replay.headers.get('location'), replay.headers.get('cache-control')]).toEqual([303, new URL(interaction).pathname, 'no-store']);
    const back = await started.browser.request(url);
    expect([back.status, back.headers.get('cache-control'), /<h1>([^<]*)<\/h1>/.exec(back.html)?.[1]]).toEqual([200, 'no-store', 'You are signed in']);
    expect((await userOf(email)).name).toBe('Ada');
  });

  it('says "once you give one" on a third-party consent page for an account without a name', async () => {
    const partner = await rpConfig(t, 'partner', oidcFixture.clients[1]!.client_secret);
    const nameless = await startLogin(t, partner, { scope: 'openid profile' });
    // A new account at a third-party client: the name step first, skipped here, then consent.
    const step = (await signInWithEmail(t, nameless, nextEmail())).result;
    const consent = await nameless.browser.submit(step, '/name', { decision: 'skip' }, t.url);
    expect(consent.html).toContain('<li>See your name, once you give one</li>');

    const named = await startLogin(t, partner, { scope: 'openid profile' });
    const namedStep = (await signInWithEmail(t, named, nextEmail())).result;
    const namedConsent = await named.browser.submit(namedStep, '/name', { name: 'Grace', decision: 'save' }, t.url);
    expect(namedConsent.html).toContain('<li>See your name</li>');
  });
});
