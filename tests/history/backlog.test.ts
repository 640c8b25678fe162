import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { Reading } from '../../kernel/telemetry.js';
import { openJournaledStore } from '../../hub/journaled-store.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { withOutbox, type OutboxStore } from '../../stores/outbox/outbox.js';
import { batchOf, reading } from '../contract/telemetry-store.contract.js';
import { until } from '../helpers/poll.js';

/**
 * The journal catching up at 48MB (issue 24, done-when). After a restart, or once the
 * store is slower than the devices for a while, the journal holds hundreds of MB and
 * hands them to DuckDB in its largest loads (4 MiB of journal, about 10 000 messages
 * each), one after the other. Each load once left its ids in a temporary staging table
 * that DuckDB never shrinks, so the store ran out of memory after about 630 k messages
 * and refused every load from then on: the journal only grew. Here a million messages
 * wait in the journal of a store that was down, and the store, at 48MB, must take them
 * all, once each, with each device's newest reading readable.
 */
const root = mkdtempSync(join(tmpdir(), 'arena-backlog-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const logger = createLogger('silent');

const MESSAGES = 1_000_000;
const PER_LINE = 500;
const DEVICES = 200;
const MEMORY = '48MB';
const JOURNAL_BYTES = 1024 * 1024 * 1024;

describe('a journal backlog loaded into a 48MB store', () => {
  it('stores every queued message once and each device’s newest reading is readable', async () => {
    const dataDir = join(root, 'hub');
    mkdirSync(dataDir, { recursive: true });
    const t0 = Date.now() - 6 * 3_600_000;
    await queueWhileDown(dataDir, t0);

    const store = await openJournaledStore({ dataDir, maxBytes: JOURNAL_BYTES, memoryLimit: MEMORY, logger });
    try {
      expect(store.pendingBytes()).toBeGreaterThan(300 * 1024 * 1024);
      let drained = false;
      void store.drained().then(() => (drained = true));
      // A store that refuses a load retries for ever: stop at the first refusal, with its reason.
      await until('the backlog stored, or a load refused', () => drained || store.status().storeFailing, 1_500_000, 200);
      expect(store.status()).toMatchObject({ storeFailing: false, lastError: null, waitingBytes: 0, setAsideBatches: 0 });

      const counts = await store.aggregate({ bucketMs: 10 * 365 * 86_400_000, kind: 'reading' });
      expect(counts.reduce((n, b) => n + b.count, 0)).toBe(MESSAGES);
      expect([...new Set(counts.map((b) => b.deviceId))].sort()).toEqual(Array.from({ length: DEVICES }, (_, d) => deviceOf(d)).sort());
      const missing: string[] = [];
      for (let d = 0; d < DEVICES; d++) {
        const newest = await collect(store.points({ deviceIds: [deviceOf(d)], order: 'desc', limit: 1 }));
        const last = MESSAGES - DEVICES + d;
        if (newest.length !== 1 || newest[0]!.deviceTime !== t0 + last * 10) missing.push(deviceOf(d));
      }
      expect(missing).toEqual([]);
    } finally {
      await store.close();
    }
  }, 1_800_000);
});

const deviceOf = (d: number): string => `backlog-${String(d).padStart(3, '0')}`;

/** Message n of the backlog: one reading, device n mod 200, device times 10 ms apart from 6 h ago. */
function message(n: number, t0: number, receivedAt: number): Reading {
  return reading((BigInt(n + 1) * 0x9e3779b97f4a7c15n) % 2n ** 64n, t0 + n * 10, {
    deviceId: deviceOf(n % DEVICES),
    participantId: `p-${n % DEVICES}`,
    value: n,
    receivedAt,
  });
}

/**
 * Fills dataDir/journal through the journal itself in front of a store that is closed
 * (it refuses every load as an outage), then closes the journal with its lines queued:
 * what a hub finds after running with its store down, or after a restart under load.
 */
async function queueWhileDown(dataDir: string, t0: number): Promise<void> {
  const down = await openDuckDbTelemetryStore({ path: join(dataDir, 'telemetry.duckdb'), memoryLimit: MEMORY });
  await down.close();
  const journal: OutboxStore = await withOutbox(down, {
    dir: join(dataDir, 'journal'),
    maxBytes: JOURNAL_BYTES,
    logger,
    retry: { minMs: 3_600_000, maxMs: 3_600_000 },
  });
  try {
    for (let start = 0; start < MESSAGES; start += PER_LINE) {
      // Received within the last few minutes, as under a steady 3 000 messages a second:
      // all of them inside the dedup window, which each load checks for repeats.
      const receivedAt = t0 + 6 * 3_600_000 - 400_000 + Math.floor(start / 3);
      await journal.write(batchOf(Array.from({ length: PER_LINE }, (_, i) => message(start + i, t0, receivedAt))));
    }
  } finally {
    await journal.close();
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
