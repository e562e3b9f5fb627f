// Branded hosted pages in a real Chromium with the pages' CSP on: the client's logo loads (its origin
// allowed, nothing reported), its colour replaces the accent and still passes axe's colour-contrast
// in light and dark mode, whatever the colour (a pale yellow, a dark navy); and a logo URL with
// quotes stays one attribute. SQLite is enough: the pages do not depend on the engine.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuthorization, useBrowser } from '../helpers/browser.js';
import { axeBothSchemes } from '../helpers/accessibility.js';
import { startTestSesame, type TestSesame } from '../helpers/sesame.js';
import { rpConfig } from '../helpers/login.js';

const REDIRECT = 'http://127.0.0.1:9/cb';
const LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40"><rect width="160" height="40" fill="#333"/></svg>';
const BIG_LOGO = '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600"><rect width="1200" height="600" fill="#333"/></svg>';

describe('branded pages in Chromium', () => {
  let t: TestSesame;
  let logos: Server;
  let logoOrigin: string;
  const chromium = useBrowser();

  beforeAll(async () => {
    // The logo host: any path answers the SVG, so the quoted URL below loads too.
    logos = createServer((req, res) => res.writeHead(200, { 'content-type': 'image/svg+xml' }).end(req.url === '/big.svg' ? BIG_LOGO : LOGO));
    await new Promise<void>((resolve) => logos.listen(0, '127.0.0.1', resolve));
    logoOrigin = `http://localhost:${(logos.address() as AddressInfo).port}`;
    const client = (client_id: string, brand: Record<string, string>) => ({
      client_id,
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      first_party: true,
      ...brand,
    });
    t = await startTestSesame('sqlite', {
      clients: [
        client('sunny', { client_name: 'Sunny', brand_color: '#ffd400', logo_uri: `${logoOrigin}/logo.svg`, support_uri: 'https://help.sunny.test/' }),
        client('navy', { client_name: 'Navy', brand_color: '#0b1a33', support_uri: 'mailto:help@navy.test' }),
        client('big', { client_name: 'Big', logo_uri: `${logoOrigin}/big.svg` }),
        client('quoted', { client_name: 'Quoted', logo_uri: `${logoOrigin}/a'onerror='document.body.remove()'.svg` }),
      ],
    });
  });
  afterAll(async () => {
    await t?.stop();
    await new Promise((resolve) => logos?.close(resolve));
  });

  const open = async (clientId: string) => openAuthorization(await chromium.newContext(), await rpConfig(t, clientId), { redirect_uri: REDIRECT, scope: 'openid email' });
  const buttonColours = (page: Page) =>
    page.getByRole('button', { name: 'Email me a code' }).evaluate((b) => {
      const style = getComputedStyle(b);
      return [style.backgroundColor, style.color];
    });

  it('shows the logo under the CSP and the colour, readable in light and dark, on the email and code pages', async () => {
    const walk = await open('sunny');
    const logo = walk.page.getByRole('img', { name: 'Sunny' });
    await expect.poll(() => logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(160);
    expect(await logo.evaluate((img) => [img.getBoundingClientRect().width, img.getBoundingClientRect().height])).toEqual([160, 40]);
    await walk.page.emulateMedia({ colorScheme: 'light' });
    // Yellow darkened until white text and links on white read at 4.5:1; the yellow itself in dark mode.
    expect(await buttonColours(walk.page)).toEqual(['rgb(128, 106, 0)', 'rgb(255, 255, 255)']);
    await walk.page.emulateMedia({ colorScheme: 'dark' });
    expect(await buttonColours(walk.page)).toEqual(['rgb(255, 212, 0)', 'rgb(0, 0, 0)']);
    expect(await walk.page.getByRole('link', { name: 'Get help with Sunny' }).getAttribute('href')).toBe('https://help.sunny.test/');
    expect(await axeBothSchemes(walk.page, 'email')).toEqual([]);

    await walk.page.getByLabel('Email address').fill('sunny@example.com');
    await walk.page.getByRole('button', { name: 'Email me a code' }).click();
    await walk.page.getByLabel('Sign-in code').waitFor();
    expect(await axeBothSchemes(walk.page, 'code')).toEqual([]);
    expect(walk.problems).toEqual([]);
  });

  it('keeps a dark colour readable in dark mode', async () => {
    const walk = await open('navy');
    await walk.page.emulateMedia({ colorScheme: 'light' });
    expect(await buttonColours(walk.page)).toEqual(['rgb(11, 26, 51)', 'rgb(255, 255, 255)']);
    await walk.page.emulateMedia({ colorScheme: 'dark' });
    const [dark] = await buttonColours(walk.page);
    expect(dark).not.toBe('rgb(11, 26, 51)');
    expect(await axeBothSchemes(walk.page, 'navy email')).toEqual([]);
    expect(walk.problems).toEqual([]);
  });

  it('bounds a big logo to the header, keeping its shape', async () => {
    const walk = await open('big');
    const logo = walk.page.getByRole('img', { name: 'Big' });
    await expect.poll(() => logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(1200);
    expect(await logo.evaluate((img) => [img.getBoundingClientRect().width, img.getBoundingClientRect().height])).toEqual([96, 48]);
    expect(walk.problems).toEqual([]);
  });

  it('keeps a logo URL with quotes inside its attribute', async () => {
    const walk = await open('quoted');
    const logo = walk.page.getByRole('img', { name: 'Quoted' });
    await expect.poll(() => logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(160);
    expect(await logo.evaluate((img) => img.getAttributeNames())).toEqual(['class', 'src', 'alt', 'height']);
    expect(await logo.getAttribute('src')).toBe(`${logoOrigin}/a'onerror='document.body.remove()'.svg`);
    expect(await walk.page.getByRole('heading', { name: 'Sign in' }).isVisible()).toBe(true);
    expect(walk.problems).toEqual([]);
  });
});
