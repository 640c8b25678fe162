import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { batchOf, reading, T0 } from '../contract/telemetry-store.contract.js';

/** A telemetry file written before points named their profile version keeps its points and takes versioned ones: the column is added on open. */
const dir = mkdtempSync(join(tmpdir(), 'arena-profile-version-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('profile_version on the DuckDB points table', () => {
  it('is added to an older file, absent on its old points and kept on new ones', async () => {
    const path = join(dir, 'telemetry.duckdb');
    const old = reading(1n, T0);
    let store = await openDuckDbTelemetryStore({ path });
    await store.write(batchOf([old]));
    await store.close();
    // The file as a release before the column wrote it.
    const instance = await DuckDBInstance.create(path);
    const c = await instance.connect();
    await c.run('ALTER TABLE points DROP COLUMN profile_version');
    c.closeSync();
    instance.closeSync();

    store = await openDuckDbTelemetryStore({ path });
    try {
      const versioned = reading(2n, T0 + 1000, { profileVersion: '1.1.0' });
      await store.write(batchOf([versioned]));
      const points = [];
      for await (const p of store.points({})) points.push(p);
      expect(points.map((p) => [p.messageId, p.profileVersion])).toEqual([
        [1n, undefined],
        [2n, '1.1.0'],
      ]);
    } finally {
      await store.close();
    }
  });
});
