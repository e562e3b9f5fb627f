// A client's brand on the hosted pages: the locals the layout reads, the logo's origin added to the
// page's img-src, and the colours. Pages keep their strict CSP (no inline style): the colour comes
// from a stylesheet per colour, `/brand/<rrggbb>.css`, made here from the validated colour alone.
import type { Context, Next } from 'koa';
import { clientBrand, type ClientBrand } from '../oidc/client-metadata.js';

/** What the layout shows of a branded client (`brand` local); see views/layout.ejs. */
export interface PageBrand extends ClientBrand {
  /** The colour's stylesheet, or undefined without brand_color. */
  stylesheet: string | undefined;
}

export type Rgb = [number, number, number];

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
// The backgrounds accent-coloured text sits on in views/public/sesame.css (page, notice), per theme.
const LIGHT_BACKGROUNDS: Rgb[] = [WHITE, [0xee, 0xf3, 0xfd]];
const DARK_BACKGROUNDS: Rgb[] = [
  [0x12, 0x12, 0x12],
  [0x15, 0x20, 0x3a],
];
// WCAG AA for text is 4.5:1; a little above it, so browsers' rounding never lands under.
const TEXT_CONTRAST = 4.6;

function rgbOf(hex: string): Rgb {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as Rgb;
}

function hexOf(rgb: Rgb): string {
  return `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, '0')).join('')}`;
}

/** WCAG relative luminance. */
function luminance(rgb: Rgb): number {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two colours. */
export function contrast(a: Rgb | string, b: Rgb | string): number {
  const [la, lb] = [a, b].map((c) => luminance(typeof c === 'string' ? rgbOf(c) : c)) as [number, number];
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

/** Black or white, whichever reads better on `color` (always at least 4.58:1). */
export function textOn(color: string): string {
  return contrast(color, WHITE) >= contrast(color, BLACK) ? '#ffffff' : '#000000';
}

/**
 * The brand colour as the accent of one theme: as given where links in it are readable on that
 * theme's backgrounds, else mixed towards black (light theme) or white (dark theme) until they are.
 */
export function accentFor(color: string, dark: boolean): string {
  const rgb = rgbOf(color);
  const toward = dark ? WHITE : BLACK;
  const backgrounds = dark ? DARK_BACKGROUNDS : LIGHT_BACKGROUNDS;
  for (let step = 0; step <= 20; step++) {
    const mixed = rgb.map((c, i) => c + ((toward[i]! - c) * step) / 20) as Rgb;
    const hex = hexOf(mixed);
    if (backgrounds.every((bg) => contrast(hex, bg) >= TEXT_CONTRAST)) return hex;
  }
  return hexOf(toward);
}

/** The stylesheet of one colour: the accent and the text on it, per theme. */
export function brandCss(color: string): string {
  const light = accentFor(color, false);
  const dark = accentFor(color, true);
  return [
    `/* Sesame brand colour ${color}: accents adjusted per theme for 4.5:1 text contrast. */`,
    `:root { --accent: ${light}; --on-accent: ${textOn(light)}; }`,
    `@media (prefers-color-scheme: dark) { :root { --accent: ${dark}; --on-accent: ${textOn(dark)}; } }`,
    '',
  ].join('\n');
}

/** Serves `/brand/<rrggbb>.css`; anything else there is not found. Cached for long: the URL is its content. */
export function brandStylesheets() {
  return async function serveBrandStylesheet(ctx: Context, next: Next) {
    if (!ctx.path.startsWith('/brand/') || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const match = /^\/brand\/([0-9a-f]{6})\.css$/.exec(ctx.path);
    if (!match) return next();
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = brandCss(`#${match[1]}`);
  };
}

/**
 * The `brand` local of a page shown for `client` (undefined for a client without brand), and the
 * logo's origin added to this response's img-src: the page may then load that image, and no other.
 */
export function pageBrand(ctx: Context, client: { metadata(): Record<string, unknown> } | undefined): PageBrand | undefined {
  const brand = clientBrand(client?.metadata());
  if (!brand) return undefined;
  if (brand.logoUri) {
    const policy = ctx.response.get('Content-Security-Policy');
    const origin = new URL(brand.logoUri).origin;
    // Appended to whatever img-src the response has (middleware.ts sets it), so the two cannot drift apart.
    if (policy) ctx.set('Content-Security-Policy', policy.replace(/(^|;\s*)img-src([^;]*)/, `$1img-src$2 ${origin}`));
  }
  return { ...brand, stylesheet: brand.color ? `/brand/${brand.color.slice(1)}.css` : undefined };
}
