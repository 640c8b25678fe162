import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalogue } from '../device-profiles/catalogue.js';
import type { TimeLimits } from '../device-profiles/decode.js';
import { loadProfiles, type ProfileSet } from '../device-profiles/load.js';
import type { Catalogue } from '../kernel/measurements.js';
import { HubError, isHubError } from '../kernel/errors.js';
import { createLogger, type Logger } from '../kernel/log.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { WriteResult } from '../kernel/telemetry.js';
import type { Registry } from '../kernel/registry.js';
import type { TokenRegistry } from '../kernel/tokens.js';
import type { TrialRegistry } from '../kernel/trials.js';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import { loadOrCreateParticipantTagKey } from '../stores/influx/participant-tag.js';
import { openInfluxTelemetryStore } from '../stores/influx/telemetry-store.js';
import { withOutbox, type OutboxStore } from '../stores/outbox/outbox.js';
import { openSharedPostgresRegistry } from '../stores/postgres/shared-registry.js';
import { coalesceReloads, installRegistryNotifyTriggers, watchRegistryChanges, withRegistryMigrationLock } from '../stores/postgres/registry-changes.js';
import { openPostgresSqlClient } from '../stores/postgres/sql-client.js';
import type { ProfileCatalog } from '../device-profiles/versions.js';
import { openProfileCatalog, PROFILE_TABLES, seedFromFolder } from '../stores/sql/profile-versions.js';
import type { SqlClient } from '../kernel/sql.js';
import type { AdapterConfig, ProcessConfig } from './config.js';

/*
 * The adapters the split services (broker/main.ts, ingest/main.ts, api/main.ts) open,
 * as their config (service/config.ts) says. The all-in-one hub (hub/start.ts) always
 * uses the embedded files and does not use these.
 */

/**
 * The device profiles as published in the registry database, after the hub's profile
 * folder has added its new versions (stores/sql/profile-versions.ts), compiled against
 * the catalogue (the shipped one and ARENA_CATALOGUE_DIR). Does not own `sql`.
 */
export async function openPublishedProfiles(
  sql: SqlClient,
  from: { readonly profilesDir: string; readonly catalogue: Catalogue },
  limits: TimeLimits,
  log: Logger,
): Promise<ProfileCatalog> {
  const catalog = await openProfileCatalog(sql, {
    limits,
    catalogue: from.catalogue,
    // The measurement catalogue lost an entry the version uses: its devices' messages are rejected until it is fixed.
    onSkipped: (profileId, version, issues) => log.warn({ profileId, version, issues }, 'a published profile version no longer loads; skipped'),
  });
  const { added, differing } = await seedFromFolder(catalog, loadProfiles(from.profilesDir, limits, from.catalogue).decoders.values());
  if (added.length > 0) log.info({ profiles: added }, "published the profile folder's new versions");
  if (differing.length > 0) {
    log.warn(
      { profiles: differing },
      'profile folder files differ from the versions already published under their version numbers; the published ones stay in force (give a changed profile a new version)',
    );
  }
  return catalog;
}

const NO_TIME_LIMITS = { skewMs: Infinity, maxPastMs: Infinity, maxFutureMs: Infinity } as const;

/**
 * The device profiles of a split service, as published in the shared registry
 * (stores/sql/profile-versions.ts), the folder's seeded first. Pass it to
 * openSharedRegistry(): every registry change notification reloads it, so a version
 * published through the API reaches a running broker and ingest without a restart.
 * `limits`: ingest's time limits; a service that never decodes with them (the broker
 * needs their topics, the API shows them) passes none, so no device clock is judged.
 */
export async function openSharedProfiles(
  config: AdapterConfig,
  process: Pick<ProcessConfig, 'profilesDir' | 'catalogueDirs'>,
  log: Logger,
  limits: TimeLimits = NO_TIME_LIMITS,
): Promise<ProfileCatalog & { close(): Promise<void> }> {
  const sql = await openPostgresSqlClient(config.registryUrl, { max: 2 });
  try {
    const catalog = await withRegistryMigrationLock(config.registryUrl, async () => {
      const opened = await openPublishedProfiles(sql, { profilesDir: process.profilesDir, catalogue: loadCatalogue(process.catalogueDirs) }, limits, log);
      await installRegistryNotifyTriggers(sql, PROFILE_TABLES);
      return opened;
    });
    return Object.assign(catalog, { close: () => sql.close() });
  } catch (e) {
    await sql.close();
    throw e;
  }
}

/**
 * The shared registry on PostgreSQL, kept fresh with the other services' writes by
 * LISTEN/NOTIFY (stores/postgres/shared-registry.ts): a device or token created through
 * the API reaches a running broker and ingest without a restart. `log`: the service's
 * logger; without one, problems still reach stdout at warn level.
 */
export async function openSharedRegistry(config: AdapterConfig, profiles: ProfileSet, log?: Logger, auditKey?: Buffer): Promise<Registry & TokenRegistry> {
  const registryLog = (log ?? createLogger('warn')).child({ component: 'registry' });
  return openSharedPostgresRegistry(config.registryUrl, {
    profiles,
    ...(auditKey ? { auditKey } : {}),
    // The reload is retried and the watch reconnects by themselves: warn, not error.
    onError: (err) =>
      registryLog.warn({ err, code: isHubError(err) ? err.code : undefined }, 'registry freshness: a reload or the change watch failed; retrying'),
  });
}

/**
 * The key of InfluxDB's participant tags (stores/influx/participant-tag.ts), kept in the
 * registry database that every split service shares, created by the first to ask.
 */
