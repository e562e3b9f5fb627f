// Renders EJS pages inside views/layout.ejs with the request's translator. `<%= %>` escapes HTML in
// pages and HTML email parts only: subjects, email text parts and SMS are plain text, where an
// entity would break a link (`&amp;token=`) or show up as is (`n&#39;avez`).
import ejs from 'ejs';
import { join } from 'node:path';
import { viewsDir } from '../paths.js';
import { translator, type Translate } from '../i18n/i18n.js';
import type { UiOverrides } from '../config/ui-overrides.js';
import type { ClientBrand } from '../oidc/client-metadata.js';
import { emailBrandLocals } from './email-brand.js';

export interface PageLocals {
  title: string;
  [key: string]: unknown;
}

export interface Renderer {
  page(template: string, locale: string, locals: PageLocals): Promise<string>;
  email(template: string, locale: string, locals: Record<string, unknown>): Promise<{ subject: string; text: string; html: string }>;
  translate(locale: string, key: string, vars?: Record<string, string | number>): string;
  /** A plain-text message (SMS) from views/sms/<template>.text.ejs. */
  text(template: string, locale: string, locals: Record<string, unknown>): Promise<string>;
  /**
   * What pages call `client`: its client_name, else "the application" in `locale` (never the raw
   * client_id); '' without a client.
   */
  clientName(locale: string, client: { clientId: string; clientName?: string | undefined } | undefined): string;
}

/** `<%= %>` in a plain-text template: the value as is (EJS's own escape also turns null into ''). */
function plainText(value: unknown): string {
  return value == null ? '' : String(value);
}

/** Subjects (`*.subject.ejs`) and text parts (`*.text.ejs`) are plain text; everything else is HTML. */
function isPlainText(file: string): boolean {
  return file.endsWith('.text.ejs') || file.endsWith('.subject.ejs');
}

export interface RendererOptions {
  productName: string;
  cache: boolean;
  /** Told each time a page names a client that has no client_name (see oidc/client-metadata.ts). */
  onUnnamedClient?: (clientId: string) => void;
  /** The operator's strings and email templates (config `ui.overridesDir`). */
  overrides?: UiOverrides | undefined;
  /** The brand of the client an email is for (its `clientId` local); see oidc/client-metadata.ts. */
  brandOf?: (clientId: string) => Promise<ClientBrand | undefined>;
}

export function createRenderer(options: RendererOptions): Renderer {
  // EJS caches a compiled template by file name with the escape it was compiled with; a file is
  // always either plain text or HTML, so one cache serves both.
  const emails = options.overrides?.emails ?? {};
  const catalogs = options.overrides?.catalogs;
  const pathOf = (file: string) => (file.startsWith('email/') && emails[file.slice(6)]) || join(viewsDir, file);
  const render = (file: string, data: Record<string, unknown>) =>
    ejs.renderFile(pathOf(file), data, {
      cache: options.cache,
      // Partials are included by absolute name (`include('/pages/_messages')`) under this root:
      // EJS checks a relative one against the disk (existsSync) on every render, cached or not.
      root: viewsDir,
      async: false,
      rmWhitespace: false,
      ...(isPlainText(file) && { escape: plainText }),
    });
  const common = (locale: string, t: Translate) => ({ t, locale, productName: options.productName });
  return {
    async page(template, locale, locals) {
      const t = translator(locale, catalogs);
      // A branded client's pages (see http/brand.ts) carry its name where the product's would be.
      const brand = locals.brand as ClientBrand | undefined;
      const data = { ...common(locale, t), ...locals, ...(brand?.name && { productName: brand.name }) };
      const body = await render(`pages/${template}.ejs`, data);
      return render('layout.ejs', { ...data, body });
    },
    async email(template, locale, locals) {
      const t = translator(locale, catalogs);
      const brand = typeof locals.clientId === 'string' ? await options.brandOf?.(locals.clientId) : undefined;
      const branding = await emailBrandLocals(brand, { t, productName: options.productName }, (file, data) => render(`email/${file}`, data));
      const data = { ...common(locale, t), ...branding, ...locals };
      const [subject, text, html] = await Promise.all([
        render(`email/${template}.subject.ejs`, data),
        render(`email/${template}.text.ejs`, data),
        render(`email/${template}.html.ejs`, data),
      ]);
      return { subject: subject.trim(), text, html };
    },
    translate: (locale, key, vars) => translator(locale, catalogs)(key, vars),
    async text(template, locale, locals) {
      return (await render(`sms/${template}.text.ejs`, { ...common(locale, translator(locale, catalogs)), ...locals })).trim();
    },
    clientName(locale, client) {
      if (!client) return '';
      if (client.clientName) return client.clientName;
      options.onUnnamedClient?.(client.clientId);
      return translator(locale, catalogs)('client.unnamed');
    },
  };
}
