import '../kernel/runtime.js';
import { createLogger } from '../kernel/log.js';
import { loadHubConfig, type HubConfig } from './config.js';
import { openJournaledStore } from './journaled-store.js';

/**
 * `npm run requeue` (`node dist/hub/requeue.js`), with the hub stopped: puts the batches
 * the journal set aside (ARENA_DATA_DIR/journal/dead-letter.ndjson) back into the
 * journal and loads them into the store, once their cause is fixed. Nothing is lost
 * (each batch is durable in the journal before the dead-letter file goes) and nothing
 * is stored twice (the store's exactly-once by message id). The store file's lock
 * refuses a second process, so it cannot run beside the hub.
 */
let config: HubConfig;
try {
  config = loadHubConfig(process.env);
} catch (e) {
  console.error(`arena-hub requeue: invalid configuration: ${(e as Error).message}`);
  process.exit(2);
}
const logger = createLogger(config.logLevel);

try {
  const store = await openJournaledStore({
    dataDir: config.dataDir,
    maxBytes: config.journalMaxBytes,
    memoryLimit: config.duckdbMemoryLimit,
    dedupWindowMs: config.dedupWindowMs,
    logger,
  });
  let loaded = false;
  const { batches, messages } = await store.requeueSetAside();
  try {
    loaded = await drainedUnlessFailing(store);
  } finally {
    await store.close();
  }
  const after = `${store.status().setAsideBatches} set aside`;
  console.log(
    loaded
      ? `requeued ${batches} batches (${messages} messages) and loaded them into the store; ${after}`
      : `requeued ${batches} batches (${messages} messages) into the journal; the store still refuses writes (${store.status().lastError}), the hub loads them when it takes writes again`,
  );
  process.exit(loaded ? 0 : 1);
} catch (e) {
  console.error(`arena-hub requeue: ${(e as Error).message}`);
  process.exit(1);
}

/** True once everything queued is in the store; false as soon as the store refuses writes. */
function drainedUnlessFailing(store: Awaited<ReturnType<typeof openJournaledStore>>): Promise<boolean> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (store.status().storeFailing) done(false);
    }, 100);
    const done = (ok: boolean): void => {
      clearInterval(poll);
      resolve(ok);
    };
    void store.drained().then(() => done(true));
  });
}
