import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { batchOf, rejection } from '../contract/telemetry-store.contract.js';

/** A telemetry file written before rejections were attributed keeps working: the columns are added on open. */
const dir = mkdtempSync(join(tmpdir(), 'arena-upgrade-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('DuckDB rejections table of an older file', () => {
  it('gains the attribution columns, keeps its rows, and takes attributed rejections', async () => {
    const path = join(dir, 'telemetry.duckdb');
    const old = await DuckDBInstance.create(path);
    const c = await old.connect();
    await c.run(`CREATE TABLE rejections (message_id UBIGINT NOT NULL, device_id VARCHAR NOT NULL, profile_id VARCHAR, topic VARCHAR NOT NULL,
      code VARCHAR NOT NULL, path VARCHAR NOT NULL, message VARCHAR NOT NULL, payload VARCHAR NOT NULL, received_at BIGINT NOT NULL)`);
    await c.run(
      `INSERT INTO rejections VALUES (1, 'dev-a', 'profile-a', 'arena/dev-a/data', 'SCHEMA_VIOLATION', '$.v', 'expected a number', '{"v":"x"}', 1000)`,
    );
    c.closeSync();
    old.closeSync();

    const store = await openDuckDbTelemetryStore({ path });
    try {
      const fresh = rejection(2n, 2000, { siteId: 's', roomId: 'r', trialId: 't', participantId: 'p' });
      await store.write(batchOf([], [fresh]));
      expect(await store.rejections({})).toEqual([fresh, rejection(1n, 1000)]);
      await store.eraseParticipant('p');
      expect((await store.rejections({}))[0]).toEqual({ ...fresh, participantId: null, payload: null, message: '' });
    } finally {
      await store.close();
    }
  });
});
