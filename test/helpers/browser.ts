// Debian's Chromium driven by playwright-core, with the flags this closed network needs (no
// background traffic, no downloads), and the start of a sign-in in a page. Never `npx playwright install`.
import type * as oidc from 'openid-client';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { authorizationRequest } from './authorization.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Keeps the browser on loopback (PROTOCOLS-NEXT B.2): pages on http://localhost for WebAuthn, nothing else resolves. */
export const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1';

export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] });
}

export interface ChromiumSession {
  /** The file's one Chromium (launched in beforeAll; read it inside hooks and tests). */
  browser(): Promise<Browser>;
  /** A fresh context, closed after the test that opened it. */
  newContext(options?: BrowserContextOptions): Promise<BrowserContext>;
}

/**
 * One Chromium per test file: launched in beforeAll (without holding up the file's other beforeAll
 * work, such as starting Sesame), a new context per test closed after it, the browser closed in afterAll.
 */
export function useBrowser(extraArgs: readonly string[] = []): ChromiumSession {
  let launching: Promise<Browser> | undefined;
  const contexts: BrowserContext[] = [];
  const browser = () => launching ?? Promise.reject(new Error('useBrowser(): Chromium is launched in beforeAll'));
  beforeAll(() => {
    launching = launchChromium(extraArgs);
    // Failures surface where the browser is used; this keeps an unused failed launch from going unhandled.
    launching.catch(() => undefined);
  });
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });
  afterAll(async () => {
    await (await launching?.catch(() => undefined))?.close();
  });
  return {
    browser,
    async newContext(options) {
      const context = await (await browser()).newContext(options);
      contexts.push(context);
      return context;
    },
  };
}

export interface Walk {
  page: Page;
  /** Console errors (CSP violations included) and uncaught page errors. */
  problems: string[];
  verifier: string;
  state: string;
  nonce: string;
}

/** An authorization URL with fresh PKCE (S256), state and nonce; `params` has redirect_uri and scope. */
export async function newAuthorization(config: oidc.Configuration, params: Record<string, string>) {
  const { url, verifier, state, nonce } = await authorizationRequest(config, params);
  return { url, verifier, state, nonce };
}

/**
 * Collects `page`'s console errors and uncaught errors, except the `expected` ones (pages that are
 * 4xx documents by design) and the favicon probe (the pages declare no icon).
 */
export function watchProblems(page: Page, expected: (text: string, url: string) => boolean = () => false): string[] {
  const problems: string[] = [];
  page.on('console', (message) => {
    const { url } = message.location();
    if (message.type() === 'error' && !url.endsWith('/favicon.ico') && !expected(message.text(), url)) problems.push(`${message.text()} (${url})`);
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return problems;
}

/** A new page of `context` at a fresh authorization request, which must answer 200. */
export async function openAuthorization(
  context: BrowserContext,
  config: oidc.Configuration,
  params: Record<string, string>,
  expected?: (text: string, url: string) => boolean,
): Promise<Walk> {
  const page = await context.newPage();
  const problems = watchProblems(page, expected);
  const { url, verifier, state, nonce } = await newAuthorization(config, params);
  const response = await page.goto(url.href);
  expect(response?.status()).toBe(200);
  return { page, problems, verifier, state, nonce };
}

/**
 * Clicks an element of a cross-origin iframe once its document has drawn two frames. Chromium
 * routes a click to such an iframe (its own process) by the hit-test data of the last frame the
 * iframe drew: a click in the moments after the iframe navigated, before the new document's first
 * frame, finds the old document's data and is lost without an error (no submit, no navigation).
 * A person cannot click that fast; an automated test can, so it waits for the drawing first.
 */
export async function clickInFrame(locator: Locator, options: { timeout?: number } = {}): Promise<void> {
  await locator.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))), undefined, options);
  await locator.click(options);
}
