// Token pools, made before the load: each entry is one user signed in through the authorization
// code flow (with PKCE). On Sesame that walks the hosted pages' forms (email, then the code read
// from the SMTP sink); on the baseline its interaction signs in at once. Rotation makes each
// refresh token single-use, so the refresh scenario takes a fresh one from the pool per request.
// The OTP grant's codes are single-use too: a pool of them is asked for through the passwordless API.
import { createHash, randomBytes } from 'node:crypto';
import { FormClient } from '../test/helpers/form-client.js';
import { smsCode } from '../test/helpers/fake-twilio.js';
import { codeFrom } from '../test/helpers/smtp.js';
import { formFetcher, httpFetch } from './http.js';
import type { BenchMail } from './mail.js';
import { CLIENT, REDIRECT, type Target } from './targets.js';

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

export interface OtpCode {
  email: string;
  code: string;
}

const basicOf = (client: typeof CLIENT) => `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`;
export const basicAuth = basicOf(CLIENT);
export const SCOPE = 'openid email profile';
/** The hosted pages are for browsers: fetch's own User-Agent ("node") is a bot to the risk rule variable userAgent.isBot. */
export const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';

const b64url = (buf: Buffer) => buf.toString('base64url');

/** One user through the whole authorization code flow, from /authorize to the token endpoint. */
export async function signIn(target: Target, user: string, mail: BenchMail, client = CLIENT): Promise<Tokens> {
  const verifier = b64url(randomBytes(32));
  const authorize = new URL('/authorize', target.url);
  authorize.search = new URLSearchParams({
    client_id: client.client_id,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: SCOPE,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    state: b64url(randomBytes(12)),
    nonce: b64url(randomBytes(12)),
  }).toString();
  const browser = new FormClient({ 'user-agent': BROWSER_UA }, formFetcher);
  let done = await browser.follow(authorize.toString(), target.url);
  if (target.sesame) {
    const email = `${user}@bench.test`;
    const codePage = await browser.submit(done, '/email', { email }, target.url);
    if (codePage.status !== 200) throw new Error(`email step answered ${codePage.status}`);
    const code = codeFrom(await mail.next(email, 30_000));
    done = await browser.submit(codePage, '/code', { code }, target.url);
    // A new account asked for `profile` stops once at "Your name" (interactions/name-step.ts): skipped, as a hurried user would.
    if (!done.location && done.html.includes('/name"')) done = await browser.submit(done, '/name', { decision: 'skip' }, target.url);
  }
  if (!done.location?.startsWith(REDIRECT)) throw new Error(`sign-in did not come back to the client (status ${done.status}): ${done.html.slice(0, 300)}`);
  const code = new URL(done.location).searchParams.get('code');
  if (!code) throw new Error(`no code in ${done.location}`);
  const response = await httpFetch(new URL('/oauth/token', target.url), {
    method: 'POST',
    headers: { authorization: basicOf(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
  });
  const tokens = JSON.parse(await response.text()) as Partial<Tokens> & { error?: string };
  if (!response.ok || !tokens.access_token || !tokens.refresh_token) throw new Error(`code exchange failed: ${response.status} ${JSON.stringify(tokens)}`);
  return { access_token: tokens.access_token, refresh_token: tokens.refresh_token };
}

/** A prefix for the addresses of one run against one target: each address gets a code once. */
export const addressPrefix = (what: string, target: Target) => `${what}-${target.name}-${target.workers}-${Date.now().toString(36)}`;

/** Runs `task(n)` for n below `size`, `parallel` at a time; the results in the order they end. */
export async function inParallel<T>(size: number, parallel: number, task: (n: number) => Promise<T>): Promise<T[]> {
  const done: T[] = [];
  let next = 0;
  async function worker() {
    while (next < size) done.push(await task(next++));
  }
  await Promise.all(Array.from({ length: Math.min(parallel, size) }, worker));
  return done;
}

/** Signs in `size` users, `parallel` at a time. */
export async function makePool(target: Target, size: number, mail: BenchMail, parallel = 8): Promise<Tokens[]> {
  const prefix = addressPrefix('bench', target);
  return inParallel(size, parallel, (n) => signIn(target, `${prefix}-${n}`, mail));
}

/** The JSON body of POST /passwordless/start asking for a code by email (Auth0's shape). */
export const startBody = (email: string, client: { client_id: string; client_secret: string } = CLIENT) =>
  JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, connection: 'email', email, send: 'code' });

/** Asks Sesame for a code for `email` through POST /passwordless/start and reads it from the mail. */
export async function askCode(target: Target, email: string, mail: BenchMail, client?: { client_id: string; client_secret: string }): Promise<string> {
  const response = await fetch(new URL('/passwordless/start', target.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: startBody(email, client) });
  if (!response.ok) throw new Error(`POST /passwordless/start answered ${response.status}: ${await response.text()}`);
  return codeFrom(await mail.next(email, 30_000));
}

/** Asks Sesame for a code texted to `phone` (E.164) through POST /passwordless/start and reads it from the bench's SMS gateway. */
export async function askSmsCode(target: Target, phone: string, mail: BenchMail, client: { client_id: string; client_secret: string }): Promise<string> {
  const body = JSON.stringify({ client_id: client.client_id, client_secret: client.client_secret, connection: 'sms', phone_number: phone, send: 'code' });
  const response = await fetch(new URL('/passwordless/start', target.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (!response.ok) throw new Error(`POST /passwordless/start (sms) answered ${response.status}: ${await response.text()}`);
  return smsCode({ body: (await mail.next(phone, 30_000)).raw });
}

/**
 * Asks Sesame for `size` codes through POST /passwordless/start and reads them from the mail. Each
 * goes to its own address: only the newest code of an address is valid, and an address may be
 * sent a code only so often.
 */
export async function collectCodes(target: Target, size: number, mail: BenchMail, parallel = 32): Promise<OtpCode[]> {
  const prefix = addressPrefix('otp', target);
  return inParallel(size, parallel, async (n) => {
    const email = `${prefix}-${n}@bench.test`;
    return { email, code: await askCode(target, email, mail) };
  });
}
