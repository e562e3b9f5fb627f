// A tiny single-page app that signs in with oidc-client-ts (the library's own browser bundle) and
// its defaults: authorization code with PKCE (S256), tokens in sessionStorage, silent renew in a
// hidden iframe with prompt=none, RP-initiated logout. Buttons call the library; #result shows
// what it answered. Served on 127.0.0.1; opened as http://localhost:<port> too, the same app is on
// another site than a Sesame at 127.0.0.1 (the origin is taken from the Host header).
// No inline script: the app is an external file configured by data-* attributes.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

export interface OidcSpa {
  port: number;
  close(): Promise<void>;
}

const BUNDLE = readFileSync(
  createRequire(import.meta.url)
    .resolve('oidc-client-ts')
    .replace(/dist\/.*$/, 'dist/browser/oidc-client-ts.min.js'),
);
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const APP_JS = `'use strict';
const config = document.body.dataset;
const manager = new oidc.UserManager({
  authority: config.authority,
  client_id: config.clientId,
  redirect_uri: location.origin + '/callback.html',
  silent_redirect_uri: location.origin + '/silent.html',
  post_logout_redirect_uri: location.origin + '/',
  scope: 'openid email',
});
const out = document.getElementById('result');
function show(kind, value) {
  if (!out) return;
  out.textContent = JSON.stringify(value);
  out.dataset.kind = kind;
}
const failed = (err) => show('error', { message: err.message, error: err.error });
const tokens = (user) => user && { profile: user.profile, id_token: user.id_token, access_token: user.access_token, has_refresh_token: Boolean(user.refresh_token) };
const on = (id, action) => document.getElementById(id)?.addEventListener('click', () => { out.dataset.kind = 'pending'; action(); });
if (config.page === 'callback') manager.signinRedirectCallback().then(() => location.replace('/'), failed);
else if (config.page === 'silent') manager.signinSilentCallback();
else {
  manager.getUser().then((user) => show(user ? 'user' : 'none', tokens(user)), failed);
  on('signin', () => manager.signinRedirect().catch(failed));
  on('renew', () => manager.signinSilent().then((user) => show('renewed', tokens(user)), failed));
  on('signout', () => manager.signoutRedirect().catch(failed));
}
`;

export async function startOidcSpa(options: { authority: string; clientId: string }): Promise<OidcSpa> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const page = (name: string, body = '') =>
      send(
        200,
        'text/html; charset=utf-8',
        `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>SPA ${name}</title>
<script src="/oidc-client-ts.min.js" defer></script><script src="/app.js" defer></script></head>
<body data-page="${name}" data-authority="${escape(options.authority)}" data-client-id="${escape(options.clientId)}">${body}</body></html>`,
      );
    if (path === '/') {
      return page(
        'home',
        `<button id="signin" type="button">Sign in</button> <button id="renew" type="button">Renew</button>
<button id="signout" type="button">Sign out</button> <output id="result" data-kind="idle"></output>`,
      );
    }
    if (path === '/callback.html') return page('callback', '<output id="result" data-kind="pending"></output>');
    if (path === '/silent.html') return page('silent');
    if (path === '/app.js') return send(200, 'text/javascript; charset=utf-8', APP_JS);
    if (path === '/oidc-client-ts.min.js') return send(200, 'text/javascript; charset=utf-8', BUNDLE);
    if (path === '/favicon.ico') return send(204, 'image/x-icon', '');
    return send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
