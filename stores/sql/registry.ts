import type { ProfileSet } from '../../device-profiles/load.js';
import type { DeviceRegistry, Registry } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import type { SqlClient } from './sql-client.js';
import { migrate } from './migrations.js';
import { sqlSites } from './places.js';
import { sqlVendors } from './vendors.js';
import { sqlDevices } from './devices.js';
import { sqlTokens } from './tokens.js';

export interface SqlRegistryOptions {
  readonly profiles: ProfileSet;
  /** Clock for createdAt and token expiry; tests pin it. */
  readonly now?: () => number;
}

/**
 * The registry on any SqlClient (DuckDB file or PostgreSQL). Migrates the schema, then
 * loads devices and live tokens into memory for the per-message and per-request reads.
 * Takes ownership of `sql`: close() closes it.
 */
export async function openSqlRegistry(sql: SqlClient, opts: SqlRegistryOptions): Promise<Registry & TokenRegistry> {
  const now = opts.now ?? Date.now;
  let devices: DeviceRegistry;
  let tokens: TokenRegistry;
  try {
    await migrate(sql, now);
    devices = await sqlDevices(sql, opts.profiles, now);
    tokens = await sqlTokens(sql, now);
  } catch (e) {
    // Owned from the call on: a failed open must not leave the database file locked.
    await sql.close().catch(() => undefined);
    throw e;
  }
  const sites = sqlSites(sql, now);
  const vendors = sqlVendors(sql, now);
  return {
    ...sites,
    ...vendors,
    ...tokens,
    ...devices,
    close: () => sql.close(),
  };
}
