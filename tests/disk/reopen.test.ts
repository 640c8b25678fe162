import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openReopeningStore } from '../../hub/reopening-store.js';
import { isHubError } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { batchOf, reading } from '../contract/telemetry-store.contract.js';

/**
 * A DuckDB instance that gave up ("database has been invalidated because of a previous
 * fatal error", after a failed WAL write on a full disk) is opened again behind the
 * journal, without a restart. A full filesystem here gave ENOSPC, never the invalidation,
 * so the real store is opened and its writes are made to fail with DuckDB's wording at
 * the test's command; everything else is the real file.
 */
const dir = mkdtempSync(join(tmpdir(), 'arena-reopen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INVALIDATED = 'FATAL Error: database has been invalidated because of a previous fatal error. The database must be restarted prior to being used again.';
const T0 = Date.UTC(2026, 0, 1);
const code = (e: unknown): string | undefined => (isHubError(e) ? e.code : undefined);

describe('a DuckDB store invalidated by a failed write', () => {
  it('answers STORE_UNAVAILABLE, is reopened on a later call without a restart, and keeps what it had', async () => {
    let opened = 0;
    let failWrites = false;
    const open = async (): Promise<TelemetryStore> => {
      opened += 1;
      const real = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
      return {
        write: (batch) => (failWrites ? Promise.reject(new Error(INVALIDATED)) : real.write(batch)),
        points: (query) => real.points(query),
        aggregate: (query) => real.aggregate(query),
        rejections: (query) => real.rejections(query),
        rejectionCounts: (query) => real.rejectionCounts(query),
        eraseParticipant: (id) => real.eraseParticipant(id),
        ping: () => real.ping(),
        close: () => real.close(),
      };
    };
    const store = await openReopeningStore({ open, logger: createLogger('silent'), retryMs: 10 });
    try {
      await store.write(batchOf([reading(1n, T0)]));
      failWrites = true;
      expect(code(await store.write(batchOf([reading(2n, T0 + 1)])).catch((e: unknown) => e))).toBe('STORE_UNAVAILABLE');
      failWrites = false;
      // The instance was closed on the fatal error; the next call opens the file again.
      await expect.poll(async () => code(await store.ping().catch((e: unknown) => e)) ?? 'ok').toBe('ok');
      expect(opened).toBe(2);
      expect(await store.write(batchOf([reading(2n, T0 + 1)]))).toEqual({ storedMessages: 1, duplicateMessages: 0 });
      const values: bigint[] = [];
      for await (const p of store.points({})) values.push(p.messageId);
      expect(values).toEqual([1n, 2n]);
    } finally {
      await store.close();
    }
  });
});
