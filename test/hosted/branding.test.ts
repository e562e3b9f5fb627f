// A client's brand (issue 17): its logo, colour, name and support link on its hosted pages and in its
// emails, and nothing of it on another client's; brand metadata refused at the management API when a
// page could not show it safely. SQLite only: nothing here depends on the engine.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { FormClient } from '../helpers/form-client.js';
import { codeFrom, linkFrom } from '../helpers/smtp.js';
import { parseMail, partOf } from '../helpers/mime.js';
import { loadConfig } from '../../src/config/load.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const OPS_SECRET = 'ops-secret-ops-secret-ops-secret-x';
const NATIVE_SECRET = 'native-secret-native-secret-native';
const PARTNER_SECRET = 'partner-secret-partner-secret-partner';
const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
const ACME = {
  client_id: 'acme',
  client_name: 'Acme Notes',
  logo_uri: 'https://cdn.acme.test/logo.png',
  brand_color: '#FFD400',
  support_uri: 'https://help.acme.test/contact',
};
const fixture = {
  clients: [
    { ...ACME, redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', first_party: true },
    { client_id: 'plain', client_name: 'Plain App', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', first_party: true },
    // A third party: its consent page links to its privacy policy and terms.
    {
      client_id: 'partner',
      client_secret: PARTNER_SECRET,
      client_name: 'Partner',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'],
      policy_uri: 'https://partner.test/privacy',
      tos_uri: 'https://partner.test/terms?a=1&b=2',
    },
    // An Auth0-style native app: its link emails and their verify_redirect page.
    {
      ...ACME,
      client_id: 'acme-native',
      client_secret: NATIVE_SECRET,
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'http://auth0.com/oauth/grant-type/passwordless/otp'],
      first_party: true,
    },
    { client_id: 'ops', client_secret: OPS_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], management_api: true },
  ],
};

