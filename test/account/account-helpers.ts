// Shared by the account page tests: a Sesame on http://localhost:<port> (WebAuthn refuses IP
// addresses), a browser without JavaScript signed in to /account by an emailed code, and readers
// of the page's CSRF token and of the confirmation emails.
import { expect } from 'vitest';
import { FormClient, type Page } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { codeFrom } from '../helpers/smtp.js';
import { parseMail, partOf } from '../helpers/mime.js';
import type { Engine } from '../helpers/databases.js';

export const CHROME_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';

export async function startAccountSesame(engine: Engine, config: Record<string, unknown> = {}): Promise<TestSesame> {
  const port = await freePort();
  return startTestSesame(engine, { port, ...config }, { issuer: `http://localhost:${port}` });
}

export interface SignedIn {
  browser: FormClient;
  page: Page;
  csrf: string;
}

export function csrfOf(html: string): string {
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!csrf) throw new Error(`no CSRF token in:\n${html.slice(0, 1000)}`);
  return csrf;
}

/** Opens /account in a new browser (or `browser`), signs in with the emailed code, returns the account page. */
export async function signInToAccount(t: TestSesame, email: string, browser = new FormClient({ 'user-agent': CHROME_ON_LINUX })): Promise<SignedIn> {
  const first = await browser.follow(`${t.issuer}/account`, t.issuer);
  expect(first.status).toBe(200);
  const codePage = await browser.submit(first, '/email', { email }, t.issuer);
  const code = codeFrom(await t.mail.next(email));
  const page = await browser.submit(codePage, '/code', { code }, t.issuer);
  expect(page.status).toBe(200);
  expect(page.url).toBe(`${t.issuer}/account`);
  return { browser, page, csrf: csrfOf(page.html) };
}

/** The next email to `to`: its subject and plain-text body. */
export async function nextNotice(t: TestSesame, to: string): Promise<{ subject: string; text: string }> {
  const mail = parseMail((await t.mail.next(to)).raw);
  return { subject: mail.subject, text: partOf(mail, 'text/plain').trim() };
}

/** A JSON POST from the page's script (CSRF token in its header). */
export function postJson(signedIn: SignedIn, t: TestSesame, path: string, body: unknown, csrf = signedIn.csrf) {
  return signedIn.browser.request(`${t.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf },
    body: JSON.stringify(body),
  });
}

/** The page's <main> as one line, with what changes run to run (times, tokens, ids) replaced. */
export function mainOf(html: string): string {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;
  return main
    .replace(/\s+/g, ' ')
    .replace(/[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M UTC/g, 'TIME')
    .replace(/(name="csrf" value|data-csrf)="[^"]+"/g, '$1="CSRF"')
    .replace(/(name="id" value="|remove\?id=)[\w-]+/g, '$1ID')
    .trim();
}

export const APP = {
  client_id: 'app',
  client_secret: 'app-secret-app-secret-app-secret',
  client_name: 'Test App',
  redirect_uris: ['http://127.0.0.1:9/cb'],
  grant_types: ['authorization_code', 'refresh_token'],
  first_party: true,
  // Its sign-ins stand for "another browser": the passkey offer (tested on its own) would stop them.
  offer_passkeys: false,
};
