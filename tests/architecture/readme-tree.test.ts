import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * README "How it is put together" draws the tree: every top-level folder of the
 * repository has its line there, and every folder named there exists.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const NOT_OURS = new Set(['node_modules', 'dist', 'data', 'coverage']);

function drawnFolders(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## How it is put together'));
  const block = section.slice(section.indexOf('```\n') + 4, section.indexOf('\n```', section.indexOf('```\n') + 4));
  return block
    .split('\n')
    .map((line) => /^([a-z][\w-]*)\/\s/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

describe('README architecture section', () => {
  it('names every top-level folder, and only folders that exist', () => {
    const tree = readdirSync(ROOT, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !NOT_OURS.has(d.name))
      .map((d) => d.name);
    const drawn = drawnFolders();
    expect(drawn.length).toBeGreaterThan(10);
    expect([...drawn].sort()).toEqual([...tree].sort());
  });
});
