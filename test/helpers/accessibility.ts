// Accessibility checks of a page in Chromium: axe-core (WCAG 2.1 A and AA rules) in light and dark
// mode, and headings that wrap only between words (no "Consultez vos e-" / "mails" on a phone).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

interface AxeViolation {
  id: string;
  help: string;
  nodes: Array<{ target: unknown[]; failureSummary?: string }>;
}

/**
 * axe's WCAG 2.1 AA violations of the page as it is now, one line per element: "rule: selector:
 * what to fix". Injected through the DevTools protocol, so the page's CSP (no inline script) stays on.
 */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(
    (tags) =>
      (window as unknown as { axe: { run(context: Document, options: unknown): Promise<{ violations: unknown[] }> } }).axe
        .run(document, { runOnly: { type: 'tag', values: tags } })
        .then((result) => result.violations),
    WCAG_21_AA,
  )) as AxeViolation[];
  return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.help}): ${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ')}`));
}

/** The page's violations in light and in dark mode, each line prefixed with `name` and the scheme. */
export async function axeBothSchemes(page: Page, name: string): Promise<string[]> {
  const found: string[] = [];
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    found.push(...(await axeViolations(page)).map((line) => `${name} [${colorScheme}] ${line}`));
  }
  return found;
}

/**
 * Headings (h1, h2) that wrap inside a word or are wider than their box. A line of a heading must
 * start right after a space: the characters' boxes tell where each line starts, so a break after
 * a hyphen ("e-" / "mails") or a word cut by overflow-wrap shows up as "e-|mails". In Japanese
 * (no spaces) a line may also start next to a kanji or kana.
 */
export function brokenHeadings(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    for (const heading of Array.from(document.querySelectorAll('h1, h2'))) {
      if (heading.scrollWidth > heading.clientWidth) problems.push(`${heading.tagName} overflows: ${heading.textContent}`);
      const walker = document.createTreeWalker(heading, NodeFilter.SHOW_TEXT);
      const chars: Array<{ char: string; top: number; height: number }> = [];
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent ?? '';
        for (let i = 0; i < text.length; i++) {
          const range = document.createRange();
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          const box = range.getClientRects()[0];
          chars.push({ char: text[i]!, top: box ? box.top : NaN, height: box ? box.height : 0 });
        }
      }
      let lastTop = NaN;
      let lastHeight = 0;
      // Japanese and Chinese have no spaces: a line may break next to any ideograph or kana.
      const cjk = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff00-\uffef]/u;
      chars.forEach(({ char, top, height }, i) => {
        if (/\s/.test(char) || Number.isNaN(top)) return;
        const previous = chars[i - 1]?.char ?? ' ';
        if (!Number.isNaN(lastTop) && top > lastTop + lastHeight / 2 && !/\s/.test(previous) && !cjk.test(previous) && !cjk.test(char)) {
          const text = chars.map((c) => c.char).join('');
          problems.push(`${heading.tagName} breaks inside a word: ${text.slice(0, i)}|${text.slice(i)}`);
        }
        lastTop = top;
        lastHeight = height;
      });
    }
    return problems;
  });
}
