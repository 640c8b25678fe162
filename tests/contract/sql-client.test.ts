import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { sqlClientContract } from './sql-client.contract.js';

// Both adapters that ship: the embedded registry's DuckDB file and the split layout's PostgreSQL 15.
const dir = mkdtempSync(join(tmpdir(), 'sql-client-'));
let n = 0;
let server: RunningPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

sqlClientContract('duckdb', () => openDuckDbSqlClient(join(dir, `contract-${n++}.duckdb`)));
sqlClientContract('postgres', async () => openPostgresSqlClient(await server.newSchema('sqlcontract')));
