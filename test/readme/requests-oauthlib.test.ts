// The README's Python (requests-oauthlib) recipe as written: its `clients add` command, then its
// script run by Debian's /usr/bin/python3 (python3-requests-oauthlib 1.3: code flow without PKCE,
// the ID token never checked, so the script trusts userinfo). The one change: free ports for 3000
// and 8080. Without PKCE the code alone must be worth nothing: the test tries it as a thief would.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import type { TestSesame } from '../helpers/sesame.js';
import { readmeBlock, readmeSection, sesameCommands } from './readme.js';
import { collect, secretFrom, sesameCli, signInUntilRedirect, startPythonSesame, waitForOutput } from './steps.js';

const PYTHON = '/usr/bin/python3';
const RECIPE = '### Python (requests-oauthlib)';
const installed = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import requests_oauthlib'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!installed)(`README ${RECIPE}${installed ? '' : ` (skipped: no requests_oauthlib for ${PYTHON})`}`, { timeout: 120_000 }, () => {
  let t: TestSesame;
  let dir: string;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ t, dir, stop } = await startPythonSesame('sesame-requests-oauthlib-'));
  });
  afterAll(() => stop?.());

  /** A token request for `code` as someone other than the app would send it. */
  async function redeem(code: string, redirectUri: string, auth: Record<string, string>) {
    const { token_endpoint } = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
    const answer = await fetch(token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: 'python-app' }),
    });
    return [answer.status, await answer.json()];
  }

  it('registers the client and signs in with the script as written; userinfo says who signed in', async () => {
    const port = await freePort();
    const local = (text: string) => text.replaceAll('http://localhost:3000', t.issuer).replaceAll('8080', String(port));

    const commands = sesameCommands(RECIPE);
    expect(commands).toEqual([['clients', 'add', '--id', 'python-app', '--redirect-uri', 'http://localhost:8080/callback', '--first-party']]);
    const secret = secretFrom(await sesameCli(commands[0]!.map(local), t.database.url));
    // The environment the README's run line gives the script.
    expect(readmeSection(RECIPE)).toContain('run `CLIENT_SECRET=<the secret> OAUTHLIB_INSECURE_TRANSPORT=1 python3 sign_in.py`');

    writeFileSync(join(dir, 'sign_in.py'), local(readmeBlock(RECIPE, 'python')));
    const env = { ...process.env, CLIENT_SECRET: secret, OAUTHLIB_INSECURE_TRANSPORT: '1' };
    const child = spawn(PYTHON, ['sign_in.py'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = collect(child);
    const rp = `http://localhost:${port}`;
    let code: string;
    try {
      const [, url] = await waitForOutput(child, /^Open (\S+)$/m, 'sign_in.py');
      // requests-oauthlib's defaults: the code flow with state and no PKCE.
      const asked = new URL(url!).searchParams;
      expect(Object.fromEntries(asked)).toEqual({
        response_type: 'code',
        client_id: 'python-app',
        redirect_uri: `${rp}/callback`,
        scope: 'openid email profile',
        state: expect.stringMatching(/^\w{30}$/),
      });

      const browser = new FormClient();
      const callback = await signInUntilRedirect(browser, url!, rp, t.issuer, 'ada@example.com', 'Ada Lovelace');
      code = new URL(callback).searchParams.get('code')!;
      // A thief holding the code (a log, a proxy) but not the secret: no PKCE, but no token either.
      expect(await redeem(code, `${rp}/callback`, {})).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);
      const wrong = `Basic ${Buffer.from(`python-app:${secret}x`).toString('base64')}`;
      expect(await redeem(code, `${rp}/callback`, { authorization: wrong })).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);

      const back = await browser.follow(callback, rp);
      expect([back.status, back.headers.get('content-type'), back.html]).toEqual([200, 'text/plain; charset=utf-8', 'Signed in as ada@example.com. You can close this tab.\n']);
    } catch (err) {
      child.kill();
      const ran = await exited;
      throw new Error(`${(err as Error).message}\nsign_in.py wrote:\n${ran.stdout}\n${ran.stderr}`, { cause: err });
    }
    const ran = await exited;
    // stderr holds http.server's log of the one request it answered, and no warning or traceback.
    expect([ran.code, ran.stderr]).toEqual([0, expect.stringMatching(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/callback\?[^"]+ HTTP\/1\.1" 200 -\n$/)]);
    const lines = ran.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!)).toEqual({
      userinfo: { sub: expect.stringMatching(/^[0-9a-f-]{36}$/), email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' },
    });

    // The code was good once: even with the secret, a second redemption is refused.
    const right = `Basic ${Buffer.from(`python-app:${secret}`).toString('base64')}`;
    expect(await redeem(code, `${rp}/callback`, { authorization: right })).toEqual([400, { error: 'invalid_grant', error_description: 'grant request is invalid' }]);
  });
});
