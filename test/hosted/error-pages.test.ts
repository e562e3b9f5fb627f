// Error pages say what happened and what to do next, in the page's language, with the protocol
// detail folded under "Technical details"; a way back to the app only to the client's registered
// client_uri / initiate_login_uri, never to a URL of the request. A sign-in page visited again after
// it finished (Back) says so instead of failing. SQLite is enough: no page here depends on the engine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { findForm, type Page } from '../helpers/form-client.js';
import { appLink } from '../../src/http/provider-pages.js';
import { translator } from '../../src/i18n/i18n.js';
import { createRenderer } from '../../src/http/render.js';
import { errorPageLocals } from '../../src/http/error-pages.js';
import { readFileSync } from 'node:fs';

const catalog = (lang: string) => JSON.parse(readFileSync(new URL(`../../views/locales/${lang}.json`, import.meta.url), 'utf8')) as Record<string, string>;
const en = catalog('en');
const fr = catalog('fr');

const REDIRECT = 'http://127.0.0.1:9/cb';
const fixture = {
  clients: [
    { client_id: 'app', client_secret: 'app-secret-app-secret-app-secret', client_name: 'Test App', client_uri: 'https://app.example/home', redirect_uris: [REDIRECT], post_logout_redirect_uris: ['http://127.0.0.1:9/bye'], first_party: true },
    { client_id: 'partner', client_secret: 'partner-secret-partner-secret-xx', client_name: 'Partner', initiate_login_uri: 'https://partner.example/login', redirect_uris: [REDIRECT] },
    { client_id: 'two', client_name: 'Two Doors', client_uri: 'https://two.example/', redirect_uris: [REDIRECT, 'http://127.0.0.1:9/other'], token_endpoint_auth_method: 'none' },
    { client_id: 'plain', client_secret: 'plain-secret-plain-secret-plain-x', redirect_uris: [REDIRECT], first_party: true },
    { client_id: 'xss', client_name: '<img src=x onerror=alert(1)>', client_uri: 'https://xss.example/?q="><script>', redirect_uris: [REDIRECT, 'http://127.0.0.1:9/other'], token_endpoint_auth_method: 'none' },
  ],
};

