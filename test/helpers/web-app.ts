// A tiny single-page app on plain http://127.0.0.1 that signs in with the real auth0-js browser
// bundle against Sesame: buttons call passwordlessStart / passwordlessVerify and write what the SDK
// answered into the page; /callback is the redirect_uri and shows (and records) the query it gets.
// No inline script (the page's CSP forbids it): the app is an external file configured by data-*.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

export interface WebApp {
  /** http://127.0.0.1:<port>: the client's web origin. */
  origin: string;
  /** The redirect_uri, `${origin}/callback`. */
  callback: string;
  /** Every URL /callback was opened with, in order. */
  received: URL[];
  close(): Promise<void>;
}

export interface WebAppOptions {
  /** auth0-js `domain` (host:port; auth0-js always uses https://<domain>). */
  domain: string;
  clientId: string;
  scope?: string;
}

const AUTH0_JS = readFileSync(createRequire(import.meta.url).resolve('auth0-js/dist/auth0.min.js'));
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// The app. With the PKCE box ticked it makes a verifier, keeps it in sessionStorage for the code
// exchange and passes the S256 challenge to passwordlessVerify, which carries any extra option into
// the verify_redirect URL (auth0-js makes no PKCE of its own in this flow).
const APP_JS = `'use strict';
const config = document.body.dataset;
const webAuth = new auth0.WebAuth({
  domain: config.domain, clientID: config.clientId, redirectUri: config.redirectUri,
  responseType: 'code', scope: config.scope,
});
const field = (id) => document.getElementById(id);
function show(kind, value) {
  const out = field('result');
  out.textContent = JSON.stringify(value);
  out.dataset.kind = kind;
}
function report(err, result) {
  if (err) show('error', { code: err.code, description: err.description, statusCode: err.statusCode });
  else show('ok', result);
}
const base64url = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
field('start').addEventListener('click', () => {
  field('result').dataset.kind = 'pending';
  webAuth.passwordlessStart({ connection: 'email', send: 'code', email: field('email').value }, report);
});
field('verify').addEventListener('click', async () => {
  field('result').dataset.kind = 'pending';
  const options = { connection: 'email', email: field('email').value, verificationCode: field('code').value };
  if (field('pkce').checked) {
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    sessionStorage.setItem('pkce_verifier', verifier);
    options.codeChallenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    options.codeChallengeMethod = 'S256';
  }
  webAuth.passwordlessVerify(options, report);
});
`;

function page(title: string, body: string, data = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<script src="/auth0.min.js" defer></script><script src="/app.js" defer></script></head>
<body${data}>${body}</body></html>`;
}

export async function startWebApp(options: WebAppOptions): Promise<WebApp> {
  const received: URL[] = [];
  let origin = '';
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, {
        'content-type': type,
        'cache-control': 'no-store',
        'content-security-policy': `default-src 'self'; connect-src 'self' https://${options.domain}`,
      });
      res.end(body);
    };
    if (url.pathname === '/') {
      const data = ` data-domain="${escape(options.domain)}" data-client-id="${escape(options.clientId)}" data-redirect-uri="${escape(`${origin}/callback`)}" data-scope="${escape(options.scope ?? 'openid email')}"`;
      return send(
        200,
        'text/html; charset=utf-8',
        page(
          'Test SPA',
          `
<label for="email">Email</label> <input id="email" type="email">
<button id="start" type="button">Send code</button>
<label for="code">Code</label> <input id="code" inputmode="numeric">
<label><input id="pkce" type="checkbox" checked> PKCE</label>
<button id="verify" type="button">Verify</button>
<output id="result" data-kind="idle"></output>`,
          data,
        ),
      );
    }
    if (url.pathname === '/app.js') return send(200, 'text/javascript; charset=utf-8', APP_JS);
    if (url.pathname === '/auth0.min.js') return send(200, 'text/javascript; charset=utf-8', AUTH0_JS);
    if (url.pathname === '/callback') {
      received.push(url);
      const query = JSON.stringify(Object.fromEntries(url.searchParams));
      return send(
        200,
        'text/html; charset=utf-8',
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Callback</title></head><body><pre id="query">${escape(query)}</pre></body></html>`,
      );
    }
    if (url.pathname === '/favicon.ico') return send(204, 'image/x-icon', '');
    return send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    callback: `${origin}/callback`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