describe('per-client brand', () => {
  let t: TestSesame;
  let token: string;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture);
    const rp = await oidc.discovery(new URL(t.issuer), 'ops', undefined, oidc.ClientSecretPost(OPS_SECRET), { execute: [oidc.allowInsecureRequests] });
    token = (await oidc.clientCredentialsGrant(rp, { audience: `${t.issuer}/api/v1/`, scope: 'admin' })).access_token;
  });
  afterAll(() => t?.stop());

  const api = async (method: string, path: string, body: unknown) => {
    const res = await fetch(`${t.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const emailPage = async (clientId: string) => (await startLogin(t, await rpConfig(t, clientId))).page;
  /** The page down to the brand line: what the layout puts above the step. */
  const frame = (html: string) => html.slice(0, html.indexOf('</p>\n') + 5);

  it("shows a branded client's logo, name, colour and support link, and lets the page load that logo only", async () => {
    const page = await emailPage('acme');
    expect(page.status).toBe(200);
    expect(frame(page.html)).toBe(
      [
        '<!DOCTYPE html>',
        '<html lang="en">',
        '<head>',
        '  <meta charset="utf-8">',
        '  <meta name="viewport" content="width=device-width, initial-scale=1">',
        '  <meta name="referrer" content="no-referrer">',
        '  <title>Sign in · Acme Notes</title>',
        '  <link rel="icon" href="data:,">',
        '  <link rel="stylesheet" href="/assets/sesame.css">',
        '  <link rel="stylesheet" href="/brand/ffd400.css">',
        '  <script src="/assets/sesame.js" defer></script>',
        '</head>',
        '<body>',
        '  <main class="card" id="main">',
        '    <p class="brand"><img class="brand-logo" src="https://cdn.acme.test/logo.png" alt="Acme Notes" height="48"></p>',
        '',
      ].join('\n'),
    );
    expect(page.html).toContain('to continue to Acme Notes');
    expect(page.html).toMatch(
      /<\/form>\n+ {4}<p class="support"><a href="https:\/\/help\.acme\.test\/contact">Get help with Acme Notes<\/a><\/p>\n {2}<\/main>\n<\/body>\n<\/html>\n$/,
    );
    expect(page.headers.get('content-security-policy')).toBe(DEFAULT_CSP.replace("img-src 'self' data:", "img-src 'self' data: https://cdn.acme.test"));
  });

  it('serves the colour as a stylesheet of two themes, readable in each, cached for good; nothing else under /brand/', async () => {
    const res = await fetch(`${t.url}/brand/ffd400.css`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    // Yellow text on white is unreadable: the light theme's accent is the yellow darkened to 4.5:1.
    expect(await res.text()).toBe(
      [
        '/* Sesame brand colour #ffd400: accents adjusted per theme for 4.5:1 text contrast. */',
        ':root { --accent: #806a00; --on-accent: #ffffff; }',
        '@media (prefers-color-scheme: dark) { :root { --accent: #ffd400; --on-accent: #000000; } }',
        '',
      ].join('\n'),
    );
    for (const path of ['/brand/FFD400.css', '/brand/ffd40.css', '/brand/red;}body{display:none.css', '/brand/ffd400.css/x', '/brand/']) {
      expect((await fetch(`${t.url}${path}`)).status, path).toBe(404);
    }
  });

  it("carries the brand in the client's code email: logo, name, button colour, support link", async () => {
    const started = await startLogin(t, await rpConfig(t, 'acme'));
    await started.browser.submit(started.page, '/email', { email: 'brand@example.com' }, t.url);
    const raw = await t.mail.next('brand@example.com');
    const mail = parseMail(raw.raw);
    const code = codeFrom(raw);
    expect(mail.subject).toBe(`${code} is your Acme Notes sign-in code`);
    const html = partOf(mail, 'text/html').replace(/\r\n/g, '\n');
    expect(html).toContain(
      '<body style="font-family: system-ui, sans-serif; color: #1a1a1a; max-width: 480px; margin: 0 auto; padding: 24px;">\n' +
        '<p style="margin: 0 0 24px;"><img src="https://cdn.acme.test/logo.png" alt="Acme Notes" height="48" style="display: block; height: 48px; width: auto; max-width: 200px; border: 0;"></p>\n' +
        '  <p>Use this code to sign in to Acme Notes:</p>\n',
    );
    expect(html).toContain('background: #ffd400; color: #000000;');
    expect(html).toContain(
      '  <p style="color: #555;">If you did not try to sign in, you can ignore this email.</p>\n' +
        '<p style="color: #555;"><a href="https://help.acme.test/contact" style="color: #1a1a1a;">Get help with Acme Notes</a></p>\n</body>',
    );
    expect(partOf(mail, 'text/plain').replace(/\r\n/g, '\n')).toMatch(/\nGet help with Acme Notes: https:\/\/help\.acme\.test\/contact\n$/);

    // The link's landing page (opened in another browser: GET never consumes) is the client's too.
    const landing = await fetch(linkFrom(raw, '/login/link'));
    const landingHtml = await landing.text();
    expect(landing.status).toBe(200);
    expect(landingHtml).toContain('<link rel="stylesheet" href="/brand/ffd400.css">');
    expect(landingHtml).toContain('<img class="brand-logo" src="https://cdn.acme.test/logo.png" alt="Acme Notes" height="48">');
    expect(landingHtml).toContain('<p class="support"><a href="https://help.acme.test/contact">Get help with Acme Notes</a></p>');
    expect(landing.headers.get('content-security-policy')).toContain("img-src 'self' data: https://cdn.acme.test;");
  });

  it('carries the brand in an Auth0-style link email and on the verify_redirect page it opens', async () => {
    const res = await fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'acme-native',
        client_secret: NATIVE_SECRET,
        connection: 'email',
        email: 'native@example.com',
        send: 'link',
        authParams: { redirect_uri: REDIRECT, scope: 'openid' },
      }),
    });
    expect(res.status).toBe(200);
    const raw = await t.mail.next('native@example.com');
    const mail = parseMail(raw.raw);
    expect(mail.subject).toBe('Your sign-in link for Acme Notes');
    const html = partOf(mail, 'text/html');
    expect(html).toContain('<img src="https://cdn.acme.test/logo.png" alt="Acme Notes"');
    expect(html).toContain('background: #ffd400; color: #000000;');
    const page = await fetch(linkFrom(raw, '/passwordless/verify_redirect'));
    const pageHtml = await page.text();
    expect(page.status).toBe(200);
    expect(pageHtml).toContain('<title>');
    expect(pageHtml).toContain(' · Acme Notes</title>');
    expect(pageHtml).toContain('<img class="brand-logo" src="https://cdn.acme.test/logo.png" alt="Acme Notes" height="48">');
    expect(pageHtml).toContain('<link rel="stylesheet" href="/brand/ffd400.css">');
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data: https://cdn.acme.test;");
  });

  it('keeps the brand on the sign-in page opened again after the sign-in', async () => {
    const started = await startLogin(t, await rpConfig(t, 'acme'));
    const { result } = await signInWithEmail(t, started, 'again@example.com');
    expect(result.location).toMatch(/^http:\/\/127\.0\.0\.1:9\/cb\?code=/);
    const again = await started.browser.request(started.page.url);
    expect(again.status).toBe(200);
    expect(again.html).toContain('<title>You are signed in · Acme Notes</title>');
    expect(again.html).toContain('<img class="brand-logo" src="https://cdn.acme.test/logo.png" alt="Acme Notes" height="48">');
    expect(again.html).toContain('<p class="support"><a href="https://help.acme.test/contact">Get help with Acme Notes</a></p>');
  });

  it("links a third party's consent page to its privacy policy and terms", async () => {
    const started = await startLogin(t, await rpConfig(t, 'partner', PARTNER_SECRET));
    const { result: consent } = await signInWithEmail(t, started, 'consent@example.com');
    expect(consent.status).toBe(200);
    expect(consent.html).toContain(
      '    </ul>\n    <p class="hint"><a href="https://partner.test/privacy">Partner&#39;s privacy policy</a> · <a href="https://partner.test/terms?a=1&amp;b=2">Partner&#39;s terms of service</a></p>\n    <form',
    );
    // Not branded: the rest of the page is Sesame's.
    expect(consent.html).toContain('<p class="brand">Sesame</p>');
  });

  it("shows the brand in the user's language, on the page and in the email", async () => {
    const started = await startLogin(t, await rpConfig(t, 'acme'), {}, new FormClient({ 'accept-language': 'fr' }));
    expect(started.page.html).toContain('<title>Connexion · Acme Notes</title>');
    expect(started.page.html).toContain('<p class="support"><a href="https://help.acme.test/contact">Obtenir de l&#39;aide pour Acme Notes</a></p>');
    await started.browser.submit(started.page, '/email', { email: 'marie@example.com' }, t.url);
    const raw = await t.mail.next('marie@example.com');
    const mail = parseMail(raw.raw);
    expect(mail.subject).toBe(`${codeFrom(raw)} est votre code de connexion Acme Notes`);
    expect(partOf(mail, 'text/html')).toContain('<a href="https://help.acme.test/contact" style="color: #1a1a1a;">Obtenir de l&#39;aide pour Acme Notes</a>');
    expect(partOf(mail, 'text/plain')).toContain("Obtenir de l'aide pour Acme Notes : https://help.acme.test/contact");
  });

  it('leaves a client without brand as it was: Sesame on its pages and in its emails', async () => {
    const page = await emailPage('plain');
    expect(frame(page.html)).toContain('  <link rel="stylesheet" href="/assets/sesame.css">\n  <script src="/assets/sesame.js" defer></script>\n');
    expect(frame(page.html)).toContain('<title>Sign in · Sesame</title>');
    expect(frame(page.html)).toMatch(/<main class="card" id="main">\n {4}<p class="brand">Sesame<\/p>\n$/);
    expect(page.html).not.toContain('class="support"');
    expect(page.html).toMatch(/<\/form>\n+ {2}<\/main>\n<\/body>\n<\/html>\n$/);
    expect(page.headers.get('content-security-policy')).toBe(DEFAULT_CSP);

    const started = await startLogin(t, await rpConfig(t, 'plain'));
    await started.browser.submit(started.page, '/email', { email: 'plain@example.com' }, t.url);
    const raw = await t.mail.next('plain@example.com');
    const mail = parseMail(raw.raw);
    expect(mail.subject).toBe(`${codeFrom(raw)} is your Sesame sign-in code`);
    const html = partOf(mail, 'text/html').replace(/\r\n/g, '\n');
    expect(html).toContain('padding: 24px;">\n  <p>Use this code to sign in to Sesame:</p>');
    expect(html).toContain('background: #2454d6; color: #fff;');
    expect(html).not.toContain('<img');
    expect(html).toMatch(/<\/p>\n<\/body>\n<\/html>\n?$/);
    expect(partOf(mail, 'text/plain')).not.toContain('help');
  });

  it('takes brand metadata at the management API and shows a change on the next page', async () => {
    const created = await api('POST', '/clients', {
      client_id: 'notes',
      client_name: 'Notes',
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      first_party: true,
      brand_color: '#0b5394',
      support_uri: 'mailto:help@notes.test',
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual(expect.objectContaining({ brand_color: '#0b5394', support_uri: 'mailto:help@notes.test' }));
    let page = await emailPage('notes');
    expect(page.html).toContain('<link rel="stylesheet" href="/brand/0b5394.css">');
    // No logo: the name where the product's was, and the page may load no other image.
    expect(page.html).toContain('<p class="brand">Notes</p>');
    expect(page.html).toContain('<p class="support"><a href="mailto:help@notes.test">Get help with Notes</a></p>');
    expect(page.headers.get('content-security-policy')).toBe(DEFAULT_CSP);

    expect((await api('PATCH', '/clients/notes', { brand_color: '#aa0000', logo_uri: 'http://localhost:8080/logo.svg' })).status).toBe(200);
    page = await emailPage('notes');
    expect(page.html).toContain('<link rel="stylesheet" href="/brand/aa0000.css">');
    expect(page.html).toContain('<img class="brand-logo" src="http://localhost:8080/logo.svg" alt="Notes" height="48">');
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data: http://localhost:8080;");
  });

  it('documents the brand keys in the OpenAPI document', async () => {
    type Body = { properties: Record<string, unknown> };
    const document = (await (await fetch(`${t.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { requestBody: { content: { 'application/json': { schema: Body } } } }>>;
    };
    const created = document.paths['/clients']!.post!.requestBody.content['application/json'].schema;
    expect(Object.keys(created.properties)).toEqual(expect.arrayContaining(['client_name', 'logo_uri', 'brand_color', 'support_uri']));
    expect(created.properties.brand_color).toEqual(expect.objectContaining({ type: 'string', pattern: '^#[0-9a-fA-F]{6}$' }));
  });

  it('refuses brand metadata a page could not show safely, with the whole error', async () => {
    const invalid = (description: string) => ({ status: 400, body: { error: 'invalid_client_metadata', error_description: description } });
    const logo = invalid('invalid client: logo_uri must be an https URL of a host name (http only on localhost), like https://cdn.example.com/logo.png.');
    const colour = invalid('invalid client: brand_color must be a colour #rrggbb, like #1a73e8.');
    const support = invalid('invalid client: support_uri must be an https URL (http only on localhost) or a mailto: address, like https://help.example.com.');
    const base = { client_id: 'evil', redirect_uris: [REDIRECT] };
    // CSS injection through the colour, in every form a stylesheet or style attribute could take it.
    for (const brand_color of ['red;}body{display:none', 'red', '#fff', '#ffd400;', '#ffd400 !important', 'url(x)']) {
      expect(await api('POST', '/clients', { ...base, brand_color }), brand_color).toEqual(colour);
    }
    // Not a string at all: the request's schema refuses it before the registry looks.
    expect(await api('POST', '/clients', { ...base, brand_color: 16766976 })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'brand_color: Invalid input: expected string, received number.' },
    });
    // Script, plain http to the internet, credentials, and a host that would end the CSP directive.
    for (const logo_uri of ['javascript:alert(1)', 'data:image/svg+xml,<svg onload=alert(1)>', 'http://cdn.example.com/logo.png', 'https://user:pw@cdn.example.com/l.png']) {
      expect((await api('POST', '/clients', { ...base, logo_uri })).status, logo_uri).toBe(400);
    }
    expect(await api('POST', '/clients', { ...base, logo_uri: 'https://a;script-src=*.example/l.png' })).toEqual(logo);
    expect(await api('POST', '/clients', { ...base, logo_uri: 'javascript:alert(1)' })).toEqual(logo);
    expect(await api('POST', '/clients', { ...base, logo_uri: 'http://cdn.example.com/logo.png' })).toEqual(logo);
    for (const support_uri of ['javascript:alert(1)', 'mailto:nobody', 'http://help.example.com', 'ftp://help.example.com']) {
      expect((await api('POST', '/clients', { ...base, support_uri })).status, support_uri).toBe(400);
    }
    expect(await api('POST', '/clients', { ...base, support_uri: 'http://help.example.com' })).toEqual(support);
    expect(await api('PATCH', '/clients/notes', { brand_color: 'red;}body{display:none' })).toEqual(colour);
    expect((await api('GET', '/clients/evil', undefined)).status).toBe(404);
  });

  it('refuses a config-file client with a bad brand at start, naming the key', () => {
    const start = (brand: Record<string, unknown>) => () => loadConfig({ NODE_ENV: 'test' }, { clients: [{ client_id: 'x', redirect_uris: [REDIRECT], ...brand }] });
    expect(start({ brand_color: 'red;}body{display:none' })).toThrow('invalid configuration at clients.0.brand_color: brand_color must be a colour #rrggbb, like #1a73e8');
    expect(start({ logo_uri: "https://cdn.example.com/a'.png", support_uri: 'javascript:alert(1)' })).toThrow(
      'invalid configuration at clients.0.support_uri: support_uri must be an https URL (http only on localhost) or a mailto: address, like https://help.example.com',
    );
  });
});