const decode = (s: string) =>
  s
    .replace(/<[^>]+>/g, '')
    .replace(/&#39;/g, "'")
    .replace(/&#34;|&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();

/** What a user reads on a page: language, heading, paragraphs outside <details>, links, and the folded details. */
function read(html: string) {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? '';
  const details = /<details[^>]*>([\s\S]*?)<\/details>/.exec(main)?.[1] ?? '';
  const shown = main.replace(/<details[\s\S]*?<\/details>/, '');
  return {
    lang: /<html lang="([^"]+)"/.exec(html)?.[1],
    heading: decode(/<h1>([\s\S]*?)<\/h1>/.exec(shown)?.[1] ?? ''),
    text: [...shown.matchAll(/<p\b(?![^>]*class="brand")[^>]*>([\s\S]*?)<\/p>/g)].map((m) => decode(m[1]!)).filter((p) => p !== ''),
    links: [...main.matchAll(/<a\b[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/g)].map((m) => ({ href: decode(m[1]!), text: decode(m[2]!) })),
    details: [...details.matchAll(/<(summary|p)\b[^>]*>([\s\S]*?)<\/\1>/g)].map((m) => decode(m[2]!)),
  };
}

const REQUEST_ID = /^Request ID: [\w-]+$/;
const FR_REQUEST_ID = /^Identifiant de la demande : [\w-]+$/;

describe('error pages', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  const get = (path: string, lang = 'en', headers: Record<string, string> = {}) =>
    fetch(`${t.url}${path}`, { redirect: 'manual', headers: { accept: 'text/html', 'accept-language': lang, ...headers } });
  const authorize = (params: Record<string, string>, lang = 'en') => get(`/authorize?${new URLSearchParams({ response_type: 'code', scope: 'openid', ...params })}`, lang);

  /** A page: its status, no-store, HTML, and what it reads. */
  async function page(res: Response) {
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    return { status: res.status, ...read(await res.text()) };
  }

  it('an unknown client: the app is not set up, no way back, the protocol error folded away (en, fr)', async () => {
    expect(await page(await authorize({ client_id: 'nobody', redirect_uri: REDIRECT }))).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This app is not set up correctly',
      text: [
        'The sign-in request from the application does not match how it is registered here, so it cannot go on.',
        'Contact the owner of the application. Signing in again will not help until they fix it.',
      ],
      links: [],
      details: ['Technical details', 'Error code: invalid_client', 'client is invalid', expect.stringMatching(REQUEST_ID)],
    });
    expect(await page(await authorize({ client_id: 'nobody', redirect_uri: REDIRECT }, 'fr-FR,fr;q=0.9'))).toEqual({
      status: 400,
      lang: 'fr',
      heading: "Cette application n'est pas configurée correctement",
      text: [
        "La demande de connexion de l'application ne correspond pas à son enregistrement ici : elle ne peut pas aboutir.",
        "Contactez le responsable de l'application. Recommencer la connexion n'y changera rien tant que ce n'est pas corrigé.",
      ],
      links: [],
      details: ['Détails techniques', "Code d'erreur : invalid_client", 'client is invalid', expect.stringMatching(FR_REQUEST_ID)],
    });
  });

  it("an attacker's redirect_uri never becomes a link, not even with a client that has a client_uri", async () => {
    const res = await authorize({ client_id: 'app', redirect_uri: 'https://evil.example/cb', return_to: 'https://evil.example/x', client_uri: 'https://evil.example/' });
    expect(res.headers.get('location')).toBeNull();
    const html = await res.clone().text();
    expect(html).not.toContain('evil.example');
    expect(await page(res)).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This app is not set up correctly',
      text: [
        'The sign-in request from Test App does not match how it is registered here, so it cannot go on.',
        'Contact the owner of Test App. Signing in again will not help until they fix it.',
      ],
      links: [],
      details: ['Technical details', 'Error code: invalid_redirect_uri', "redirect_uri did not match any of the client's registered redirect_uris", expect.stringMatching(REQUEST_ID)],
    });
  });

  it('an incomplete request of a known client links back to its registered client_uri only', async () => {
    // Two redirect URIs and none named: oidc-provider cannot answer the app, so it shows a page.
    const res = await authorize({ client_id: 'two', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256', client_uri: 'https://evil.example/', post_logout_redirect_uri: 'https://evil.example/' });
    expect(await page(res)).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This sign-in request is not valid',
      text: [
        'The request from Two Doors is incomplete or asks for something this service does not allow.',
        'Go back to Two Doors and try again. If this keeps happening, contact its owner.',
        'Back to Two Doors',
      ],
      links: [{ href: 'https://two.example/', text: 'Back to Two Doors' }],
      details: ['Technical details', 'Error code: invalid_request', "missing required parameter 'redirect_uri'", expect.stringMatching(REQUEST_ID)],
    });
    const french = await page(await authorize({ response_type: 'code' }, 'fr'));
    expect(french).toEqual({
      status: 400,
      lang: 'fr',
      heading: "Cette demande de connexion n'est pas valide",
      text: [
        "La demande de l'application est incomplète ou demande quelque chose que ce service n'autorise pas.",
        "Revenez à l'application et réessayez. Si le problème persiste, contactez son responsable.",
      ],
      links: [],
      details: ['Détails techniques', "Code d'erreur : invalid_request", "missing required parameter 'client_id'", expect.stringMatching(FR_REQUEST_ID)],
    });
  });

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
    const sent = await partner.browser.request(new URL(form.action, partner.page.url).toString(), { form: { ...form.fields, email: 'a@example.com' }, headers: { 'accept-language': 'fr' } });
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
    const stale = await started.browser.request(new URL(findForm(consent.html, '/consent').action, consent.url).toString(), { form: { ...findForm(consent.html, '/consent').fields, decision: 'allow' } });
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
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', cookie: `sesame.step=done.${Buffer.from('app').toString('base64url')}.${'A'.repeat(43)}` },
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

  it('logout errors say the user may already be signed out, never link to the request (en, fr)', async () => {
    const res = await get(`/oidc/logout?${new URLSearchParams({ client_id: 'app', post_logout_redirect_uri: 'https://evil.example/bye' })}`);
    const html = await res.clone().text();
    expect(html).not.toContain('evil.example');
    expect(await page(res)).toEqual({
      status: 400,
      lang: 'en',
      heading: 'We could not sign you out here',
      text: [
        'The sign-out request from Test App is not valid, so nothing was changed. You may already be signed out, or still be signed in.',
        'Go back to Test App and sign out again. If this keeps happening, contact its owner.',
      ],
      links: [],
      details: ['Technical details', 'Error code: invalid_request', 'post_logout_redirect_uri not registered', expect.stringMatching(REQUEST_ID)],
    });
    const confirm = await fetch(`${t.url}/oidc/logout/confirm`, {
      method: 'POST',
      redirect: 'manual',
      headers: { accept: 'text/html', 'accept-language': 'fr', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'xsrf=forged&logout=yes',
    });
    expect(await page(confirm)).toEqual({
      status: 400,
      lang: 'fr',
      heading: 'Cette page de déconnexion a expiré',
      text: [
        'Vous êtes peut-être déjà déconnecté : cette page est restée ouverte trop longtemps, ou vous vous êtes déconnecté dans un autre onglet.',
        "Pour en être sûr, revenez à l'application et déconnectez-vous à nouveau.",
      ],
      links: [],
      details: ['Détails techniques', "Code d'erreur : invalid_request", expect.any(String), expect.stringMatching(FR_REQUEST_ID)],
    });
  });

  it('link and connection errors keep their own words, with a heading and the code folded away', async () => {
    expect(await page(await get('/login/link?uuid=nope&token=nope'))).toEqual({
      status: 400,
      lang: 'en',
      heading: 'This sign-in link cannot be used',
      text: ['This sign-in link is not valid. Check that you opened the whole link from the email.'],
      links: [],
      details: ['Technical details', 'Error code: link_invalid', expect.stringMatching(REQUEST_ID)],
    });
    expect(await page(await get('/connections/nope/callback', 'fr'))).toEqual({
      status: 404,
      lang: 'fr',
      heading: "La connexion via un autre service n'a pas abouti",
      text: [fr['external.unknown_connection'], "Revenez à l'application et réessayez, ou connectez-vous autrement. Si le problème persiste, transmettez le contenu de cette page au responsable du site."],
      links: [],
      details: ['Détails techniques', "Code d'erreur : unknown_connection", expect.stringMatching(FR_REQUEST_ID)],
    });
  });

  it('escapes HTML in a client name and a client_uri, and links only to the registered URL', async () => {
    const res = await authorize({ client_id: 'xss', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    const html = await res.clone().text();
    expect(html).not.toMatch(/<script>alert|<img/);
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('href="https://xss.example/?q=%22%3E%3Cscript%3E"');
    expect(await page(res)).toMatchObject({
      status: 400,
      heading: 'This sign-in request is not valid',
      links: [{ href: 'https://xss.example/?q=%22%3E%3Cscript%3E', text: 'Back to <img src=x onerror=alert(1)>' }],
    });
  });
});

describe('the way back to an app', () => {
  const t = translator('en');
  const client = (metadata: Record<string, unknown>, clientName?: string) => ({ clientName, metadata: () => metadata });

  it('is the registered client_uri, else initiate_login_uri with iss, else none; never another scheme', () => {
    expect(appLink(client({ client_uri: 'https://a.example/', initiate_login_uri: 'https://a.example/login' }, 'A'), t, 'https://id.example')).toEqual({ name: 'A', url: 'https://a.example/' });
    expect(appLink(client({ initiate_login_uri: 'https://a.example/login?x=1' }), t, 'https://id.example')).toEqual({ name: 'the application', url: 'https://a.example/login?x=1&iss=https%3A%2F%2Fid.example' });
    expect(appLink(client({}), t, 'https://id.example')).toEqual({ name: 'the application', url: null });
    for (const bad of ['javascript:alert(1)', 'data:text/html,x', '//evil.example', 'not a url', 42]) {
      expect(appLink(client({ client_uri: bad }, 'A'), t, 'https://id.example')).toEqual({ name: 'A', url: null });
    }
    expect(appLink(undefined, t, 'https://id.example')).toBeNull();
  });

  it('escapes a protocol description that carries HTML (it is shown as text under technical details)', async () => {
    const renderer = createRenderer({ productName: 'Sesame', cache: false });
    const description = '<script>alert(1)</script><a href="https://evil.example/">click</a>';
    const html = await renderer.page('error', 'en', errorPageLocals(t, { code: 'invalid_request', description, place: 'authorization', app: { name: 'A', url: 'https://a.example/' } }));
    expect(html).not.toMatch(/<script>alert|evil\.example\/">/);
    expect(read(html)).toEqual({
      lang: 'en',
      heading: 'This sign-in request is not valid',
      text: ['The request from A is incomplete or asks for something this service does not allow.', 'Go back to A and try again. If this keeps happening, contact its owner.', 'Back to A'],
      links: [{ href: 'https://a.example/', text: 'Back to A' }],
      details: ['Technical details', 'Error code: invalid_request', description],
    });
  });

  it('every error page and finished page message is translated to French', () => {
    const keys = Object.keys(en).filter((k) => /^(errorpage|done|app)\.|^error\./.test(k));
    expect(keys.length).toBeGreaterThan(40);
    const untranslated = keys.filter((k) => !(k in fr) || fr[k] === en[k]);
    expect(untranslated).toEqual([]);
  });
});
