import '../kernel/runtime.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadCatalogue } from '../device-profiles/catalogue.js';
import type { Decoder } from '../device-profiles/decode.js';
import { compileProfileSource, type ProfileIssue } from '../device-profiles/load.js';
import { loadIngestConfig } from '../ingest/config.js';
import { decideSample, defaultTopic, parseSamples, pointView } from '../conformance/sample.js';

/**
 * `arena-hub profile-check <profile.yaml>…`: checks profile files as the hub and
 * `POST /v1/profiles/validate` do (device-profiles/load.ts compileProfileSource), against
 * the shipped catalogue and ARENA_CATALOGUE_DIR's, without a running hub. With
 * `--samples`, decodes each sample message as ingest would (conformance/sample.ts) and
 * prints what the hub would store or why it would reject it. Exits 0 when every file
 * loads and every sample is stored whole, 1 when not, 2 on bad usage.
 */
const HELP = `usage: arena-hub profile-check [--catalogue <folder>] <profile.yaml>...
       arena-hub profile-check [--catalogue <folder>] <profile.yaml> --samples <file.ndjson> [--device-id <id>] [--json]

Checks device profiles as the hub loads them: the YAML, the profile language, the catalogue,
units and code lists. Every problem is printed with its path. No hub or database is needed.

With --samples, each line of the file is decoded with the profile exactly as ingest decodes a
device's message, and the normalised readings and events the hub would store are printed, or
each rejection with its code, path and message; then a summary. A line is either a payload as
the device sends it, or an envelope:
  {"topic": "devices/D-1/measurements", "payload": {...}, "deviceId": "D-1", "receivedAt": "2026-12-07T10:00:00Z"}
(all but payload optional; payload may be a string, sent as its bytes). Without a topic the
profile's first topic is used; without receivedAt, now.

  --catalogue <folder>   the arena's catalogue files (as ARENA_CATALOGUE_DIR)
  --samples <file>       sample messages to decode, NDJSON (one per line)
  --device-id <id>       the device the samples come from (default SAMPLE-1)
  --json                 one JSON document on stdout, for machines

Exits 0 if every profile loads and every sample is stored whole, 1 if not, 2 on bad usage.`;

const OPTIONS = {
  catalogue: { type: 'string' },
  samples: { type: 'string' },
  'device-id': { type: 'string', default: 'SAMPLE-1' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

function usage(message: string): never {
  console.error(`arena-hub profile-check: ${message}\n\n${HELP}`);
  process.exit(2);
}

let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
try {
  parsed = parseArgs({ options: OPTIONS, allowPositionals: true });
} catch (e) {
  usage((e as Error).message);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (positionals.length === 0) usage('name a profile file');
if (values.samples !== undefined && positionals.length !== 1) usage('--samples goes with exactly one profile file');

const catalogue = loadCatalogue(values.catalogue === undefined ? [] : [values.catalogue]);
const limits = loadIngestConfig({}).limits;

type Loaded = { file: string; decoder?: Decoder; issues: readonly ProfileIssue[] };
function load(file: string): Loaded {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (e) {
    return { file, issues: [{ path: '', message: `cannot be read: ${(e as Error).message}` }] };
  }
  const result = compileProfileSource(source, catalogue, limits);
  return result.ok ? { file, decoder: result.decoder, issues: [] } : { file, issues: result.errors };
}

const profiles = positionals.map(load);
const profileJson = (p: Loaded) => ({
  file: p.file,
  ok: p.decoder !== undefined,
  ...(p.decoder ? { id: p.decoder.profile.id, version: p.decoder.profile.version } : {}),
  issues: p.issues,
});

if (values.samples === undefined) {
  if (values.json) console.log(JSON.stringify({ profiles: profiles.map(profileJson) }, null, 2));
  else
    for (const p of profiles) {
      if (p.decoder) console.log(`${p.file}: ${p.decoder.profile.id} ${p.decoder.profile.version} loads`);
      for (const issue of p.issues) console.error(`${p.file}: ${issue.path || '(document)'}: ${issue.message}`);
    }
  process.exit(profiles.every((p) => p.decoder) ? 0 : 1);
}

const profile = profiles[0]!;
const decoder = profile.decoder;
let text: string;
try {
  text = readFileSync(values.samples, 'utf8');
} catch (e) {
  usage(`${values.samples} cannot be read: ${(e as Error).message}`);
}
if (!decoder) {
  if (values.json) console.log(JSON.stringify({ profile: profileJson(profile), samples: [], summary: null }, null, 2));
  else for (const issue of profile.issues) console.error(`${profile.file}: ${issue.path || '(document)'}: ${issue.message}`);
  process.exit(1);
}

const lines = parseSamples(text, { deviceId: values['device-id'], topic: (id) => defaultTopic(decoder, id), receivedAt: Date.now() });
const byCode: Record<string, number> = {};
const results = lines.map((l) => {
  if (!l.ok) return { line: l.line, error: l.error };
  const { points, problems } = decideSample(decoder, l.sample);
  for (const p of problems) byCode[p.code] = (byCode[p.code] ?? 0) + 1;
  return {
    line: l.line,
    deviceId: l.sample.deviceId,
    topic: l.sample.topic,
    storedWhole: problems.length === 0,
    points: points.map(pointView),
    rejections: problems,
  };
});
const summary = {
  samples: results.length,
  storedWhole: results.filter((r) => 'storedWhole' in r && r.storedWhole).length,
  withRejections: results.filter((r) => 'storedWhole' in r && !r.storedWhole).length,
  unreadable: results.filter((r) => 'error' in r).length,
  points: results.reduce((n, r) => n + ('error' in r ? 0 : r.points.length), 0),
  rejectionsByCode: byCode,
};
const passed = summary.samples > 0 && summary.storedWhole === summary.samples;

if (values.json) {
  console.log(JSON.stringify({ profile: profileJson(profile), samples: results, summary }, null, 2));
} else {
  console.log(`${profile.file}: ${decoder.profile.id} ${decoder.profile.version} loads`);
  for (const r of results) {
    if ('error' in r) {
      console.log(`line ${r.line}: not a sample: ${r.error}`);
      continue;
    }
    console.log(`line ${r.line}: ${r.topic}: ${r.storedWhole ? 'stored' : 'REJECTED'} (${r.points.length} point${r.points.length === 1 ? '' : 's'})`);
    for (const p of r.points) {
      const what = p.kind === 'reading' ? `${p.value} ${p.unit}` : `alert ${p.alertCode ?? '-'} severity ${p.severity}`;
      console.log(`  ${p.kind} ${p.name} ${what} at ${p.deviceTime}${p.clockSkewed ? ' (clock skewed)' : ''}`);
    }
    for (const x of r.rejections) console.log(`  ${x.code} ${x.path || '(payload)'}: ${x.message}`);
  }
  const codes = Object.entries(byCode)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
  console.log(
    `summary: ${summary.samples} samples, ${summary.storedWhole} stored whole, ${summary.withRejections} with rejections${codes ? ` (${codes})` : ''}, ${summary.unreadable} unreadable, ${summary.points} point${summary.points === 1 ? '' : 's'}`,
  );
}
process.exit(passed ? 0 : 1);
