// The "What should we call you?" step in a real Chromium: filled in without JavaScript, skipped with
// it, and checked with axe-core (WCAG 2 A/AA). SQLite is enough: the page does not depend on the engine.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as oidc from 'openid-client';
import type { BrowserContextOptions } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthorization, useBrowser, type Walk } from '../helpers/browser.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { REDIRECT, oidcFixture } from '../oidc/fixture.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

describe('name step in Chromium', () => {
  let t: TestSesame;
  const chromium = useBrowser();
  let config: oidc.Configuration;
  let n = 0;

  beforeAll(async () => {
    t = await startTestSesame('sqlite', oidcFixture);
    config = await rpConfig(t, 'app', oidcFixture.clients[0]!.client_secret);
  });
  afterAll(async () => {
    await t?.stop();
  });

  /** A new account's sign-in in a fresh context, up to the name step. */
  async function atNameStep(options: BrowserContextOptions): Promise<Walk> {
    const context = await chromium.newContext(options);
    const walk = await openAuthorization(context, config, { redirect_uri: REDIRECT, scope: 'openid email profile' });
    const email = `chromium-name${++n}@example.com`;
    await walk.page.getByLabel('Email address').fill(email);
    await walk.page.getByRole('button', { name: 'Email me a code' }).click();
    await walk.page.getByLabel('Sign-in code').fill(codeFrom(await t.mail.next(email)));
    await walk.page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await walk.page.getByRole('heading', { name: 'What should we call you?' }).waitFor();
    return walk;
  }

  /** Clicks `button`, catches the browser's request to the RP and redeems the code: the ID token claims. */
  async function finishAtRp(walk: Walk, button: string) {
    const atRp = walk.page.waitForRequest((request) => request.url().startsWith(`${REDIRECT}?`));
    await walk.page.getByRole('button', { name: button, exact: true }).click();
    const tokens = await oidc.authorizationCodeGrant(config, new URL((await atRp).url()), {
      pkceCodeVerifier: walk.verifier,
      expectedState: walk.state,
      expectedNonce: walk.nonce,
    });
    return tokens.claims()!;
  }

  it('takes a name without JavaScript, and it reaches the ID token', async () => {
    const walk = await atNameStep({ javaScriptEnabled: false });
    await walk.page.getByLabel('Your name').fill('Ada Lovelace');
    expect((await finishAtRp(walk, 'Continue')).name).toBe('Ada Lovelace');
    expect(walk.problems).toEqual([]);
  });

  it('passes axe-core (WCAG 2 A and AA), shows an invalid name as an alert, and can be skipped', async () => {
    // axe is injected through the DevTools protocol; the page's CSP allows no injected script.
    const walk = await atNameStep({ bypassCSP: true });
    const audit = async () => {
      await walk.page.evaluate(AXE);
      return walk.page.evaluate(async () => {
        const result = await (globalThis as unknown as { axe: { run(o: unknown): Promise<{ violations: Array<{ id: string }> }> } }).axe.run({ runOnly: ['wcag2a', 'wcag2aa'] });
        return result.violations.map((v) => v.id);
      });
    };
    expect(await audit()).toEqual([]);
    await walk.page.getByLabel('Your name').fill('   ');
    await walk.page.getByRole('button', { name: 'Continue' }).click();
    await expect(walk.page.getByRole('alert').textContent()).resolves.toContain('Enter a name of 1 to 100 characters');
    expect(await walk.page.getByLabel('Your name').getAttribute('aria-invalid')).toBe('true');
    expect(await audit()).toEqual([]);
    expect(await finishAtRp(walk, 'Skip')).not.toHaveProperty('name');
  });
});
