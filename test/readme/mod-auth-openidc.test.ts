// The README's Apache recipe as written: the client registered with its `clients add` command, its
// OIDC* directives and <Location> in a real Apache 2.4 with Debian's mod_auth_openidc (a child
// process on a free port), and a user signing in and out in Chromium. Only the ports change
// (3000 and 8081), and the placeholders get values; the rest of the Apache file is what any
// site has (ServerRoot, Listen, modules, logs), in a temporary directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBrowser, watchProblems } from '../helpers/browser.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { waitFor } from '../helpers/wait.js';
import { readmeBlock, sesameCommands } from './readme.js';
import { codeFromOutbox, secretFrom, sesameCli } from './steps.js';

const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const RECIPE = '### Apache mod_auth_openidc';
const installed = existsSync(APACHE) && existsSync(`${MODULES}/mod_auth_openidc.so`);

/** What every Apache site has around the recipe: this directory, this port, the modules it uses. */
function apacheConf(dir: string, port: number, recipe: string): string {
  const asRoot = process.getuid?.() === 0;
  return [
    `ServerRoot ${dir}`,
    `DefaultRuntimeDir ${dir}`,
    `PidFile ${dir}/httpd.pid`,
    `Listen 127.0.0.1:${port}`,
    'ServerName localhost',
    ...['mpm_prefork', 'authn_core', 'authz_core', 'authz_user', 'mime', 'dir', 'headers', 'auth_openidc'].map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`),
    // Root hands the serving process to an unprivileged user, as Debian's apache2.conf does.
    ...(asRoot ? ['User nobody', 'Group nogroup'] : []),
    `TypesConfig /etc/mime.types`,
    `ErrorLog ${dir}/error.log`,
    'LogLevel warn auth_openidc:info',
    // %u is REMOTE_USER, which OIDCRemoteUserClaim sets.
    `CustomLog ${dir}/access.log "%u \\"%r\\" %>s"`,
    `DocumentRoot ${dir}/htdocs`,
    'DirectoryIndex index.html',
    recipe,
  ].join('\n');
}

const title = `README ${RECIPE}${installed ? '' : ` (skipped: ${APACHE} or ${MODULES}/mod_auth_openidc.so is not installed)`}`;

describe.skipIf(!installed)(title, { timeout: 180_000 }, () => {
  let t: TestSesame;
  const chromium = useBrowser();
  let apache: ChildProcess | undefined;
  let dir: string;
  let apacheUrl: string;
  let exited: Promise<void>;

  beforeAll(async () => {
    t = await startTestSesame('sqlite', { smtpUrl: undefined });
    const port = await freePort();
    apacheUrl = `http://localhost:${port}`;
    const local = (text: string) => text.replaceAll('http://localhost:3000', t.issuer).replaceAll('8081', String(port));

    const commands = sesameCommands(RECIPE);
    expect(commands).toEqual([
      [
        'clients',
        'add',
        '--id',
        'apache',
        '--first-party',
        '--redirect-uri',
        'http://localhost:8081/protected/redirect_uri',
        '--post-logout-redirect-uri',
        'http://localhost:8081/signed-out.html',
      ],
    ]);
    const secret = secretFrom(await sesameCli(commands[0]!.map(local), t.database.url));

    const recipe = local(readmeBlock(RECIPE, 'apache'))
      .replace('<the client_secret printed above>', secret)
      .replace('<a long random string, e.g. from openssl rand -base64 32>', randomBytes(32).toString('base64'));
    dir = mkdtempSync(join(tmpdir(), 'sesame-apache-'));
    // The serving process runs as nobody: it reads the pages, nothing else.
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'htdocs/protected'), { recursive: true });
    writeFileSync(join(dir, 'htdocs/protected/index.html'), '<!doctype html><title>Protected</title><p id="secret">only for signed-in users</p>\n');
    // As old as a real site's files: a browser may reuse a response without Cache-Control for a
    // tenth of its age (heuristic freshness), days here, so a page cached before the sign-out would
    // show after it unless the recipe forbids storing protected responses. (A file made just now
    // gave a window of a tenth of the sign-in's duration: the final check failed only when a slow
    // sign-in made it outlast the sign-out.)
    const monthAgo = new Date(Date.now() - 30 * 86400_000);
    utimesSync(join(dir, 'htdocs/protected/index.html'), monthAgo, monthAgo);
    writeFileSync(join(dir, 'htdocs/signed-out.html'), '<!doctype html><title>Signed out</title><p id="bye">signed out</p>\n');
    writeFileSync(join(dir, 'httpd.conf'), apacheConf(dir, port, recipe));

    apache = spawn(APACHE, ['-X', '-f', join(dir, 'httpd.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    apache.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    apache.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    exited = new Promise((resolve) => apache!.once('exit', () => resolve()));
    // Ready when it answers; a configuration error ends the process instead.
    const failed = () => {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
      return new Error(`apache2 did not start (exit ${apache!.exitCode}):\n${output}\n${log}`);
    };
    const answers = async () => {
      const answered = await fetch(`${apacheUrl}/signed-out.html`, { signal: AbortSignal.timeout(10_000) }).then(
        (r) => r.status,
        () => 0,
      );
      if (answered !== 200 && apache!.exitCode !== null) throw failed();
      return answered === 200;
    };
    await waitFor(answers, { timeout: 60_000, interval: 100 }).catch(() => Promise.reject(failed()));
  });

  afterAll(async () => {
    if (apache && apache.exitCode === null) {
      apache.kill('SIGTERM');
      await exited;
    }
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('signs a user in through Sesame, shows the claims, and signs out at the registered URI', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    // The refused logout is a 400 document by design; Chromium logs it as an error.
    const problems = watchProblems(page, (text, url) => /status of 400\b/.test(text) && url.startsWith(`${t.url}/oidc/logout`));
    try {
      // The protected page sends the browser to Sesame's sign-in.
      await page.goto(`${apacheUrl}/protected/`);
      expect(page.url()).toMatch(new RegExp(`^${t.url}/interaction/`));
      await page.getByLabel('Email address').fill('ada@example.com');
      await page.getByRole('button', { name: 'Email me a code' }).click();
      await page.getByLabel('Sign-in code').fill(await codeFromOutbox(t.url, 'ada@example.com'));
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      // A new account asked for profile: the optional name step, skipped.
      await page.getByRole('button', { name: 'Skip', exact: true }).click();
      await page.waitForURL(`${apacheUrl}/protected/`);
      expect(await page.locator('#secret').textContent()).toBe('only for signed-in users');

      const info = await page.goto(`${apacheUrl}/protected/redirect_uri?info=json`);
      const seconds = expect.any(Number);
      const sub = expect.stringMatching(/^[0-9a-f-]{36}$/);
      expect([info!.status(), await info!.json()]).toEqual([
        200,
        {
          iat: seconds,
          id_token: {
            sub,
            email: 'ada@example.com',
            email_verified: true,
            acr: 'urn:sesame:acr:email',
            amr: ['email', 'otp'],
            aud: 'apache',
            iss: t.issuer,
            iat: seconds,
            exp: seconds,
            nonce: expect.any(String),
          },
          userinfo: { sub, email: 'ada@example.com', email_verified: true },
        },
      ]);
      // REMOTE_USER is the email (OIDCRemoteUserClaim), as Apache's access log shows.
      expect(readFileSync(join(dir, 'access.log'), 'utf8')).toContain('ada@example.com "GET /protected/ HTTP/1.1" 200');

      // A logout that names any other page (an open redirect, or a phishing page on the same
      // host) is refused by Sesame, whatever the RP passed on. Apache has dropped its own session
      // by then; Sesame's lives on, so the protected page signs the user in again without a code.
      const elsewhere = await page.goto(`${apacheUrl}/protected/redirect_uri?logout=${encodeURIComponent(`${apacheUrl}/signed-out.html.evil`)}`);
      const text = (await page.locator('main').textContent())!.replace(/\s+/g, ' ').trim();
      expect([elsewhere!.status(), new URL(page.url()).origin, text]).toEqual([
        400,
        t.url,
        expect.stringMatching(
          /^Sesame We could not sign you out here The sign-out request from the application is not valid, so nothing was changed\. You may already be signed out, or still be signed in\. Go back to the application and sign out again\. If this keeps happening, contact its owner\. Technical details Error code: invalid_request post_logout_redirect_uri not registered Request ID: [0-9a-f-]{36}$/,
        ),
      ]);
      await page.goto(`${apacheUrl}/protected/`);
      expect([page.url(), await page.locator('#secret').textContent()]).toEqual([`${apacheUrl}/protected/`, 'only for signed-in users']);

      // Sign out with the README's link: Sesame asks, then returns to the registered page.
      await page.goto(`${apacheUrl}/protected/redirect_uri?logout=${encodeURIComponent(`${apacheUrl}/signed-out.html`)}`);
      expect(page.url()).toMatch(new RegExp(`^${t.url}/`));
      await page.getByRole('button', { name: 'Yes, sign me out' }).click();
      await page.waitForURL(`${apacheUrl}/signed-out.html`);
      expect(await page.locator('#bye').textContent()).toBe('signed out');

      // Both sessions are gone: the protected page asks for an email again.
      await page.goto(`${apacheUrl}/protected/`);
      expect(page.url()).toMatch(new RegExp(`^${t.url}/interaction/`));
      await page.getByLabel('Email address').waitFor();
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
