// A cookie-keeping HTTP client that walks the hosted pages like a browser without JavaScript:
// it follows redirects by hand (so tests see each hop) and submits the forms it finds.
import { unescapeHtml } from './html.js';

export interface Page {
  status: number;
  url: string;
  html: string;
  headers: Headers;
}

export interface Form {
  action: string;
  fields: Record<string, string>;
}

/** What the client needs of `fetch`: the bench passes a cheaper one (bench/http.ts). */
export type Fetcher = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string | undefined; redirect: 'manual' },
) => Promise<Pick<Response, 'status' | 'headers' | 'text'>>;

export class FormClient {
  private cookies = new Map<string, string>();

  /** `fetcher`: e.g. fetchFrom(address) to be a browser on another network. */
  constructor(
    private readonly headers: Record<string, string> = {},
    private readonly fetcher: Fetcher = fetch,
  ) {}

  private store(response: Pick<Response, 'headers'>, url: string) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line);
      const path = /path=([^;]+)/i.exec(line)?.[1]?.trim() ?? '/';
      const key = `${path} ${name}`;
      if (expired || value === '') this.cookies.delete(key);
      else this.cookies.set(key, `${name}=${value}`);
    }
    void url;
  }

  private cookieHeader(url: string): string {
    const path = new URL(url).pathname;
    return [...this.cookies.entries()]
      .filter(([key]) => path.startsWith(key.split(' ')[0]!))
      .map(([, pair]) => pair)
      .join('; ');
  }

  /** Names of the cookies this client holds. */
  cookieNames(): string[] {
    return [...this.cookies.keys()].map((key) => key.split(' ')[1]!);
  }

  /** The value of cookie `name` this client holds (any path), as an attacker reads their own browser's. */
  cookie(name: string): string | undefined {
    for (const [key, pair] of this.cookies) if (key.split(' ')[1] === name) return pair.slice(name.length + 1);
    return undefined;
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string>; body?: string } = {}): Promise<Page> {
    const headers: Record<string, string> = { ...this.headers, ...init.headers, cookie: this.cookieHeader(url) };
    let body = init.body;
    if (init.json !== undefined) {
      // What a page's script sends with fetch (the passkey options).
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    } else if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await this.fetcher(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(response, url);
    return { status: response.status, url, html: await response.text(), headers: response.headers };
  }

  /** Follows redirects until a page is not a redirect or leaves `origin` (then returns the Location). */
  async follow(url: string, origin: string, init: Parameters<FormClient['request']>[1] = {}): Promise<Page & { location?: string }> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 10 && page.status >= 300 && page.status < 400; hops++) {
      const location = new URL(page.headers.get('location')!, page.url).toString();
      if (!location.startsWith(origin)) return { ...page, location };
      page = await this.request(location);
    }
    return page;
  }

  /** Submits the form whose action ends with `actionSuffix`, with `values` over its hidden fields. */
  async submit(page: Page, actionSuffix: string, values: Record<string, string>, origin: string) {
    const form = findForm(page.html, actionSuffix);
    return this.follow(new URL(form.action, page.url).toString(), origin, { form: { ...form.fields, ...values } });
  }
}

export function findForm(html: string, actionSuffix: string): Form {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  for (const [, attrs, inner] of forms) {
    const action = /action="([^"]*)"/.exec(attrs!)?.[1] ?? '';
    if (!action.endsWith(actionSuffix)) continue;
    const fields: Record<string, string> = {};
    for (const [, input] of inner!.matchAll(/<input\b([^>]*)>/g)) {
      if (!/type="hidden"/.test(input!)) continue;
      const name = /name="([^"]*)"/.exec(input!)?.[1];
      const value = /value="([^"]*)"/.exec(input!)?.[1] ?? '';
      if (name) fields[name] = unescapeHtml(value);
    }
    return { action: unescapeHtml(action), fields };
  }
  throw new Error(`no form with action ending in ${actionSuffix} in page:\n${html.slice(0, 2000)}`);
}
