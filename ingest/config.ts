import { hostname } from 'node:os';
import type { z } from 'zod';
import {
  adapterConfig,
  checkAdapters,
  checkServiceBroker,
  clientId,
  int,
  oneOf,
  optionalInt,
  parseEnv,
  PROCESS_VARS,
  processConfig,
  SERVICE_ACCOUNT_VARS,
  SERVICE_BROKER_VARS,
  serviceAccount,
  serviceBroker,
  SharedEnv,
  STORE_VARS,
  text,
  withChecks,
} from '../service/config.js';

/** Ingest's own variables, and where the broker is (the names it listens by) for split ingest. */
export const IngestEnv = SharedEnv.pick({ MQTT_HOST: true, MQTT_PORT: true }).extend({
  INGEST_MAX_BATCH: int(2000, 1, 1_000_000),
  INGEST_MAX_PENDING: int(20000, 1, 10_000_000),
  INGEST_CLOCK_SKEW_S: int(120, 1, 86_400),
  INGEST_MAX_PAST_S: int(30 * 86400, 1, 10 * 365 * 86_400),
  INGEST_MAX_FUTURE_S: int(3600, 1, 365 * 86_400),
  INGEST_MAX_REJECTED_PAYLOAD_BYTES: int(65536, 1, 256 * 1024 * 1024),
  // Raw payloads kept per device, rejection code and clock hour; later rejections of the
  // hour are stored and counted without it (ingest/rejection-sample.ts).
  INGEST_REJECTION_SAMPLES_PER_HOUR: int(10, 0, 1_000_000),
  // Rejections older than this are deleted (embedded store); 0 keeps them for ever.
  INGEST_REJECTION_RETENTION_DAYS: int(30, 0, 36_500),
  // Split layout only: the prefix of ingest's persistent MQTT client ids (ingest/handoff-consumer.ts).
  INGEST_CLIENT_ID: clientId().default('arena-ingest'),
  // Split layout only: /healthz and /stats (ingest/http.ts); unset = not served.
  INGEST_HTTP_HOST: text().default('127.0.0.1'),
  INGEST_HTTP_PORT: optionalInt(0, 65_535),
  // Split layout only: commits on their way to the API's alarm engine (ingest/commit-forward.ts)
  // that the broker has not acknowledged yet; beyond this they are dropped and counted.
  INGEST_FORWARD_BUFFER_BYTES: int(64 * 1024 * 1024, 1024 * 1024, 2 ** 40),
  // Split layout only: several ingest workers share the handoff shards through leases in
  // the registry's PostgreSQL (ingest/shard-owner.ts); `none`: this worker takes every
  // shard, and must then be the only one.
  INGEST_SHARD_LEASES: oneOf(['postgres', 'none']).default('postgres'),
  // Split layout only: how often a worker counts the workers and takes or gives back shards.
  INGEST_LEASE_ROUND_MS: int(2000, 100, 600_000),
  // Split layout only: this worker's name, unique among the workers (its forwarding client id ends with it).
  INGEST_WORKER_ID: clientId().default(`${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)),
});
type IngestEnv = z.output<typeof IngestEnv>;

export interface IngestConfig {
  readonly batch: { readonly maxBatch: number; readonly maxPending: number };
  readonly limits: { readonly skewMs: number; readonly maxPastMs: number; readonly maxFutureMs: number };
  readonly maxRejectedPayloadBytes: number;
  readonly rejections: { readonly samplesPerHour: number; readonly retentionDays: number };
  readonly clientId: string;
  readonly broker: { readonly host: string; readonly port: number };
  readonly http: { readonly host: string; readonly port: number } | undefined;
  readonly forward: { readonly maxBufferBytes: number };
  readonly workers: { readonly leases: 'postgres' | 'none'; readonly roundMs: number; readonly workerId: string };
}

/** Ingest's settings from its parsed variables, frozen. */
export const ingestConfig = (c: IngestEnv): IngestConfig =>
  Object.freeze({
    batch: Object.freeze({ maxBatch: c.INGEST_MAX_BATCH, maxPending: Math.max(c.INGEST_MAX_PENDING, c.INGEST_MAX_BATCH) }),
    limits: Object.freeze({
      skewMs: c.INGEST_CLOCK_SKEW_S * 1000,
      maxPastMs: c.INGEST_MAX_PAST_S * 1000,
      maxFutureMs: c.INGEST_MAX_FUTURE_S * 1000,
    }),
    maxRejectedPayloadBytes: c.INGEST_MAX_REJECTED_PAYLOAD_BYTES,
    rejections: Object.freeze({ samplesPerHour: c.INGEST_REJECTION_SAMPLES_PER_HOUR, retentionDays: c.INGEST_REJECTION_RETENTION_DAYS }),
    clientId: c.INGEST_CLIENT_ID,
    broker: Object.freeze({ host: c.MQTT_HOST, port: c.MQTT_PORT }),
    http: c.INGEST_HTTP_PORT === undefined ? undefined : Object.freeze({ host: c.INGEST_HTTP_HOST, port: c.INGEST_HTTP_PORT }),
    forward: Object.freeze({ maxBufferBytes: c.INGEST_FORWARD_BUFFER_BYTES }),
    workers: Object.freeze({ leases: c.INGEST_SHARD_LEASES, roundMs: c.INGEST_LEASE_ROUND_MS, workerId: c.INGEST_WORKER_ID }),
  });

/** Ingest's settings alone (the all-in-one hub parses them with the rest: hub/config.ts); throws CONFIG_INVALID naming every bad variable. */
export const loadIngestConfig = (env: Readonly<Record<string, string | undefined>>): IngestConfig => ingestConfig(parseEnv(IngestEnv, env));

/**
 * Ingest alone (ingest/main.ts, split layout), in one schema: its settings above, the
 * process settings, the shared registry, the telemetry store, and the broker it reaches
 * (over TLS with MQTT_TLS_CA_FILE) with the service account.
 */
const IngestServiceEnv = withChecks(
  IngestEnv.extend(
    SharedEnv.pick({ ...PROCESS_VARS, ARENA_REGISTRY_URL: true, ...STORE_VARS, INFLUX_OUTBOX_MAX_BYTES: true, ...SERVICE_ACCOUNT_VARS, ...SERVICE_BROKER_VARS })
      .shape,
  ),
  checkAdapters,
  checkServiceBroker,
);

export function loadIngestServiceConfig(env: Readonly<Record<string, string | undefined>>) {
  const e = parseEnv(IngestServiceEnv, env);
  return Object.freeze({
    process: processConfig(e),
    ingest: ingestConfig(e),
    adapters: adapterConfig(e),
    broker: serviceBroker(e),
    service: serviceAccount(e),
  });
}
