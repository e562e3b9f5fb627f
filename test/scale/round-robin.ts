// A load balancer in a test: sends each request to the next instance in turn. Every instance has
// the same issuer, so URLs that Sesame builds (redirects, form actions) name the issuer's origin;
// `at` moves such a URL onto the instance chosen for the request. Cookies are for the host
// 127.0.0.1 whatever the port, so one FormClient carries them to every instance, as a browser does.
import { findForm, type FormClient, type Page } from '../helpers/form-client.js';

export interface Instance {
  name: string;
  url: string;
}

/** `url` (on the issuer's or any instance's origin) on `base`'s origin instead. */
export function at(url: string, base: string): string {
  const moved = new URL(url);
  const target = new URL(base);
  moved.protocol = target.protocol;
  moved.host = target.host;
  return moved.toString();
}

export class RoundRobin {
  private turn = 0;
  /** Which instance answered each request, in order (for assertions and failure messages). */
  readonly trail: string[] = [];

  constructor(private readonly instances: Instance[]) {}

  /** The instance the next request goes to (and moves the turn on); `start` makes it that one. */
  next(start?: Instance): Instance {
    if (start) this.turn = this.instances.indexOf(start);
    const instance = this.instances[this.turn++ % this.instances.length]!;
    this.trail.push(instance.name);
    return instance;
  }

  /** fetch() of `path` (or any URL, moved) on the next instance. */
  fetch(path: string, init?: RequestInit): Promise<Response> {
    const base = this.next().url;
    return fetch(path.startsWith('http') ? at(path, base) : `${base}${path}`, init);
  }

  /**
   * A FormClient request on `start` (default: the next instance), then its redirects, each hop on
   * the instance after, until a page is not a redirect or the redirect leaves `issuer` (then
   * returned as `location`).
   */
  async follow(browser: FormClient, url: string, issuer: string, init: Parameters<FormClient['request']>[1] = {}, start?: Instance): Promise<Page & { location?: string }> {
    let page = await browser.request(at(url, this.next(start).url), init);
    for (let hops = 0; hops < 10 && page.status >= 300 && page.status < 400; hops++) {
      const location = new URL(page.headers.get('location')!, issuer).toString();
      if (new URL(location).origin !== new URL(issuer).origin) return { ...page, location };
      page = await browser.request(at(location, this.next().url));
    }
    return page;
  }

  /** Submits the form of `page` whose action ends with `actionSuffix` on `start` (default: the next instance), following redirects as `follow` does. */
  submit(browser: FormClient, page: Page, actionSuffix: string, values: Record<string, string>, issuer: string, start?: Instance) {
    const form = findForm(page.html, actionSuffix);
    return this.follow(browser, new URL(form.action, page.url).toString(), issuer, { form: { ...form.fields, ...values } }, start);
  }
}
