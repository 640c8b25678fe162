import '../kernel/runtime.js';
import { openSharedProfiles, openSharedRegistry, openSharedStore } from '../service/adapters.js';
import { reloadCatalogue } from '../device-profiles/catalogue-reload.js';
import { onHangup } from '../service/catalogue-reload.js';
import { runService } from '../service/run.js';
import { startCommitForward } from './commit-forward.js';
import { loadIngestServiceConfig } from './config.js';
import { startHandoffConsumer } from './handoff-consumer.js';
import { startShardOwner } from './shard-owner.js';
import { openPostgresShardLeases } from '../stores/postgres/shard-leases.js';
import { serveIngestStatus } from './http.js';
import { createHubMetrics } from '../kernel/metrics.js';
import type { DeliveryStatus } from '../kernel/ports.js';
import { createIngest } from './pipeline.js';
import type { IngestStats } from './stats.js';

/**
 * Ingest alone (split layout, docker-compose.yml): takes the broker's handoff
 * (kernel/handoff.ts) over persistent MQTT sessions to MQTT_HOST:MQTT_PORT (or over TLS
 * to MQTT_TLS_PORT with MQTT_TLS_CA_FILE) as the service account, and acknowledges each message to the broker after its commit. After
 * each commit it forwards the committed points to the API's alarm engine over the same
 * broker (ingest/commit-forward.ts), without waiting for it. With
 * ARENA_STORE=duckdb it owns ARENA_DATA_DIR/telemetry.duckdb, which no other process may
 * open meanwhile; with ARENA_STORE=influx it writes through the outbox under
 * ARENA_DATA_DIR/outbox.
 */
await runService('ingest', loadIngestServiceConfig, async (c, logger) => {
  // Published versions reach this process with the registry's change notifications.
  const profiles = await openSharedProfiles(c.adapters, c.process, logger, c.ingest.limits);
  // An arena's catalogue changed: SIGHUP to every service reads it again (service/catalogue-reload.ts).
  onHangup(() => reloadCatalogue({ dirs: c.process.catalogueDirs, profiles, log: logger }), logger);
  const registry = await openSharedRegistry(c.adapters, profiles, logger).catch(async (e: unknown) => {
    await profiles.close();
    throw e;
  });
  // Behind the InfluxDB outbox a commit only queues: stored counts come from its deliveries.
  let stats: IngestStats | undefined;
  // The registry tells each delivery which participants the API erased since ingest queued them.
  const store = await openSharedStore(c.adapters, c.process.dataDir, logger, 'writer', (result) => stats?.delivered(result), registry).catch(
    async (e: unknown) => {
      await registry.close();
      await profiles.close();
      throw e;
    },
  );
  const ingest = createIngest({
    profiles,
    directory: registry.directory,
    store,
    logger,
    batch: c.ingest.batch,
    maxRejectedPayloadBytes: c.ingest.maxRejectedPayloadBytes,
    storedOnDelivery: c.adapters.store.kind === 'influx',
    rejectionSamplesPerHour: c.ingest.rejections.samplesPerHour,
  });
  stats = ingest.stats;
  // Connected before the handoff, so the first commits find it (it queues meanwhile anyway).
  const forward = startCommitForward({
    url: c.broker.url,
    tls: c.broker.tls,
    username: c.service.username,
    password: c.service.secret,
    clientId: `${c.ingest.clientId}-commits-${c.ingest.workers.workerId}`,
    maxBufferBytes: c.ingest.forward.maxBufferBytes,
    logger,
  });
  ingest.onCommit(forward.forward);
  const consumer = startHandoffConsumer({
    url: c.broker.url,
    tls: c.broker.tls,
    username: c.service.username,
    password: c.service.secret,
    clientIdPrefix: c.ingest.clientId,
    ingest,
    logger,
  });
  const workers = c.ingest.workers;
  const owner = startShardOwner({
    openLeases: workers.leases === 'postgres' ? () => openPostgresShardLeases(c.adapters.registryUrl) : async () => everyShard,
    consumer,
    roundMs: workers.roundMs,
    logger,
  });
  const delivery = 'status' in store ? (store as { status(): DeliveryStatus }) : undefined;
  const metrics = createHubMetrics({ ingest: () => ingest.stats.snapshot(), ...(delivery ? { journal: () => delivery.status() } : {}) });
  ingest.onCommit((committed) => {
    const now = Date.now();
    for (const m of committed) metrics.committed(m.receivedAt, now);
  });
  const http = c.ingest.http
    ? await serveIngestStatus(c.ingest.http, { stats: ingest.stats, sessions: consumer.sessions, forward: forward.stats, metrics })
    : undefined;
  void owner.ready.then(() =>
    logger.info(
      { broker: c.broker.url, store: c.adapters.store.kind, http: http?.port, worker: workers.workerId, shards: owner.held() },
      'arena-hub ingest is up',
    ),
  );
  return {
    async stop() {
      // Acknowledge nothing more, finish the commits under way, then close storage.
      await owner.stop();
      await http?.close();
      await ingest.close();
      await forward.stop();
      await store.close();
      await registry.close();
      await profiles.close();
      logger.info({ ...ingest.stats.snapshot(), forward: forward.stats() }, 'arena-hub ingest stopped');
    },
  };
});

/** INGEST_SHARD_LEASES=none: one worker, every shard, no lease engine. */
const everyShard = {
  tryTake: async () => true,
  release: async () => undefined,
  members: async () => 1,
  onLost: () => undefined,
  close: async () => undefined,
};
