import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { Registry } from '../../kernel/registry.js';
import { openSharedRegistry, openSharedStore } from '../../service/adapters.js';
import type { AdapterConfig } from '../../service/config.js';
import type { OutboxStore } from '../../stores/outbox/outbox.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { contractProfiles } from './registry.contract.js';
import { telemetryStoreContract } from './telemetry-store.contract.js';

/**
 * The split layout's ingest store, opened exactly as ingest/main.ts opens it
 * (service/adapters.ts openSharedStore, role 'writer'): the outbox in front of InfluxDB,
 * its participant-tag key and erasures from the shared PostgreSQL registry. It
 * acknowledges on its queue and lets reads lag while InfluxDB is slow or down, so the
 * contract waits for delivery before each read; what is then stored must be what the
 * port promises.
 */
assertInfluxdInstalled();

let influxd: RunningInfluxd;
let pg: RunningPostgres;
let registryUrl: string;
let registry: Registry;
const root = mkdtempSync(join(tmpdir(), 'arena-split-ingest-'));
const log = createLogger('silent');

beforeAll(async () => {
  [influxd, pg] = await Promise.all([startInfluxd(), startPostgres()]);
  registryUrl = await pg.newDatabase('ingest');
  registry = await openSharedRegistry({ registryUrl, store: { kind: 'duckdb' } }, contractProfiles(), log);
});
afterAll(async () => {
  await registry?.close();
  await Promise.all([influxd?.stop(), pg?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
/** A database and a data folder (the outbox's) of its own per store. */
async function openIngestStore(): Promise<OutboxStore> {
  const database = `ingest${++n}`;
  await influxd.query(`CREATE DATABASE "${database}"`);
  const config: AdapterConfig = {
    registryUrl,
    store: { kind: 'influx', url: influxd.v2url, token: 'test-token', org: 'arena', bucket: database, database, outboxMaxBytes: 64 * 1024 * 1024 },
  };
  return (await openSharedStore(config, join(root, database), log, 'writer', undefined, registry)) as OutboxStore;
}

telemetryStoreContract('the split ingest store: outbox in front of InfluxDB', openIngestStore, {
  offers: [], // as InfluxDB's: the outbox offers what the store behind it offers
  duplicatesKnownOnWrite: false,
  delivered: (store) => store.drained(),
  // Streaming is the InfluxDB adapter's, held to 200 000 points by its own run
  // (tests/influx/influx-telemetry.test.ts); here the range only has to cross the outbox.
  largeRange: 20_000,
});
