// Token pools, made before the load: each entry is one user signed in through the authorization
// code flow (with PKCE). On Sesame that walks the hosted pages' forms (email, then the code read
// from the SMTP sink); on the baseline its interaction signs in at once. Rotation makes each
// refresh token single-use, so the refresh scenario takes a fresh one from the pool per request.
import { createHash, randomBytes } from 'node:crypto';
import { FormClient } from '../test/helpers/form-client.js';
import { codeFrom, type MailSink } from '../test/helpers/smtp.js';
import { CLIENT, REDIRECT, type Target } from './targets.js';

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

export const basicAuth = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT.client_id)}:${encodeURIComponent(CLIENT.client_secret)}`).toString('base64')}`;
export const SCOPE = 'openid email profile';

const b64url = (buf: Buffer) => buf.toString('base64url');

async function signIn(target: Target, user: string, mail: MailSink): Promise<Tokens> {
  const verifier = b64url(randomBytes(32));
  const authorize = new URL('/authorize', target.url);
  authorize.search = new URLSearchParams({
    client_id: CLIENT.client_id,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: SCOPE,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
    state: b64url(randomBytes(12)),
    nonce: b64url(randomBytes(12)),
  }).toString();
  const browser = new FormClient();
  let done = await browser.follow(authorize.toString(), target.url);
  if (target.sesame) {
    const email = `${user}@bench.test`;
    const codePage = await browser.submit(done, '/email', { email }, target.url);
    if (codePage.status !== 200) throw new Error(`email step answered ${codePage.status}`);
    const code = codeFrom(await mail.next(email, 30_000));
    done = await browser.submit(codePage, '/code', { code }, target.url);
  }
  if (!done.location?.startsWith(REDIRECT)) throw new Error(`sign-in did not come back to the client (status ${done.status}): ${done.html.slice(0, 300)}`);
  const code = new URL(done.location).searchParams.get('code');
  if (!code) throw new Error(`no code in ${done.location}`);
  const response = await fetch(new URL('/oauth/token', target.url), {
    method: 'POST',
    headers: { authorization: basicAuth, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }),
  });
  const tokens = (await response.json()) as Partial<Tokens> & { error?: string };
  if (!response.ok || !tokens.access_token || !tokens.refresh_token) throw new Error(`code exchange failed: ${response.status} ${JSON.stringify(tokens)}`);
  return { access_token: tokens.access_token, refresh_token: tokens.refresh_token };
}

/** Signs in `size` users, `parallel` at a time. */
export async function makePool(target: Target, size: number, mail: MailSink, parallel = 8): Promise<Tokens[]> {
  const pool: Tokens[] = [];
  let next = 0;
  const prefix = `bench-${target.name}-${Date.now().toString(36)}`;
  async function worker() {
    while (next < size) {
      const n = next++;
      pool.push(await signIn(target, `${prefix}-${n}`, mail));
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, size) }, worker));
  return pool;
}
