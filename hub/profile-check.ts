import '../kernel/runtime.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadCatalogue } from '../device-profiles/catalogue.js';
import { compileProfileSource } from '../device-profiles/load.js';
import { loadIngestConfig } from '../ingest/config.js';

/**
 * `arena-hub profile-check <profile.yaml>…`: checks profile files as the hub and
 * `POST /v1/profiles/validate` do (device-profiles/load.ts compileProfileSource), against
 * the shipped catalogue and ARENA_CATALOGUE_DIR's, without a running hub. Exits 0 when
 * every file loads, 1 when one does not (each problem on its line, with its path), 2 on
 * bad usage.
 */
const HELP = `usage: arena-hub profile-check [--catalogue <folder>] <profile.yaml>...

Checks device profiles as the hub loads them: the YAML, the profile language, the catalogue,
units and code lists. Every problem is printed with its path. Exits 0 if all load, 1 if not.
  --catalogue <folder>   the arena's catalogue files (as ARENA_CATALOGUE_DIR)`;

let parsed: ReturnType<typeof parseArgs<{ options: { catalogue: { type: 'string' }; help: { type: 'boolean'; default: false } }; allowPositionals: true }>>;
try {
  parsed = parseArgs({ options: { catalogue: { type: 'string' }, help: { type: 'boolean', default: false } }, allowPositionals: true });
} catch (e) {
  console.error(`arena-hub profile-check: ${(e as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(HELP);
  process.exit(0);
}
if (parsed.positionals.length === 0) {
  console.error(HELP);
  process.exit(2);
}

const catalogue = loadCatalogue(parsed.values.catalogue === undefined ? [] : [parsed.values.catalogue]);
const limits = loadIngestConfig({}).limits;
let failed = false;
for (const file of parsed.positionals) {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    console.error(`${file}: cannot be read: ${(e as Error).message}`);
    failed = true;
    continue;
  }
  const result = compileProfileSource(source, catalogue, limits);
  if (result.ok) {
    console.log(`${file}: ${result.decoder.profile.id} ${result.decoder.profile.version} loads`);
    continue;
  }
  failed = true;
  for (const issue of result.errors) console.error(`${file}: ${issue.path || '(document)'}: ${issue.message}`);
}
process.exit(failed ? 1 : 0);
