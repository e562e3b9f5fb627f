// The way back from an error page to an app, and the error page's words: no server needed.
import { describe, expect, it } from 'vitest';
import { appLink } from '../../src/http/provider-pages.js';
import { translator } from '../../src/i18n/i18n.js';
import { createRenderer } from '../../src/http/render.js';
import { errorPageLocals } from '../../src/http/error-pages.js';
import { en, fr, read } from './error-pages-fixture.js';

describe('the way back to an app', () => {
  const t = translator('en');
  const client = (metadata: Record<string, unknown>, clientName?: string) => ({ clientName, metadata: () => metadata });

  it('is the registered client_uri, else initiate_login_uri with iss, else none; never another scheme', () => {
    expect(appLink(client({ client_uri: 'https://a.example/', initiate_login_uri: 'https://a.example/login' }, 'A'), t, 'https://id.example')).toEqual({
      name: 'A',
      url: 'https://a.example/',
    });
    expect(appLink(client({ initiate_login_uri: 'https://a.example/login?x=1' }), t, 'https://id.example')).toEqual({
      name: 'the application',
      url: 'https://a.example/login?x=1&iss=https%3A%2F%2Fid.example',
    });
    expect(appLink(client({}), t, 'https://id.example')).toEqual({ name: 'the application', url: null });
    for (const bad of ['javascript:alert(1)', 'data:text/html,x', '//evil.example', 'not a url', 42]) {
      expect(appLink(client({ client_uri: bad }, 'A'), t, 'https://id.example')).toEqual({ name: 'A', url: null });
    }
    expect(appLink(undefined, t, 'https://id.example')).toBeNull();
  });

  it('escapes a protocol description that carries HTML (it is shown as text under technical details)', async () => {
    const renderer = createRenderer({ productName: 'Sesame', cache: false });
    const description = '<script>alert(1)</script><a href="https://evil.example/">click</a>';
    const html = await renderer.page(
      'error',
      'en',
      errorPageLocals(t, { code: 'invalid_request', description, place: 'authorization', app: { name: 'A', url: 'https://a.example/' } }),
    );
    expect(html).not.toMatch(/<script>alert|evil\.example\/">/);
    expect(read(html)).toEqual({
      lang: 'en',
      heading: 'This sign-in request is not valid',
      text: [
        'The request from A is incomplete or asks for something this service does not allow.',
        'Go back to A and try again. If this keeps happening, contact its owner.',
        'Back to A',
      ],
      links: [{ href: 'https://a.example/', text: 'Back to A' }],
      details: ['Technical details', 'Error code: invalid_request', description],
    });
  });

  it('every error page and finished page message is translated to French', () => {
    const keys = Object.keys(en).filter((k) => /^(errorpage|done|app)\.|^error\./.test(k));
    expect(keys.length).toBeGreaterThan(40);
    const untranslated = keys.filter((k) => !(k in fr) || fr[k] === en[k]);
    expect(untranslated).toEqual([]);
  });
});
