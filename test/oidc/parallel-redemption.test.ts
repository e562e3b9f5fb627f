// Issue 11 item 8: one authorization code or one refresh token sent several times at once must give
// exactly one answer with tokens, and the race counts as a reuse: the grant is revoked, the
// winner's new tokens with it. On both engines; repeated, since PostgreSQL does not serialise.
// On PostgreSQL both grants hold their consume and write it with their tokens (withHeldConsume).
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, signInWithEmail, startLogin } from '../helpers/login.js';
import { REDIRECT, oidcFixture } from './fixture.js';

const SECRET = oidcFixture.clients[0]!.client_secret!;
const PARALLEL = 8;
const REFUSED = { error: 'invalid_grant', error_description: 'grant request is invalid' };

describe.each(ENGINES)('parallel redemption on %s', (engine) => {
  const rounds = engine === 'postgresql' ? 5 : 2;
  let t: TestSesame;
  let config: oidc.Configuration;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
    config = await rpConfig(t, 'app', SECRET);
  });
  afterAll(() => t?.stop());

  const tokenRequest = async (params: Record<string, string>) => {
    const res = await fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'app', client_secret: SECRET, ...params }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** A fresh sign-in up to the authorization code. */
  const signIn = async () => {
    const started = await startLogin(t, config, { scope: 'openid email' });
    const { result } = await signInWithEmail(t, started, `race${++n}@example.com`);
    return { code: new URL(result.location!).searchParams.get('code')!, verifier: started.verifier };
  };
  const live = async (accessToken: string) => (await oidc.tokenIntrospection(config, accessToken)).active;

  /** All at once; exactly one gets tokens, the others invalid_grant. Returns the winner's tokens. */
  const race = async (params: Record<string, string>) => {
    const answers = await Promise.all(Array.from({ length: PARALLEL }, () => tokenRequest(params)));
    const won = answers.filter((a) => a.status === 200);
    expect(won).toHaveLength(1);
    expect(answers.filter((a) => a.status !== 200)).toEqual(Array(PARALLEL - 1).fill({ status: 400, body: REFUSED }));
    return won[0]!.body as { access_token: string; refresh_token: string };
  };

  it(`redeems one authorization code sent ${PARALLEL} times at once exactly once, and revokes the grant (${rounds} rounds)`, async () => {
    for (let round = 0; round < rounds; round++) {
      const { code, verifier } = await signIn();
      const winner = await race({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
      expect(await live(winner.access_token)).toBe(false);
      expect(await tokenRequest({ grant_type: 'refresh_token', refresh_token: winner.refresh_token })).toEqual({ status: 400, body: REFUSED });
    }
  });

  it(`redeems one refresh token sent ${PARALLEL} times at once exactly once, and revokes the grant (${rounds} rounds)`, async () => {
    for (let round = 0; round < rounds; round++) {
      const { code, verifier } = await signIn();
      const first = await tokenRequest({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT });
      expect(first.status).toBe(200);
      const tokens = first.body as { access_token: string; refresh_token: string };
      expect(await live(tokens.access_token)).toBe(true);

      const winner = await race({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
      expect([await live(tokens.access_token), await live(winner.access_token)]).toEqual([false, false]);
      expect(await tokenRequest({ grant_type: 'refresh_token', refresh_token: winner.refresh_token })).toEqual({ status: 400, body: REFUSED });
    }
  });
});
