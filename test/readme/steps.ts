// What a reader of the README does besides copying code: run `npx sesame …` (bin/sesame.js, the
// built dist/), run a program and wait for a line it prints, and sign in on the hosted pages with
// the code from the dev outbox's JSON form, as the quick start says.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FormClient, Page } from '../helpers/form-client.js';
import { freePort } from '../helpers/net.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { waitFor } from '../helpers/wait.js';

export const ROOT = new URL('../..', import.meta.url).pathname;

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npx sesame <args>` in the clone, against `databaseUrl` (what DATABASE_URL would say). */
export function sesameCli(args: string[], databaseUrl: string): Promise<Ran> {
  // No SESAME_CONFIG and no sesame.config.json in the clone: the defaults, as after `npm ci`.
  const { SESAME_CONFIG: _none, ...env } = process.env;
  const child = spawn(process.execPath, [`${ROOT}bin/sesame.js`, ...args], {
    cwd: ROOT,
    env: { ...env, DATABASE_URL: databaseUrl, LOG_LEVEL: 'silent', NODE_ENV: 'test' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return collect(child);
}

/** Waits for `child` to exit; what it wrote. No timeout of its own: the test's bounds it. */
export function collect(child: ChildProcess): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** The secret `sesame clients add` printed. */
export function secretFrom(ran: Ran): string {
  expect([ran.code, ran.stderr]).toEqual([0, '']);
  const secret = /^client_secret: (\S+)$/m.exec(ran.stdout)?.[1];
  if (!secret) throw new Error(`no client_secret in:\n${ran.stdout}`);
  return secret;
}

/** Resolves with the first match of `pattern` in what `child` writes to stdout (rejects if it exits first). */
export function waitForOutput(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = pattern.exec(out);
      if (match) {
        child.stdout!.off('data', onData);
        resolve(match);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (${code ?? signal}) before printing ${pattern}:\n${out}\n${err}`)));
  });
}

/** The newest code the dev outbox holds for `email`, read from its JSON form like a script would. */
export async function codeFromOutbox(sesameUrl: string, email: string): Promise<string> {
  return waitFor(
    async () => {
      const answer = await fetch(`${sesameUrl}/dev/outbox`, { headers: { accept: 'application/json' } });
      expect(answer.status).toBe(200);
      const { messages } = (await answer.json()) as { messages: Array<{ recipient: string; status: string; subject: string }> };
      const sent = messages.find((m) => m.recipient === email && m.status === 'sent');
      return sent && /^(\d{6}) /.exec(sent.subject)![1]!;
    },
    { timeout: 30_000, what: `a code for ${email} in the dev outbox` },
  );
}

/**
 * From `startUrl` (a page of the relying party at `rp` that sends the browser to Sesame, or Sesame's
 * authorization URL itself), through the email and code steps, back to `rp`: returns the RP's
 * answer to the redirect (its callback, its own redirects followed). A new account asked for the
 * profile scope meets "What should we call you?": it gives `name`, or skips without one.
 */
export async function signInThrough(browser: FormClient, startUrl: string, rp: string, sesameUrl: string, email: string, name?: string): Promise<Page & { location?: string }> {
  return browser.follow(await signInUntilRedirect(browser, startUrl, rp, sesameUrl, email, name), rp);
}

/** signInThrough up to the redirect back to `rp`, not followed: the URL (with the code) Sesame sends the browser to. */
export async function signInUntilRedirect(browser: FormClient, startUrl: string, rp: string, sesameUrl: string, email: string, name?: string): Promise<string> {
  const start = await browser.follow(startUrl, new URL(startUrl).origin);
  const emailPage = start.location ? await browser.follow(start.location, sesameUrl) : start;
  expect([emailPage.status, emailPage.url.startsWith(`${sesameUrl}/interaction/`)]).toEqual([200, true]);
  const codePage = await browser.submit(emailPage, '/email', { email }, sesameUrl);
  expect(codePage.html).toContain('autocomplete="one-time-code"');
  let back = await browser.submit(codePage, '/code', { code: await codeFromOutbox(sesameUrl, email) }, sesameUrl);
  if (!back.location && /<form method="post" action="\/interaction\/[\w-]+\/name"/.test(back.html)) {
    back = await browser.submit(back, '/name', name === undefined ? { decision: 'skip' } : { decision: 'save', name }, sesameUrl);
  }
  // On a localhost issuer passkeys work, so a user without one is offered to create one: a browser
  // without JavaScript sees only Continue.
  if (!back.location && /<form method="post" action="\/interaction\/[\w-]+\/passkey-offer"/.test(back.html)) {
    back = await browser.submit(back, '/passkey-offer', { decision: 'continue' }, sesameUrl);
  }
  if (!back.location?.startsWith(`${rp}/`)) throw new Error(`sign-in did not return to ${rp}: ${back.status} ${back.location ?? back.html.slice(0, 500)}`);
  return back.location;
}

/**
 * A Sesame for the Python recipes, at http://localhost:<port> (Python's OAuth libraries refuse
 * plain http anywhere else), and a temporary folder for the script. `stop()` removes both.
 */
export async function startPythonSesame(prefix: string): Promise<{ t: TestSesame; dir: string; stop(): Promise<void> }> {
  const port = await freePort();
  const t = await startTestSesame('sqlite', { smtpUrl: undefined, port }, { issuer: `http://localhost:${port}` });
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    t,
    dir,
    async stop() {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
