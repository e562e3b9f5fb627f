// Userinfo and introspection of many tokens at once (issue 18: on PostgreSQL the token reads of
// concurrent requests go out together, storage/read-batch.ts; test/storage/read-batch.test.ts counts
// them). Each answer is its own token's user, and a token revoked just before the burst is refused
// throughout it. On both engines.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { rpConfig, signInWithEmail, startLogin, exchangeCode } from '../helpers/login.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { oidcFixture } from './fixture.js';

const client = oidcFixture.clients[0]!;

describe.each(ENGINES)('parallel token reads on %s', (engine) => {
  let t: TestSesame;
  beforeAll(async () => {
    t = await startTestSesame(engine, oidcFixture);
  });
  afterAll(() => t?.stop());

  it("answers each request of a burst with its own token's user, and refuses the token revoked before it", async () => {
    const rp = await rpConfig(t, client.client_id, client.client_secret);
    const users: { email: string; sub: string; accessToken: string }[] = [];
    for (const email of ['ann@example.com', 'ben@example.com', 'cat@example.com', 'dan@example.com']) {
      const started = await startLogin(t, rp);
      const { result } = await signInWithEmail(t, started, email);
      const tokens = await exchangeCode(rp, started, result.location);
      users.push({ email, sub: tokens.claims()!.sub, accessToken: tokens.access_token });
    }
    const revoked = users[3]!;
    await oidc.tokenRevocation(rp, revoked.accessToken);

    const { userinfo_endpoint: userinfo, introspection_endpoint: introspection } = rp.serverMetadata();
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
    const requests = users.flatMap((user) => [
      ...Array.from({ length: 8 }, () => ({ user, kind: 'userinfo' as const })),
      ...Array.from({ length: 4 }, () => ({ user, kind: 'introspection' as const })),
    ]);
    const answers = await Promise.all(
      requests.map(async ({ user, kind }) => {
        const res =
          kind === 'userinfo'
            ? await fetch(userinfo!, { headers: { authorization: `Bearer ${user.accessToken}` } })
            : await fetch(introspection!, {
                method: 'POST',
                headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
                body: new URLSearchParams({ token: user.accessToken }),
              });
        return { user, kind, status: res.status, body: (await res.json()) as Record<string, unknown> };
      }),
    );

    for (const { user, kind, status, body } of answers) {
      if (kind === 'userinfo' && user === revoked) {
        expect([status, body]).toEqual([401, { error: 'invalid_token', error_description: 'invalid token provided' }]);
      } else if (kind === 'userinfo') {
        expect([status, body]).toEqual([200, { sub: user.sub, email: user.email, email_verified: true }]);
      } else if (user === revoked) {
        expect([status, body]).toEqual([200, { active: false }]);
      } else {
        expect([status, body]).toEqual([
          200,
          {
            active: true,
            client_id: client.client_id,
            sub: user.sub,
            scope: 'openid email',
            token_type: 'Bearer',
            iss: t.issuer,
            iat: expect.any(Number),
            exp: expect.any(Number),
          },
        ]);
      }
    }
  });
});
