import { afterAll, beforeAll } from 'vitest';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { profileCatalogContract } from './catalog.contract.js';

// A real PostgreSQL 15 (tests/setup/postgres.ts); missing binaries fail this file, never skip it.
let server: RunningPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

profileCatalogContract('postgres', async () => {
  const url = await server.newSchema('profiles');
  return () => openPostgresSqlClient(url);
});
