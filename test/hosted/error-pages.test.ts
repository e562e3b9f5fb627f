// Error pages of a request that cannot be answered (an unknown client, a bad redirect_uri, a
// logout, a link or connection error) say what happened and what to do next, in the page's language,
// with the protocol detail folded under "Technical details"; a way back to the app only to the
// client's registered client_uri / initiate_login_uri, never to a URL of the request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { fr, REDIRECT, fixture, REQUEST_ID, FR_REQUEST_ID, page, requests } from './error-pages-fixture.js';

describe('error pages', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
  });
  afterAll(() => t?.stop());

  const { get, authorize } = requests(() => t);

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
      details: [
        'Technical details',
        'Error code: invalid_redirect_uri',
        "redirect_uri did not match any of the client's registered redirect_uris",
        expect.stringMatching(REQUEST_ID),
      ],
    });
  });

  it('an incomplete request of a known client links back to its registered client_uri only', async () => {
    // Two redirect URIs and none named: oidc-provider cannot answer the app, so it shows a page.
    const res = await authorize({
      client_id: 'two',
      code_challenge: 'x'.repeat(43),
      code_challenge_method: 'S256',
      client_uri: 'https://evil.example/',
      post_logout_redirect_uri: 'https://evil.example/',
    });
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
      text: [
        fr['external.unknown_connection'],
        "Revenez à l'application et réessayez, ou connectez-vous autrement. Si le problème persiste, transmettez le contenu de cette page au responsable du site.",
      ],
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
