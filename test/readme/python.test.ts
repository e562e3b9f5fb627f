// The README's Python (Authlib) recipe as written: its `clients add` command, then its script run by
// Debian's /usr/bin/python3 (which has python3-authlib; the python3 first on PATH may be another),
// signing in with the code from the dev outbox. The one change: free ports for 3000 and 8080. Sesame's
// issuer stays http://localhost:<port>, since Authlib refuses plain http anywhere else.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import type { TestSesame } from '../helpers/sesame.js';
import { readmeBlock, sesameCommands } from './readme.js';
import { collect, secretFrom, sesameCli, signInThrough, startPythonSesame, waitForOutput } from './steps.js';

const PYTHON = '/usr/bin/python3';
const RECIPE = '### Python (authlib)';
const installed = existsSync(PYTHON);

describe.skipIf(!installed)(`README ${RECIPE}${installed ? '' : ` (skipped: no ${PYTHON})`}`, { timeout: 120_000 }, () => {
  let t: TestSesame;
  let dir: string;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ t, dir, stop } = await startPythonSesame('sesame-python-'));
  });
  afterAll(() => stop?.());

  it('registers the client and signs in with the script as written, the ID token checked', async () => {
    const port = await freePort();
    const local = (text: string) => text.replaceAll('http://localhost:3000', t.issuer).replaceAll('8080', String(port));

    const commands = sesameCommands(RECIPE);
    expect(commands).toEqual([['clients', 'add', '--id', 'python-app', '--redirect-uri', 'http://localhost:8080/callback', '--first-party']]);
    const secret = secretFrom(await sesameCli(commands[0]!.map(local), t.database.url));

    writeFileSync(join(dir, 'sign_in.py'), local(readmeBlock(RECIPE, 'python')));
    const child = spawn(PYTHON, ['sign_in.py'], { cwd: dir, env: { ...process.env, CLIENT_SECRET: secret }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = collect(child);
    try {
      const [, url] = await waitForOutput(child, /^Open (\S+)$/m, 'sign_in.py');
      // The redirect URI must match exactly: a longer path, a trailing slash or another port never
      // receives a code (Sesame shows an error page instead of redirecting anywhere).
      for (const other of [`http://localhost:${port}/callback/../steal`, `http://localhost:${port}/callback/`, `http://localhost:${port + 1}/callback`]) {
        const forged = new URL(url!);
        forged.searchParams.set('redirect_uri', other);
        const answer = await new FormClient().request(forged.toString());
        expect([
          answer.status,
          answer.headers.get('location'),
          /<main[\s\S]*?<\/main>/
            .exec(answer.html)?.[0]
            .replace(/<[^>]+>|\s+/g, ' ')
            .replace(/ +/g, ' ')
            .trim(),
        ]).toEqual([
          400,
          null,
          expect.stringMatching(
            /^Sesame This app is not set up correctly The sign-in request from the application does not match how it is registered here, so it cannot go on\. Contact the owner of the application\. Signing in again will not help until they fix it\. Technical details Error code: invalid_redirect_uri redirect_uri did not match any of the client&#39;s registered redirect_uris Request ID: [0-9a-f-]{36}$/,
          ),
        ]);
      }
      const back = await signInThrough(new FormClient(), url!, `http://localhost:${port}`, t.issuer, 'ada@example.com');
      expect([back.status, back.headers.get('content-type'), back.html]).toEqual([200, 'text/plain; charset=utf-8', 'Signed in as ada@example.com. You can close this tab.\n']);
    } catch (err) {
      child.kill();
      const ran = await exited;
      throw new Error(`${(err as Error).message}\nsign_in.py wrote:\n${ran.stdout}\n${ran.stderr}`, { cause: err });
    }
    const ran = await exited;
    expect(ran.code).toBe(0);
    const lines = ran.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const sub = expect.stringMatching(/^[0-9a-f-]{36}$/);
    const seconds = expect.any(Number);
    expect(JSON.parse(lines[1]!)).toEqual({
      id_token: {
        sub,
        email: 'ada@example.com',
        email_verified: true,
        acr: 'urn:sesame:acr:email',
        amr: ['email', 'otp'],
        aud: 'python-app',
        iss: t.issuer,
        iat: seconds,
        exp: seconds,
        nonce: expect.any(String),
      },
      userinfo: { sub, email: 'ada@example.com', email_verified: true },
    });
  });
});
