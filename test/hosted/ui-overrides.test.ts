// The operator's overrides folder (config ui.overridesDir, issue 17): message strings and email
// templates replaced without forking, and a folder that would replace nothing (a typo, a placeholder
// the page does not pass, a template Sesame does not have) stopping the start with the file at fault.
// SQLite only: nothing here depends on the engine.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig, startLogin } from '../helpers/login.js';
import { FormClient } from '../helpers/form-client.js';
import { codeFrom } from '../helpers/smtp.js';
import { parseMail, partOf } from '../helpers/mime.js';
import { loadConfig } from '../../src/config/load.js';
import { startSesame } from '../../src/server.js';
import { supportedLocales } from '../../src/i18n/i18n.js';
import { viewsDir } from '../../src/paths.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const folders: string[] = [];

/** A fresh overrides folder holding `files` (path -> content). */
function overridesFolder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'sesame-overrides-'));
  folders.push(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

describe('an overrides folder', () => {
  let t: TestSesame;
  beforeAll(async () => {
    const dir = overridesFolder({
      'locales/en.json': JSON.stringify({ 'email.heading': 'Welcome to Acme', 'email.lead': 'and on to {client}' }),
      'locales/fr.json': JSON.stringify({ 'email.heading': 'Bienvenue chez Acme' }),
      'email/code.subject.ejs': 'Acme code <%= code %> (<%= productName %>)\n',
      'email/code.html.ejs': '<p>Your Acme code: <strong><%= code %></strong></p>\n<p><%= t("mail.code.expiry", { minutes: minutes }) %></p>\n',
    });
    t = await startTestSesame('sqlite', {
      ui: { overridesDir: dir },
      clients: [{ client_id: 'app', client_name: 'Notes <b>', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', first_party: true }],
    });
  });
  afterAll(() => t?.stop());

  it("replaces a page's strings in their language, the others staying as shipped", async () => {
    const en = (await startLogin(t, await rpConfig(t, 'app'))).page;
    expect(en.html).toContain('<h1>Welcome to Acme</h1>\n    <p class="lead">and on to Notes &lt;b&gt;</p>');
    const fr = (await startLogin(t, await rpConfig(t, 'app'), {}, new FormClient({ 'accept-language': 'fr' }))).page;
    // The French heading is the French override; the lead, not overridden in French, stays French.
    expect(fr.html).toContain('<h1>Bienvenue chez Acme</h1>\n    <p class="lead">pour continuer vers Notes &lt;b&gt;</p>');
  });

  it('sends the email through the replacing templates, the others as shipped', async () => {
    const started = await startLogin(t, await rpConfig(t, 'app'));
    await started.browser.submit(started.page, '/email', { email: 'over@example.com' }, t.url);
    const raw = await t.mail.next('over@example.com');
    const code = codeFrom(raw);
    const mail = parseMail(raw.raw);
    expect(mail.subject).toBe(`Acme code ${code} (Sesame)`);
    expect(partOf(mail, 'text/html').replace(/\r\n/g, '\n')).toBe(`<p>Your Acme code: <strong>${code}</strong></p>\n<p>The code works for 10 minutes and only once.</p>\n`);
    expect(partOf(mail, 'text/plain')).toContain(`Use this code to sign in to Sesame:\r\n\r\n    ${code}\r\n`);
  });
});

describe('a bad overrides folder', () => {
  const refusal = (files: Record<string, string>) => {
    const dir = overridesFolder(files);
    try {
      loadConfig({ NODE_ENV: 'test' }, { ui: { overridesDir: dir } });
    } catch (err) {
      return { dir, message: (err as Error).message };
    }
    throw new Error('the folder was accepted');
  };
  const at = 'invalid configuration at ui.overridesDir:';

  it('stops the start naming the file and what is wrong with it', () => {
    let r = refusal({ 'locales/en.json': '{"email.headin": "Hi"}' });
    expect(r.message).toBe(`${at} ${r.dir}/locales/en.json: unknown key email.headin`);
    r = refusal({ 'locales/fr.json': '{"email.lead": "vers {app}"}' });
    expect(r.message).toBe(`${at} ${r.dir}/locales/fr.json: email.lead uses {app}, which the original does not have (it has {client})`);
    r = refusal({ 'locales/en.json': '{"email.heading": 3}' });
    expect(r.message).toBe(`${at} ${r.dir}/locales/en.json: email.heading must be a string`);
    r = refusal({ 'locales/en.json': '["email.heading"]' });
    expect(r.message).toBe(`${at} ${r.dir}/locales/en.json: expected a JSON object of message keys and strings`);
    r = refusal({ 'locales/en.json': '{"email.heading": ' });
    expect(r.message).toMatch(new RegExp(`^${at} ${r.dir}/locales/en.json: .*JSON`));
    r = refusal({ 'locales/xx.json': '{}' });
    expect(r.message).toBe(`${at} ${r.dir}/locales/xx.json: no shipped locale xx (shipped: ${supportedLocales.join(', ')})`);
    r = refusal({ 'locales/en.yaml': '' });
    expect(r.message).toBe(`${at} ${r.dir}/locales/en.yaml: expected <lang>.json`);
    r = refusal({ 'email/welcome.html.ejs': '<p>hi</p>' });
    const shipped = readdirSync(join(viewsDir, 'email')).sort().join(', ');
    expect(r.message).toBe(`${at} ${r.dir}/email/welcome.html.ejs: no shipped email template welcome.html.ejs (shipped: ${shipped})`);
    r = refusal({ 'email/code.html.ejs': '<p><%= code </p>' });
    expect(r.message).toBe(`${at} ${r.dir}/email/code.html.ejs: Could not find matching close tag for "<%=".`);
    r = refusal({ 'templates/code.html.ejs': '' });
    expect(r.message).toBe(`${at} ${r.dir}/templates: unexpected; the folder holds only locales/ and email/`);
    const missing = join(tmpdir(), 'sesame-overrides-missing');
    expect(() => loadConfig({ NODE_ENV: 'test' }, { ui: { overridesDir: missing } })).toThrow(`${at} ${missing}: not a folder`);
  });

  it('stops the server before it listens', async () => {
    const dir = overridesFolder({ 'locales/en.json': '{"nope": "x"}' });
    await expect(startSesame({ env: { NODE_ENV: 'test' }, overrides: { port: 0, host: '127.0.0.1', ui: { overridesDir: dir } } })).rejects.toThrow(
      `${at} ${dir}/locales/en.json: unknown key nope`,
    );
  });
});
