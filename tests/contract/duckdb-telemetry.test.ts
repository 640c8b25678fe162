import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import type { IngestBatch } from '../../kernel/telemetry.js';
import { T0, batchOf, event, reading, rejection, telemetryStoreContract } from './telemetry-store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'arena-hub-duckdb-telemetry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A fresh database file per store: every contract test starts empty. */
const freshPath = (): string => join(dir, `telemetry-${++files}.duckdb`);

telemetryStoreContract('duckdb', () => openDuckDbTelemetryStore({ path: freshPath() }));

describe('DuckDB telemetry store', () => {
  it('keeps data across close and reopen of the same file', async () => {
    const path = freshPath();
    const points = [reading(1n, T0), event(2n, T0 + 1, { attributes: { zone: 'bath' } })];
    const rejected = rejection(3n, T0 + 2);

    const first = await openDuckDbTelemetryStore({ path });
    await first.write(batchOf(points, [rejected]));
    await first.close();

    const second = await openDuckDbTelemetryStore({ path });
    try {
      const back = [];
      for await (const p of second.points({})) back.push(p);
      expect(back).toEqual(points);
      expect(await second.rejections({})).toEqual([rejected]);
      // Exactly-once survives the restart too.
      expect(await second.write(batchOf(points, [rejected]))).toEqual({ storedMessages: 0, duplicateMessages: 3 });
    } finally {
      await second.close();
    }
  });

  it('rolls back a write that fails after its messages were inserted', async () => {
    const store = await openDuckDbTelemetryStore({ path: freshPath() });
    try {
      // The fractional device time passes the batch checks and fails in the point
      // appender, i.e. inside the transaction, after the message ids were inserted.
      const good = batchOf([reading(1n, T0), reading(2n, T0 + 1)]);
      const failing: IngestBatch = { ...good, points: [good.points[0]!, reading(2n, T0 + 1.5)] };
      await expect(store.write(failing)).rejects.toThrow();

      let n = 0;
      for await (const _ of store.points({})) n++;
      expect(n).toBe(0);
      expect(await store.write(good)).toEqual({ storedMessages: 2, duplicateMessages: 0 });
    } finally {
      await store.close();
    }
  });
});
