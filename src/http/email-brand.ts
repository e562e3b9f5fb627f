// What an email's templates read of the client it is for: the product name, the button colours,
// and the logo and support link as ready HTML (views/email/_brand-*.html.ejs, rendered here so an
// operator's replacement template can use them without including files of ours). An email without
// a branded client gets the shipped look: the product name and Sesame's blue.
import type { Translate } from '../i18n/i18n.js';
import type { ClientBrand } from '../oidc/client-metadata.js';
import { textOn } from './brand.js';

/** The colour of Sesame's own buttons in emails. */
const DEFAULT_ACCENT = '#2454d6';

export interface EmailBranding {
  productName: string;
  /** Button background and its text colour, `#rrggbb` (safe in a style attribute: made of hex digits only). */
  accent: string;
  onAccent: string;
  /** HTML: the logo (alt: the product name) and a line break, or '' without one. */
  brandHeader: string;
  /** HTML: the support link and a line break, or '' without one. */
  brandFooter: string;
  /** The support link for text parts, or null. */
  supportUri: string | null;
}

type RenderPartial = (file: string, data: Record<string, unknown>) => Promise<string>;

export async function emailBrandLocals(brand: ClientBrand | undefined, common: { t: Translate; productName: string }, render: RenderPartial): Promise<EmailBranding> {
  const productName = brand?.name ?? common.productName;
  const accent = brand?.color ?? DEFAULT_ACCENT;
  const data = { t: common.t, productName, brand };
  return {
    productName,
    accent,
    onAccent: brand?.color ? textOn(accent) : '#fff',
    // A line each, or nothing: an unbranded email is byte for byte the shipped one.
    brandHeader: brand?.logoUri ? `${(await render('_brand-header.html.ejs', data)).trim()}\n` : '',
    brandFooter: brand?.supportUri ? `${(await render('_brand-footer.html.ejs', data)).trim()}\n` : '',
    supportUri: brand?.supportUri ?? null,
  };
}
