// Where the project's files are, whether we run from src/ (tsx, vitest) or dist/ (compiled).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`package.json not found above ${start}`);
    dir = up;
  }
  return dir;
}

export const projectRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
export const viewsDir = join(projectRoot, 'views');
export const publicDir = join(projectRoot, 'views', 'public');
export const localesDir = join(projectRoot, 'views', 'locales');
