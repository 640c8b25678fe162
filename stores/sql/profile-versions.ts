import { stringify } from 'yaml';
import type { Decoder, TimeLimits } from '../../device-profiles/decode.js';
import { compileProfileSource } from '../../device-profiles/load.js';
import {
  commandTopicProblem,
  compareVersions,
  profileInvalid,
  VersionedProfileSet,
  type CheckedProfile,
  type ProfileCatalog,
  type ProfileSource,
  type ProfileVersionInfo,
} from '../../device-profiles/versions.js';
import { HubError, isHubError, type ErrorIssue } from '../../kernel/errors.js';
import type { Catalogue } from '../../kernel/measurements.js';
import { migrate, type Migration } from './migrations.js';
import { serialised } from './freshness.js';
import type { SqlClient } from './sql-client.js';

/**
 * Device profile versions in the registry database (DuckDB file or PostgreSQL): every
 * published YAML text, kept for good, and the devices pinned to one version. Its own
 * ledger, so its migrations number apart from the registry's (stores/sql/migrations.ts).
 */
export const PROFILE_LEDGER = 'profile_migrations';
export const PROFILE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'profile versions, device pins',
    statements: [
      `CREATE TABLE IF NOT EXISTS profile_versions (
        profile_id TEXT NOT NULL,
        version TEXT NOT NULL,
        yaml TEXT NOT NULL,
        source TEXT NOT NULL,
        published_at BIGINT NOT NULL,
        published_by TEXT,
        PRIMARY KEY (profile_id, version)
      )`,
      `CREATE TABLE IF NOT EXISTS profile_pins (
        device_id TEXT PRIMARY KEY,
        profile_id TEXT NOT NULL,
        version TEXT NOT NULL,
        pinned_at BIGINT NOT NULL
      )`,
    ],
  },
];
/** The tables other processes hold in memory: the split layout notifies on their changes (stores/postgres/registry-changes.ts). */
export const PROFILE_TABLES: readonly string[] = ['profile_versions', 'profile_pins'];

export interface ProfileCatalogOptions {
  readonly limits: TimeLimits;
  /** The measurements, events and families profiles are checked against (device-profiles/catalogue.ts). */
  readonly catalogue: Catalogue;
  readonly now?: () => number;
  /** A stored version that no longer compiles (the catalogue changed under it): skipped, and said here. */
  readonly onSkipped?: (profileId: string, version: string, issues: readonly ErrorIssue[]) => void;
}

/** Every problem of a YAML profile text, each with its path in the profile (device-profiles/load.ts compileProfileSource). */
export function checkProfileYaml(yaml: string, catalogue: Catalogue, limits: TimeLimits): CheckedProfile {
  const compiled = compileProfileSource(yaml, catalogue, limits);
  if (!compiled.ok) return { ok: false, issues: compiled.errors.map((e) => ({ path: e.path, message: e.message })) };
  const problem = commandTopicProblem(compiled.decoder.profile.commandTopic);
  return problem ? { ok: false, issues: [{ path: 'commandTopic', message: problem }] } : { ok: true, decoder: compiled.decoder };
}

interface VersionRow {
  profile_id: string;
  version: string;
  source: ProfileSource;
  published_at: number;
  published_by: string | null;
}

const toInfo = (r: VersionRow): ProfileVersionInfo => ({
  profileId: r.profile_id,
  version: r.version,
  source: r.source,
  publishedAt: Number(r.published_at),
  publishedBy: r.published_by,
});

