// The quick start as a new user follows it: `npx sesame clients add` as printed, then the
// openid-client script saved as sign-in.mjs in the clone and run with node, signing in with the code
// from the dev outbox. The one change: the test Sesame's URL for http://localhost:3000, and a free
// port for 8080 (other programs on this machine may hold it).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { readmeBlock, sesameCommands } from './readme.js';
import { collect, ROOT, secretFrom, sesameCli, signInThrough, waitForOutput } from './steps.js';

const QUICK_START = '## Quick start';

describe('README quick start', { timeout: 120_000 }, () => {
  let t: TestSesame;
  let dir: string;
  let port: number;
  let secret: string;
  const local = (text: string) => text.replaceAll('http://localhost:3000', t.issuer).replaceAll('8080', String(port));

  beforeAll(async () => {
    // As after `npm start`: no SMTP_URL, so codes are read from /dev/outbox.
    [t, port] = await Promise.all([startTestSesame('sqlite', { smtpUrl: undefined }), freePort()]);
    // sign-in.mjs sits in the clone, where `openid-client` resolves from node_modules.
    dir = mkdtempSync(join(tmpdir(), 'sesame-quick-start-'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    const commands = sesameCommands(QUICK_START);
    expect(commands).toEqual([['clients', 'add', '--id', 'my-app', '--redirect-uri', 'http://localhost:8080/callback', '--first-party']]);
    secret = secretFrom(await sesameCli(commands[0]!.map(local), t.database.url));
  });
  afterAll(async () => {
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `script` as sign-in.mjs, signs `email` in at the URL it prints; what it printed after that. */
  async function signInWith(script: string, email: string): Promise<unknown> {
    writeFileSync(join(dir, 'sign-in.mjs'), script);
    const child = spawn(process.execPath, ['sign-in.mjs'], { cwd: dir, env: { ...process.env, CLIENT_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = collect(child);
    try {
      const [, url] = await waitForOutput(child, /^Open (\S+)$/m, 'sign-in.mjs');
      const back = await signInThrough(new FormClient(), url!, `http://localhost:${port}`, t.url, email);
      expect([back.status, back.html]).toEqual([200, `Signed in as ${email}. You can close this tab.\n`]);
    } catch (err) {
      child.kill();
      const ran = await exited;
      throw new Error(`${(err as Error).message}\nsign-in.mjs wrote:\n${ran.stdout}\n${ran.stderr}`, { cause: err });
    }
    const ran = await exited;
    expect([ran.code, ran.stderr]).toEqual([0, '']);
    return JSON.parse(ran.stdout.slice(ran.stdout.indexOf('\n') + 1));
  }

  const claims = (email: string) => {
    const seconds = expect.any(Number);
    return {
      sub: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email,
      email_verified: true,
      acr: 'urn:sesame:acr:email',
      amr: ['email', 'otp'],
      iss: t.issuer,
      aud: 'my-app',
      iat: seconds,
      exp: seconds,
    };
  };

  it('signs in with the script as written: the ID token claims, offline_access and a refresh token', async () => {
    const script = local(readmeBlock(QUICK_START, 'js', 'authorizationCodeGrant'));
    expect(await signInWith(script, 'ada@example.com')).toEqual({
      claims: claims('ada@example.com'),
      scope: 'openid email profile offline_access',
      refresh_token: true,
    });
  });

  it('is right that offline_access needs prompt=consent: without it the scope drops it, and the refresh token still comes', async () => {
    const script = local(readmeBlock(QUICK_START, 'js', 'authorizationCodeGrant'));
    const withoutConsent = script.replace("  prompt: 'consent',\n", '');
    expect(withoutConsent).not.toBe(script);
    expect(await signInWith(withoutConsent, 'grace@example.com')).toEqual({
      claims: claims('grace@example.com'),
      scope: 'openid email profile',
      refresh_token: true,
    });
  });
});
