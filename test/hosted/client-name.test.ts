// A client registered without client_name (issue 12): pages say "the application" ("l'application")
// instead of its raw client_id, and the operator is told once per client to set client_name: at
// startup for config-file clients users sign in to, when first shown for clients added to the
// database (`sesame clients add` without --name). SQLite only: nothing here depends on the engine.
import { unescapeHtml } from '../helpers/html.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger } from '../helpers/logs.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { FormClient } from '../helpers/form-client.js';
import { insertClient } from '../../src/storage/clients.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const SECRET = 'third-secret-third-secret-third-secret';
const fixture = {
  clients: [
    { client_id: 'named', client_name: 'Named App', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', first_party: true },
    { client_id: 'nameless-first', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', first_party: true },
    { client_id: 'nameless-third', client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'] },
    // Never shows a page (client credentials only): no warning.
    { client_id: 'nameless-admin', client_secret: SECRET, grant_types: ['client_credentials'], response_types: [], management_api: true },
  ],
};
const leadOf = (html: string) => unescapeHtml(/class="lead">([^<]*)</.exec(html)?.[1]?.trim() ?? '');

describe('clients without client_name', () => {
  const { logger, lines } = capturingLogger('warn');
  let t: TestSesame;
  const warnings = () =>
    lines
      .map((line) => JSON.parse(line) as { level: number; clientId?: string; msg: string })
      .filter((entry) => entry.level === 40 && entry.msg.includes('client_name'))
      .map((entry) => `${entry.clientId}: ${entry.msg}`);
  const warningFor = (id: string) => `${id}: client ${id} has no client_name: sign-in pages call it "the application"; set client_name to the name users know it by`;

  beforeAll(async () => {
    t = await startTestSesame('sqlite', fixture, { logger });
  });
  afterAll(() => t?.stop());

  const emailPage = async (clientId: string, headers: Record<string, string> = {}) => {
    const started = await startLogin(t, await rpConfig(t, clientId), {}, new FormClient(headers));
    expect(started.page.status).toBe(200);
    return started;
  };

  it('warns at startup about config clients users sign in to, once each', () => {
    expect(warnings()).toEqual([warningFor('nameless-first'), warningFor('nameless-third')]);
  });

  it('names the client in plain words on the pages, in English and French, never by client_id', async () => {
    const en = await emailPage('nameless-first');
    expect(leadOf(en.page.html)).toBe('to continue to the application');
    expect(en.page.html).not.toContain('nameless');
    const fr = await emailPage('nameless-first', { 'accept-language': 'fr' });
    expect(leadOf(fr.page.html)).toBe("pour continuer vers l'application");
    expect(leadOf((await emailPage('named')).page.html)).toBe('to continue to Named App');

    // The consent page of a third-party client.
    const third = await startLogin(t, await rpConfig(t, 'nameless-third', SECRET));
    const { result: consent } = await signInWithEmail(t, third, 'consent@example.com');
    expect(consent.status).toBe(200);
    expect(/<h1>([^<]*)</.exec(consent.html)?.[1]).toBe('Allow the application to access your account?');
    expect(leadOf(consent.html)).toBe('If you allow it, the application will be able to:');
    expect(consent.html).not.toContain('nameless');
    // Shown many times, still warned about once.
    expect(warnings()).toEqual([warningFor('nameless-first'), warningFor('nameless-third')]);
  });

  it('warns about a database client when it is first shown, once', async () => {
    await insertClient(t.sesame.services.db, 'added-later', {
      client_id: 'added-later',
      token_endpoint_auth_method: 'none',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      first_party: true,
    });
    expect(warnings()).not.toContain(warningFor('added-later'));
    expect(leadOf((await emailPage('added-later')).page.html)).toBe('to continue to the application');
    expect(leadOf((await emailPage('added-later')).page.html)).toBe('to continue to the application');
    expect(warnings()).toEqual([warningFor('nameless-first'), warningFor('nameless-third'), warningFor('added-later')]);
  });
});
