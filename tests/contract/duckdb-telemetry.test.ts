import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import type { IngestBatch } from '../../kernel/telemetry.js';
import { OPTIONAL_CAPABILITIES, T0, batchOf, event, reading, rejection, telemetryStoreContract } from './telemetry-store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'arena-hub-duckdb-telemetry-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A fresh database file per store: every contract test starts empty. */
const freshPath = (): string => join(dir, `telemetry-${++files}.duckdb`);

telemetryStoreContract('duckdb', () => openDuckDbTelemetryStore({ path: freshPath() }), { offers: OPTIONAL_CAPABILITIES });

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
      // An attribute JSON cannot hold (a bigint) passes the batch checks and fails in the point
      // appender, i.e. inside the transaction, after the message ids were inserted.
      const good = batchOf([reading(1n, T0), reading(2n, T0 + 1)]);
      const unwritable = reading(2n, T0 + 1, { attributes: { count: 1n as unknown as number } });
      const failing: IngestBatch = { ...good, points: [good.points[0]!, unwritable] };
      await expect(store.write(failing)).rejects.toThrow(/serialize a BigInt/);

      let n = 0;
      for await (const _ of store.points({})) n++;
      expect(n).toBe(0);
      expect(await store.write(good)).toEqual({ storedMessages: 2, duplicateMessages: 0 });
    } finally {
      await store.close();
    }
  });

  it('bounds what it remembers by receive time: a rejection resent after the window is kept again', async () => {
    const store = await openDuckDbTelemetryStore({ path: freshPath(), dedupWindowMs: 60_000 });
    try {
      expect(await store.write(batchOf([], [rejection(5n, T0)]))).toEqual({ storedMessages: 1, duplicateMessages: 0 });
      expect(await store.write(batchOf([], [rejection(5n, T0 + 59_000)]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
      // Past the window a rejection has no device time to be found by (stores/duckdb/README.md).
      expect(await store.write(batchOf([], [rejection(5n, T0 + 61_000)]))).toEqual({ storedMessages: 1, duplicateMessages: 0 });
      // A reading resent as late is still found by its device time.
      expect(await store.write(batchOf([reading(6n, T0)]))).toEqual({ storedMessages: 1, duplicateMessages: 0 });
      expect(await store.write(batchOf([reading(6n, T0, { receivedAt: T0 + 86_400_000 })]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
    } finally {
      await store.close();
    }
  });

  it('opens a file whose messages table has a primary key: drops the key, keeps exactly-once', async () => {
    const path = freshPath();
    await (await openDuckDbTelemetryStore({ path })).close();
    // The messages table as files had it before the dedup window; message 1 has a point, 3 was rejected.
    const instance = await DuckDBInstance.create(path);
    const c = await instance.connect();
    await c.run('DROP TABLE messages');
    await c.run('CREATE TABLE messages (id UBIGINT PRIMARY KEY, device_id VARCHAR NOT NULL, received_at BIGINT NOT NULL, status VARCHAR NOT NULL)');
    await c.run(`INSERT INTO messages VALUES (1, 'dev-a', ${T0 + 50}, 'accepted'), (3, 'dev-a', ${T0 + 52}, 'rejected')`);
    await c.run(`INSERT INTO points BY NAME SELECT 1::UBIGINT AS message_id, 0 AS seq, 'reading' AS kind, 'dev-a' AS device_id,
      'profile-a' AS profile_id, 'fluid-balance' AS family, 'intake' AS name, 1.0 AS value, 'mL' AS unit, ${T0} AS device_time,
      ${T0 + 50} AS received_at, false AS clock_skewed`);
    c.closeSync();
    instance.closeSync();

    const store = await openDuckDbTelemetryStore({ path });
    try {
      // Redelivered a day later: message 1 is found by the device time the migration took from its point.
      const later = T0 + 86_400_000;
      expect(await store.write(batchOf([reading(1n, T0, { receivedAt: later }), reading(2n, T0 + 1)]))).toEqual({ storedMessages: 1, duplicateMessages: 1 });
      expect(await store.write(batchOf([], [rejection(3n, T0 + 60)]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
    } finally {
      await store.close();
    }
    const check = await DuckDBInstance.create(path);
    const cc = await check.connect();
    try {
      const keys = await cc.runAndReadAll(`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'messages' AND constraint_type = 'PRIMARY KEY'`);
      expect(Number(keys.getRows()[0]![0])).toBe(0);
      expect((await cc.runAndReadAll('SELECT id, device_time FROM messages ORDER BY id')).getRows()).toEqual([
        [1n, BigInt(T0)],
        [2n, BigInt(T0 + 1)],
        [3n, null],
      ]);
    } finally {
      cc.closeSync();
      check.closeSync();
    }
  });
});
