import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadProfiles, type ProfileSet } from '../device-profiles/load.js';
import type { BrokerConfig } from '../broker/config.js';
import type { IngestConfig } from '../ingest/config.js';
import type { ApiConfig } from '../api/config.js';
import { createBroker } from '../broker/broker.js';
import { createIngest, type Ingest } from '../ingest/pipeline.js';
import { buildApp } from '../api/app.js';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import { openDuckDbSqlClient } from '../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../stores/sql/registry.js';
import type { HubConfig } from './config.js';

export interface HubOptions {
  readonly hub: HubConfig;
  readonly broker: BrokerConfig;
  readonly ingest: IngestConfig;
  readonly api: ApiConfig;
  readonly logger: Logger;
}

export interface RunningHub {
  readonly mqttPort: number;
  readonly wsPort: number | undefined;
  readonly apiPort: number;
  readonly adminTokenFile: string;
  readonly profiles: ProfileSet;
  readonly registry: Awaited<ReturnType<typeof openSqlRegistry>>;
  readonly ingest: Ingest;
  stop(): Promise<void>;
}

/**
 * The all-in-one composition root: broker, ingest and API in one process on the embedded
 * store. The broker hands every device message to ingest and sends the QoS 1 PUBACK only
 * after ingest has committed it.
 */
export async function startHub(o: HubOptions): Promise<RunningHub> {
  const log = o.logger;
  const profiles = loadProfiles(o.hub.profilesDir, o.ingest.limits);
  mkdirSync(o.hub.dataDir, { recursive: true });

  const sql = await openDuckDbSqlClient(join(o.hub.dataDir, 'registry.duckdb'));
  const registry = await openSqlRegistry(sql, { profiles });
  const store = await openDuckDbTelemetryStore({ path: join(o.hub.dataDir, 'telemetry.duckdb') });

  const ingest = createIngest({
    profiles,
    directory: registry.directory,
    store,
    logger: log,
    batch: o.ingest.batch,
    maxRejectedPayloadBytes: o.ingest.maxRejectedPayloadBytes,
  });

  const broker = await createBroker({
    directory: registry.directory,
    profiles,
    sink: ingest.accept,
    reject: (deviceId, topic, code, payload) =>
      ingest.reject({ deviceId, topic, payload, receivedAt: Date.now() }, code, code === 'PAYLOAD_TOO_LARGE' ? `payload of ${payload.length} bytes is over the limit` : `topic ${topic} is not allowed for this device`),
    logger: log,
    limits: o.broker.limits,
  });

  const app = await buildApp({ registry, store, profiles, logger: log, ingestStats: () => ingest.stats.snapshot() });

  const adminTokenFile = join(o.hub.dataDir, 'admin-token');
  if (!(await registry.hasAdminToken()) || !existsSync(adminTokenFile)) {
    const { token } = await registry.issueToken({ role: 'admin', label: 'bootstrap admin', expiresAt: null });
    writeFileSync(adminTokenFile, `${token}\n`, { mode: 0o600 });
    log.warn({ file: adminTokenFile }, 'issued a bootstrap admin token; it is in this file, readable only by this user');
  }

  const ports = await broker.listen({ host: o.broker.host, mqttPort: o.broker.mqttPort, wsPort: o.broker.wsPort });
  const apiAddress = await app.listen({ host: o.api.host, port: o.api.port });
  const apiPort = Number(new URL(apiAddress).port);
  log.info({ mqtt: ports.mqttPort, ws: ports.wsPort, api: apiPort, dataDir: o.hub.dataDir, profiles: [...profiles.decoders.keys()] }, 'arena-hub is up');

  let stopping: Promise<void> | undefined;
  return {
    mqttPort: ports.mqttPort,
    wsPort: ports.wsPort,
    apiPort,
    adminTokenFile,
    profiles,
    registry,
    ingest,
    stop: () =>
      (stopping ??= (async () => {
        // Stop taking messages first, then commit what was taken, then close storage.
        await broker.close();
        await ingest.close();
        await app.close();
        await store.close();
        await registry.close();
        log.info(ingest.stats.snapshot(), 'arena-hub stopped');
      })()),
  };
}

export const readAdminToken = (file: string): string => readFileSync(file, 'utf8').trim();
