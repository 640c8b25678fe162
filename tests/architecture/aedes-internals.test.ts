import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * broker/aedes-compat.ts is the one module that relies on aedes internals, so that an
 * aedes upgrade is checked in one place (tests/broker/aedes-compat.test.ts). Each way of
 * reaching into aedes below is found in that module, which shows the pattern still
 * catches what it is for, and in no other file of the repository.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const COMPAT = 'broker/aedes-compat.ts';
// This file names the reaches, and the compat module's own test probes plain aedes.
const ALLOWED = new Set([COMPAT, 'tests/broker/aedes-compat.test.ts', 'tests/architecture/aedes-internals.test.ts']);

const REACHES: readonly { readonly what: string; readonly pattern: RegExp }[] = [
  // Node.js stream methods (_read, _write, _transform…) are defined, never reached for with a dot.
  { what: 'a private (underscore) field, such as client._nextId or client._disconnected', pattern: /\._[A-Za-z]\w*/ },
  { what: 'the undeclared aedes.persistence property', pattern: /(\baedes|\))\.persistence\b/ },
  { what: "aedes's own packet fields brokerId and brokerCounter", pattern: /\bbroker(Id|Counter)\b/ },
  {
    what: 'a persistence method replaced by a patch',
    pattern:
      /\.(addSubscriptions|removeSubscriptions|cleanSubscriptions|subscriptionsBy\w+|outgoing\w+|incoming\w+|storeRetained|putWill|getWill|delWill)\s*=(?!=)/,
  },
  { what: "the connection's write replaced, to rewrite a packet aedes wrote", pattern: /\.write\s*=(?!=)/ },
];

const SKIP = new Set(['node_modules', 'dist', 'data', 'coverage']);
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((d) => {
    const path = dir ? `${dir}/${d.name}` : d.name;
    if (d.isDirectory()) return d.name.startsWith('.') || SKIP.has(d.name) ? [] : sources(path);
    return /\.(ts|js|cjs|mjs)$/.test(d.name) ? [path] : [];
  });
}
const SOURCES = sources('');

describe('aedes internals', () => {
  it.each(REACHES)('$what: only in broker/aedes-compat.ts', ({ pattern }) => {
    expect(SOURCES).toContain(COMPAT);
    const found = SOURCES.filter((f) => pattern.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toContain(COMPAT);
    expect(found.filter((f) => !ALLOWED.has(f))).toEqual([]);
  });
});
