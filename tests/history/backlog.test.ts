import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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

describe('a store opened after a crash left a WAL', () => {
  it('reads the alarm engine’s start-up replay at 48MB', async () => {
    // kill -9 under load leaves up to the checkpoint threshold (16 MB) in the WAL. DuckDB
    // replays a WAL under that threshold into memory when the file is opened and kept it
    // there until a checkpoint: in the soak an 11.8 MB WAL held 31.5 MB, and the hub's
    // start-up replay (every point of the last 72 h, oldest first) then failed at 48MB
    // and the hub exited. Here: 200 000 messages checkpointed, 80 000 more in the WAL.
    const path = join(root, 'crashed.duckdb');
    await (await openDuckDbTelemetryStore({ path, memoryLimit: MEMORY })).close();
    const t0 = Date.now() - 3_600_000;
    await promisify(execFile)(process.execPath, ['--input-type=module', '-e', crashAfterWriting(path, t0)], { cwd: process.cwd() }).catch(
      (e: { signal?: string }) => {
        if (e.signal !== 'SIGKILL') throw e;
      },
    );
    // Large, and under DuckDB's checkpoint threshold (a larger one is checkpointed when replayed).
    expect(statSync(`${path}.wal`).size).toBeGreaterThan(10 * 1024 * 1024);
    expect(statSync(`${path}.wal`).size).toBeLessThan(16 * 1024 * 1024);

    const store = await openDuckDbTelemetryStore({ path, memoryLimit: MEMORY });
    try {
      let replayed = 0;
      let outOfOrder = 0;
      let last = -Infinity;
      for await (const p of store.points({ from: t0 - 72 * 3_600_000, order: 'asc' })) {
        if (p.deviceTime < last) outOfOrder++;
        last = p.deviceTime;
        replayed++;
      }
      expect({ replayed, outOfOrder }).toEqual({ replayed: CHECKPOINTED + CRASH_LOADS * CRASH_LOAD, outOfOrder: 0 });
    } finally {
      await store.close();
    }
  }, 600_000);
});

const CHECKPOINTED = 200_000;
const CRASH_LOADS = 8;
const CRASH_LOAD = 10_000;

/**
 * A child process that writes CHECKPOINTED messages (one reading each) and checkpoints,
 * then CRASH_LOADS loads of CRASH_LOAD more with no checkpoint, as the store's schema has
 * them, and kills itself: the WAL holds the loads.
 */
function crashAfterWriting(path: string, t0: number): string {
  const at = `(${t0} + i * 10)`;
  return `
    import { DuckDBInstance } from '@duckdb/node-api';
    const instance = await DuckDBInstance.create(${JSON.stringify(path)}, { checkpoint_threshold: '1GB' });
    const c = await instance.connect();
    const insert = async (from, to) => {
      const range = \`range(\${from}, \${to}) t(i)\`;
      await c.run(\`INSERT INTO messages BY NAME SELECT hash(i)::UBIGINT AS id, 'crash-' || (i % 200) AS device_id,
        ${at} AS received_at, 'accepted' AS status, ${at} AS device_time FROM \${range}\`);
      await c.run(\`INSERT INTO points BY NAME SELECT hash(i)::UBIGINT AS message_id, 0 AS seq, 'reading' AS kind,
        'crash-' || (i % 200) AS device_id, 'aquascale' AS profile_id, 'fluid-balance' AS family, 'body_weight' AS name,
        (i % 10000) / 1000.0 AS value, 'kg' AS unit, ${at} AS device_time, ${at} AS received_at, true AS clock_skewed,
        '1.0.0' AS profile_version FROM \${range}\`);
    };
    await insert(0, ${CHECKPOINTED});
    await c.run('CHECKPOINT');
    for (let k = 0; k < ${CRASH_LOADS}; k++) {
      await c.run('BEGIN TRANSACTION');
      await insert(${CHECKPOINTED} + k * ${CRASH_LOAD}, ${CHECKPOINTED} + (k + 1) * ${CRASH_LOAD});
      await c.run('COMMIT');
    }
    process.kill(process.pid, 'SIGKILL');
  `;
}

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
