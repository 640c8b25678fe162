import type { Logger } from 'pino';
import { loadCatalogue } from './catalogue.js';
import type { ProfileCatalog } from './versions.js';
import type { Catalogue } from '../kernel/measurements.js';

export interface CatalogueReloadOptions {
  /** The arena's folders (ARENA_CATALOGUE_DIR), read after the shipped catalogue. */
  readonly dirs: readonly string[];
  readonly profiles: ProfileCatalog;
  readonly log: Logger;
  /** What else the process needs of a catalogue (the alarm rules' events), each answering its problems. */
  readonly checks?: readonly ((catalogue: Catalogue) => string[])[];
}

/**
 * Reads the catalogue files again and puts the result in force with every published
 * profile version recompiled against it; or, when a file does not load, a check fails or
 * a profile in force no longer compiles, keeps the catalogue in force and logs why.
 * Answers the problems (none when the new catalogue is in force).
 */
export async function reloadCatalogue(o: CatalogueReloadOptions): Promise<string[]> {
  let problems: string[];
  try {
    const next = loadCatalogue(o.dirs);
    problems = (o.checks ?? []).flatMap((check) => check(next));
    if (problems.length === 0) problems = await o.profiles.useCatalogue(next);
  } catch (e) {
    problems = (e as Error).message.split('\n');
  }
  if (problems.length > 0) {
    o.log.error({ event: 'catalogue_reload_failed', problems }, 'the catalogue files do not load; the previous catalogue stays in force');
    return problems;
  }
  const c = o.profiles.catalogue;
  o.log.info({ event: 'catalogue_reloaded', measurements: c.measurements.size, events: c.events.size, families: c.families.size }, 'catalogue reloaded');
  return [];
}
