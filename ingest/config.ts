import { z } from 'zod';
import { parseEnv } from '../kernel/config-env.js';
import { loadHubConfig } from '../hub/config.js';
import { loadAdapterConfig, loadServiceAccount } from '../hub/split-config.js';

const int = (d: number) => z.coerce.number().int().positive().default(d);

const Schema = z.object({
  INGEST_MAX_BATCH: int(2000),
  INGEST_MAX_PENDING: int(20000),
  INGEST_CLOCK_SKEW_S: int(120),
  INGEST_MAX_PAST_S: int(30 * 86400),
  INGEST_MAX_FUTURE_S: int(3600),
  INGEST_MAX_REJECTED_PAYLOAD_BYTES: int(65536),
  // Raw payloads kept per device, rejection code and clock hour; later rejections of the
  // hour are stored and counted without it (ingest/rejection-sample.ts).
  INGEST_REJECTION_SAMPLES_PER_HOUR: z.coerce.number().int().min(0).default(10),
  // Rejections older than this are deleted (embedded store); 0 keeps them for ever.
  INGEST_REJECTION_RETENTION_DAYS: z.coerce.number().int().min(0).default(30),
  // Split layout only: the prefix of ingest's persistent MQTT client ids (ingest/handoff-consumer.ts).
  INGEST_CLIENT_ID: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, ".", "_" or "-", at most 40').default('arena-ingest'),
  // Split layout only: where the broker is (the same names the broker listens by).
  MQTT_HOST: z.string().trim().min(1).default('127.0.0.1'),
  MQTT_PORT: z.coerce.number().int().min(0).max(65_535).default(1883),
  // Split layout only: /healthz and /stats (ingest/http.ts); unset = not served.
  INGEST_HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  INGEST_HTTP_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  // Split layout only: commits on their way to the API's alarm engine (ingest/commit-forward.ts)
  // that the broker has not acknowledged yet; beyond this they are dropped and counted.
  INGEST_FORWARD_BUFFER_BYTES: z.coerce.number().int().min(1024 * 1024).default(64 * 1024 * 1024),
});

export interface IngestConfig {
  readonly batch: { readonly maxBatch: number; readonly maxPending: number };
  readonly limits: { readonly skewMs: number; readonly maxPastMs: number; readonly maxFutureMs: number };
  readonly maxRejectedPayloadBytes: number;
  readonly rejections: { readonly samplesPerHour: number; readonly retentionDays: number };
  readonly clientId: string;
  readonly broker: { readonly host: string; readonly port: number };
  readonly http: { readonly host: string; readonly port: number } | undefined;
  readonly forward: { readonly maxBufferBytes: number };
}

export function loadIngestConfig(env: Record<string, string | undefined>): IngestConfig {
  const c = parseEnv(Schema, env);
  return Object.freeze({
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
  });
}

/**
 * Everything ingest alone (ingest/main.ts, split layout) reads: the settings above, the
 * process settings (parsed as hub/config.ts does), the shared registry, the telemetry
 * store and the service account it logs in to the broker with (hub/split-config.ts).
 */
export function loadIngestServiceConfig(env: Record<string, string | undefined>) {
  return Object.freeze({
    process: loadHubConfig({ ARENA_DATA_DIR: env.ARENA_DATA_DIR, ARENA_PROFILES_DIR: env.ARENA_PROFILES_DIR, LOG_LEVEL: env.LOG_LEVEL }),
    ingest: loadIngestConfig(env),
    adapters: loadAdapterConfig({
      ARENA_REGISTRY_URL: env.ARENA_REGISTRY_URL,
      ARENA_STORE: env.ARENA_STORE,
      INFLUX_URL: env.INFLUX_URL,
      INFLUX_TOKEN: env.INFLUX_TOKEN,
      INFLUX_ORG: env.INFLUX_ORG,
      INFLUX_BUCKET: env.INFLUX_BUCKET,
      INFLUX_DATABASE: env.INFLUX_DATABASE,
      INFLUX_OUTBOX_MAX_BYTES: env.INFLUX_OUTBOX_MAX_BYTES,
    }),
    service: loadServiceAccount({ BROKER_SERVICE_USER: env.BROKER_SERVICE_USER, BROKER_SERVICE_SECRET: env.BROKER_SERVICE_SECRET }),
  });
}
