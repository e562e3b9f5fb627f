// What the error-page tests share: the clients they name, reading a page the way a user does, and
// requests to one test Sesame (each test file starts its own). SQLite is enough: no page depends on the engine.
import { htmlText } from '../helpers/html.js';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { TestSesame } from '../helpers/sesame.js';

const catalog = (lang: string) => JSON.parse(readFileSync(new URL(`../../views/locales/${lang}.json`, import.meta.url), 'utf8')) as Record<string, string>;
export const en = catalog('en');
export const fr = catalog('fr');

export const REDIRECT = 'http://127.0.0.1:9/cb';
export const fixture = {
  clients: [
    {
      client_id: 'app',
      client_secret: 'app-secret-app-secret-app-secret',
      client_name: 'Test App',
      client_uri: 'https://app.example/home',
      redirect_uris: [REDIRECT],
      post_logout_redirect_uris: ['http://127.0.0.1:9/bye'],
      first_party: true,
    },
    {
      client_id: 'partner',
      client_secret: 'partner-secret-partner-secret-xx',
      client_name: 'Partner',
      initiate_login_uri: 'https://partner.example/login',
      redirect_uris: [REDIRECT],
    },
    { client_id: 'two', client_name: 'Two Doors', client_uri: 'https://two.example/', redirect_uris: [REDIRECT, 'http://127.0.0.1:9/other'], token_endpoint_auth_method: 'none' },
    { client_id: 'plain', client_secret: 'plain-secret-plain-secret-plain-x', redirect_uris: [REDIRECT], first_party: true },
    {
      client_id: 'xss',
      client_name: '<img src=x onerror=alert(1)>',
      client_uri: 'https://xss.example/?q="><script>',
      redirect_uris: [REDIRECT, 'http://127.0.0.1:9/other'],
      token_endpoint_auth_method: 'none',
    },
  ],
};

const decode = htmlText;

/** What a user reads on a page: language, heading, paragraphs outside <details>, links, and the folded details. */
export function read(html: string) {
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

export const REQUEST_ID = /^Request ID: [\w-]+$/;
export const FR_REQUEST_ID = /^Identifiant de la demande : [\w-]+$/;

/** GET with a language, and an authorization request, to the file's Sesame. */
export function requests(sesame: () => TestSesame) {
  const get = (path: string, lang = 'en', headers: Record<string, string> = {}) =>
    fetch(`${sesame().url}${path}`, { redirect: 'manual', headers: { accept: 'text/html', 'accept-language': lang, ...headers } });
  const authorize = (params: Record<string, string>, lang = 'en') => get(`/authorize?${new URLSearchParams({ response_type: 'code', scope: 'openid', ...params })}`, lang);
  return { get, authorize };
}

/** A page: its status, no-store, HTML, and what it reads. */
export async function page(res: Response) {
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  return { status: res.status, ...read(await res.text()) };
}
