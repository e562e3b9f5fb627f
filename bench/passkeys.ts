// `passkey_signin` (issue 18 item 6): sign-ins with a passkey through Auth0's native passkey API
// (PROTOCOLS-NEXT B.5), as auth-js's `passkey.challenge()` and `getTokenByPasskey()` make them: POST
// /passkey/challenge, an assertion, then the webauthn grant at /oauth/token (JSON). The assertions
// are real (test/helpers/soft-authenticator.ts: ES256, user verification, counters): before the
// run, each user of a pool signs up with a passkey of their own device through POST /passkey/register.
// The bench client relays each ceremony's user address (Auth0's auth0-forwarded-for): Sesame allows an address
// 30 ceremonies a minute, and a thousand people are not one address.
import type { AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { SoftAuthenticator } from '../test/helpers/soft-authenticator.js';
import { addressPrefix, inParallel } from './flows.js';
import { loop, type Load } from './loop.js';
import { CLIENT, WEBAUTHN_GRANT, type Target } from './targets.js';

export const PASSKEY = 'passkey_signin';
/** Users with a passkey each: more than the sign-ins in flight, so that no device answers two ceremonies at once. */
export const PASSKEY_USERS = 100;

const secret = { client_id: CLIENT.client_id, client_secret: CLIENT.client_secret };

/** An address of the benchmarking range 198.18.0.0/15 per ceremony: `n` below 2^17 are all distinct. */
const addressOf = (n: number) => `198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`;
/** Sign-in ceremonies so far, over every warm-up and round: each from the next address. */
let ceremonies = 0;

async function post<T>(target: Target, path: string, body: unknown, ip: string): Promise<T> {
  const response = await fetch(new URL(path, target.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'auth0-forwarded-for': ip },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

interface Ceremony<O> {
  auth_session: string;
  authn_params_public_key: O;
}

/** The webauthn grant finishing a ceremony; throws unless it answers tokens. */
async function token(target: Target, auth_session: string, authn_response: unknown, ip: string): Promise<void> {
  const tokens = await post<{ id_token?: string }>(target, '/oauth/token', { ...secret, grant_type: WEBAUTHN_GRANT, auth_session, authn_response, scope: 'openid email' }, ip);
  if (!tokens.id_token) throw new Error(`the webauthn grant answered no id_token: ${JSON.stringify(tokens).slice(0, 300)}`);
}

/** `size` users signed up with a passkey each; returns their devices. Ceremony addresses from the top of the range, the run's from the bottom. */
export async function registerPasskeys(target: Target, size: number, parallel = 8): Promise<SoftAuthenticator[]> {
  const prefix = addressPrefix('passkey', target);
  const origin = new URL(target.url).origin;
  return inParallel(size, parallel, async (n) => {
    const device = new SoftAuthenticator({ origin });
    const ip = addressOf(2 ** 17 - 1 - n);
    const started = await post<Ceremony<PublicKeyCredentialCreationOptionsJSON>>(
      target,
      '/passkey/register',
      { ...secret, user_profile: { email: `${prefix}-${n}@bench.test`, name: `Bench ${n}` } },
      ip,
    );
    await token(target, started.auth_session, device.register(started.authn_params_public_key), ip);
    return device;
  });
}

/** `concurrency` people signing in with their passkeys, round the pool, for `seconds`; latencies are whole ceremonies. */
export function passkeyLoop(target: Target, devices: SoftAuthenticator[], concurrency: number, seconds: number): Promise<Load> {
  return loop(concurrency, seconds, async (n) => {
    const device = devices[n % devices.length]!;
    const ip = addressOf(ceremonies++ % 2 ** 16);
    const t0 = performance.now();
    const started = await post<Ceremony<PublicKeyCredentialRequestOptionsJSON>>(target, '/passkey/challenge', secret, ip);
    const assertion: AuthenticationResponseJSON = device.authenticate(started.authn_params_public_key);
    await token(target, started.auth_session, assertion, ip);
    return { status: 200, ms: performance.now() - t0 };
  });
}
