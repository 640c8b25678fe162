import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { profileCatalogContract } from './catalog.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'profile-versions-duckdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

// A DuckDB file belongs to one process: a second catalog on it shares the first client (closed once, with the first).
profileCatalogContract('duckdb', async () => {
  const file = join(dir, `catalog-${n++}.duckdb`);
  let first: SqlClient | undefined;
  return async () => {
    if (!first) return (first = await openDuckDbSqlClient(file));
    const shared = first;
    return { query: (q, p) => shared.query(q, p), transaction: (fn, o) => shared.transaction(fn, o), close: async () => undefined };
  };
});
