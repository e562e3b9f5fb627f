// External connections (Authress's custom passwordless connection, PROTOCOLS.md section 2) end to
// end: an RP asks for `connection=corp`, Sesame hands the user to the operator's own login service
// (test/helpers/operator-login.ts), which sends the user back with an assertion signed by a
// service-client key issued by the real CLI; Sesame checks it and finishes the OIDC sign-in. Every
// refusal is a 400 page naming the problem and an `external.failed` audit row with the reason.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as oidc from 'openid-client';
import { ServiceClientTokenProvider } from '@authress/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js';
import type { TestSesame } from '../helpers/sesame.js';
import { FormClient, findForm, type Page } from '../helpers/form-client.js';
import { startLogin, type Started } from '../helpers/login.js';
import { sdkLoginUrl, startOperatorLogin, type OperatorLogin } from '../helpers/operator-login.js';
import { createServiceClient } from '../../src/connections/external.js';
import {
  alertText,
  finishAtRp as redeemAtRp,
  handOff as handOffAt,
  operatorRedirect,
  refused as refusedAt,
  signedUrl,
  signInByCode,
  startExternalSesame,
  type ExternalSesame,
  type HandOff,
} from './external-fixture.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..');

/** The page texts of views/locales/en.json `external.*`, written out so a changed text is noticed. */
const MESSAGES = {
  unknown_connection: 'This sign-in service is not configured here.',
  state_expired: 'The sign-in took longer than 10 minutes. Start signing in again.',
  missing_parameters: 'The sign-in service sent the user back without code, iss and state. Its redirect must carry all three.',
  unknown_state: 'This sign-in was not started here, or the state was altered on the way.',
  state_used: 'This sign-in response was already used. Start signing in again.',
  wrong_connection: 'The response belongs to another sign-in service (key or state of another connection).',
  malformed: 'The assertion is not a valid EdDSA JWT of type oauth-authz-req+jwt.',
  unknown_key: 'The assertion is signed with a key this service does not know (unknown kid).',
  revoked_key: 'The assertion is signed with a revoked service-client key.',
  bad_signature: 'The assertion signature does not verify.',
  expired: 'The assertion has expired. Check the clock of the sign-in service and send the user back promptly.',
  wrong_audience: 'The assertion audience (aud) does not match this connection’s account id.',
  wrong_issuer: 'The assertion issuer (iss) does not match this server and the service client.',
  wrong_client: 'The assertion client_id or subject is missing or does not match its key.',
  no_account: 'There is no account for this user, and sign-up is closed.',
} as const;
type Reason = keyof typeof MESSAGES;

