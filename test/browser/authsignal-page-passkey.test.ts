// The pre-built page's passkey section for real in Chromium (CDP virtual authenticator), on a
// localhost Sesame where passkeys work: a new user of the app creates a first passkey on the page
// (the action's challenge passes), then passes a later action with it; both end on the page's
// finish route with a result token that validates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../src/services.js';
import { validateToken } from '../../src/passwordless/action-results.js';
import { LOOPBACK_ONLY, useBrowser, watchProblems } from '../helpers/browser.js';
import { startTestSesameOnLocalhost, type TestSesame } from '../helpers/sesame.js';
import { addVirtualAuthenticator } from '../helpers/virtual-authenticator.js';
import { pageFixture, trackPay } from '../api/authsignal-page-fixture.js';

describe('the challenge page with a passkey in Chromium', () => {
  let t: TestSesame;
  let s: Services;
  const chromium = useBrowser([LOOPBACK_ONLY]);
  beforeAll(async () => {
    t = await startTestSesameOnLocalhost('sqlite', pageFixture());
    s = t.sesame.services;
  });
  afterAll(() => t?.stop());

  it('creates a first passkey to pass one action, then passes the next with it', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    const problems = watchProblems(page);
    await addVirtualAuthenticator(context, page);
    const deps = { cookieKeys: s.cookieKeys, issuer: s.config.issuer, db: s.db, config: s.config };
    const userId = `pk-${Date.now()}`;
    for (const button of ['Create a passkey', 'Use your passkey']) {
      const a = await trackPay(s, { actionCode: 'signin', userId });
      // Popup mode opened as a top page: the finish page keeps the token in the page (no window to post to).
      await page.goto(`${a.url}&mode=popup`);
      await page.getByRole('button', { name: button }).click();
      await page.waitForURL(/\/v1\/ui\/done\?/);
      const token = await page.locator('#action-popup').getAttribute('data-token');
      expect(await validateToken(deps, 'shop', { token })).toMatchObject({ isValid: true, state: 'CHALLENGE_SUCCEEDED', userId, verificationMethod: 'PASSKEY' });
    }
    expect(problems).toEqual([]);
  });
});
