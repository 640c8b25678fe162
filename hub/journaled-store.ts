import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../kernel/log.js';
import type { WriteResult } from '../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import { withOutbox, type OutboxStore } from '../stores/outbox/outbox.js';
import { openReopeningStore } from './reopening-store.js';

/**
 * The all-in-one hub's telemetry store: `telemetry.duckdb` behind the ingest journal
 * (`journal/`) in dataDir. The durability point is the journal (an O_DSYNC append),
 * not a DuckDB commit: the PUBACK waits for the journal, which loads DuckDB behind it
 * in few, large transactions. Reads wait until everything acknowledged before them is
 * loaded. A store that refuses writes is an outage: batches wait in the journal and
 * ping() fails (/readyz 503) until it takes them again. Also opened by the benchmark,
 * so that it measures exactly this, and by the requeue command (hub/requeue.ts).
 */
export async function openJournaledStore(o: {
  readonly dataDir: string;
  readonly maxBytes: number;
  /** DuckDB's memory_limit; its default otherwise (stores/duckdb/telemetry-store.ts). */
  readonly memoryLimit?: string;
  /** The store's dedup window by receive time; its default otherwise. */
  readonly dedupWindowMs?: number;
  readonly logger: Logger;
  /** What DuckDB made of each load; duplicates are known only there. */
  readonly onDelivered?: (result: WriteResult) => void;
}): Promise<OutboxStore> {
  mkdirSync(o.dataDir, { recursive: true });
  const log = o.logger.child({ component: 'journal' });
  // A full disk can invalidate the DuckDB instance; it is reopened behind the journal (hub/reopening-store.ts).
  const duckdb = await openReopeningStore({
    open: () => openDuckDbTelemetryStore({ path: join(o.dataDir, 'telemetry.duckdb'), memoryLimit: o.memoryLimit, dedupWindowMs: o.dedupWindowMs }),
    logger: log,
  });
  try {
    return await withOutbox(duckdb, {
      dir: join(o.dataDir, 'journal'),
      maxBytes: o.maxBytes,
      whenFull: 'wait', // hold devices back rather than refuse them
      readYourWrites: true,
      deliveryDelayMs: 250,
      drainOnClose: true,
      logger: log,
      onNearlyFull: (usedBytes) =>
        log.warn({ event: 'journal_nearly_full', usedBytes, maxBytes: o.maxBytes }, 'the ingest journal is nearly full: the store is not keeping up'),
      onDelivered: o.onDelivered,
    });
  } catch (e) {
    await duckdb.close();
    throw e;
  }
}

/** How long the start waits for delivery that makes no progress before going on without it. */
const STALLED_MS = 120_000;

/**
 * Waits until the journal has handed everything it holds to DuckDB, as long as delivery
 * makes progress, logging how much is left every 5 s. After a crash under load the
 * journal can hold tens of MB acknowledged to devices but not yet stored; the alarm
 * engine's start-up replay must see them, and a busy box may need minutes to store them,
 * longer than a read waits for the queue (30 s). A store that takes nothing for two
 * minutes is an outage: the start goes on, and what reads the store reports it.
 */
export async function caughtUpAtStart(journal: Pick<OutboxStore, 'drained' | 'pendingBytes'>, log: Logger): Promise<void> {
  let done = false;
  const drained = journal.drained().then(() => {
    done = true;
  });
  let left = journal.pendingBytes();
  let progressAt = Date.now();
  while (!done) {
    await Promise.race([drained, sleep(5000)]);
    if (done) break;
    const now = journal.pendingBytes();
    if (now < left) [left, progressAt] = [now, Date.now()];
    if (Date.now() - progressAt > STALLED_MS) {
      log.warn({ pendingBytes: now }, 'journal: no delivery to the store for two minutes; starting without waiting further');
      return;
    }
    log.info({ pendingBytes: now }, 'journal: storing what was acknowledged before the restart');
  }
}
