import type { TimeLimits } from '../device-profiles/decode.js';
import type { Logger } from '../kernel/log.js';
import { openProfileCatalog, seedFromFolder, type ProfileCatalog } from '../stores/sql/profile-versions.js';
import type { SqlClient } from '../stores/sql/sql-client.js';

/**
 * The device profiles as published in the registry database, after the hub's profile
 * folder has added its new versions (stores/sql/profile-versions.ts). Does not own `sql`.
 */
export async function openPublishedProfiles(sql: SqlClient, profilesDir: string, limits: TimeLimits, log: Logger): Promise<ProfileCatalog> {
  const catalog = await openProfileCatalog(sql, {
    limits,
    // The measurement catalogue lost an entry the version uses: its devices' messages are rejected until it is fixed.
    onSkipped: (profileId, version, issues) => log.warn({ profileId, version, issues }, 'a published profile version no longer loads; skipped'),
  });
  const { added, differing } = await seedFromFolder(catalog, profilesDir, limits);
  if (added.length > 0) log.info({ profiles: added }, "published the profile folder's new versions");
  if (differing.length > 0) {
    log.warn(
      { profiles: differing },
      'profile folder files differ from the versions already published under their version numbers; the published ones stay in force (give a changed profile a new version)',
    );
  }
  return catalog;
}
