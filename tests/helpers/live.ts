import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { createLiveBus, type LiveBus } from '../../alarms/live-bus.js';
import { DEFAULT_LIMITS, type ApiLimits } from '../../api/config.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { profiles } from '../alarms/fixtures.js';
import { startApi, type ApiFixture } from '../api/fixture.js';

export interface LiveFixture {
  readonly api: ApiFixture;
  readonly bus: LiveBus;
  /** http://127.0.0.1:port of the listening app. */
  readonly base: string;
  dispose(): Promise<void>;
}

/** The API listening on loopback with the alarm engine and a live bus, under the given live limits. */
export async function startLive(live: Partial<ApiLimits['live']> = {}): Promise<LiveFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'arena-api-load-'));
  const sql: SqlClient = await openDuckDbSqlClient(join(dir, 'alarms.duckdb'));
  const bus = createLiveBus();
  const engineStore: TelemetryStore = await openDuckDbTelemetryStore({ path: join(dir, 'engine.duckdb') });
  const engine: AlarmEngine = await openAlarmEngine({
    sql,
    store: engineStore,
    profiles,
    logger: createLogger('silent'),
    config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 3_600_000 },
    publish: bus.publish,
  });
  const api = await startApi({ alarms: engine, live: bus, limits: { ...DEFAULT_LIMITS, live: { ...DEFAULT_LIMITS.live, ...live } } });
  const base = await api.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    api,
    bus,
    base,
    async dispose() {
      await api.dispose();
      await engine.close();
      await engineStore.close();
      await sql.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
