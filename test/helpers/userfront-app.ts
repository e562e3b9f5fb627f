// A tiny Userfront app on https://localhost:<port> (the test certificate) that runs the real
// @userfront/core browser bundle against Sesame: /login sends links and codes and, opened with
// ?token=&uuid=, logs in with the link; /dashboard shows the user and tokens the SDK holds and can
// refresh, ask for the session and log out. Each action writes what the SDK returned, or the
// message of what it threw, into #result. No inline script: the page's CSP forbids it.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { testCertificates } from './tls.js';

export interface UserfrontApp {
  /** https://localhost:<port>: the tenant's web origin. */
  origin: string;
  close(): Promise<void>;
}

export interface UserfrontAppOptions {
  /** Port Sesame will listen on (https://localhost:<port>); the SDK's baseUrl is <that>/v0/. */
  sesamePort: number;
  tenantId: string;
}

const UMD = readFileSync(join(dirname(createRequire(import.meta.url).resolve('@userfront/core/package.json')), 'build/userfront-core.umd.js'));
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const APP_JS = `'use strict';
const config = document.body.dataset;
Userfront.init(config.tenantId, { baseUrl: config.baseUrl });
const field = (id) => document.getElementById(id);
function show(kind, value) {
  const out = field('result');
  out.textContent = JSON.stringify(value === undefined ? null : value);
  out.dataset.kind = kind;
}
async function run(action) {
  field('result').dataset.kind = 'pending';
  try {
    show('ok', await action());
  } catch (error) {
    show('error', { message: error.message });
  }
}
const state = () => ({
  email: Userfront.user.email,
  userId: Userfront.user.userId,
  tenantId: Userfront.user.tenantId,
  accessToken: Userfront.tokens.accessToken,
  idToken: Userfront.tokens.idToken,
  refreshToken: Userfront.tokens.refreshToken,
});
if (location.pathname === '/login') {
  const email = () => field('email').value;
  field('send-link').addEventListener('click', () => run(() => Userfront.sendLoginLink(email())));
  field('send-code').addEventListener('click', () => run(() => Userfront.sendVerificationCode({ channel: 'email', email: email() })));
  field('login-code').addEventListener('click', () =>
    run(() => Userfront.login({ method: 'verificationCode', channel: 'email', email: email(), verificationCode: field('code').value })));
  // Userfront's login page: opened from the email with ?token=&uuid=, the SDK reads them itself.
  if (new URLSearchParams(location.search).has('token')) run(() => Userfront.login({ method: 'link' }));
}
if (location.pathname === '/dashboard') {
  field('state').textContent = JSON.stringify(state());
  field('refresh').addEventListener('click', () => run(async () => { await Userfront.tokens.refresh(); return state(); }));
  field('session').addEventListener('click', () => run(async () => (await Userfront.getSession()).isLoggedIn));
  field('logout').addEventListener('click', () => run(() => Userfront.logout()));
}
`;

const LOGIN = `<label for="email">Email</label> <input id="email" type="email">
<button id="send-link" type="button">Send link</button>
<button id="send-code" type="button">Send code</button>
<label for="code">Code</label> <input id="code" inputmode="numeric">
<button id="login-code" type="button">Log in with code</button>
<output id="result" data-kind="idle"></output>`;

const DASHBOARD = `<pre id="state"></pre>
<button id="refresh" type="button">Refresh</button>
<button id="session" type="button">Session</button>
<button id="logout" type="button">Log out</button>
<output id="result" data-kind="idle"></output>`;

export async function startUserfrontApp(options: UserfrontAppOptions): Promise<UserfrontApp> {
  const certs = testCertificates();
  const sesame = `https://localhost:${options.sesamePort}`;
  let origin = '';
  const server = createServer({ cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) }, (req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-security-policy': `default-src 'self'; connect-src 'self' ${sesame}` });
      res.end(body);
    };
    const page = (title: string, body: string) =>
      send(
        200,
        'text/html; charset=utf-8',
        `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script src="/userfront-core.js" defer></script><script src="/app.js" defer></script></head>
<body data-tenant-id="${escape(options.tenantId)}" data-base-url="${escape(`${sesame}/v0/`)}"><h1>${title}</h1>${body}</body></html>`,
      );
    if (url.pathname === '/login') return page('Log in', LOGIN);
    if (url.pathname === '/dashboard') return page('Dashboard', DASHBOARD);
    if (url.pathname === '/app.js') return send(200, 'text/javascript; charset=utf-8', APP_JS);
    if (url.pathname === '/userfront-core.js') return send(200, 'text/javascript; charset=utf-8', UMD);
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    return send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A Userfront tenant as a client: public, the login-ticket and refresh grants, no authorization endpoint. */
export function userfrontTenant(id: string, extra: Record<string, unknown> = {}) {
  return {
    client_id: id,
    userfront: true,
    token_endpoint_auth_method: 'none',
    response_types: [],
    grant_types: ['urn:sesame:params:oauth:grant-type:login-ticket', 'refresh_token'],
    ...extra,
  };
}
