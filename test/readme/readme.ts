// The README's own code blocks, for tests that follow it literally: a section by its heading, then
// its fenced blocks by language. Lines inside fences never count as headings (`# a comment`).
import { readFileSync } from 'node:fs';

const README = new URL('../../README.md', import.meta.url);

export interface CodeBlock {
  lang: string;
  code: string;
}

/** The text under `heading` (e.g. '## Quick start') up to the next heading of its level or above. */
export function readmeSection(heading: string): string {
  const level = /^#+/.exec(heading)![0].length;
  const lines = readFileSync(README, 'utf8').split('\n');
  let inFence = false;
  let found = false;
  const out: string[] = [];
  for (const line of lines) {
    if (/^\s*```/.test(line)) inFence = !inFence;
    const headingLevel = !inFence && /^#+ /.test(line) ? /^#+/.exec(line)![0].length : 0;
    if (!found) {
      found = headingLevel > 0 && line.trim() === heading;
      continue;
    }
    if (headingLevel && headingLevel <= level) break;
    out.push(line);
  }
  if (!found) throw new Error(`README.md has no heading "${heading}"`);
  return out.join('\n');
}

/** The fenced code blocks of `text`, in order, optionally only those of language `lang`. */
export function codeBlocks(text: string, lang?: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  for (const match of text.matchAll(/^( *)```(\w*)[^\n]*\n([\s\S]*?)^\1```/gm)) {
    const indent = match[1]!.length;
    const code = match[3]!
      .split('\n')
      .map((line) => line.slice(Math.min(indent, /^ */.exec(line)![0].length)))
      .join('\n');
    if (!lang || match[2] === lang) blocks.push({ lang: match[2]!, code });
  }
  return blocks;
}

/** The one block of language `lang` under `heading` whose code contains `marker`. */
export function readmeBlock(heading: string, lang: string, marker = ''): string {
  const found = codeBlocks(readmeSection(heading), lang).filter((b) => b.code.includes(marker));
  if (found.length !== 1) throw new Error(`expected one ${lang} block containing "${marker}" under "${heading}" in README.md, found ${found.length}`);
  return found[0]!.code;
}

/** `sesame …` command lines of the sh blocks under `heading` (after `npx`), split into arguments. */
export function sesameCommands(heading: string): string[][] {
  const commands: string[][] = [];
  for (const block of codeBlocks(readmeSection(heading), 'sh')) {
    // A command may continue on the next line after a backslash.
    for (const line of block.code.replace(/\\\n\s*/g, ' ').split('\n')) {
      const match = /^npx sesame (.*)$/.exec(line.trim());
      if (match) commands.push(match[1]!.trim().split(/\s+/));
    }
  }
  return commands;
}
