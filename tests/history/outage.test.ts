import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { IngestBatch, MessageId } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { withOutbox, type OutboxStore } from '../../stores/outbox/outbox.js';
import { openJournaledStore } from '../../hub/journaled-store.js';
import { T0, batchOf, reading } from '../contract/telemetry-store.contract.js';
import { startApi, type ApiFixture } from '../api/fixture.js';
import { until } from '../helpers/poll.js';

/**
 * A store that refuses is an outage, not bad data (issue 24, item 5): the real DuckDB
 * store behind the real journal, with a gate in between that refuses writes at the
 * test's command, as DuckDB does when it runs out of memory. /readyz is the real route.
 */
const root = mkdtempSync(join(tmpdir(), 'arena-outage-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const logger = createLogger('silent');
let dirs = 0;

/**
 * Refuses every write (outage), or only batches holding one of `invalid` (a bad batch);
 * with `outageAfter`, the outage starts after that many more accepted writes.
 */
type Gate = { outage: boolean; invalid: Set<MessageId>; outageAfter?: number };

function gated(inner: TelemetryStore, gate: Gate): TelemetryStore {
  return {
    write: async (b) => {
      if (gate.outage) throw new Error('Out of Memory Error: failed to pin block of size 256.0 KiB (47.9 MiB/48.0 MiB used)');
      if (b.messages.some((m) => gate.invalid.has(m.id))) throw new Error('Conversion Error: this batch cannot be stored');
      const result = await inner.write(b);
      if (gate.outageAfter !== undefined && --gate.outageAfter === 0) gate.outage = true;
      return result;
    },
    points: (q) => inner.points(q),
    aggregate: (q) => inner.aggregate(q),
    rejections: (q) => inner.rejections(q),
    rejectionCounts: (q) => inner.rejectionCounts(q),
    eraseParticipant: (id) => inner.eraseParticipant(id),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
}

/** The hub's journal options (hub/journaled-store.ts), in dataDir/journal, with short retries. */
async function openGated(dataDir: string, gate: Gate): Promise<OutboxStore> {
  mkdirSync(dataDir, { recursive: true });
  const duckdb = await openDuckDbTelemetryStore({ path: join(dataDir, 'telemetry.duckdb'), memoryLimit: '48MB' });
  return withOutbox(gated(duckdb, gate), {
    dir: join(dataDir, 'journal'),
    maxBytes: 64 * 1024 * 1024,
    whenFull: 'wait',
    readYourWrites: true,
    drainOnClose: true,
    eraseWaitMs: 2000,
    retry: { minMs: 10, maxMs: 100 },
    logger,
  });
}

/** Batch k: messages 100k+1 … 100k+n, one reading each. */
const batch = (k: number, n = 10): IngestBatch => batchOf(Array.from({ length: n }, (_, i) => reading(BigInt(k * 100 + i + 1), T0 + k * 1000 + i)));

/** Message ids stored, each as often as stored (a point per message). */
async function storedIds(store: TelemetryStore): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const p of store.points({})) out.push(p.messageId);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

const idsOf = (batches: readonly IngestBatch[]): bigint[] => batches.flatMap((b) => b.messages.map((m) => m.id)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

describe('a store that refuses writes', () => {
  it('keeps batches in the journal, says so on /readyz and in the status, and loads them all once it recovers', async () => {
    const dataDir = join(root, `hub-${++dirs}`);
    const gate: Gate = { outage: false, invalid: new Set() };
    const store = await openGated(dataDir, gate);
    let api: ApiFixture | undefined;
    try {
      const counters = {
        received: 0,
        accepted: 0,
        rejected: 0,
        acknowledged: 0,
        storedMessages: 0,
        duplicates: 0,
        batches: 0,
        failedMessages: 0,
        largestBatch: 0,
        rejectedByCode: {},
      };
      api = await startApi({ store, ingestStats: () => ({ ...counters, journal: store.status() }) });
      const before = [batch(1), batch(2)];
      for (const b of before) await store.write(b);
      await store.drained();
      expect((await api.call({ url: '/readyz' })).statusCode).toBe(200);

      gate.outage = true;
      const during = [batch(3), batch(4), batch(5)];
      // Acknowledged: durable in the journal though the store refuses them.
      for (const b of during) await store.write(b);
      await until('the store to be reported failing', () => store.status().storeFailing);
      const ready = await api.call({ url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json().detail).toMatch(/refuses writes since .*bytes wait in the journal/);
      expect(ready.body).not.toMatch(/pin block/); // the engine's own words stay in the admin status and the log
      const status = store.status();
      expect(status.waitingBytes).toBeGreaterThan(0);
      expect(status.setAsideBatches).toBe(0);
      expect(status.lastError).toMatch(/failed to pin block/);
      const stats = await api.call({ url: '/v1/ingest/stats', token: api.tokens.admin });
      expect(stats.json().journal).toMatchObject({ storeFailing: true, setAsideBatches: 0, lastError: expect.stringMatching(/failed to pin block/) });
      expect(stats.json().journal.waitingBytes).toBeGreaterThan(0);

      gate.outage = false;
      await until('/readyz to recover', async () => (await api!.call({ url: '/readyz' })).statusCode === 200);
      await store.drained();
      expect(store.status()).toMatchObject({ storeFailing: false, waitingBytes: 0, setAsideBatches: 0 });
      expect(await storedIds(store)).toEqual(idsOf([...before, ...during]));
    } finally {
      await api?.dispose();
      await store.close();
    }
  });

  it('sets aside only a batch refused alone while others are stored; the requeue command puts it back once, with nothing lost', async () => {
    const dataDir = join(root, `hub-${++dirs}`);
    const bad = batch(7);
    const gate: Gate = { outage: false, invalid: new Set([bad.messages[0]!.id]) };
    const store = await openGated(dataDir, gate);
    const good = [batch(6), batch(8), batch(9)];
    try {
      // Alone, the bad batch proves nothing: the store took nothing else, so it waits.
      await store.write(bad);
      await until('the lone refusal to count as an outage', () => store.status().storeFailing);
      expect(store.status().setAsideBatches).toBe(0);
      // Once the store takes other batches, the one it still refuses is set aside.
      for (const b of good) await store.write(b);
      await store.drained();
      expect(store.status()).toMatchObject({ storeFailing: false, waitingBytes: 0, setAsideBatches: 1, setAsideMessages: 10 });
      expect(await storedIds(store)).toEqual(idsOf(good));
    } finally {
      await store.close();
    }

    // The cause is fixed; the operator runs the command on the data folder, the hub stopped.
    const run = await promisify(execFile)(process.execPath, ['dist/hub/requeue.js'], {
      env: { ...process.env, ARENA_DATA_DIR: dataDir, ARENA_DUCKDB_MEMORY_LIMIT: '48MB', LOG_LEVEL: 'silent' },
    });
    expect(run.stdout).toMatch(/requeued 1 batches \(10 messages\) and loaded them into the store; 0 set aside/);

    const after = await openJournaledStore({ dataDir, maxBytes: 64 * 1024 * 1024, memoryLimit: '48MB', logger });
    try {
      expect(await storedIds(after)).toEqual(idsOf([...good, bad]));
      expect(after.status()).toMatchObject({ setAsideBatches: 0, waitingBytes: 0 });
      // Requeueing again finds nothing; writing the bad batch again stores nothing twice.
      expect(await after.requeueSetAside()).toEqual({ batches: 0, messages: 0 });
      await after.write(bad);
      expect(await storedIds(after)).toEqual(idsOf([...good, bad]));
    } finally {
      await after.close();
    }
  });

  it('keeps the rest of a delivery queued when an outage starts part-way through it', async () => {
    const dataDir = join(root, `hub-${++dirs}`);
    const bad = batch(11);
    const gate: Gate = { outage: true, invalid: new Set([bad.messages[0]!.id]) };
    const store = await openGated(dataDir, gate);
    const [g1, g2, g3] = [batch(10), batch(12), batch(13)];
    try {
      // Queued during an outage, so they reach the store as one delivery.
      for (const b of [g1!, bad, g2!, g3!]) await store.write(b);
      await until('the outage to be seen', () => store.status().storeFailing);
      // The store comes back, takes two batches one by one (the merged write holds the
      // bad one), refuses the bad one, then fails again before the last.
      gate.outageAfter = 2;
      gate.outage = false;
      await until('the bad batch to be set aside', () => store.status().setAsideBatches === 1);
      expect(store.status().storeFailing).toBe(true);
      expect(store.status().waitingBytes).toBeGreaterThan(0);
      gate.outageAfter = undefined;
      gate.outage = false;
      await store.drained();
      expect(store.status()).toMatchObject({ storeFailing: false, waitingBytes: 0, setAsideBatches: 1 });
      expect(await storedIds(store)).toEqual(idsOf([g1!, g2!, g3!]));
    } finally {
      await store.close();
    }
  });
});
