import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import { openJournaledStore } from '../../hub/journaled-store.js';
import { OPTIONAL_CAPABILITIES, telemetryStoreContract } from './telemetry-store.contract.js';

/**
 * The all-in-one hub's store: DuckDB behind the ingest journal, with reads that wait for
 * it (hub/journaled-store.ts). It must keep every promise of the port that DuckDB alone
 * keeps, except knowing a redelivery at write time.
 */
const dir = mkdtempSync(join(tmpdir(), 'arena-hub-journaled-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
telemetryStoreContract(
  'duckdb behind the journal',
  () => openJournaledStore({ dataDir: join(dir, `hub-${++n}`), maxBytes: 64 * 1024 * 1024, logger: createLogger('silent') }),
  { offers: OPTIONAL_CAPABILITIES, duplicatesKnownOnWrite: false },
);
