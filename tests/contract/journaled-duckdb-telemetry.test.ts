import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { telemetryStoreContract } from './telemetry-store.contract.js';

/**
 * The all-in-one hub's store: DuckDB behind the ingest journal (hub/start.ts), with reads
 * that wait for the journal. It must keep every promise of the port that DuckDB alone
 * keeps, except knowing a redelivery at write time.
 */
const dir = mkdtempSync(join(tmpdir(), 'arena-hub-journaled-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
telemetryStoreContract(
  'duckdb behind the journal',
  async () => {
    const k = ++n;
    return withOutbox(await openDuckDbTelemetryStore({ path: join(dir, `telemetry-${k}.duckdb`) }), {
      dir: join(dir, `journal-${k}`),
      maxBytes: 64 * 1024 * 1024,
      whenFull: 'wait',
      readYourWrites: true,
      drainOnClose: true,
      deliveryDelayMs: 250, // as the hub: reads must not wait for it
      logger: createLogger('silent'),
    });
  },
  { duplicatesKnownOnWrite: false },
);
