// The console's client pages without JavaScript, on both engines: an admin creates a client (its
// secret shown on that answer only), edits it, rotates the secret (the old one is refused at once) and
// deletes it after the confirm page, each audited with the admin's id. And the refusals: bad input
// re-shows the form with the field marked (400, never a 500), an id taken (409), a POST without the
// CSRF token or a session, a non-admin, config-file clients and Sesame's own console client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES } from '../helpers/databases.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { FormClient, type Page } from '../helpers/form-client.js';
import { ADMIN_FIXTURE, consoleSignIn, csrfOf, userWithApp } from './admin-helpers.js';

describe.each(ENGINES)('admin console clients on %s', { timeout: 180_000 }, (engine) => {
  let t: TestSesame;
  let n = 0;
  beforeAll(async () => {
    t = await startTestSesame(engine, ADMIN_FIXTURE);
  });
  afterAll(() => t?.stop());
  const db = () => t.sesame.services.db;

  /** A signed-in browser on /admin/clients: an emailed code, then the authenticator app's code. */
  async function signIn(admin = true) {
    const email = `clients${++n}-${engine}@example.com`;
    const { user, secret } = await userWithApp(t, email, admin);
    const { browser, page } = await consoleSignIn(t, email, secret, '/admin/clients');
    // The list has no form: the new-client page carries the session's CSRF token.
    const form = page.status === 200 ? await browser.request(`${t.issuer}/admin/clients/new`) : page;
    return { browser, page, userId: user.id, csrf: csrfOf(form.html) };
  }

  /** A form POST with repeated `grants`, as a browser sends ticked boxes. */
  const post = (browser: FormClient, path: string, fields: Record<string, string>, grants: string[] = []) => {
    const body = new URLSearchParams(fields);
    for (const g of grants) body.append('grants', g);
    return browser.request(`${t.issuer}${path}`, { body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  };
  const secretOf = (page: Page) => /<code class="client-secret" id="client-secret"[^>]*>([^<]+)<\/code>/.exec(page.html)?.[1];
  const token = (id: string, secret: string) =>
    fetch(`${t.url}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
  const fieldOf = (html: string, id: string) => new RegExp(`<(input|textarea)[^>]* id="${id}"[^>]*>`).exec(html)?.[0] ?? '';

  it('creates, edits, rotates and deletes a client, every step audited with the admin id', async () => {
    const admin = await signIn();
    expect([admin.page.status, admin.page.url]).toEqual([200, `${t.issuer}/admin/clients`]);
    expect(admin.page.html).toContain('<a href="/admin/clients" aria-current="page">Clients</a>');
    expect(admin.page.html).toContain('<code>gate-app</code>');
    const id = `batch-${engine}`;
    const created = await post(admin.browser, '/admin/clients/new', { csrf: admin.csrf, client_id: id, client_name: 'Batch', type: 'confidential' }, ['client_credentials']);
    expect([created.status, created.headers.get('cache-control')]).toEqual([200, 'no-store']);
    expect(created.html).toContain(`The client ${id} was created. Its secret is shown on this page only.`);
    const first = secretOf(created)!;
    expect(first).toMatch(/^[\w-]{43}$/);
    expect((await token(id, first)).status).toBe(200);

    const edit = await admin.browser.request(`${t.issuer}/admin/clients/${id}`);
    expect(edit.status).toBe(200);
    expect(edit.html).not.toContain(first);
    expect(fieldOf(edit.html, 'client_name')).toContain('value="Batch"');
    const saved = await post(admin.browser, `/admin/clients/${id}`, { csrf: admin.csrf, client_name: 'Batch jobs', type: 'confidential', brand_color: '#2454d6' }, [
      'client_credentials',
    ]);
    expect([saved.status, saved.headers.get('location')]).toEqual([303, `/admin/clients/${id}?done=saved`]);
    const stored = (await db().prisma.client.findUniqueOrThrow({ where: { clientId: id } })).metadata;
    expect(JSON.parse(stored)).toMatchObject({ client_name: 'Batch jobs', brand_color: '#2454d6', grant_types: ['client_credentials'], client_secret: first });

    const rotated = await post(admin.browser, `/admin/clients/${id}/secret`, { csrf: admin.csrf });
    expect(rotated.status).toBe(200);
    expect(rotated.html).toContain(`The new secret of ${id} is shown on this page only. The old one no longer works.`);
    const second = secretOf(rotated)!;
    expect(second).not.toBe(first);
    const old = await token(id, first);
    expect([old.status, await old.json()]).toEqual([401, { error: 'invalid_client', error_description: 'client authentication failed' }]);
    expect((await token(id, second)).status).toBe(200);
    expect((await admin.browser.request(`${t.issuer}/admin/clients/${id}`)).html).not.toContain(second);

    const confirm = await admin.browser.request(`${t.issuer}/admin/clients/${id}/delete`);
    expect([confirm.status, confirm.html.includes(`<h1>Delete this client?</h1>\n    <p><code>${id}</code></p>`)]).toEqual([200, true]);
    const removed = await post(admin.browser, `/admin/clients/${id}/delete`, { csrf: admin.csrf });
    expect([removed.status, removed.headers.get('location')]).toEqual([303, '/admin/clients?done=removed']);
    expect((await token(id, second)).status).toBe(401);
    const audit = await db().prisma.auditEvent.findMany({ where: { clientId: id, type: { startsWith: 'client.' } }, orderBy: { createdAt: 'asc' } });
    expect(audit.map((a) => [a.type, a.reason])).toEqual(
      ['client.created', 'client.updated', 'client.secret_rotated', 'client.removed'].map((type) => [type, `console by admin:${admin.userId}`]),
    );
  });

  it('re-shows the form with the field marked for bad input, and 409 for an id taken', async () => {
    const admin = await signIn();
    const create = (fields: Record<string, string>, grants = ['authorization_code']) =>
      post(admin.browser, '/admin/clients/new', { csrf: admin.csrf, client_id: `bad-${engine}`, type: 'confidential', redirect_uris: 'https://app.example/cb', ...fields }, grants);
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ client_id: '' }, 'client_id', 'Enter a client ID of 1 to 255 letters, digits or punctuation marks, without spaces.'],
      [{ redirect_uris: 'not a url' }, 'redirect_uris', 'Enter valid redirect URIs, one per line.'],
      [{ brand_color: 'red' }, 'brand_color', 'Enter the colour as #rrggbb.'],
      [{ logo_uri: 'javascript:alert(1)' }, 'logo_uri', 'Enter an https address for the logo.'],
    ];
    for (const [fields, field, message] of cases) {
      const page = await create(fields);
      expect([page.status, fieldOf(page.html, field)]).toEqual([400, expect.stringContaining('aria-invalid="true"')]);
      expect(fieldOf(page.html, field)).toContain(`aria-describedby="${field}-hint ${field}-error"`);
      expect(page.html).toMatch(new RegExp(`<p class="field-error" id="${field}-error">${message.replace(/[.()]/g, '\\$&')} <span class="hint">`));
    }
    const taken = await create({ client_id: 'gate-app' });
    expect([taken.status, fieldOf(taken.html, 'client_id')]).toEqual([409, expect.stringContaining('aria-invalid="true"')]);
    expect(taken.html).toContain('A client with this ID already exists.');
    expect(await db().prisma.client.count({ where: { clientId: `bad-${engine}` } })).toBe(0);
  });

  it('offers no rotation for a public client (a forged one is a 400), and shows the secret once when it turns confidential', async () => {
    const admin = await signIn();
    const id = `spa-${engine}`;
    const fields = { csrf: admin.csrf, client_id: id, type: 'public', redirect_uris: 'http://127.0.0.1:9/cb' };
    const created = await post(admin.browser, '/admin/clients/new', fields, ['authorization_code']);
    expect([created.status, created.headers.get('location')]).toEqual([303, `/admin/clients/${id}?done=created`]);
    const page = await admin.browser.request(`${t.issuer}/admin/clients/${id}?done=created`);
    expect(page.html).toContain('<p class="message notice" role="status">Client created.</p>');
    expect(page.html).not.toContain(`action="/admin/clients/${id}/secret"`);
    const forged = await post(admin.browser, `/admin/clients/${id}/secret`, { csrf: admin.csrf });
    expect([forged.status, forged.html.includes('A public client has no secret to rotate.')]).toEqual([400, true]);
    const confidential = await post(admin.browser, `/admin/clients/${id}`, { ...fields, type: 'confidential' }, ['authorization_code']);
    expect([confidential.status, confidential.html.includes('Copy the secret now')]).toEqual([200, true]);
    expect((await admin.browser.request(`${t.issuer}/admin/clients/${id}`)).html).toContain(`action="/admin/clients/${id}/secret"`);
  });

  it('refuses POSTs without the CSRF token or a session, and a non-admin', async () => {
    const admin = await signIn();
    const fields = { client_id: `csrf-${engine}`, type: 'public', redirect_uris: 'https://app.example/cb' };
    expect((await post(admin.browser, '/admin/clients/new', fields)).status).toBe(403);
    const forged = await post(admin.browser, '/admin/clients/new', { ...fields, csrf: 'forged' });
    expect([forged.status, forged.html.includes('This form has expired. Reload the page and try again.')]).toEqual([403, true]);
    expect((await post(new FormClient(), '/admin/clients/new', { ...fields, csrf: admin.csrf })).status).toBe(401);
    const user = await signIn(false);
    expect(user.page.status).toBe(403);
    expect((await user.browser.request(`${t.issuer}/admin/clients/gate-app`)).status).toBe(403);
    expect((await post(user.browser, '/admin/clients/new', { ...fields, csrf: admin.csrf })).status).toBe(403);
    expect(await db().prisma.client.count({ where: { clientId: `csrf-${engine}` } })).toBe(0);
  });

  it("shows config-file clients read-only and refuses Sesame's own console client", async () => {
    const admin = await signIn();
    const config = await admin.browser.request(`${t.issuer}/admin/clients/gate-app`);
    expect([config.status, config.html.includes('This client comes from the configuration file: change it there.')]).toEqual([200, true]);
    expect(config.html).not.toContain('action="/admin/clients/gate-app/secret"');
    const edit = await post(admin.browser, '/admin/clients/gate-app', { csrf: admin.csrf, client_name: 'Evil', type: 'confidential' });
    expect([edit.status, edit.html.includes('This client cannot be changed here.')]).toEqual([409, true]);
    for (const path of ['/admin/clients/sesame-admin-console', '/admin/clients/sesame-admin-console/delete']) {
      const page = await admin.browser.request(`${t.issuer}${path}`);
      expect([page.status, page.html.includes('This is one of Sesame&#39;s own clients (the account page or this console): it cannot be changed or deleted.')]).toEqual([
        409,
        true,
      ]);
    }
    for (const path of ['', '/secret', '/delete']) {
      expect((await post(admin.browser, `/admin/clients/sesame-admin-console${path}`, { csrf: admin.csrf, type: 'public' })).status).toBe(409);
    }
    // The console still signs in.
    expect((await signIn()).page.status).toBe(200);
  });
});
