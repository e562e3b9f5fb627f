// Every email and SMS template, in every language, as a text-only reader gets it: the text part and
// the SMS are plain text (no HTML entity, a link that opens as sent), while the HTML part still
// escapes what it shows (issue 12 item 2: `&amp;token=` broke links, French showed `&#39;`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeTwilio, type FakeTwilio } from '../helpers/fake-twilio.js';
import { FormClient } from '../helpers/form-client.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { parseMail, partOf } from '../helpers/mime.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { upsertVerifiedEmailUser, upsertVerifiedPhoneUser } from '../../src/storage/users.js';
import { apiFixture } from '../api/fixture.js';

const NATIVE = apiFixture.clients[0]!;
/** A product name an operator might paste, with every character HTML escapes. */
const PRODUCT = `Acme <script>alert(1)</script> & "Co" l'app`;
const PRODUCT_IN_HTML = 'Acme &lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;Co&#34; l&#39;app';
const ENTITY = /&(?:[a-z]+|#\d+|#x[0-9a-f]+);/i;

type Locale = 'en' | 'fr';

/** What each text reads, with CODE and URL standing for this message's own code and link. */
const TEXTS: Record<'code' | 'codeWithLink' | 'link' | 'noAccount' | 'sms', Record<Locale, string>> = {
  codeWithLink: {
    en: `Use this code to sign in to ${PRODUCT}:\n\n    CODE\n\nThe code works for 10 minutes and only once.\n\nOr open this link, on this device or another one:\nURL\n\nIf you did not try to sign in, you can ignore this email.\n`,
    fr: `Utilisez ce code pour vous connecter à ${PRODUCT} :\n\n    CODE\n\nLe code est valable 10 minutes, une seule fois.\n\nOu ouvrez ce lien, sur cet appareil ou un autre :\nURL\n\nSi vous n'avez pas essayé de vous connecter, ignorez cet e-mail.\n`,
  },
  code: {
    en: `Use this code to sign in to ${PRODUCT}:\n\n    CODE\n\nThe code works for 10 minutes and only once.\n\nIf you did not try to sign in, you can ignore this email.\n`,
    fr: `Utilisez ce code pour vous connecter à ${PRODUCT} :\n\n    CODE\n\nLe code est valable 10 minutes, une seule fois.\n\nSi vous n'avez pas essayé de vous connecter, ignorez cet e-mail.\n`,
  },
  link: {
    en: `Open this link to sign in to ${PRODUCT}:\n\nURL\n\nOr enter this code: CODE\n\nThe code works for 10 minutes and only once.\nIf you did not try to sign in, you can ignore this email.\n`,
    fr: `Ouvrez ce lien pour vous connecter à ${PRODUCT} :\n\nURL\n\nOu saisissez ce code : CODE\n\nLe code est valable 10 minutes, une seule fois.\nSi vous n'avez pas essayé de vous connecter, ignorez cet e-mail.\n`,
  },
  noAccount: {
    en: `Someone tried to sign in to ${PRODUCT} with this email address, but there is no account for it.\n\nIf you did not try to sign in, you can ignore this email.\n`,
    fr: `Quelqu'un a essayé de se connecter à ${PRODUCT} avec cette adresse e-mail, mais aucun compte ne lui correspond.\n\nSi vous n'avez pas essayé de vous connecter, ignorez cet e-mail.\n`,
  },
  sms: {
    en: `CODE is your ${PRODUCT} code. It works for 10 minutes. Never share it.\n\n@127.0.0.1 #CODE`,
    fr: `CODE est votre code ${PRODUCT}. Il est valable 10 minutes. Ne le partagez jamais.\n\n@127.0.0.1 #CODE`,
  },
};

const SUBJECTS: Record<'code' | 'link' | 'noAccount', Record<Locale, string>> = {
  code: { en: `CODE is your ${PRODUCT} sign-in code`, fr: `CODE est votre code de connexion ${PRODUCT}` },
  link: { en: `Your sign-in link for ${PRODUCT}`, fr: `Votre lien de connexion à ${PRODUCT}` },
  noAccount: { en: `Sign-in attempt at ${PRODUCT}`, fr: `Tentative de connexion à ${PRODUCT}` },
};

const fill = (text: string, code: string, url = '') => text.replaceAll('CODE', code).replaceAll('URL', url);

describe('text of emails and SMS', () => {
  let t: TestSesame;
  let twilio: FakeTwilio;
  beforeAll(async () => {
    twilio = await startFakeTwilio();
    t = await startTestSesame('sqlite', {
      ...apiFixture,
      signUp: 'existing-only',
      ui: { productName: PRODUCT },
      connections: [
        { id: 'email', type: 'email' },
        { id: 'sms', type: 'sms', allowedCountries: ['US'], provider: twilio.provider() },
      ],
    });
    const db = t.sesame.services.db;
    for (const locale of ['en', 'fr']) {
      await upsertVerifiedEmailUser(db, `hosted-${locale}@example.com`);
      await upsertVerifiedEmailUser(db, `api-${locale}@example.com`);
      await upsertVerifiedEmailUser(db, `link-${locale}@example.com`);
    }
    await upsertVerifiedPhoneUser(db, '+16502533001');
    await upsertVerifiedPhoneUser(db, '+16502533002');
  });
  afterAll(async () => {
    await t?.stop();
    await twilio?.close();
  });

  /** Auth0's /passwordless/start for `native`, in `locale`. */
  async function start(locale: Locale, body: Record<string, unknown>) {
    const res = await fetch(`${t.url}/passwordless/start`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-language': locale },
      body: JSON.stringify({ client_id: NATIVE.client_id, client_secret: NATIVE.client_secret, ...body }),
    });
    expect(res.status).toBe(200);
  }

  /** The next mail to `to`, as a reader sees it; its text and subject are checked to hold no entity. */
  async function readMail(to: string) {
    const mail = parseMail((await t.mail.next(to)).raw);
    const text = partOf(mail, 'text/plain').replace(/\r\n/g, '\n');
    const html = partOf(mail, 'text/html');
    expect(text).not.toMatch(ENTITY);
    expect(mail.subject).not.toMatch(ENTITY);
    // The HTML part shows the same name, escaped, and never as markup.
    expect(html).toContain(PRODUCT_IN_HTML);
    expect(html).not.toContain('<script>');
    return { subject: mail.subject, text, html };
  }

  /** The one link in a text part, checked against the HTML part's button and opened in a fresh browser. */
  async function openLink(text: string, html: string, path: string): Promise<string> {
    const urls = text.match(/https?:\/\/\S+/g) ?? [];
    expect(urls).toHaveLength(1);
    const url = urls[0]!;
    expect(url.startsWith(`${t.issuer.replace(/\/$/, '')}${path}?`)).toBe(true);
    expect(html).toContain(`href="${url.replaceAll('&', '&amp;')}"`);
    expect((await new FormClient().request(url)).status).toBe(200);
    return url;
  }

  const codeIn = (text: string) => /\b(\d{6})\b/.exec(text)![1]!;

  it.each(['en', 'fr'] as const)('code email from the hosted pages, with its link (%s)', async (locale) => {
    const email = `hosted-${locale}@example.com`;
    const started = await startLogin(t, await rpConfig(t, NATIVE.client_id, NATIVE.client_secret), { ui_locales: locale });
    expect((await started.browser.submit(started.page, '/email', { email }, t.url)).status).toBe(200);
    const { subject, text, html } = await readMail(email);
    const code = codeIn(text);
    const url = await openLink(text, html, '/login/link');
    expect(new URL(url).searchParams.get('token')).toMatch(/^[\w-]{43}$/);
    expect(subject).toBe(fill(SUBJECTS.code[locale], code));
    expect(text).toBe(fill(TEXTS.codeWithLink[locale], code, url));
  });

  it.each(['en', 'fr'] as const)('code email from the API, without a link (%s)', async (locale) => {
    const email = `api-${locale}@example.com`;
    await start(locale, { connection: 'email', email, send: 'code' });
    const { subject, text } = await readMail(email);
    const code = codeIn(text);
    expect(subject).toBe(fill(SUBJECTS.code[locale], code));
    expect(text).toBe(fill(TEXTS.code[locale], code));
  });

  it.each(['en', 'fr'] as const)('link email from the API (%s)', async (locale) => {
    const email = `link-${locale}@example.com`;
    await start(locale, { connection: 'email', email, send: 'link', authParams: { redirect_uri: apiFixture.clients[0]!.redirect_uris[0], scope: 'openid email', state: 'a&b' } });
    const { subject, text, html } = await readMail(email);
    const url = await openLink(text, html, '/passwordless/verify_redirect');
    const code = new URL(url).searchParams.get('verification_code')!;
    expect(new URL(url).searchParams.get('state')).toBe('a&b');
    expect(subject).toBe(SUBJECTS.link[locale]);
    expect(text).toBe(fill(TEXTS.link[locale], code, url));
  });

  it.each(['en', 'fr'] as const)('no-account email (%s)', async (locale) => {
    const email = `nobody-${locale}@example.com`;
    await start(locale, { connection: 'email', email, send: 'code' });
    const { subject, text } = await readMail(email);
    expect(subject).toBe(SUBJECTS.noAccount[locale]);
    expect(text).toBe(TEXTS.noAccount[locale]);
  });

  it.each([
    ['en', '+16502533001'],
    ['fr', '+16502533002'],
  ] as const)('SMS code (%s)', async (locale, phone) => {
    await start(locale, { connection: 'sms', phone_number: phone });
    const { body } = await twilio.next(phone);
    expect(body).not.toMatch(ENTITY);
    expect(body).toBe(fill(TEXTS.sms[locale], codeIn(body)));
  });
});
