import type { ProfileSet } from '../../device-profiles/load.js';
import type { DeviceRegistry, Registry } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import type { SqlClient } from './sql-client.js';
import { migrate } from './migrations.js';
import { sqlSites } from './places.js';
import { sqlVendors } from './vendors.js';
import { sqlDevices } from './devices.js';
import { sqlTokens } from './tokens.js';
import { AttributionIndex } from './attribution.js';
import { sqlTrials, type TrialStore } from './trials.js';
import { sqlAssignments, type AssignmentStore } from './assignments.js';
import { sqlParticipants } from './participants.js';
import { sqlConsents } from './consents.js';
import { sqlAuditLog } from './audit-log.js';
import { sqlExports } from './exports.js';

export interface SqlRegistryOptions {
  readonly profiles: ProfileSet;
  /** Clock for createdAt and token expiry; tests pin it. */
  readonly now?: () => number;
}

/**
 * The registry on any SqlClient (DuckDB file or PostgreSQL). Migrates the schema, then
 * loads devices, live tokens, trials and assignments into memory for the per-message
 * and per-request reads. Takes ownership of `sql`: close() closes it.
 */
export async function openSqlRegistry(sql: SqlClient, opts: SqlRegistryOptions): Promise<Registry & TokenRegistry> {
  const now = opts.now ?? Date.now;
  const index = new AttributionIndex();
  let devices: DeviceRegistry;
  let tokens: TokenRegistry;
  let trials: TrialStore;
  let assignments: AssignmentStore;
  try {
    await migrate(sql, now);
    devices = await sqlDevices(sql, opts.profiles, now, index);
    tokens = await sqlTokens(sql, now);
    trials = await sqlTrials(sql, now, index);
    assignments = await sqlAssignments(sql, now, index);
  } catch (e) {
    // Owned from the call on: a failed open must not leave the database file locked.
    await sql.close().catch(() => undefined);
    throw e;
  }
  return {
    ...sqlSites(sql, now),
    ...sqlVendors(sql, now),
    ...tokens,
    ...devices,
    ...trials,
    ...assignments,
    ...sqlParticipants(sql, now, index),
    ...sqlConsents(sql, now),
    ...sqlExports(sql),
    audit: sqlAuditLog(sql, now),
    close: () => sql.close(),
  };
}
