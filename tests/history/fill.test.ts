import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { IngestBatch, Reading } from '../../kernel/telemetry.js';
import { openJournaledStore } from '../../hub/journaled-store.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { batchOf, reading } from '../contract/telemetry-store.contract.js';

/**
 * A store with history at a small memory limit (issue 24, item 6). With the message ids
 * under a primary key, DuckDB refused every commit from about 1.09 M stored messages at
 * 64MB ("failed to pin block"); here 3 M are seeded with SQL into a 48MB store, then
 * messages are written through the hub's journal in its batch size, with redeliveries,
 * and every acknowledged message must be readable, once.
 */
const root = mkdtempSync(join(tmpdir(), 'arena-fill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const logger = createLogger('silent');

const SEEDED = 3_000_000;
const WRITTEN = 20_000;
const BATCH = 125;
const MEMORY = '48MB';
const HOUR = 3_600_000;

describe('a store filled past where a keyed index gave out', () => {
  it('stores and returns every acknowledged message once at 48MB with 3 M messages of history', async () => {
    const dataDir = join(root, 'hub');
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, 'telemetry.duckdb');
    const now = Date.now();
    await (await openDuckDbTelemetryStore({ path, memoryLimit: MEMORY })).close();
    await seed(path, now - 2 * HOUR);

    const store = await openJournaledStore({ dataDir, maxBytes: 64 * 1024 * 1024, memoryLimit: MEMORY, logger });
    try {
      const sent: IngestBatch[] = [];
      for (let k = 0; k < WRITTEN / BATCH; k++) {
        const points: Reading[] = Array.from({ length: BATCH }, (_, i) => {
          const n = k * BATCH + i;
          return reading((BigInt(n) * 0x9e3779b97f4a7c15n) % 2n ** 64n, now + n, { deviceId: `dev-${n % 50}`, value: n, receivedAt: now + n });
        });
        const b = batchOf(points);
        // Every tenth batch also carries five messages of the one before: a device resending.
        const resent = k % 10 === 9 ? batchOf(sent.at(-1)!.points.slice(0, 5)) : undefined;
        await store.write(resent ? { messages: [...b.messages, ...resent.messages], points: [...b.points, ...resent.points], rejections: [] } : b);
        sent.push(b);
      }
      // A message of the seeded history, sent again: its device time finds it.
      await store.write(batchOf([reading(seededId(42), now - 2 * HOUR - SEEDED * 50 + 42 * 50, { receivedAt: now + WRITTEN })]));
      await store.drained();
      expect(store.status()).toMatchObject({ storeFailing: false, waitingBytes: 0, setAsideBatches: 0 });

      const expected = new Set(sent.flatMap((b) => b.messages.map((m) => m.id)));
      let seen = 0;
      const twice: bigint[] = [];
      const found = new Set<bigint>();
      for await (const p of store.points({ from: now })) {
        seen++;
        if (found.has(p.messageId)) twice.push(p.messageId);
        found.add(p.messageId);
      }
      expect(twice).toEqual([]);
      expect(seen).toBe(WRITTEN);
      expect([...expected].filter((id) => !found.has(id))).toEqual([]);
      // Each device's newest reading is there.
      const newest = await collect(store.points({ deviceIds: ['dev-49'], order: 'desc', limit: 1 }));
      expect(newest.map((p) => (p.kind === 'reading' ? p.value : null))).toEqual([WRITTEN - 1]);
      // The seeded message was not stored a second time.
      expect(await collect(store.points({ from: now - 2 * HOUR - SEEDED * 50 + 42 * 50, to: now - 2 * HOUR - SEEDED * 50 + 42 * 50 + 1 }))).toHaveLength(1);
    } finally {
      await store.close();
    }
  }, 600_000);

  it('checks a batch for repeats at 48MB while its dedup window holds 3 M messages', async () => {
    // A busy arena: 3 M messages received within the last hour (the dedup window), ~830 a
    // second. The repeat check once built a hash table of every id in the window and ran
    // out of memory at 48MB (found by the 200-device soak: the journal then only grew).
    const path = join(root, 'window.duckdb');
    const now = Date.now();
    await (await openDuckDbTelemetryStore({ path, memoryLimit: MEMORY })).close();
    await seed(path, now - 1000, 1);
    const store = await openDuckDbTelemetryStore({ path, memoryLimit: MEMORY });
    try {
      for (let k = 0; k < 40; k++) {
        const points = Array.from({ length: 500 }, (_, i) =>
          reading(BigInt(10_000_000 + k * 500 + i), now + k * 500 + i, { deviceId: `win-${i % 50}`, receivedAt: now + i }),
        );
        expect(await store.write(batchOf(points))).toEqual({ storedMessages: 500, duplicateMessages: 0 });
      }
      // A seeded message inside the window, sent again: found by its receive time.
      const again = reading(seededId(7), now - 1000 - SEEDED + 7, { receivedAt: now + 1 });
      expect(await store.write(batchOf([again]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
    } finally {
      await store.close();
    }
  }, 600_000);
});

/** The id of seeded message i (DuckDB's hash of i, as the seed below writes it). */
let seededIds: bigint[] = [];
const seededId = (i: number): bigint => seededIds[i]!;

/** SEEDED messages with one reading each, one every `everyMs` up to `end`, in two statements. */
async function seed(path: string, end: number, everyMs = 50): Promise<void> {
  const instance = await DuckDBInstance.create(path, { memory_limit: '512MB' });
  const c = await instance.connect();
  try {
    const at = `(${end - SEEDED * everyMs} + i * ${everyMs})`;
    await c.run(`INSERT INTO messages BY NAME SELECT hash(i)::UBIGINT AS id, 'seed-' || (i % 200) AS device_id,
      ${at} AS received_at, 'accepted' AS status, ${at} AS device_time FROM range(${SEEDED}) t(i)`);
    await c.run(`INSERT INTO points BY NAME SELECT hash(i)::UBIGINT AS message_id, 0 AS seq, 'reading' AS kind,
      'dev-a' AS device_id, 'profile-a' AS profile_id, 'fluid-balance' AS family, 'site-1' AS site_id, 'room-1' AS room_id,
      'trial-1' AS trial_id, 'p-1' AS participant_id, 'intake' AS name, 1.0 AS value, 'mL' AS unit,
      ${at} AS device_time, ${at} + 50 AS received_at, false AS clock_skewed FROM range(${SEEDED}) t(i)`);
    const ids = await c.runAndReadAll('SELECT hash(i)::UBIGINT FROM range(100) t(i) ORDER BY i');
    seededIds = ids.getRows().map((r) => r[0] as bigint);
    await c.run('CHECKPOINT');
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
