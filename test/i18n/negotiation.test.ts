// Which catalog a request gets: ui_locales first, then Accept-Language (by q), then ui.defaultLocale;
// a tag matches its catalog exactly, else by language, so pt and pt-PT get pt-BR and de-AT gets de.
// Over HTTP: the hosted page's lang (pt-BR, the catalog's tag) and words, and the code email it sends, follow the choice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchLocale, negotiateLocale } from '../../src/i18n/i18n.js';
import { FormClient } from '../helpers/form-client.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { parseMail, partOf } from '../helpers/mime.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { oidcFixture } from '../oidc/fixture.js';

const SIX = ['de', 'en', 'es', 'fr', 'ja', 'pt-BR'];

describe('matchLocale', () => {
  it.each([
    ['pt-BR', 'pt-BR'],
    ['pt-br', 'pt-BR'],
    ['PT_BR', 'pt-BR'],
    ['pt', 'pt-BR'],
    ['pt-PT', 'pt-BR'],
    ['ja-JP', 'ja'],
    ['de-AT', 'de'],
    ['es-419', 'es'],
    ['fr-CA', 'fr'],
    ['EN', 'en'],
    ['zh-Hans', undefined],
    ['*', undefined],
    ['', undefined],
  ])('%s -> %s', (tag, locale) => {
    expect(matchLocale(tag, SIX)).toBe(locale);
  });

  it('prefers the exact tag, then the bare language, to another region of it', () => {
    expect(matchLocale('pt-PT', ['pt-BR', 'pt-PT'])).toBe('pt-PT');
    expect(matchLocale('pt-AO', ['pt-BR', 'pt', 'pt-PT'])).toBe('pt');
    expect(matchLocale('pt-AO', ['pt-BR', 'pt-PT'])).toBe('pt-BR');
  });
});

describe('negotiateLocale', () => {
  it('takes the first ui_locales tag it speaks, before Accept-Language', () => {
    expect(negotiateLocale('zh-Hans de-CH es', 'fr', 'en')).toBe('de');
    expect(negotiateLocale('xx', 'fr-FR,fr;q=0.9', 'en')).toBe('fr');
  });

  it('ranks Accept-Language by q, keeps order on ties, ignores q=0 and *, else falls back', () => {
    expect(negotiateLocale(undefined, 'zh;q=0.9, es-MX;q=0.8, de;q=0.8', 'en')).toBe('es');
    expect(negotiateLocale(undefined, 'de;q=0, *;q=0.5', 'fr')).toBe('fr');
    expect(negotiateLocale(undefined, 'nl-BE, DE-de;q=0.3', 'en')).toBe('de');
    expect(negotiateLocale(undefined, undefined, 'es')).toBe('es');
  });
});

describe('the language of the hosted pages and their email', () => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame('sqlite', oidcFixture);
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('ui_locales=de-AT: a German page (lang="de") and a German code email', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret), { ui_locales: 'de-AT' });
    expect(started.page.status).toBe(200);
    expect(started.page.html).toContain('<html lang="de">');
    expect(started.page.html).toContain('<h1>Anmelden</h1>');
    const { codePage, code } = await signInWithEmail(t, started, 'lena@example.de');
    expect(codePage.html).toContain('<h1>Prüfen Sie Ihre E\u2011Mails</h1>');
    const mail = parseMail(t.mail.to('lena@example.de')[0]!.raw);
    expect(mail.subject).toBe(`${code} ist Ihr Anmeldecode für Sesame`);
    expect(partOf(mail, 'text/html')).toContain('<html lang="de">');
    expect(partOf(mail, 'text/plain')).toContain('Verwenden Sie diesen Code, um sich bei Sesame anzumelden:');
  });

  it('Accept-Language es-MX without ui_locales: a Spanish page (lang="es")', async () => {
    const browser = new FormClient({ 'accept-language': 'es-MX,es;q=0.9,en;q=0.5' });
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret), {}, browser);
    expect(started.page.html).toContain('<html lang="es">');
    expect(started.page.html).toContain('<h1>Iniciar sesión</h1>');
  });

  it.each([
    ['ui_locales pt-PT', { ui_locales: 'pt-PT' }, {}, 'pt-BR', 'Entrar'],
    ['Accept-Language pt', {}, { 'accept-language': 'pt;q=0.9, en;q=0.1' }, 'pt-BR', 'Entrar'],
    ['Accept-Language ja-JP', {}, { 'accept-language': 'ja-JP' }, 'ja', 'ログイン'],
  ])('%s: the page in %s', async (_what, params: Record<string, string>, headers: Record<string, string>, lang, heading) => {
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret), params, new FormClient(headers));
    expect(started.page.html).toContain(`<html lang="${lang}">`);
    expect(started.page.html).toContain(`<h1>${heading}</h1>`);
  });

  it('a language without a catalog gets the default (English)', async () => {
    const browser = new FormClient({ 'accept-language': 'nl-NL' });
    const started = await startLogin(t, await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret), { ui_locales: 'zh-Hans' }, browser);
    expect(started.page.html).toContain('<html lang="en">');
    expect(started.page.html).toContain('<h1>Sign in</h1>');
  });
});
