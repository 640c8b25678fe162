import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { HubError } from '../kernel/errors.js';
import { ProfileSchema, type Profile } from './schema.js';
import { compileProfile, unitConverters, type Decoder, type TimeLimits } from './decode.js';
import { formatPath } from './path.js';

export interface ProfileSet {
  readonly decoders: ReadonlyMap<string, Decoder>;
  get(profileId: string): Decoder | undefined;
}

/** Parses and checks one profile document; throws PROFILE_INVALID naming the file and the field. */
export function parseProfile(source: string, file: string, limits: TimeLimits): Decoder {
  let doc: unknown;
  try {
    doc = parse(source, { prettyErrors: true });
  } catch (e) {
    throw new HubError('PROFILE_INVALID', `${file}: not valid YAML: ${(e as Error).message}`);
  }
  const parsed = ProfileSchema.safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${file}: ${formatPath(i.path) || '(document)'}: ${i.message}`);
    throw new HubError('PROFILE_INVALID', lines.join('\n'));
  }
  const profile: Profile = parsed.data;
  profile.readings.forEach((rule, i) => {
    try {
      unitConverters(rule);
    } catch (e) {
      throw new HubError('PROFILE_INVALID', `${file}: readings[${i}]: ${(e as Error).message}`);
    }
  });
  try {
    return compileProfile(profile, limits);
  } catch (e) {
    throw new HubError('PROFILE_INVALID', `${file}: payload: not a usable JSON Schema: ${(e as Error).message}`);
  }
}

/** Loads every *.yaml / *.yml in a folder. A bad file stops the start. */
export function loadProfiles(dir: string, limits: TimeLimits): ProfileSet {
  const decoders = new Map<string, Decoder>();
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  if (files.length === 0) throw new HubError('PROFILE_INVALID', `${dir}: no device profiles (*.yaml) found`);
  for (const f of files) {
    const decoder = parseProfile(readFileSync(join(dir, f), 'utf8'), f, limits);
    const { id } = decoder.profile;
    if (decoders.has(id)) throw new HubError('PROFILE_INVALID', `${f}: id: profile id "${id}" is used by another file too`);
    decoders.set(id, decoder);
  }
  return { decoders, get: (id) => decoders.get(id) };
}

/** The concrete topics a device of this profile may publish on. */
export const publishTopics = (profile: Profile, deviceId: string): string[] =>
  profile.topics.map((t) => t.replaceAll('{deviceId}', deviceId));

export const commandTopic = (profile: Profile, deviceId: string): string => profile.commandTopic.replaceAll('{deviceId}', deviceId);
