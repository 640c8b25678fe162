import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Registry } from '../../kernel/registry.js';
import type { SqlClient } from '../../kernel/sql.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { pointIndicatorReader } from '../../reports/point-counts.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { expectKnownAnswers, seededReport } from './known-answers.js';
import { DAY, seedFluidTargets, seedRegistry, seedStore } from './world.js';

// No silent skip: without influxd this file fails and says how to get it.
assertInfluxdInstalled();

let server: RunningInfluxd;
let dir: string;
let reg: Registry & TokenRegistry;
let alarmSql: SqlClient;
let store: TelemetryStore;

beforeAll(async () => {
  server = await startInfluxd();
  dir = mkdtempSync(join(tmpdir(), 'reports-influx-'));
  const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * DAY, maxFutureMs: 60_000 });
  // The alarm tables (the clinicians' targets) live in the registry's database, as in the hub.
  alarmSql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  reg = await openSqlRegistry(alarmSql, { profiles });
  await seedRegistry(reg);
  await seedFluidTargets(alarmSql);
  store = await openInfluxTelemetryStore({
    participantKey: Buffer.alloc(32, 3),
    url: server.v2url,
    token: 'test-token',
    org: 'arena',
    bucket: 'arena',
    database: 'arena',
    timeoutMs: 10_000,
  });
  expect(await seedStore(store)).toBe(351 + 405);
}, 120_000);
afterAll(async () => {
  await store?.close();
  await reg?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('trial indicators on InfluxDB', () => {
  it('the store cannot count them in its engine, so the report reads its point stream: the same known answers as DuckDB', async () => {
    expect(store.indicatorCounts).toBeUndefined();
    expectKnownAnswers(await seededReport({ reg, alarmSql }, pointIndicatorReader(store), { role: 'admin' }));
  });
});
