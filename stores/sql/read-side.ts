import { AttributionIndex } from './attribution.js';
import { DeviceCache } from './device-directory.js';
import { loadAssignments } from './assignments.js';
import { loadDevices } from './devices.js';
import type { SqlClient } from './sql-client.js';
import { LiveTokens, loadLiveTokens } from './tokens.js';
import { loadTrials } from './trials.js';

/**
 * What the registry holds in memory for the per-message and per-request reads: the
 * device directory (credentials, profile, attribution), the live tokens, and the trials
 * and assignments behind attribution. Everything else is read from SQL on each call.
 */
export interface ReadSide {
  readonly directory: DeviceCache;
  readonly tokens: LiveTokens;
  readonly index: AttributionIndex;
}

/**
 * Reads a complete read side into new objects, in one read-only transaction so the
 * tables agree with each other (no assignment of a device the device map lacks). It
 * touches nothing that is in use: a failure leaves the caches being read untouched.
 */
export async function loadReadSide(sql: SqlClient): Promise<ReadSide> {
  return sql.transaction(
    async (tx) => {
      const index = new AttributionIndex();
      const directory = new DeviceCache(index);
      const tokens = new LiveTokens();
      await loadDevices(tx, directory);
      await loadLiveTokens(tx, tokens);
      await loadTrials(tx, index);
      await loadAssignments(tx, index);
      return { directory, tokens, index };
    },
    { readOnly: true },
  );
}

/**
 * Moves a freshly loaded read side into the one in use, synchronously: no reader (they
 * all run on this event loop) sees some parts swapped and others not. The objects in
 * use stay the same, so the broker and ingest keep their references.
 */
export function swapReadSide(live: ReadSide, fresh: ReadSide): void {
  live.directory.replaceWith(fresh.directory);
  live.tokens.replaceWith(fresh.tokens);
  live.index.replaceWith(fresh.index);
}
