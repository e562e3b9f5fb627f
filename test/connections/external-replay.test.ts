// Attacks on external-connection assertions (issue 11 item 10), on both engines: a leaked assertion
// replayed from another browser with its own state, a second use with a fresh state, a copy with
// an altered signature encoding, parallel uses, and assertions that would live too long.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { sdkLoginUrl } from '../helpers/operator-login.js';
import { generateUserLoginUrl } from 'sesame/connect';
import { createServiceClient, type IssuedKey } from '../../src/connections/external.js';
import { finishAtRp, handOff, OPERATOR_LOGIN, refused, signedUrl, startExternalSesame, withState, type ExternalSesame } from './external-fixture.js';

const USED = 'This assertion was already used. Start signing in again.';
const WRONG_STATE = 'The assertion was made for another sign-in (its state does not match).';

describe.each(ENGINES)('external assertions on %s', { timeout: 180_000 }, (engine) => {
  let s: ExternalSesame;
  let corp: IssuedKey;

  beforeAll(async () => {
    const connection = { id: 'corp', type: 'external' as const, name: 'Corp login', authorizationUrl: OPERATOR_LOGIN, accountId: 'acct1' };
    s = await startExternalSesame(engine, [connection]);
    corp = await createServiceClient(s.t.sesame.services.db, connection);
  });
  afterAll(async () => {
    await s?.t.stop();
  });

  it("refuses A's used SDK assertion brought back by browser B with B's own state", async () => {
    const a = await handOff(s, 'corp');
    const returnUrl = await sdkLoginUrl(corp.accessKey, a.redirectUri, a.state, 'alice');
    const alice = await finishAtRp(s, a, returnUrl);
    const b = await handOff(s, 'corp');
    await refused(s, withState(returnUrl, b.state), 'assertion_used', USED, corp.clientId, b.started.browser);
    // B's own state was not used up by the refusal: B's own sign-in still goes through, as B.
    const bob = await finishAtRp(s, b, await sdkLoginUrl(corp.accessKey, b.redirectUri, b.state, 'bob'));
    expect(bob.sub).not.toBe(alice.sub);
  });

  it("refuses A's sesame/connect assertion in browser B even before A used it (bound to A's state)", async () => {
    const a = await handOff(s, 'corp');
    const returnUrl = await generateUserLoginUrl(corp.accessKey, a.redirectUri, a.state, corp.clientId, 'alice');
    const b = await handOff(s, 'corp');
    await refused(s, withState(returnUrl, b.state), 'wrong_state', WRONG_STATE, corp.clientId, b.started.browser);
    // Refused before it counted as used: A still signs in with it, once.
    const alice = await finishAtRp(s, a, returnUrl);
    expect(alice.sub).toEqual(expect.any(String));
    const again = await handOff(s, 'corp');
    await refused(s, withState(returnUrl, again.state), 'wrong_state', WRONG_STATE, corp.clientId, again.started.browser);
  });

  it('refuses a second use of one assertion with a fresh state of the same browser, and a copy with another last signature character', async () => {
    const first = await handOff(s, 'corp');
    const returnUrl = await sdkLoginUrl(corp.accessKey, first.redirectUri, first.state, 'carol');
    await finishAtRp(s, first, returnUrl);
    const fresh = await handOff(s, 'corp');
    await refused(s, withState(returnUrl, fresh.state), 'assertion_used', USED, corp.clientId, first.started.browser);

    // The signature's last base64url character carries 4 ignored bits: 16 spellings of one signature.
    const url = new URL(withState(returnUrl, fresh.state));
    const code = url.searchParams.get('code')!;
    const last = code.at(-1)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[(alphabet.indexOf(last) & ~15) | ((alphabet.indexOf(last) + 1) & 15)]!;
    url.searchParams.set('code', `${code.slice(0, -1)}${sibling}`);
    await refused(s, url.href, 'assertion_used', USED, corp.clientId, fresh.started.browser);
  });

  it('still refuses the replay long after the first use, while the assertion is valid', async () => {
    // iat 40 s ago, exp in 20 s; used now, then its record moved back 60 s: as if first used when
    // iat was 20 s ahead (within the skew), and replayed now, 60 s later.
    const first = await handOff(s, 'corp');
    const iat = Math.floor(Date.now() / 1000) - 40;
    const returnUrl = await signedUrl(corp.accessKey, first, 'grace', { iat, exp: iat + 60 });
    await finishAtRp(s, first, returnUrl);
    const counters = s.t.sesame.services.db.prisma.counter;
    const [row] = await counters.findMany({ where: { key: { startsWith: 'external-assertion:' } }, orderBy: { lastAt: 'desc' }, take: 1 });
    const earlier = new Date(row!.windowStart.getTime() - 60_000);
    await counters.update({ where: { key: row!.key }, data: { windowStart: earlier, lastAt: earlier } });
    const later = await handOff(s, 'corp');
    await refused(s, withState(returnUrl, later.state), 'assertion_used', USED, corp.clientId, later.started.browser);
  });

  it('lets one assertion used by 8 browsers at once sign in at most once', async () => {
    const handOffs = await Promise.all(Array.from({ length: 8 }, () => handOff(s, 'corp')));
    const returnUrl = await sdkLoginUrl(corp.accessKey, handOffs[0]!.redirectUri, handOffs[0]!.state, 'dave');
    const pages = await Promise.all(handOffs.map((h) => h.started.browser.request(withState(returnUrl, h.state))));
    const outcomes = pages.map((page) => (page.status === 303 ? 'signed in' : `${page.status} ${page.html.includes(USED) ? 'used' : page.html.slice(0, 300)}`));
    expect(outcomes.filter((o) => o === 'signed in')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'signed in')).toEqual(Array(7).fill('400 used'));
  });

  describe('refuses assertions that would live too long', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => Record<string, unknown>, string, string][] = [
      ['exp ten years ahead', () => ({ exp: now() + 10 * 365 * 86400 }), 'lifetime_too_long', 'The assertion lives longer than 2 minutes (exp too far after iat).'],
      ['no iat', () => ({ iat: undefined }), 'missing_iat', 'The assertion has no issued-at time (iat). Sign it with iat set to the current time.'],
      [
        'an iat 5 minutes ahead',
        () => ({ iat: now() + 300, exp: now() + 360 }),
        'issued_in_future',
        'The assertion is issued in the future (iat). Check the clock of the sign-in service.',
      ],
      [
        'an iat 200 s old (exp still ahead)',
        () => ({ iat: now() - 200, exp: now() + 30 }),
        'too_old',
        'The assertion was issued more than 2 minutes ago. Send the user back as soon as the assertion is made.',
      ],
      [
        'an array aud that includes the account',
        () => ({ aud: ['acct1.accounts.authress.io', 'acct2.accounts.authress.io'] }),
        'wrong_audience',
        'The assertion audience (aud) does not match this connection’s account id.',
      ],
    ];
    it.each(cases)('%s', async (_name, claims, reason, message) => {
      const h = await handOff(s, 'corp');
      await refused(s, await signedUrl(corp.accessKey, h, 'erin', claims()), reason, message, corp.clientId, h.started.browser);
      // The state is still good for a proper assertion.
      expect((await finishAtRp(s, h, await signedUrl(corp.accessKey, h, 'erin', { jti: randomUUID() }))).sub).toEqual(expect.any(String));
    });
  });

  it('still accepts the SDK assertion and a hand-signed one at 60 s lifetime (the SDK’s)', async () => {
    const h = await handOff(s, 'corp');
    const viaSdk = await finishAtRp(s, h, await sdkLoginUrl(corp.accessKey, h.redirectUri, h.state, 'frank'));
    const hand = await handOff(s, 'corp');
    const iat = Math.floor(Date.now() / 1000) - 60;
    const viaJose = await finishAtRp(s, hand, await signedUrl(corp.accessKey, hand, 'frank', { iat, exp: iat + 60, jti: 'late' }));
    expect(viaJose.sub).toBe(viaSdk.sub);
  });
});
