// Reading server-rendered HTML in tests without a DOM: the text a fragment shows (tags dropped,
// the entities EJS escapes with turned back, white space as one space) and attribute values.

/** Turns back the entities EJS escapes `&<>"'` with. */
export function unescapeHtml(text: string): string {
  return text
    .replace(/&#39;/g, "'")
    .replace(/&#34;|&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The text an HTML fragment shows: tags dropped, entities turned back, runs of white space as one space. */
export function htmlText(fragment: string): string {
  return unescapeHtml(fragment.replace(/<[^>]+>/g, ''))
    .replace(/\s+/g, ' ')
    .trim();
}