export async function loadParticipantTagKey(registryUrl: string): Promise<Buffer> {
  const sql = await openPostgresSqlClient(registryUrl, { max: 1 });
  try {
    return await withRegistryMigrationLock(registryUrl, () => loadOrCreateParticipantTagKey(sql));
  } finally {
    await sql.close();
  }
}

/**
 * The telemetry store. `writer`: ingest, the one process that writes; it gets the outbox
 * in front of InfluxDB, and owns the DuckDB file (`telemetry.duckdb` in dataDir).
 * `onDelivered`: what InfluxDB stored of each delivery from the outbox (a write to the
 * outbox only queues). `participants`: the registry, asked before each delivery which of
 * its participants the API erased meanwhile (their points are not written; issue #11),
 * and whom the outbox's files must forget (forgetErasedInOutbox).
 */
export async function openSharedStore(
  config: AdapterConfig,
  dataDir: string,
  log: Logger,
  role: 'writer' | 'reader',
  onDelivered?: (result: WriteResult) => void,
  participants?: Pick<TrialRegistry, 'erasedParticipants'>,
): Promise<TelemetryStore> {
  const s = config.store;
  if (s.kind === 'duckdb') {
    mkdirSync(dataDir, { recursive: true });
    try {
      return await openDuckDbTelemetryStore({ path: join(dataDir, 'telemetry.duckdb') });
    } catch (e) {
      const hint = role === 'reader' ? '; a split API reads InfluxDB (ARENA_STORE=influx), ingest owns the DuckDB file' : '';
      throw new HubError('STORE_UNAVAILABLE', `cannot open ${join(dataDir, 'telemetry.duckdb')}: ${(e as Error).message}${hint}`, { cause: e });
    }
  }
  const participantKey = await loadParticipantTagKey(config.registryUrl);
  const influx = await openInfluxTelemetryStore({
    url: s.url,
    token: s.token,
    org: s.org,
    bucket: s.bucket,
    database: s.database,
    participantKey,
    logger: log,
    ...(participants ? { erasedAmong: erasedAmong(participants) } : {}),
  });
  if (role === 'reader') return influx;
  const outbox = await withOutbox(influx, {
    dir: join(dataDir, 'outbox'),
    maxBytes: s.outboxMaxBytes,
    logger: log,
    onDelivered,
    onNearlyFull: (usedBytes) => log.warn({ event: 'outbox_nearly_full', usedBytes, maxBytes: s.outboxMaxBytes }, 'the InfluxDB outbox is nearly full'),
  });
  if (!participants) return outbox;
  return forgetErasedInOutbox(outbox, config.registryUrl, participants, log).catch(async (e: unknown) => {
    await outbox.close();
    throw e;
  });
}

/**
 * The API erases in its own process; ingest's outbox files (queued, delivered but not
 * yet deleted, set aside) may still hold the participant's lines, even while InfluxDB is
 * down. So every participant the registry shows erased is forgotten by the outbox
 * (outbox.ts forgetParticipants), which also leaves them out of later batches
 * (followErasures: at open and at every change of the registry's participants).
 */
async function forgetErasedInOutbox(
  outbox: OutboxStore,
  registryUrl: string,
  participants: Pick<TrialRegistry, 'erasedParticipants'>,
  log: Logger,
): Promise<OutboxStore> {
  const follow = await followErasures(registryUrl, participants, log, 'outbox', async (erased) => {
    const held = await outbox.forgetParticipants(erased);
    // How many, never whom: the ids are what erasure removes.
    if (held > 0) log.info({ event: 'outbox_erased_lines_removed', participants: held }, "erased participants' lines removed from the outbox files");
  });
  const closeOutbox = outbox.close.bind(outbox);
  return Object.assign(outbox, {
    close: async () => {
      await follow.close();
      await closeOutbox();
    },
  });
}

/**
 * Runs `forget` with every participant the registry shows erased: once before it
 * resolves, and again at every change of the registry's participants (its change
 * notifications: the API marks a participant erased before it erases anything else), so
 * a process of the split layout (ingest's outbox, the broker's session store) also
 * forgets those erased while it was down. Passes run one at a time; a failed pass is
 * tried again after RETRY_FORGET_MS. close() ends the watch and the retries.
 */
export async function followErasures(
  registryUrl: string,
  participants: Pick<TrialRegistry, 'erasedParticipants'>,
  log: Logger,
  what: string,
  forget: (erased: readonly string[]) => Promise<void>,
): Promise<{ close(): Promise<void> }> {
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const pass = async (): Promise<void> => forget(await participants.erasedParticipants());
  const retryLater = (err: unknown): void => {
    if (closed) return;
    log.warn({ err, what }, "could not remove erased participants' data; trying again");
    clearTimeout(retry);
    retry = setTimeout(run, RETRY_FORGET_MS);
    retry.unref();
  };
  const run = coalesceReloads(pass, retryLater);
  const watch = await watchRegistryChanges(registryUrl, (table) => (table === '' || table === 'participants' ? run() : undefined), {
    onError: (err) => log.warn({ err, what }, 'registry change watch (erasures): reconnecting'),
  });
  await pass().catch(retryLater);
  return {
    close: async () => {
      closed = true;
      clearTimeout(retry);
      await watch.close();
    },
  };
}

const RETRY_FORGET_MS = 5_000;

/** Which of `ids` the registry has marked erased; read from PostgreSQL at each call (one query), not from a cache. */
export function erasedAmong(participants: Pick<TrialRegistry, 'erasedParticipants'>): (ids: readonly string[]) => Promise<ReadonlySet<string>> {
  return async (ids) => new Set(await participants.erasedParticipants(ids));
}
