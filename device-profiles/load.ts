import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { HubError } from '../kernel/errors.js';
import type { Catalogue } from '../kernel/measurements.js';
import { shippedCatalogue } from './catalogue.js';
import { checkProfile, type ProfileIssue } from './check.js';
import { compileProfile, type Decoder, type TimeLimits } from './decode.js';
import { formatPath } from './path.js';
import { ProfileSchema, type Profile } from './schema.js';

export type { ProfileIssue } from './check.js';

export interface ProfileSet {
  readonly decoders: ReadonlyMap<string, Decoder>;
  /** The catalogue the profiles were checked against: what GET /v1/catalogue serves. */
  readonly catalogue: Catalogue;
  get(profileId: string): Decoder | undefined;
}

export type ProfileCompilation = { readonly ok: true; readonly decoder: Decoder } | { readonly ok: false; readonly errors: readonly ProfileIssue[] };

/**
 * One profile document (YAML text) to a decoder, or every problem with it at once, each
 * with its path in the document: YAML syntax, else the profile language's (schema.ts)
 * and the catalogue's, units' and code lists' (check.ts) together, so one round of
 * fixes can answer both. What loading a folder and an upload both use.
 */
export function compileProfileSource(source: string, catalogue: Catalogue, limits: TimeLimits): ProfileCompilation {
  let doc: unknown;
  try {
    doc = parse(source, { prettyErrors: true });
  } catch (e) {
    return { ok: false, errors: [{ path: '', message: `not valid YAML: ${(e as Error).message}` }] };
  }
  const parsed = ProfileSchema.safeParse(doc);
  const language = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
  const errors = [...language, ...checkProfile(doc, catalogue)];
  if (!parsed.success || errors.length > 0) return { ok: false, errors };
  return { ok: true, decoder: compileProfile(parsed.data, limits, catalogue) };
}

/** Parses and checks one profile document; throws PROFILE_INVALID naming the file and every field at fault. */
export function parseProfile(source: string, file: string, limits: TimeLimits, catalogue: Catalogue = shippedCatalogue()): Decoder {
  const result = compileProfileSource(source, catalogue, limits);
  if (result.ok) return result.decoder;
  const where = (i: ProfileIssue): string => (i.path ? `${i.path}: ` : i.message.startsWith('not valid YAML') ? '' : '(document): ');
  throw new HubError('PROFILE_INVALID', result.errors.map((i) => `${file}: ${where(i)}${i.message}`).join('\n'));
}

/** The profile documents of a folder: each *.yaml in it, and each subfolder's profile.yaml (with its samples beside it). */
export function profileFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (/\.ya?ml$/.test(entry)) files.push(full);
    else if (statSync(full).isDirectory() && existsSync(join(full, 'profile.yaml'))) files.push(join(full, 'profile.yaml'));
  }
  return files;
}

/** Loads every profile of a folder against the catalogue. A bad file stops the start. */
export function loadProfiles(dir: string, limits: TimeLimits, catalogue: Catalogue = shippedCatalogue()): ProfileSet {
  const decoders = new Map<string, Decoder>();
  const files = profileFiles(dir);
  if (files.length === 0) throw new HubError('PROFILE_INVALID', `${dir}: no device profiles (*.yaml or <folder>/profile.yaml) found`);
  for (const f of files) {
    const decoder = parseProfile(readFileSync(f, 'utf8'), f, limits, catalogue);
    const { id } = decoder.profile;
    if (decoders.has(id)) throw new HubError('PROFILE_INVALID', `${f}: id: profile id "${id}" is used by another file too`);
    decoders.set(id, decoder);
  }
  return { decoders, catalogue, get: (id) => decoders.get(id) };
}

/** The concrete topics a device of this profile may publish on. */
export const publishTopics = (profile: Profile, deviceId: string): string[] => profile.topics.map((t) => t.replaceAll('{deviceId}', deviceId));

export const commandTopic = (profile: Profile, deviceId: string): string => profile.commandTopic.replaceAll('{deviceId}', deviceId);