/** Migrates, then loads every published version and pin. Does not own `sql`. */
export async function openProfileCatalog(sql: SqlClient, opts: ProfileCatalogOptions): Promise<ProfileCatalog> {
  const now = opts.now ?? Date.now;
  await migrate(sql, now, PROFILE_MIGRATIONS, PROFILE_LEDGER);
  // Replaced whole, with its catalogue, when the catalogue changes (useCatalogue).
  let set = new VersionedProfileSet(opts.catalogue);
  const check = (yaml: string) => checkProfileYaml(yaml, set.catalogue, opts.limits);
  // Reads and catalogue swaps one at a time: a read must not add to a set that was just replaced.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(run: () => Promise<T>): Promise<T> => {
    const next = tail.then(run);
    tail = next.catch(() => undefined);
    return next;
  };

  // Versions that did not load, said once and not compiled again at every reload.
  const skipped = new Set<string>();
  const known = (profileId: string, version: string): boolean => set.has(profileId, version) || skipped.has(`${profileId}@${version}`);

  async function readAll(): Promise<void> {
    const keys = await sql.query<{ profile_id: string; version: string }>('SELECT profile_id, version FROM profile_versions');
    if (keys.some((k) => !known(k.profile_id, k.version))) {
      const rows = await sql.query<{ profile_id: string; version: string; yaml: string }>('SELECT profile_id, version, yaml FROM profile_versions');
      const fresh: Decoder[] = [];
      for (const r of rows) {
        if (known(r.profile_id, r.version)) continue;
        const checked = check(r.yaml);
        if (checked.ok && checked.decoder.profile.id === r.profile_id && checked.decoder.profile.version === r.version) {
          fresh.push(checked.decoder);
          continue;
        }
        skipped.add(`${r.profile_id}@${r.version}`);
        opts.onSkipped?.(r.profile_id, r.version, checked.ok ? [{ path: 'version', message: 'differs from the stored key' }] : checked.issues);
      }
      set.add(fresh);
    }
    const pins = await sql.query<{ device_id: string; profile_id: string; version: string }>('SELECT device_id, profile_id, version FROM profile_pins');
    set.setPins(new Map(pins.map((p) => [p.device_id, { profileId: p.profile_id, version: p.version }])));
  }
  // One read at a time: an older read of the pins must not be swapped in after a newer one.
  const reload = serialised(() => exclusive(readAll));
  await reload();

  const useCatalogue = (next: Catalogue): Promise<string[]> =>
    exclusive(async () => {
      const rows = await sql.query<{ profile_id: string; version: string; yaml: string }>('SELECT profile_id, version, yaml FROM profile_versions');
      const problems: string[] = [];
      const decoders: Decoder[] = [];
      const failed: string[] = [];
      for (const r of rows) {
        const checked = checkProfileYaml(r.yaml, next, opts.limits);
        if (checked.ok) decoders.push(checked.decoder);
        else if (set.has(r.profile_id, r.version))
          problems.push(`profile ${r.profile_id} ${r.version}: ${checked.issues.map((i) => `${i.path || '(document)'}: ${i.message}`).join('; ')}`);
        else failed.push(`${r.profile_id}@${r.version}`);
      }
      if (problems.length > 0) return problems;
      const fresh = new VersionedProfileSet(next);
      fresh.add(decoders);
      const pins = await sql.query<{ device_id: string; profile_id: string; version: string }>('SELECT device_id, profile_id, version FROM profile_pins');
      fresh.setPins(new Map(pins.map((p) => [p.device_id, { profileId: p.profile_id, version: p.version }])));
      set = fresh;
      skipped.clear();
      for (const key of failed) skipped.add(key);
      return [];
    });

  const catalog: ProfileCatalog = {
    get catalogue() {
      return set.catalogue;
    },
    get decoders() {
      return set.decoders;
    },
    get: (id) => set.get(id),
    version: (id, version) => set.version(id, version),
    forDevice: (deviceId, profileId) => set.forDevice(deviceId, profileId),
    pinOf: (deviceId) => set.pinOf(deviceId),
    check,
    reload,
    useCatalogue,

    async publish(yaml, by) {
      const checked = check(yaml);
      if (!checked.ok) throw profileInvalid(checked.issues);
      const { id, version } = checked.decoder.profile;
      const row: VersionRow = { profile_id: id, version, source: by.source, published_at: now(), published_by: by.tokenId };
      const stored = await sql.transaction(async (tx) => {
        const [existing] = await tx.query<VersionRow & { yaml: string }>(
          'SELECT profile_id, version, source, published_at, published_by, yaml FROM profile_versions WHERE profile_id = $1 AND version = $2',
          [id, version],
        );
        if (existing) {
          if (existing.yaml !== yaml)
            throw new HubError('CONFLICT', `profile ${id} version ${version} is already published with other content; publish the change under a new version`);
          return existing;
        }
        await tx.query('INSERT INTO profile_versions (profile_id, version, yaml, source, published_at, published_by) VALUES ($1, $2, $3, $4, $5, $6)', [
          id,
          version,
          yaml,
          row.source,
          row.published_at,
          row.published_by,
        ]);
        return undefined;
      });
      set.add([checked.decoder]);
      return { info: toInfo(stored ?? row), created: stored === undefined };
    },

    async listVersions(profileId) {
      const rows = await sql.query<VersionRow>('SELECT profile_id, version, source, published_at, published_by FROM profile_versions WHERE profile_id = $1', [
        profileId,
      ]);
      return rows.map(toInfo).sort((a, b) => compareVersions(a.version, b.version));
    },

    async yamlOf(profileId, version) {
      const [row] = await sql.query<{ yaml: string }>('SELECT yaml FROM profile_versions WHERE profile_id = $1 AND version = $2', [profileId, version]);
      return row?.yaml;
    },

    async pin(deviceId, profileId, version) {
      await sql.transaction(async (tx) => {
        if (version === null) {
          await tx.query('DELETE FROM profile_pins WHERE device_id = $1', [deviceId]);
          return;
        }
        if ((await tx.query('SELECT 1 FROM profile_versions WHERE profile_id = $1 AND version = $2', [profileId, version])).length === 0) {
          throw new HubError('NOT_FOUND', `profile ${profileId} has no published version ${version}`);
        }
        // UPDATE, then INSERT when there was nothing: DuckDB refuses a DELETE and an INSERT of the same key in one transaction.
        const updated = await tx.query('UPDATE profile_pins SET profile_id = $2, version = $3, pinned_at = $4 WHERE device_id = $1 RETURNING device_id', [
          deviceId,
          profileId,
          version,
          now(),
        ]);
        if (updated.length === 0)
          await tx.query('INSERT INTO profile_pins (device_id, profile_id, version, pinned_at) VALUES ($1, $2, $3, $4)', [deviceId, profileId, version, now()]);
      });
      await reload();
    },
  };
  return catalog;
}

/**
 * The profiles shipped in the hub's folder (device-profiles/load.ts loadProfiles: a bad
 * file stops the start, as before), each stored as a version unless that version is
 * already published. The stored text is the profile as loaded, defaults written out.
 * Answers the versions that were stored with other content: those stay as published
 * (a change to a shipped profile needs a new version).
 */
export async function seedFromFolder(catalog: ProfileCatalog, folder: Iterable<Decoder>): Promise<{ added: string[]; differing: string[] }> {
  const added: string[] = [];
  const differing: string[] = [];
  for (const decoder of folder) {
    const { id, version } = decoder.profile;
    const yaml = stringify(decoder.profile);
    const stored = await catalog.yamlOf(id, version);
    if (stored !== undefined) {
      if (stored !== yaml) differing.push(`${id}@${version}`);
      continue;
    }
    try {
      await catalog.publish(yaml, { source: 'folder', tokenId: null });
      added.push(`${id}@${version}`);
    } catch (e) {
      // Another process of the split layout seeded it first.
      if (!isHubError(e) || e.code !== 'CONFLICT') throw e;
    }
  }
  return { added, differing };
}
