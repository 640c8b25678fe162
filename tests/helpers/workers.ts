import { join } from 'node:path';
import { createLogger } from '../../kernel/log.js';
import { loadParticipantTagKey } from '../../service/adapters.js';
import { tallyStore, type Tally } from '../../soak/count.js';
import type { Fleet } from '../../soak/fleet.js';
import { startService, type Service } from '../../soak/processes.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import type { RunningInfluxd } from '../setup/influxdb.js';
import { until } from './poll.js';

/** The telemetry variables of a split service writing to or reading from `influx`. */
export const influxEnv = (influx: RunningInfluxd): Record<string, string> => ({
  ARENA_STORE: 'influx',
  INFLUX_URL: influx.v2url,
  INFLUX_TOKEN: 'test-token',
  INFLUX_ORG: 'arena',
  INFLUX_BUCKET: influx.database,
  INFLUX_DATABASE: influx.database,
});

/** One split ingest worker (dist/ingest/main.js) on InfluxDB, with a data folder, name and status port of its own. */
export function startWorker(o: { name: string; dataDir: string; env: Record<string, string>; influx: RunningInfluxd; httpPort: number }): Promise<Service> {
  return startService({
    name: `ingest-${o.name}`,
    entry: 'ingest/main.js',
    logFile: join(o.dataDir, `ingest-${o.name}.log`),
    ready: { logLine: 'arena-hub ingest is up' },
    env: {
      ...o.env,
      ...influxEnv(o.influx),
      ARENA_DATA_DIR: join(o.dataDir, `ingest-${o.name}`),
      INGEST_WORKER_ID: `worker-${o.name}`,
      INGEST_HTTP_PORT: String(o.httpPort),
      INGEST_LEASE_ROUND_MS: '300',
      LOG_LEVEL: 'info',
    },
  });
}

/** Shards a worker holds now, from its /stats (0 while it does not answer). */
export async function shardsHeld(httpPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/stats`).catch(() => undefined);
  return res?.ok ? ((await res.json()) as { sessions: { total: number } }).sessions.total : 0;
}

/** Waits until InfluxDB holds every message `fleet` saw acknowledged (outboxes deliver after the PUBACK), then tallies. */
export async function tallyInflux(influx: RunningInfluxd, registryUrl: string, fleet: Fleet): Promise<Tally> {
  const store = await openInfluxTelemetryStore({
    url: influx.v2url,
    token: 'test-token',
    org: 'arena',
    bucket: influx.database,
    database: influx.database,
    participantKey: await loadParticipantTagKey(registryUrl),
    logger: createLogger('silent'),
  });
  try {
    let tally = await tallyStore(store, fleet.tallies);
    await until(
      'every acknowledged message is in InfluxDB',
      async () => {
        tally = await tallyStore(store, fleet.tallies);
        return tally.lost === 0;
      },
      60_000,
      1000,
    );
    return tally;
  } finally {
    await store.close();
  }
}
