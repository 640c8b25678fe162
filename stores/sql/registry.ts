import type { KnownProfiles, Registry } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import type { SqlClient } from './sql-client.js';
import { migrate } from './migrations.js';
import { sqlSites } from './places.js';
import { sqlVendors } from './vendors.js';
import { sqlDevices } from './devices.js';
import { sqlTokens } from './tokens.js';
import { sqlTrials } from './trials.js';
import { sqlAssignments } from './assignments.js';
import { sqlParticipants } from './participants.js';
import { sqlConsents } from './consents.js';
import { AUDIT_LEDGER, AUDIT_MIGRATIONS, sqlAuditLog } from './audit-log.js';
import { newAuditKey } from '../../kernel/audit.js';
import { sqlExports } from './exports.js';
import { CacheFreshness, serialised } from './freshness.js';
import { loadReadSide, swapReadSide, type ReadSide } from './read-side.js';

export interface SqlRegistryOptions {
  /** Device profiles; one that changes while the hub runs (stores/sql/profile-versions.ts) is reloaded with the registry. */
  readonly profiles: KnownProfiles & { reload?(): Promise<void> };
  /** Clock for createdAt and token expiry; tests pin it. */
  readonly now?: () => number;
  /**
   * Failures of the reloads the registry starts by itself: one after a write-through
   * that may have overwritten a newer change from another process (stores/sql/freshness.ts).
   */
  readonly onReloadError?: (e: unknown) => void;
  /**
   * The audit log's HMAC key (audit/key.ts). Without one, a random key that lives as long
   * as this registry: enough for a process that never writes or verifies the log (broker,
   * ingest) and for tests; a process that does must pass the kept key.
   */
  readonly auditKey?: Buffer;
}

/**
 * The registry on any SqlClient (DuckDB file or PostgreSQL). Migrates the schema, then
 * loads devices, live tokens, trials and assignments into memory for the per-message
 * and per-request reads; reload() reads them again (stores/sql/read-side.ts). Takes
 * ownership of `sql`: close() closes it.
 */
export async function openSqlRegistry(sql: SqlClient, opts: SqlRegistryOptions): Promise<Registry & TokenRegistry> {
  const now = opts.now ?? Date.now;
  let live: ReadSide;
  try {
    await migrate(sql, now);
    await migrate(sql, now, AUDIT_MIGRATIONS, AUDIT_LEDGER);
    live = await loadReadSide(sql);
  } catch (e) {
    // Owned from the call on: a failed open must not leave the database file locked.
    await sql.close().catch(() => undefined);
    throw e;
  }

  let closed = false;
  const freshness = new CacheFreshness(() => {
    if (!closed) reload().catch((e: unknown) => opts.onReloadError?.(e));
  });
  const reloadReadSide = serialised(() =>
    freshness.reload(
      () => loadReadSide(sql),
      (fresh) => swapReadSide(live, fresh),
    ),
  );
  const reload = async (): Promise<void> => {
    await Promise.all([reloadReadSide(), opts.profiles.reload?.()]);
  };
  const { directory, tokens, index } = live;

  return {
    ...sqlSites(sql, now),
    ...sqlVendors(sql, now),
    ...sqlTokens(sql, now, tokens, freshness),
    ...sqlDevices(sql, opts.profiles, now, directory, freshness),
    ...sqlTrials(sql, now, index, freshness),
    ...sqlAssignments(sql, now, index, freshness),
    ...sqlParticipants(sql, now, index, freshness),
    ...sqlConsents(sql, now),
    ...sqlExports(sql),
    audit: sqlAuditLog(sql, now, opts.auditKey ?? newAuditKey()),
    reload,
    close: () => {
      closed = true;
      return sql.close();
    },
  };
}
