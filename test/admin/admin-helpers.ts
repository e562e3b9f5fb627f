// Shared by the admin console tests: an admin with an authenticator app signing in without JavaScript
// (code, then the app's code), a Sesame with a client whose sign-ins from one address the risk
// rules hold for review (REVIEW by X-Forwarded-For behind one trusted proxy), a sign-in held that way
// without JavaScript, and the `sesame users grant-admin` command run as an operator runs it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { oidcFixture } from '../oidc/fixture.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { codeFrom } from '../helpers/smtp.js';
import { confirmedTotp, totpCode } from '../helpers/mfa-factors.js';
import { setAdmin, upsertVerifiedEmailUser } from '../../src/storage/users.js';
import type { TestSesame } from '../helpers/sesame.js';
import { lastJson, sesame } from '../helpers/cli.js';
import { findDecisionByInteraction, type ActionDecisionRow } from '../../src/storage/action-decisions.js';

const APP = oidcFixture.clients[0]!;
export const REVIEW_IP = '203.0.113.77';
const GATE_APP = { ...APP, client_id: 'gate-app', client_name: 'Gate App', risk_action: 'gate', offer_passkeys: false };
const GATE = { rules: [{ ruleId: 'odd-ip', name: 'Odd address', type: 'REVIEW', conditions: { '==': [{ var: 'ip.address' }, REVIEW_IP] } }] };

/** This feature's configuration fixture. */
export const ADMIN_FIXTURE = { ...oidcFixture, clients: [...oidcFixture.clients, GATE_APP], trustProxy: 1, actions: { policies: { gate: GATE } } };

export interface Held {
  browser: FormClient;
  uid: string;
  row: ActionDecisionRow;
  started: Awaited<ReturnType<typeof startLogin>>;
  /** The held user's "check again": where the sign-in stands now. */
  check(): Promise<Page & { location?: string }>;
}

/** An email code sign-in to the gate app from REVIEW_IP, held for review. */
export async function heldSignIn(t: TestSesame, email: string): Promise<Held> {
  const browser = new FormClient({ 'x-forwarded-for': REVIEW_IP, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' });
  const started = await startLogin(t, await rpConfig(t, 'gate-app', APP.client_secret), { prompt: 'login' }, browser);
  const codePage = await browser.submit(started.page, '/email', { email }, t.url);
  const page = await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.url);
  const uid = /\/interaction\/([^/?]+)\/review$/.exec(page.url)?.[1];
  expect([page.status, uid !== undefined]).toEqual([200, true]);
  const row = (await findDecisionByInteraction(t.sesame.services.db, uid!))!;
  expect(row.state).toBe('REVIEW_REQUIRED');
  return { browser, uid: uid!, row, started, check: () => browser.follow(`${t.url}/interaction/${uid}/review`, t.url) };
}

/** `sesame users <args>` on the test server's database. */
export function usersCli(t: TestSesame, ...args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-admin-'));
  writeFileSync(join(dir, 'config.json'), '{}');
  return sesame(t.database.url, join(dir, 'config.json'), ['users', ...args]);
}

/** `sesame users grant-admin <email> --json` (or revoke-admin). */
export async function adminByCli(t: TestSesame, email: string, grant = true): Promise<{ userId: string; admin: boolean }> {
  return lastJson(await usersCli(t, grant ? 'grant-admin' : 'revoke-admin', email, '--json'));
}

/** A user with a confirmed authenticator app; made admin directly unless `admin` is false. */
export async function userWithApp(t: TestSesame, email: string, admin = true) {
  const user = await upsertVerifiedEmailUser(t.sesame.services.db, email);
  const { secret, authenticatorId } = await confirmedTotp(t.sesame.services, user.id);
  if (admin) await setAdmin(t.sesame.services.db, user.id, true);
  return { user, secret, authenticatorId };
}

/** `start` in a new browser: signs in with the emailed code and the app's code; the console page it lands on and its CSRF token. */
export async function consoleSignIn(t: TestSesame, email: string, secret: string, start = '/admin/users') {
  const browser = new FormClient();
  const first = await browser.follow(`${t.issuer}${start}`, t.issuer);
  const codePage = await browser.submit(first, '/email', { email }, t.issuer);
  const afterCode = await browser.submit(codePage, '/code', { code: codeFrom(await t.mail.next(email)) }, t.issuer);
  const page = await browser.submit(afterCode, '/mfa', { code: totpCode(secret) }, t.issuer);
  return { browser, page, csrf: csrfOf(page.html) };
}

/** The CSRF token of a console page's forms ('' when it has none). */
export function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}
