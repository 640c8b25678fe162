import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * npm runs a script through `sh -c`; a stop signal sent to npm reaches that shell, not a
 * program it started after `&&`. Killing a backgrounded `npm start` left the hub running
 * with its ports and the DuckDB lock held. `exec` makes the program the shell itself.
 */
describe('npm scripts', () => {
  const scripts: Record<string, string> = JSON.parse(readFileSync('package.json', 'utf8')).scripts;

  it.each(['start', 'demo', 'simulate', 'bench', 'soak'])('%s builds first, then execs node so that signals reach it', (name) => {
    const script = scripts[name];
    expect(script, name).toBeDefined();
    const steps = script!.split('&&').map((s) => s.trim());
    expect(steps[0]).toBe('npm run build --silent');
    expect(steps.at(-1)).toMatch(/^(\w+=\S+ )*exec node /);
    expect(steps.slice(1, -1)).toEqual([]);
  });
});
