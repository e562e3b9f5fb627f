// Debian's Chromium driven by playwright-core, with the flags this closed network needs (no
// background traffic, no downloads), and the start of a sign-in in a page. Never `npx playwright install`.
import type * as oidc from 'openid-client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { authorizationRequest } from './authorization.js';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
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
