import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ProfileSet } from '../device-profiles/load.js';
import { loadIngestConfig } from '../ingest/config.js';
import { HubError, isHubError } from '../kernel/errors.js';
import { createLogger, type Logger } from '../kernel/log.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { WriteResult } from '../kernel/telemetry.js';
import type { Registry } from '../kernel/registry.js';
import type { TokenRegistry } from '../kernel/tokens.js';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import { openInfluxTelemetryStore } from '../stores/influx/telemetry-store.js';
import { withOutbox } from '../stores/outbox/outbox.js';
import { openSharedPostgresRegistry } from '../stores/postgres/shared-registry.js';
import { installRegistryNotifyTriggers, withRegistryMigrationLock } from '../stores/postgres/registry-changes.js';
import { openPostgresSqlClient } from '../stores/postgres/sql-client.js';
import { PROFILE_TABLES, type ProfileCatalog } from '../stores/sql/profile-versions.js';
import { openPublishedProfiles } from './profiles.js';
import type { TimeLimits } from '../device-profiles/decode.js';
import type { AdapterConfig } from './split-config.js';

/*
 * The adapters the split services (broker/main.ts, ingest/main.ts, api/main.ts) open,
 * as their config (hub/split-config.ts) says. The all-in-one hub (hub/start.ts) always
 * uses the embedded files and does not use these.
 */

/**
 * The device profiles of a split service, as published in the shared registry
 * (stores/sql/profile-versions.ts), the folder's seeded first. Pass it to
 * openSharedRegistry(): every registry change notification reloads it, so a version
 * published through the API reaches a running broker and ingest without a restart.
 * `limits`: ingest's time limits; a service that never decodes passes the defaults.
 */
export async function openSharedProfiles(
  config: AdapterConfig,
  profilesDir: string,
  log: Logger,
  limits: TimeLimits = loadIngestConfig({}).limits,
): Promise<ProfileCatalog & { close(): Promise<void> }> {
  const sql = await openPostgresSqlClient(config.registryUrl, { max: 2 });
  try {
    const catalog = await withRegistryMigrationLock(config.registryUrl, async () => {
      const opened = await openPublishedProfiles(sql, profilesDir, limits, log);
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
    onError: (err) => registryLog.warn({ err, code: isHubError(err) ? err.code : undefined }, 'registry freshness: a reload or the change watch failed; retrying'),
  });
}

/**
 * The telemetry store. `writer`: ingest, the one process that writes; it gets the outbox
 * in front of InfluxDB, and owns the DuckDB file (`telemetry.duckdb` in dataDir).
 * `onDelivered`: what InfluxDB stored of each delivery from the outbox (a write to the
 * outbox only queues).
 */
export async function openSharedStore(
  config: AdapterConfig,
  dataDir: string,
  log: Logger,
  role: 'writer' | 'reader',
  onDelivered?: (result: WriteResult) => void,
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
  const influx = await openInfluxTelemetryStore({ url: s.url, token: s.token, org: s.org, bucket: s.bucket, database: s.database });
  if (role === 'reader') return influx;
  return withOutbox(influx, {
    dir: join(dataDir, 'outbox'),
    maxBytes: s.outboxMaxBytes,
    logger: log,
    onDelivered,
    onNearlyFull: (usedBytes) => log.warn({ event: 'outbox_nearly_full', usedBytes, maxBytes: s.outboxMaxBytes }, 'the InfluxDB outbox is nearly full'),
  });
}