interface Issued {
  clientId: string;
  keyId: string;
  accessKey: string;
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('external connections on sqlite', { timeout: 180_000 }, () => {
  let operator: OperatorLogin;
  let db: TestDatabase;
  let dir: string;
  let configFile: string;
  let sesame: ExternalSesame;
  let t: TestSesame;
  let config: oidc.Configuration;
  let corp: Issued;
  let other: Issued;
  let callbackUrl: (connection: string) => string;

  function cli(...args: string[]): Promise<CliResult> {
    const env = { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent', SESAME_CONFIG: configFile, NODE_ENV: 'test' };
    return new Promise((done) => {
      execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env }, (err, stdout, stderr) => {
        done({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  /** Runs `sesame service-clients ... --json` and returns the JSON object of its last line. */
  async function serviceClients(...args: string[]): Promise<any> {
    const result = await cli('service-clients', ...args, '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout.trimEnd().split('\n').at(-1)!);
  }

  async function createKey(connection: string, ...flags: string[]): Promise<Issued> {
    const issued = await serviceClients('create', '--connection', connection, ...flags);
    expect(issued).toEqual({ clientId: expect.stringMatching(/^[^.]+$/), keyId: expect.stringMatching(/^[^.]+$/), accessKey: expect.any(String) });
    const parts = issued.accessKey.split('.');
    expect(parts).toHaveLength(4);
    expect(parts.slice(0, 3)).toEqual([issued.clientId, issued.keyId, connection === 'corp' ? 'acct1' : 'acct2']);
    expect(parts[3]).toMatch(/^[A-Za-z0-9+/]+=*$/);
    return issued;
  }

  interface FormHandOff extends HandOff {
    /** The operator's login form. */
    loginPage: Page;
  }

  /** An authorization request with `connection=corp` (or through `begin`), up to the operator's form. */
  async function handOff(params: Record<string, string> = {}, begin?: (started: Started) => Promise<Page & { location?: string }>): Promise<FormHandOff> {
    // profile: asserted names reach the ID token (an external sign-in never stops at the name step).
    const started = await startLogin(t, config, { scope: 'openid email profile', ...(begin ? params : { connection: 'corp', ...params }) });
    return toOperatorForm({ started, ...operatorRedirect(begin ? await begin(started) : started.page, operator.loginUrl) });
  }

  /** Follows Sesame's redirect on to the operator's login form. */
  async function toOperatorForm(h: HandOff): Promise<FormHandOff> {
    const loginPage = await h.started.browser.follow(h.at.href, `${operator.url}/`);
    expect(loginPage.status).toBe(200);
    return { ...h, loginPage };
  }

  /** The operator's form submitted as `userId`: returns where the operator sends the browser back to. */
  async function operatorSignIn(h: FormHandOff, userId: string): Promise<string> {
    const back = await h.started.browser.submit(h.loginPage, '/login', { user_id: userId }, `${operator.url}/`);
    expect(back.status).toBe(302);
    const location = new URL(back.location!);
    expect(`${location.origin}${location.pathname}`).toBe(h.redirectUri);
    expect(location.searchParams.get('state')).toBe(h.state);
    expect(location.searchParams.get('iss')).toMatch(/\/v1\/clients\//);
    expect(location.searchParams.get('code')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    return location.href;
  }

  /** Follows the operator's return URL through Sesame to the RP and redeems the code there (an ID token of this Sesame for this sign-in). */
  async function finishAtRp(h: HandOff, returnUrl: string) {
    const claims = await redeemAtRp(sesame, h, returnUrl);
    expect(claims).toMatchObject({ iss: t.issuer, aud: 'app', nonce: h.started.nonce });
    return claims;
  }

  /** A whole sign-in as `userId` at the operator, with what the operator is set up with now. */
  async function signIn(userId: string, params: Record<string, string> = {}) {
    const h = await handOff(params);
    return finishAtRp(h, await operatorSignIn(h, userId));
  }

  /** The same return URL the real SDK makes (a new assertion each time, see sdkLoginUrl). */
  const authressUrl = (accessKey: string, h: { state: string; redirectUri: string }, userId: string) => sdkLoginUrl(accessKey, h.redirectUri, h.state, userId);

  /**
   * Opens `url` at Sesame: a 400 page with the reason's exact message, and one more audit event for
   * it (a new row, or one more on the row of the same refusal within the minute).
   */
  function refused(url: string, reason: Reason, serviceClientId: string | null = null, browser = new FormClient()) {
    return refusedAt(sesame, url, reason, MESSAGES[reason], serviceClientId, browser);
  }

  beforeAll(async () => {
    operator = await startOperatorLogin();
    // corp proves the emails it asserts (trustEmails); test/connections/external-email.test.ts covers
    // connections that do not.
    const external = (id: string, name: string, tenant: string, accountId: string) => ({
      id,
      type: 'external',
      name,
      authorizationUrl: `${operator.loginUrl}?tenant=${tenant}`,
      accountId,
      trustEmails: id === 'corp',
    });
    const externals = [external('corp', 'Corp login', 'acme', 'acct1'), external('other', 'Other login', 'other', 'acct2')];
    db = await createTestDatabase('sqlite');
    dir = mkdtempSync(join(tmpdir(), 'sesame-external-'));
    configFile = join(dir, 'sesame.json');
    // The CLI reads the same connections as the server (startExternalSesame adds the email one).
    writeFileSync(configFile, JSON.stringify({ connections: [{ id: 'email', type: 'email' }, ...externals] }));
    sesame = await startExternalSesame('sqlite', externals, { databaseUrl: db.url });
    ({ t, config } = sesame);
    callbackUrl = (connection) => `${t.issuer.replace(/\/$/, '')}/connections/${connection}/callback`;
    [corp, other] = await Promise.all([createKey('corp'), createKey('other')]);
    operator.settings.accessKey = corp.accessKey;
  });
  afterAll(async () => {
    await t?.stop();
    await operator?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('sign-in', () => {
    it('hands the sign-in to the operator with state and redirect_uri, keeping the URL’s own query', async () => {
      const h = await handOff();
      expect(h.at.searchParams.get('tenant')).toBe('acme');
      expect(h.redirectUri).toBe(callbackUrl('corp'));
      expect(h.state).toMatch(/^[\w-]{43}$/);
      expect(h.at.searchParams.has('login_hint')).toBe(false);
      expect(h.at.searchParams.has('ui_locales')).toBe(false);
      expect(operator.visits.at(-1)!.get('state')).toBe(h.state);
      // The operator's form carries state and redirect_uri on.
      expect(h.loginPage.html).toContain(`name="state" value="${h.state}"`);

      const hinted = await handOff({ login_hint: 'ada-7', ui_locales: 'fr' });
      expect(Object.fromEntries(hinted.at.searchParams)).toEqual({
        tenant: 'acme',
        state: expect.stringMatching(/^[\w-]{43}$/),
        redirect_uri: callbackUrl('corp'),
        login_hint: 'ada-7',
        ui_locales: 'fr',
      });
      expect(hinted.state).not.toBe(h.state);
    });

    it('signs in through @authress/sdk: a stable sub per user id, another for another user id', async () => {
      operator.settings.mode = 'authress';
      const first = await signIn('user-1');
      const again = await signIn('user-1');
      const someoneElse = await signIn('user-2');
      expect(first.sub).toEqual(expect.any(String));
      expect(again.sub).toBe(first.sub);
      expect(someoneElse.sub).not.toBe(first.sub);
      // No profile claims come with the SDK's assertion.
      expect(first).not.toHaveProperty('email');
      expect(first).not.toHaveProperty('name');
      const rows = await t.sesame.services.db.prisma.auditEvent.findMany({ where: { type: 'login', identifier: 'corp:user-1' } });
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatchObject({ clientId: 'app', userId: first.sub, reason: `external corp via ${corp.clientId}` });
    });

    it('signs in through sesame/connect as the same user as through the SDK', async () => {
      operator.settings.mode = 'authress';
      const viaSdk = await signIn('user-1');
      operator.settings.mode = 'sesame';
      try {
        const viaHelper = await signIn('user-1');
        expect(viaHelper.sub).toBe(viaSdk.sub);
        expect((await signIn('user-3')).sub).not.toBe(viaHelper.sub);
      } finally {
        operator.settings.mode = 'authress';
      }
    });

    it('accepts an assertion signed by hand per PROTOCOLS.md (jose), and one 10 s past exp (30 s leeway)', async () => {
      // A user no other test signs in: an assertion carries no jti, so the same user signed in within
      // the same second through the same key would be a replay of an identical assertion.
      const h = await handOff();
      const claims = await finishAtRp(h, await signedUrl(corp.accessKey, h, 'user-by-hand'));
      const late = await handOff();
      const iat = Math.floor(Date.now() / 1000) - 70;
      const lateClaims = await finishAtRp(late, await signedUrl(corp.accessKey, late, 'user-by-hand', { iat, exp: iat + 60 }));
      expect(lateClaims.sub).toBe(claims.sub);
    });

    it('takes email and name from a key created with --allow-profile on a trusted connection, and ignores them from other keys', async () => {
      const profileKey = await createKey('corp', '--allow-profile', '--name', 'profile');
      const profile = { email: 'Pat.Lee@Example.com', name: 'Pat Lee' };
      try {
        Object.assign(operator.settings, { mode: 'sesame', accessKey: profileKey.accessKey, profile });
        const pat = await signIn('pat');
        expect(pat).toMatchObject({ email: 'pat.lee@example.com', email_verified: true, name: 'Pat Lee' });

        // An email someone else already has stays theirs: the assertion cannot take the account over.
        const ownerClaims = await signInByCode(sesame, 'taken@example.com');
        operator.settings.profile = { email: 'Taken@Example.com', name: 'Mallory' };
        const mallory = await signIn('mallory');
        expect(mallory.sub).not.toBe(ownerClaims.sub);
        expect(mallory).not.toHaveProperty('email');
        expect(mallory.name).toBe('Mallory');

        Object.assign(operator.settings, { accessKey: corp.accessKey, profile });
        const sam = await signIn('sam');
        expect(sam.sub).not.toBe(pat.sub);
        expect(sam).not.toHaveProperty('email');
        expect(sam).not.toHaveProperty('name');
      } finally {
        Object.assign(operator.settings, { mode: 'authress', accessKey: corp.accessKey, profile: undefined });
      }
    });

    it('offers "Continue with Corp login" on the email page, leading to the same hand-off', async () => {
      const h = await handOff({}, async (started) => {
        expect(started.page.status).toBe(200);
        expect(started.page.html).toContain('Continue with Corp login');
        expect(started.page.html).toContain('Continue with Other login');
        return started.browser.submit(started.page, '/external/corp', {}, `${t.url}/`);
      });
      expect(h.at.searchParams.get('tenant')).toBe('acme');
      expect(h.redirectUri).toBe(callbackUrl('corp'));
      const claims = await finishAtRp(h, await operatorSignIn(h, 'user-1'));
      expect(claims.sub).toBe((await signIn('user-1')).sub);
    });
  });

  describe('refusals', () => {
    it('refuses an expired assertion (exp beyond the 30 s leeway)', async () => {
      const h = await handOff();
      const iat = Math.floor(Date.now() / 1000) - 120;
      await refused(await signedUrl(corp.accessKey, h, 'user-1', { iat, exp: iat + 60 }), 'expired', corp.clientId);
    });

    it('refuses a wrong audience', async () => {
      const h = await handOff();
      await refused(await signedUrl(corp.accessKey, h, 'user-1', { aud: 'acct2.accounts.authress.io' }), 'wrong_audience', corp.clientId);
    });

    it('refuses a wrong issuer: in the query, in the JWT, or in both (SDK with another custom domain)', async () => {
      const h = await handOff();
      await refused(await signedUrl(corp.accessKey, h, 'user-1', {}, { iss: `http://127.0.0.1:1/v1/clients/${corp.clientId}` }), 'wrong_issuer', corp.clientId);
      await refused(await signedUrl(corp.accessKey, h, 'user-1', { iss: `https://login.example.com/v1/clients/${corp.clientId}` }), 'wrong_issuer', corp.clientId);
      const elsewhere = await new ServiceClientTokenProvider(corp.accessKey, 'https://login.example.com').generateUserLoginUrl(h.redirectUri, h.state, corp.clientId, 'user-1');
      await refused(elsewhere, 'wrong_issuer', corp.clientId);
    });

    it('refuses a revoked service client', async () => {
      const doomed = await createKey('corp', '--name', 'doomed');
      const ok = await handOff();
      await finishAtRp(ok, await authressUrl(doomed.accessKey, ok, 'user-1'));
      expect(await serviceClients('revoke', doomed.clientId)).toEqual({ revoked: doomed.clientId });
      const h = await handOff();
      await refused(await authressUrl(doomed.accessKey, h, 'user-1'), 'revoked_key', doomed.clientId);
    });

    it('refuses a key or a state of another external connection', async () => {
      const h = await handOff();
      await refused(await authressUrl(other.accessKey, h, 'user-1'), 'wrong_connection', other.clientId);
      // corp's state brought back to other's callback, signed with other's key.
      await refused(await authressUrl(other.accessKey, { ...h, redirectUri: callbackUrl('other') }, 'user-1'), 'wrong_connection');
      // Refusals do not use the state up: the right response still finishes the sign-in.
      await finishAtRp(h, await authressUrl(corp.accessKey, h, 'user-1'));
    });

    it('refuses a replayed response', async () => {
      const h = await handOff();
      const returnUrl = await operatorSignIn(h, 'user-1');
      await finishAtRp(h, returnUrl);
      const page = await refused(returnUrl, 'state_used', null, h.started.browser);
      expect(alertText(page.html)).toBe('This sign-in response was already used. Start signing in again.');
      await refused(returnUrl, 'state_used');
    });

    it('refuses a tampered signature', async () => {
      const h = await handOff();
      const url = new URL(await authressUrl(corp.accessKey, h, 'user-1'));
      const [header, payload, signature] = url.searchParams.get('code')!.split('.');
      // A character in the middle (the last one may only carry padding bits).
      const i = Math.floor(signature!.length / 2);
      const flipped = `${signature!.slice(0, i)}${signature![i] === 'A' ? 'B' : 'A'}${signature!.slice(i + 1)}`;
      url.searchParams.set('code', `${header}.${payload}.${flipped}`);
      await refused(url.href, 'bad_signature', corp.clientId);
    });

    it('refuses an unknown state', async () => {
      await handOff();
      const forged = { state: randomBytes(32).toString('base64url'), redirectUri: callbackUrl('corp') };
      await refused(await authressUrl(corp.accessKey, forged, 'user-1'), 'unknown_state');
    });

    it('refuses missing parameters', async () => {
      const h = await handOff();
      const complete = new URL(await authressUrl(corp.accessKey, h, 'user-1'));
      await refused(callbackUrl('corp'), 'missing_parameters');
      for (const name of ['code', 'iss', 'state']) {
        const url = new URL(complete);
        url.searchParams.delete(name);
        await refused(url.href, 'missing_parameters');
      }
    });

    it('refuses a state older than 10 minutes', async () => {
      const h = await handOff();
      const uid = new URL(h.started.page.url).pathname.split('/')[2]!;
      const { count } = await t.sesame.services.db.prisma.externalState.updateMany({
        where: { interactionUid: uid },
        data: { expiresAt: new Date(Date.now() - 1000) },
      });
      expect(count).toBe(1);
      await refused(await authressUrl(corp.accessKey, h, 'user-1'), 'state_expired');
    });

    it('answers 404 for a connection that is not an external one here (callback and button)', async () => {
      for (const id of ['nope', 'email']) {
        const page = await new FormClient().request(`${callbackUrl(id)}?code=x&iss=y&state=z`);
        expect(page.status).toBe(404);
        expect(alertText(page.html)).toBe(MESSAGES.unknown_connection);
      }
      const started = await startLogin(t, config);
      const { action, fields } = findForm(started.page.html, '/external/corp');
      for (const id of ['nope', 'email']) {
        const page = await started.browser.request(new URL(action.replace(/corp$/, id), t.url).href, { form: fields });
        expect(page.status).toBe(404);
        expect(alertText(page.html)).toBe(MESSAGES.unknown_connection);
      }
    });

    it('refuses a malformed assertion, an unknown kid and a client_id not of the key', async () => {
      const h = await handOff();
      const url = new URL(await authressUrl(corp.accessKey, h, 'user-1'));
      url.searchParams.set('code', 'not-a-jwt');
      await refused(url.href, 'malformed');
      await refused(await signedUrl(corp.accessKey, h, 'user-1', {}, { header: { typ: 'JWT' } }), 'malformed');
      const stranger = generateKeyPairSync('ed25519').privateKey;
      await refused(await signedUrl(corp.accessKey, h, 'user-1', {}, { header: { kid: 'key_unknown' }, key: stranger }), 'unknown_key');
      await refused(await signedUrl(corp.accessKey, h, 'user-1', { client_id: other.clientId }), 'wrong_client', corp.clientId);
    });
  });

  it('rotates a service client: both keys work, then revoking the first key leaves the second working', async () => {
    const first = await createKey('corp', '--name', 'rotating');
    const second: Issued = await serviceClients('rotate', first.clientId);
    expect(second.clientId).toBe(first.clientId);
    expect(second.keyId).not.toBe(first.keyId);
    expect(second.accessKey.split('.').slice(0, 3)).toEqual([first.clientId, second.keyId, 'acct1']);

    const sub = (await signIn('user-1')).sub;
    for (const key of [first, second]) {
      const h = await handOff();
      expect((await finishAtRp(h, await authressUrl(key.accessKey, h, 'user-1'))).sub).toBe(sub);
    }

    expect(await serviceClients('revoke', first.clientId, '--key', first.keyId)).toEqual({ revoked: first.keyId });
    const listed = await serviceClients('list', '--connection', 'corp');
    expect(listed.serviceClients.find((c: { clientId: string }) => c.clientId === first.clientId)).toMatchObject({
      connectionId: 'corp',
      revokedAt: null,
      keys: [
        { keyId: first.keyId, revokedAt: expect.any(String) },
        { keyId: second.keyId, revokedAt: null },
      ],
    });
    const stale = await handOff();
    await refused(await authressUrl(first.accessKey, stale, 'user-1'), 'revoked_key', first.clientId);
    const h = await handOff();
    expect((await finishAtRp(h, await authressUrl(second.accessKey, h, 'user-1'))).sub).toBe(sub);
  });

  it('refuses a new user id when sign-up is closed (signUp: existing-only)', async () => {
    const corpConnection = { id: 'corp', type: 'external' as const, name: 'Corp login', authorizationUrl: `${operator.loginUrl}?tenant=acme`, accountId: 'acct1' };
    const closed = await startExternalSesame('sqlite', [corpConnection], { signUp: 'existing-only' });
    const saved = operator.settings.accessKey;
    try {
      const closedDb = closed.t.sesame.services.db;
      operator.settings.accessKey = (await createServiceClient(closedDb, corpConnection)).accessKey;
      const h = await toOperatorForm(await handOffAt(closed, 'corp', operator.loginUrl));
      const page = await h.started.browser.request(await operatorSignIn(h, 'newcomer'));
      expect(page.status).toBe(400);
      expect(alertText(page.html)).toBe(MESSAGES.no_account);
      const rows = await closedDb.prisma.auditEvent.findMany({ where: { type: 'external.failed' } });
      expect(rows).toEqual([expect.objectContaining({ reason: 'no_account', identifier: 'corp:newcomer' })]);
      expect(await closedDb.prisma.user.count()).toBe(0);
    } finally {
      operator.settings.accessKey = saved;
      await closed.t.stop();
    }
  });
});
