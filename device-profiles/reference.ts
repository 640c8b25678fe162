import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { ProfileSchema } from './schema.js';

/**
 * docs/profile-reference.md, generated from the profile schema (schema.ts): every field
 * with its type, default, description and an example taken from a real profile (the
 * shipped ones and docs/examples), so the reference cannot drift from the language.
 * `node dist/device-profiles/reference.js > docs/profile-reference.md` writes it.
 */
type Json = { [k: string]: unknown };

const EXAMPLE_SOURCES = [
  'docs/examples/urosense/profile.yaml',
  'device-profiles/profiles/roomsense-3d/profile.yaml',
  'device-profiles/profiles/aquascale/profile.yaml',
  'device-profiles/profiles/dosebox/profile.yaml',
  'device-profiles/profiles/bedwatch-senml/profile.yaml',
  'device-profiles/profiles/medimate-senml/profile.yaml',
  'device-profiles/profiles/vekta-senml/profile.yaml',
];

/** Examples for fields no example profile uses, by their last name. */
const FALLBACK: Readonly<Record<string, unknown>> = {
  zone: 'Europe/Oslo',
  base: { path: '$.t0', format: 'epoch_s' },
  'base.path': '$.t0',
  'base.format': 'epoch_s',
  records: { path: 'samples[*]' },
  'records.path': 'groups[*].samples[*]',
  'records.schema': { type: 'object', required: ['t', 'v'] },
  scale: 0.1,
  offset: -273.15,
  topic: 'devices/{deviceId}/status',
  commandTopic: 'devices/{deviceId}/commands',
  quota: { messagesPerSecond: 20 },
  messagesPerSecond: 20,
  messageBurst: 100,
  bytesPerSecond: 4096,
  byteBurst: 65536,
  ignore: ['$.fw'],
};

/** Values found at a field path (`shapes[].time.format`) in the example profiles; shape fields also at the top level. */
function examplesAt(docs: readonly unknown[], path: readonly string[]): unknown {
  const walk = (v: unknown, i: number): unknown => {
    if (i === path.length) return v;
    if (v === null || typeof v !== 'object') return undefined;
    const key = path[i]!;
    if (key === '[]') {
      if (!Array.isArray(v)) return undefined;
      for (const item of v) {
        const found = walk(item, i + 1);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    if (key === '*') {
      for (const item of Object.values(v)) {
        const found = walk(item, i + 1);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    return walk((v as Json)[key], i + 1);
  };
  for (const doc of docs) {
    const found = walk(doc, 0) ?? (path[0] === 'shapes' ? walk(doc, 2) : undefined);
    if (found !== undefined) return found;
  }
  return undefined;
}

function typeOf(s: Json): string {
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.const !== undefined) return `\`${String(s.const)}\``;
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(' or ');
  if (s.type === 'array') return `list of ${typeOf((s.items as Json) ?? {})}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties)
    return `map of ${typeOf(s.additionalProperties as Json)}`;
  return typeof s.type === 'string' ? s.type : 'any';
}

const inline = (v: unknown): string => {
  const text = JSON.stringify(v);
  return text.length > 110 ? `${text.slice(0, 107)}…` : text;
};

export function profileReference(root = '.'): string {
  const docs = EXAMPLE_SOURCES.map((f) => parse(readFileSync(`${root}/${f}`, 'utf8')) as unknown);
  const schema = z.toJSONSchema(ProfileSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  const rows: string[] = [];
  const visit = (s: Json, path: string[], required: boolean): void => {
    const name = path.join('.').replaceAll('.[]', '[]').replaceAll('.*', '.<key>');
    if (path.length > 0) {
      const named = path.filter((k) => k !== '[]' && k !== '*');
      const example = examplesAt(docs, path) ?? FALLBACK[named.slice(-2).join('.')] ?? FALLBACK[named.at(-1)!];
      const facts = [required ? 'required' : 'optional', s.default !== undefined ? `default \`${inline(s.default)}\`` : ''].filter(Boolean).join(', ');
      rows.push(
        `| \`${name}\` | ${typeOf(s)} | ${facts} | ${String(s.description ?? '').replaceAll('|', '\\|')} | ${example === undefined ? '' : `\`${inline(example).replaceAll('|', '\\|')}\``} |`,
      );
    }
    const props = s.properties as Record<string, Json> | undefined;
    if (props) {
      const req = new Set((s.required as string[] | undefined) ?? []);
      for (const [k, v] of Object.entries(props)) visit(v, [...path, k], req.has(k));
    }
    if (s.type === 'array' && s.items && (s.items as Json).properties) visit(s.items as Json, [...path, '[]'], true);
    const additional = s.additionalProperties as Json | undefined;
    if (additional && typeof additional === 'object' && !props) {
      const inner = Array.isArray(additional.anyOf) ? (additional.anyOf as Json[]).find((x) => x.properties) : additional;
      if (inner?.properties) visit(inner, [...path, '*'], true);
    }
  };
  visit(schema, [], true);
  return `# Device profile reference

Generated from the profile schema (\`device-profiles/schema.ts\`) by
\`node dist/device-profiles/reference.js > docs/profile-reference.md\`; a test keeps it in
step. Examples are taken from the shipped profiles (\`device-profiles/profiles/*/profile.yaml\`)
and the UroSense example (\`docs/examples/urosense/\`). Names of measurements, events and
families come from the catalogue (\`catalogue/*.yaml\` and the arena's
\`ARENA_CATALOGUE_DIR\`, served at \`GET /v1/catalogue\`).

**Paths.** One notation everywhere, in profiles and in rejections: dot-separated keys with
array indices in brackets (\`event.type\`, \`samples[3].v\`). In a profile, \`[*]\` is the
current record's index at that level and a leading \`$.\` reads from the message root
instead of the record.

**A shape** is \`time\`, \`payload\`, \`records\`, \`readings\`, \`events\`, \`ignore\` and
\`deviceIdPath\`: written at the top level for a profile with one message shape, or once
per entry of \`shapes\` (listed below as \`shapes[].…\`).

**Rejection codes.** \`SCHEMA_VIOLATION\`, \`TIME_INVALID\`, \`TIME_OUT_OF_RANGE\`,
\`UNIT_UNKNOWN\`, \`EVENT_UNKNOWN\`, \`DEVICE_MISMATCH\`, \`NO_POINTS\` reject a record (or the
whole message when it fails before its records are read, with \`PAYLOAD_NOT_JSON\`,
\`SENML_INVALID\`, \`SHAPE_UNKNOWN\`); \`VALUE_MISSING\`, \`VALUE_INVALID\` (a value the
catalogue's \`type\` does not allow: not a whole number for an \`integer\`, not 1/0 or
true/false for a \`boolean\`, after scale, offset and unit conversion),
\`VALUE_OUT_OF_RANGE\` and \`FIELD_UNMAPPED\` report one field while the record's other
points are stored.

**Errors at upload.** A profile is checked in two stages, the language (this reference)
and the catalogue (names, units, VKP codes); the problems of both come in one answer,
each with its path.

| field | type | | meaning | example |
| --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(profileReference());
