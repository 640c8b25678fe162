import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * npm runs a script through `sh -c`; a stop signal sent to npm reaches that shell, not a
 * program it started after `&&`. Killing a backgrounded `npm start` left the hub running
 * with its ports and the DuckDB lock held. `exec` makes the program the shell itself.
 */
describe('npm scripts', () => {
  const scripts: Record<string, string> = JSON.parse(readFileSync('package.json', 'utf8')).scripts;

  it.each(['start', 'demo', 'simulate', 'bench', 'soak', 'requeue'])('%s builds first, then execs node so that signals reach it', (name) => {
    const script = scripts[name];
    expect(script, name).toBeDefined();
    const steps = script!.split('&&').map((s) => s.trim());
    expect(steps[0]).toBe('npm run build --silent');
    expect(steps.at(-1)).toMatch(/^(\w+=\S+ )*exec node /);
    expect(steps.slice(1, -1)).toEqual([]);
  });
});

describe('command-line help', () => {
  it.each([
    ['dist/soak/main.js', /usage: npm run soak/],
    ['dist/sim/main.js', /usage: node dist\/sim\/main\.js/],
  ])('%s --help prints its usage and exits 0; an unknown option exits 2 with the usage', (entry, usage) => {
    const help = spawnSync(process.execPath, [entry, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect([help.status, help.stdout]).toEqual([0, expect.stringMatching(usage)]);
    const bad = spawnSync(process.execPath, [entry, '--no-such-option'], { encoding: 'utf8', timeout: 20_000 });
    expect([bad.status, bad.stderr]).toEqual([2, expect.stringMatching(usage)]);
  });
});
