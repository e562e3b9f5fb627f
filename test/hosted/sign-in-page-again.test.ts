// A sign-in page visited again after it expired, finished or was cancelled (Back) says so instead of
// failing, and a made-up or borrowed one shows nothing of another sign-in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { findForm, type Page } from '../helpers/form-client.js';
import { fixture, read, REQUEST_ID, FR_REQUEST_ID, page, requests } from './error-pages-fixture.js';

describe('error pages of a sign-in page gone, finished or made up', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  const { get } = requests(() => t);

  it('a resume URL whose sign-in is gone is an expired sign-in page', async () => {
    expect(await page(await get('/authorize/abcdefghijklmnopqrstu'))).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This sign-in page is no longer valid',
      text: ['This sign-in page has expired.', 'Go back to the application and sign in again.'],
      links: [],
      details: ['Technical details', 'Error code: invalid_request', 'authorization request has expired', expect.stringMatching(REQUEST_ID)],
    });
  });

  it('a sign-in page this browser never had: expired or another browser (en, fr)', async () => {
    expect(await page(await get('/interaction/doesnotexist'))).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This sign-in page is no longer valid',
      text: ['This sign-in page has expired or was opened in another browser.', 'Go back to the application and sign in again.'],
      links: [],
      details: ['Technical details', 'Error code: interaction_expired', expect.stringMatching(REQUEST_ID)],
    });
    expect(await page(await get('/interaction/doesnotexist', 'fr'))).toEqual({
      status: 400,
      lang: 'fr',
      heading: "Cette page de connexion n'est plus valable",
      text: ['Cette page de connexion a expiré ou a été ouverte dans un autre navigateur.', "Revenez à l'application et reconnectez-vous."],
      links: [],
      details: ['Détails techniques', "Code d'erreur : interaction_expired", expect.stringMatching(FR_REQUEST_ID)],
    });
  });

  /** Ends interaction `url` the way time does: its row expires. */
  async function expire(url: string) {
    const uid = new URL(url).pathname.split('/')[2]!;
    const { count } = await t.sesame.services.db.prisma.oidcPayload.updateMany({ where: { model: 'Interaction', id: uid }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(count).toBe(1);
  }

  it('an expired sign-in page names its app and links to its client_uri or initiate_login_uri (with iss)', async () => {
    const app = await startLogin(t, await rpConfig(t, 'app', fixture.clients[0]!.client_secret));
    await expire(app.page.url);
    const expired = await app.browser.request(app.page.url, { headers: { accept: 'text/html' } });
    expect({ status: expired.status, ...read(expired.html) }).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This sign-in page is no longer valid',
      text: ['Sign-in pages work for a limited time, and this one has expired.', 'Go back to Test App and sign in again.', 'Back to Test App'],
      links: [{ href: 'https://app.example/home', text: 'Back to Test App' }],
      details: ['Technical details', 'Error code: interaction_expired', expect.stringMatching(REQUEST_ID)],
    });

    const partner = await startLogin(t, await rpConfig(t, 'partner', fixture.clients[1]!.client_secret), { ui_locales: 'fr' });
    await expire(partner.page.url);
    // A form sent from the expired page gets the same page.
    const form = findForm(partner.page.html, '/email');
    const sent = await partner.browser.request(new URL(form.action, partner.page.url).toString(), {
      form: { ...form.fields, email: 'a@example.com' },
      headers: { 'accept-language': 'fr' },
    });
    const back = `https://partner.example/login?iss=${encodeURIComponent(t.issuer)}`;
    expect({ status: sent.status, ...read(sent.html) }).toEqual({
      status: 400,
      lang: 'fr',
      heading: "Cette page de connexion n'est plus valable",
      text: ["Les pages de connexion ne restent valables qu'un temps limité, et celle-ci a expiré.", 'Revenez à Partner et reconnectez-vous.', 'Retour à Partner'],
      links: [{ href: back, text: 'Retour à Partner' }],
      details: ['Détails techniques', "Code d'erreur : interaction_expired", expect.stringMatching(FR_REQUEST_ID)],
    });
  });

  it('a finished sign-in page, opened again, says so; a stale consent form lands there too', async () => {
    const started = await startLogin(t, await rpConfig(t, 'partner', fixture.clients[1]!.client_secret));
    const { result } = await signInWithEmail(t, started, 'back@example.com');
    // Partner is a third party: the code leads to its consent page, a new interaction.
    expect(result.status).toBe(200);
    const consent: Page = result;
    const allowed = await started.browser.submit(consent, '/consent', { decision: 'allow' }, t.url);
    expect(allowed.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);

    const done = {
      status: 200,
      lang: 'en',
      heading: 'You are signed in',
      text: ['You already finished signing in to Partner on this page.', 'You can close this page, or go back to Partner.', 'Continue to Partner'],
      links: [{ href: `https://partner.example/login?iss=${encodeURIComponent(t.issuer)}`, text: 'Continue to Partner' }],
      details: [],
    };
    // Back to the code page, back to the consent page: both are done.
    for (const url of [started.page.url, consent.url]) {
      const again = await started.browser.request(url);
      expect({ url, status: again.status, cache: again.headers.get('cache-control'), ...read(again.html) }).toEqual({ url, cache: 'no-store', ...done });
    }
    // "Allow" on the stale consent page: no failure, the same page.
    const stale = await started.browser.request(new URL(findForm(consent.html, '/consent').action, consent.url).toString(), {
      form: { ...findForm(consent.html, '/consent').fields, decision: 'allow' },
    });
    expect([stale.status, stale.headers.get('location')]).toEqual([303, new URL(consent.url).pathname]);
    const landed = await started.browser.request(consent.url, { headers: { 'accept-language': 'fr' } });
    expect({ status: landed.status, ...read(landed.html) }).toEqual({
      status: 200,
      lang: 'fr',
      heading: 'Vous êtes connecté',
      text: ['Vous avez déjà terminé de vous connecter à Partner sur cette page.', 'Vous pouvez fermer cette page, ou revenir à Partner.', 'Continuer vers Partner'],
      links: [{ href: `https://partner.example/login?iss=${encodeURIComponent(t.issuer)}`, text: 'Continuer vers Partner' }],
      details: [],
    });
  });

  it('a cancelled sign-in page, opened again, says it was cancelled; a client without name or URL is "the application"', async () => {
    const started = await startLogin(t, await rpConfig(t, 'plain', fixture.clients[3]!.client_secret));
    const cancelled = await started.browser.submit(started.page, '/cancel', {}, t.url);
    expect(cancelled.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?error=access_denied/);
    const again = await started.browser.request(started.page.url);
    expect({ status: again.status, ...read(again.html) }).toEqual({
      status: 200,
      lang: 'en',
      heading: 'Sign-in was cancelled',
      text: ['You cancelled signing in to the application on this page.', 'To sign in, go back to the application and start again.'],
      links: [],
      details: [],
    });
  });

  it('a made-up or borrowed progress cookie shows nothing of another sign-in', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', fixture.clients[0]!.client_secret));
    const again = (await started.browser.request(started.page.url)).headers.getSetCookie();
    expect(again.filter((c) => c.startsWith('sesame.step='))).toEqual([]); // set once, on the first visit
    const real = started.browser.cookie('sesame.step')!;
    expect(real).toMatch(/^open\.[\w-]+\.[\w-]{43}$/);
    const [, client, mac] = real.split('.');
    const forged = [`done.${client}.${mac}`, `done.${Buffer.from('app').toString('base64url')}.${'A'.repeat(43)}`, `open.${Buffer.from('partner').toString('base64url')}.${mac}`];
    // The real cookie on another interaction's path is no proof either: it is bound to its uid.
    for (const [path, value] of [...forged.map((v) => [new URL(started.page.url).pathname, v]), ['/interaction/otheruid', real]] as const) {
      const res = await get(path, 'en', { cookie: `sesame.step=${value}` });
      expect({ path, ...(await page(res)) }).toEqual({
        path,
        status: 400,
        lang: 'en',
        heading: 'This sign-in page is no longer valid',
        text: ['This sign-in page has expired or was opened in another browser.', 'Go back to the application and sign in again.'],
        links: [],
        details: ['Technical details', 'Error code: interaction_expired', expect.stringMatching(REQUEST_ID)],
      });
    }
  });

  it('a form sent to a made-up sign-in page never redirects anywhere, not even on this site', async () => {
    for (const path of ['/interaction/%2F%2Fevil.example%2F/consent', '/interaction/https%3A%2F%2Fevil.example/consent', '/interaction/x/consent']) {
      const res = await fetch(`${t.url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          accept: 'text/html',
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `sesame.step=done.${Buffer.from('app').toString('base64url')}.${'A'.repeat(43)}`,
        },
        body: 'decision=allow&csrf=x',
      });
      expect({ path, status: res.status, location: res.headers.get('location'), heading: read(await res.text()).heading }).toEqual({
        path,
        status: 400,
        location: null,
        heading: 'This sign-in page is no longer valid',
      });
    }
  });
});
